package payments

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// env is one integration test's world: a real litecoind in regtest with a
// funded miner wallet and a merchant wallet, a fresh PostgreSQL database and
// a Service on both, with a clock the test can move forward.
type env struct {
	t     *testing.T
	ctx   context.Context
	node  *regtest.Node
	pool  *pgxpool.Pool
	svc   *Service
	clock *testClock
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	clock := &testClock{}
	cfg := Config{
		Coins: []Coin{{
			Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 2, ZeroConf: true,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet,
		}},
		MonitoringWindow: time.Hour,
		Now:              clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, node: node, pool: pool, svc: NewService(pool, cfg), clock: clock}
}

// testClock is the real time plus an offset the test advances.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func (e *env) create(amount Amount, mod ...func(*CreateRequest)) *Payment {
	e.t.Helper()
	req := CreateRequest{Coin: "LTC", Amount: amount}
	for _, m := range mod {
		m(&req)
	}
	p, err := e.svc.Create(e.ctx, req)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return p
}

func (e *env) pay(addr string, amount Amount) string {
	e.t.Helper()
	txid, err := e.node.Send(e.ctx, regtest.MinerWallet, addr, int64(amount), false)
	if err != nil {
		e.t.Fatal(err)
	}
	return txid
}

func (e *env) mine(n int) []string {
	e.t.Helper()
	hashes, err := e.node.Mine(e.ctx, n)
	if err != nil {
		e.t.Fatal(err)
	}
	return hashes
}

func (e *env) process(txid string) {
	e.t.Helper()
	if err := e.svc.ProcessTx(e.ctx, "LTC", txid); err != nil {
		e.t.Fatalf("process %s: %v", txid, err)
	}
}

func (e *env) refresh() {
	e.t.Helper()
	if err := e.svc.RefreshCoin(e.ctx, "LTC"); err != nil {
		e.t.Fatalf("refresh: %v", err)
	}
}

func (e *env) catchUp() {
	e.t.Helper()
	if err := e.svc.CatchUp(e.ctx, "LTC"); err != nil {
		e.t.Fatalf("catch up: %v", err)
	}
}

func (e *env) get(id uuid.UUID) *Payment {
	e.t.Helper()
	p, err := e.svc.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get %s: %v", id, err)
	}
	return p
}

// expect checks the payment's status and amount received.
func (e *env) expect(id uuid.UUID, status Status, received Amount) *Payment {
	e.t.Helper()
	p := e.get(id)
	if p.Status != status || p.Received != received {
		e.t.Fatalf("payment %s: status %s received %s, want %s received %s", id, p.Status, p.Received, status, received)
	}
	return p
}

// transitions returns the payment's events after its created event as
// "TYPE:FROM>TO" in order ("FROM>TO" for status changes). It fails the
// test unless the first event is the created one (UNPAID, no previous
// status) and the sequence numbers run 1, 2, 3… without a gap.
func (e *env) transitions(id uuid.UUID) []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `
		SELECT sequence, type, previous_status, status FROM payment_events WHERE payment_id = $1 ORDER BY sequence`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	var (
		out               []string
		seq               int64
		typ, prev, status string
	)
	n := int64(0)
	_, err = pgx.ForEachRow(rows, []any{&seq, &typ, &prev, &status}, func() error {
		n++
		if seq != n {
			e.t.Fatalf("events of %s: sequence %d where %d was due", id, seq, n)
		}
		if n == 1 {
			if typ != EventCreated || prev != "" || status != string(StatusUnpaid) {
				e.t.Fatalf("first event of %s is %s %q>%s, want %s >UNPAID", id, typ, prev, status, EventCreated)
			}
			return nil
		}
		s := prev + ">" + status
		if typ != EventStatusChanged {
			s = typ + ":" + s
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if n == 0 {
		e.t.Fatalf("payment %s has no event, not even %s", id, EventCreated)
	}
	// The payment's counter numbers its next event: it must stand at the
	// last one written.
	var counter int64
	if err := e.pool.QueryRow(e.ctx, `SELECT event_sequence FROM payments WHERE id = $1`, id).Scan(&counter); err != nil || counter != n {
		e.t.Fatalf("payment %s: event_sequence %d (%v) after %d events", id, counter, err, n)
	}
	return out
}

func (e *env) expectTransitions(id uuid.UUID, want ...string) {
	e.t.Helper()
	got := e.transitions(id)
	if len(got) != len(want) {
		e.t.Fatalf("events of %s = %v, want %v", id, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			e.t.Fatalf("events of %s = %v, want %v", id, got, want)
		}
	}
}

// amt parses a decimal literal of a test.
func amt(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

package payments

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/hangserver"
	"github.com/transient-gateway/transient/internal/regtest"
)

// withPool turns the address pool on with the node wallet as its source.
func withPool(size, lowWater int) envOption {
	return func(c *Config) {
		c.AddressPool = PoolConfig{Size: size, LowWater: lowWater, Batch: 7}
		for i := range c.Coins {
			c.Coins[i].Addresses = NodeWallet{Node: c.Coins[i].Node.(*coind.Client)}
		}
	}
}

// fill runs one refill of the LTC pool.
func (e *env) fill() {
	e.t.Helper()
	if err := e.svc.refill(e.ctx, e.svc.coins["LTC"]); err != nil {
		e.t.Fatalf("refill: %v", err)
	}
}

// pooled returns the LTC pool's addresses, oldest first.
func (e *env) pooled() []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT address FROM address_pool WHERE coin = 'LTC' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return addrs
}

func TestAddressPoolFillsBelowLowWater(t *testing.T) {
	e := newEnv(t, withPool(10, 5))
	e.fill()
	first := e.pooled()
	if len(first) != 10 {
		t.Fatalf("after a refill the pool holds %d addresses, want 10", len(first))
	}
	for _, a := range first {
		var info struct {
			IsMine bool     `json:"ismine"`
			Labels []string `json:"labels"`
		}
		err := e.node.Client(regtest.MerchantWallet).Call(e.ctx, "getaddressinfo", []any{a}, &info)
		if err != nil || !info.IsMine {
			t.Fatalf("pooled address %s is not the merchant wallet's (%+v, %v)", a, info, err)
		}
	}
	for range 5 {
		e.create(amt("1"))
	}
	e.fill() // 5 left: at the low-water mark, nothing to do
	if got := e.pooled(); len(got) != 5 || !slices.Equal(got, first[5:]) {
		t.Fatalf("pool after 5 creations and a refill at the mark = %v, want the 5 untaken of %v", got, first)
	}
	e.create(amt("1"))
	e.fill() // 4 left: below the mark, filled up to the size
	if got := e.pooled(); len(got) != 10 || !slices.Equal(got[:4], first[6:]) {
		t.Fatalf("pool after going below the mark = %v, want 10 starting with %v", got, first[6:])
	}
	ready, err := e.svc.PoolReady(e.ctx)
	if err != nil || ready["LTC"] != 10 {
		t.Fatalf("PoolReady = %v, %v; want LTC 10", ready, err)
	}
}

func TestAddressPoolNeverPoolsAnAddressInUse(t *testing.T) {
	e := newEnv(t, withPool(3, 0))
	taken := e.create(amt("1")) // the pool is empty: the node makes the address
	src := &fixedSource{addrs: []string{taken.Address, "rltc1qfresh0", "rltc1qfresh1", "rltc1qfresh2"}}
	c := e.svc.coins["LTC"]
	c.Addresses = src
	e.svc.coins["LTC"] = c
	e.fill()
	if got, want := e.pooled(), []string{"rltc1qfresh0", "rltc1qfresh1", "rltc1qfresh2"}; !slices.Equal(got, want) {
		t.Fatalf("pool = %v, want %v (never the address of payment %s)", got, want, taken.ID)
	}
}

// fixedSource hands out its addresses in order.
type fixedSource struct {
	mu    sync.Mutex
	addrs []string
}

func (f *fixedSource) NewAddresses(_ context.Context, n int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n = min(n, len(f.addrs))
	out := f.addrs[:n]
	f.addrs = f.addrs[n:]
	return out, nil
}

func TestCreateFromPoolWhileTheNodeIsDown(t *testing.T) {
	e := newEnv(t, withPool(3, 0))
	e.fill()
	want := e.pooled()
	if err := e.node.Stop(e.ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p, err := e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
		if err != nil {
			t.Fatalf("create %d with the node down and %d pooled addresses: %v", i, 3-i, err)
		}
		if p.Address != want[i] || p.Status != StatusUnpaid || p.URI == "" {
			t.Fatalf("create %d: address %s status %s uri %q, want %s UNPAID and a URI", i, p.Address, p.Status, p.URI, want[i])
		}
		if got := e.get(p.ID); got.Address != want[i] {
			t.Fatalf("stored address %s, want %s", got.Address, want[i])
		}
	}
	began := time.Now()
	_, err := e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("create with an empty pool and the node down: got %v, want ErrCoinUnavailable", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("the refusal took %s, want under 2 s", d)
	}
}

func TestCreateWithEmptyPoolAndHungNodeFailsFast(t *testing.T) {
	node, _ := hangserver.Start(t)
	hung, err := coind.New(coind.Config{URL: "http://u:p@" + node, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withPool(2, 0), func(c *Config) {
		c.NodeTimeout = 10 * time.Second
		c.Coins[0].Node = hung
		c.Coins[0].Addresses = &fixedSource{}
	})
	began := time.Now()
	_, err = e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("got %v, want ErrCoinUnavailable", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("the refusal took %s, want under 2 s", d)
	}
}

// TestAddressPoolTwoProcesses has two services, each with its own
// connection pool as two transientd processes would, take every address of
// one pool concurrently: each address goes to exactly one payment.
func TestAddressPoolTwoProcesses(t *testing.T) {
	const size = 60
	e := newEnv(t, withPool(size, 0))
	e.fill()
	pooled := e.pooled()
	other, err := pgxpool.New(e.ctx, e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svc2 := NewService(other, e.svc.cfg)
	// A node that is down: a payment that found the pool empty would fail
	// rather than quietly take a fresh node address.
	if err := e.node.Stop(e.ctx); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		got   []string
		wg    sync.WaitGroup
		fails []error
	)
	for w := range 16 {
		svc := []*Service{e.svc, svc2}[w%2]
		wg.Go(func() {
			for range size / 16 * 2 {
				p, err := svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
				mu.Lock()
				if err != nil {
					fails = append(fails, err)
				} else {
					got = append(got, p.Address)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// 16 workers × 6 = 96 attempts for 60 addresses: 36 find the pool empty.
	if len(got) != size || len(fails) != 96-size {
		t.Fatalf("%d created and %d failed, want %d and %d", len(got), len(fails), size, 96-size)
	}
	for _, err := range fails {
		if !errors.Is(err, ErrCoinUnavailable) {
			t.Fatalf("a creation failed with %v, want ErrCoinUnavailable (pool empty, node down)", err)
		}
	}
	slices.Sort(got)
	slices.Sort(pooled)
	if !slices.Equal(got, pooled) {
		t.Fatalf("addresses given = %v,\nwant each pooled address once: %v", got, pooled)
	}
	if left := e.pooled(); len(left) != 0 {
		t.Fatalf("pool still holds %v", left)
	}
}

// TestAddressPoolCrashBetweenTakeAndInsert: a process that dies after
// taking an address, before its transaction commits, takes nothing: the
// address is still in the pool and goes to the next payment.
func TestAddressPoolCrashBetweenTakeAndInsert(t *testing.T) {
	e := newEnv(t, withPool(2, 0))
	e.fill()
	pooled := e.pooled()

	// The statement runs in a transaction of a connection that is then cut
	// off as a killed process's would be (no COMMIT, no Terminate).
	conn, err := pgx.Connect(e.ctx, e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := e.svc.validate(CreateRequest{Coin: "LTC", Amount: amt("1")}, time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	took, err := e.svc.takeInto(e.ctx, tx, p)
	if err != nil || !took || p.Address != pooled[0] {
		t.Fatalf("take in the doomed transaction: took %v address %s err %v, want %s", took, p.Address, err, pooled[0])
	}
	pid := conn.PgConn().PID()
	if err := conn.PgConn().Conn().Close(); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL notices the lost connection and rolls back; until then the
	// taken row stays locked and other payments skip it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var alive bool
		if err := e.pool.QueryRow(e.ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend of the cut connection (pid %d) is still alive after 20 s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.pooled(); !slices.Equal(got, pooled) {
		t.Fatalf("pool = %v after the crash, want %v", got, pooled)
	}
	if _, err := e.svc.Get(e.ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the crashed payment: got %v, want ErrNotFound", err)
	}
	next := e.create(amt("1"))
	if next.Address != pooled[0] {
		t.Fatalf("next payment got %s, want the address the crash returned, %s", next.Address, pooled[0])
	}

	// The same through Create: an attached write that fails rolls back the
	// take with the payment.
	boom := errors.New("attached write failed")
	_, err = e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"),
		Attach: func(context.Context, pgx.Tx, *Payment) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("create with a failing attach: got %v, want %v", err, boom)
	}
	if got := e.pooled(); !slices.Equal(got, pooled[1:]) {
		t.Fatalf("pool after the failed attach = %v, want %v", got, pooled[1:])
	}
}

// TestPooledAddressGetsThePaymentLabel: a labelled payment from the pool
// queues a job that labels its address in the node.
func TestPooledAddressGetsThePaymentLabel(t *testing.T) {
	var jobs *river.Client[pgx.Tx]
	e := newEnv(t, withPool(2, 0))
	jobs, err := river.NewClient(riverpgxv5.New(e.pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.jobs = jobs
	e.fill()
	p := e.create(amt("1"), func(r *CreateRequest) { r.Label = "order-42" })
	var args []byte
	if err := e.pool.QueryRow(e.ctx, `SELECT args FROM river_job WHERE kind = 'address_label'`).Scan(&args); err != nil {
		t.Fatalf("no address_label job: %v", err)
	}
	job := &river.Job[AddressLabelArgs]{JobRow: &rivertype.JobRow{}, Args: AddressLabelArgs{Coin: "LTC", Address: p.Address, Label: "order-42"}}
	if string(args) != `{"coin": "LTC", "label": "order-42", "address": "`+p.Address+`"}` &&
		string(args) != `{"coin":"LTC","address":"`+p.Address+`","label":"order-42"}` {
		t.Fatalf("job args %s, want the payment's coin, address and label", args)
	}
	if err := (&addressLabelWorker{s: e.svc}).Work(e.ctx, job); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Labels []string `json:"labels"`
	}
	if err := e.node.Client(regtest.MerchantWallet).Call(e.ctx, "getaddressinfo", []any{p.Address}, &info); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Labels, []string{"order-42"}) {
		t.Fatalf("node labels of %s = %v, want [order-42]", p.Address, info.Labels)
	}
	if got := e.get(p.ID); got.Label != "order-42" {
		t.Fatalf("payment label %q, want order-42", got.Label)
	}
}

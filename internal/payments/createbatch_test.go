package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// poolService returns a Service of LTC with the address pool on (no
// source: the tests fill the pool themselves, and nothing refills it)
// and created events quiet, so creates take createFromPool's way.
func poolService(t *testing.T, pool *pgxpool.Pool) *Service {
	t.Helper()
	s := NewService(pool, Config{
		Coins:            []Coin{{Code: "LTC", Confirmations: 2, URIScheme: "litecoin", Addresses: noAddresses{}}},
		AddressPool:      PoolConfig{Size: 10},
		MonitoringWindow: time.Hour,
	})
	if !s.quietCreated() || s.creates["LTC"] == nil {
		t.Fatal("the test service does not create from the pool in one statement")
	}
	return s
}

// countBatches makes s's LTC batcher count the creates its batches store.
func countBatches(s *Service) *atomic.Int64 {
	var n atomic.Int64
	b := s.creates["LTC"]
	store := b.store
	b.store = func(ctx context.Context, pool *pgxpool.Pool, calls []*createCall) ([]createResult, error) {
		n.Add(int64(len(calls)))
		return store(ctx, pool, calls)
	}
	return &n
}

// fillPool adds addresses to the LTC pool, in order (oldest first).
func fillPool(t *testing.T, pool *pgxpool.Pool, addrs ...string) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), `
		INSERT INTO address_pool (coin, address)
		SELECT 'LTC', a FROM unnest($1::text[]) WITH ORDINALITY AS t (a, n) ORDER BY n`, addrs); err != nil {
		t.Fatal(err)
	}
}

// pooledAddrs returns the LTC pool's addresses, oldest first.
func pooledAddrs(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT address FROM address_pool WHERE coin = 'LTC' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type insertOutcome struct {
	p    *Payment
	took bool
	err  error
	dur  time.Duration
}

// queueCreates queues one insertFromPool per ctx behind b's held slots
// and hands them the slots; outcomes come in the order of ctxs.
func queueCreates(t *testing.T, s *Service, ctxs []context.Context) []chan insertOutcome {
	t.Helper()
	b := s.creates["LTC"]
	release := holdSlots(&b.coalescer)
	out := make([]chan insertOutcome, len(ctxs))
	for i, ctx := range ctxs {
		out[i] = make(chan insertOutcome, 1)
		p := newPoolPayment(t, s)
		go func() {
			start := time.Now()
			took, err := s.insertFromPool(ctx, p, nil)
			out[i] <- insertOutcome{p, took, err, time.Since(start)}
		}()
		// One at a time, so that the queue's order is ctxs'.
		waitQueued(t, &b.coalescer, i+1)
	}
	release()
	return out
}

// newPoolPayment returns a valid payment of LTC, not stored.
func newPoolPayment(t *testing.T, s *Service) *Payment {
	t.Helper()
	p, _, err := s.validate(CreateRequest{Coin: "LTC", Amount: 100000, OrderID: "o-" + fmt.Sprint(time.Now().UnixNano())},
		s.now().UTC().Truncate(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// expectStored checks that p is stored as createFromPool alone stores
// it: the payment as p says, and one created event whose body is what
// encoding p gives.
func expectStored(t *testing.T, s *Service, p *Payment) {
	t.Helper()
	stored, err := s.Get(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.present(p)
	if got, want := stored.JSON(), p.JSON(); !jsonEqual(t, got, want) {
		t.Fatalf("stored payment\n%+v\nwant\n%+v", got, want)
	}
	events, err := s.Events(t.Context(), p.ID)
	if err != nil || len(events) != 1 {
		t.Fatalf("events of %s: %+v (%v), want the created event alone", p.ID, events, err)
	}
	ev := events[0]
	want, err := json.Marshal(EventJSON{PaymentID: p.ID.String(), Status: StatusUnpaid, EventID: ev.ID.String(),
		Type: EventCreated, OccurredAt: p.CreatedAt.UTC(), Sequence: 1, Payment: p.JSON()})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventCreated || ev.Sequence != 1 || string(ev.Payload) != string(want) {
		t.Fatalf("created event %s #%d\n%s\nwant\n%s", ev.Type, ev.Sequence, ev.Payload, want)
	}
	var counter int
	if err := s.pool.QueryRow(t.Context(), `SELECT event_sequence FROM payments WHERE id = $1`, p.ID).Scan(&counter); err != nil || counter != 1 {
		t.Fatalf("event_sequence %d (%v), want 1", counter, err)
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

// TestCreateBatchTwoServices: many concurrent creates through two
// Services (two processes) on one database, many of them coalesced: each
// payment has an address of its own, the pool shrinks by exactly the
// number created, and every payment and event is stored as a create
// alone stores it.
func TestCreateBatchTwoServices(t *testing.T) {
	ctx := t.Context()
	dbURL := pgtest.NewDatabase(t)
	var svcs []*Service
	var batched []*atomic.Int64
	for range 2 {
		cfg, err := pgxpool.ParseConfig(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 8
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		s := poolService(t, pool)
		svcs = append(svcs, s)
		batched = append(batched, countBatches(s))
	}
	const perService, spare = 120, 10
	var addrs []string
	for i := range 2*perService + spare {
		addrs = append(addrs, fmt.Sprintf("ltcaddr%04d", i))
	}
	fillPool(t, svcs[0].pool, addrs...)

	var (
		mu       sync.Mutex
		payments []*Payment
		wg       sync.WaitGroup
	)
	// Every create queues behind held slots, so that batches surely form
	// and the two Services' batches run at once.
	var releases []func()
	for _, s := range svcs {
		releases = append(releases, holdSlots(&s.creates["LTC"].coalescer))
	}
	for _, s := range svcs {
		for range perService {
			wg.Go(func() {
				p, err := s.Create(ctx, CreateRequest{Coin: "LTC", Amount: 100000, Metadata: json.RawMessage(`{"k": "v"}`)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				payments = append(payments, p)
				mu.Unlock()
			})
		}
	}
	for _, s := range svcs {
		waitQueued(t, &s.creates["LTC"].coalescer, perService)
	}
	for _, r := range releases {
		r()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := batched[0].Load() + batched[1].Load(); n < perService {
		t.Fatalf("%d creates stored by batches, want at least %d", n, perService)
	}
	seen := map[string]bool{}
	for _, p := range payments {
		if seen[p.Address] {
			t.Fatalf("address %s handed out twice", p.Address)
		}
		seen[p.Address] = true
		expectStored(t, svcs[0], p)
	}
	left := pooledAddrs(t, svcs[0].pool)
	if len(left) != spare {
		t.Fatalf("pool holds %d after %d creates, want %d", len(left), len(payments), spare)
	}
	for _, a := range left {
		if seen[a] {
			t.Fatalf("address %s both handed out and still pooled", a)
		}
	}
	var stored int
	if err := svcs[0].pool.QueryRow(ctx, `SELECT count(*) FROM payments`).Scan(&stored); err != nil || stored != 2*perService {
		t.Fatalf("%d payments stored (%v), want %d", stored, err, 2*perService)
	}
	for _, s := range svcs {
		waitCoalescer(t, &s.creates["LTC"].coalescer, 0, 0)
	}
}

// TestCreateBatchRunsDry: queued creates take the oldest addresses in the
// order they queued, and a batch that finds the pool running dry stores
// those it has addresses for and answers the rest took=false.
func TestCreateBatchRunsDry(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	s := poolService(t, pool)
	batched := countBatches(s)
	fillPool(t, pool, "ltcaddr1", "ltcaddr2", "ltcaddr3")
	ctxs := []context.Context{ctx, ctx, ctx, ctx, ctx}
	outs := queueCreates(t, s, ctxs)
	for i, o := range outs {
		r := <-o
		if r.err != nil {
			t.Fatalf("create %d: %v", i, r.err)
		}
		if i < 3 {
			if want := fmt.Sprintf("ltcaddr%d", i+1); !r.took || r.p.Address != want {
				t.Fatalf("create %d: took %v, address %q; want %s", i, r.took, r.p.Address, want)
			}
			expectStored(t, s, r.p)
		} else if r.took || r.p.Address != "" {
			t.Fatalf("create %d with the pool dry: took %v, address %q", i, r.took, r.p.Address)
		}
	}
	if n := batched.Load(); n != int64(len(ctxs)) {
		t.Fatalf("%d creates stored by batches, want %d", n, len(ctxs))
	}
	if left := pooledAddrs(t, pool); len(left) != 0 {
		t.Fatalf("pool %v, want empty", left)
	}
	waitCoalescer(t, &s.creates["LTC"].coalescer, 0, 0)
}

// TestCreateBatchNotPlain: a batch one of whose addresses is not plain
// letters and digits fails whole, storing nothing, and each of its
// creates is made on its own: all of them are created.
func TestCreateBatchNotPlain(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	s := poolService(t, pool)
	addrs := []string{"ltcaddr1", "not-plain", "ltcaddr3", "ltcaddr4"}
	fillPool(t, pool, addrs...)
	b := s.creates["LTC"]
	var failed atomic.Int32
	store := b.store
	b.store = func(ctx context.Context, pool *pgxpool.Pool, calls []*createCall) ([]createResult, error) {
		r, err := store(ctx, pool, calls)
		if err != nil {
			failed.Add(1)
			// Nothing of the batch is stored.
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
				t.Errorf("%d payments stored by a failed batch (%v)", n, err)
			}
			if left := pooledAddrs(t, pool); !slices.Equal(left, addrs) {
				t.Errorf("pool after a failed batch %v, want %v", left, addrs)
			}
		}
		return r, err
	}
	outs := queueCreates(t, s, []context.Context{ctx, ctx, ctx, ctx})
	var got []string
	for i, o := range outs {
		r := <-o
		if r.err != nil || !r.took {
			t.Fatalf("create %d: took %v, %v", i, r.took, r.err)
		}
		got = append(got, r.p.Address)
		expectStored(t, s, r.p)
	}
	if failed.Load() != 1 {
		t.Fatalf("%d batches failed, want 1", failed.Load())
	}
	slices.Sort(got)
	want := slices.Clone(addrs)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
	if left := pooledAddrs(t, pool); len(left) != 0 {
		t.Fatalf("pool %v, want empty", left)
	}
	waitCoalescer(t, &b.coalescer, 0, 0)
}

// TestCreateCancelWhileBatchInFlight: a create whose context ends while
// its batch waits returns at once; one that queues behind a busy batch
// leaves at its deadline; the others are stored when the batch goes on.
func TestCreateCancelWhileBatchInFlight(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	s := poolService(t, pool)
	fillPool(t, pool, "ltcaddr1", "ltcaddr2", "ltcaddr3", "ltcaddr4", "ltcaddr5")
	unlock := lockPayments(t, pool)
	cancelCtx, cancel := context.WithCancel(ctx)
	outs := queueCreates(t, s, []context.Context{cancelCtx, ctx, ctx, ctx})
	waitBlocked(t, pool)

	cancel()
	if r := <-outs[0]; !errors.Is(r.err, context.Canceled) || r.dur > 5*time.Second {
		t.Errorf("cancelled create: %v after %v", r.err, r.dur)
	}
	shortCtx, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	if _, err := s.insertFromPool(shortCtx, newPoolPayment(t, s), nil); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("create queued behind the batch: %v after %v", err, time.Since(start))
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(outs); i++ {
		if r := <-outs[i]; r.err != nil || !r.took {
			t.Errorf("create %d: took %v, %v", i, r.took, r.err)
		} else {
			expectStored(t, s, r.p)
		}
	}
	waitCoalescer(t, &s.creates["LTC"].coalescer, 0, 0)
}

// TestCreateBatchDatabaseCutOff: creates queued in a batch whose
// connection is cut, or with no database at all, fail soon, and nothing
// hangs.
func TestCreateBatchDatabaseCutOff(t *testing.T) {
	ctx := t.Context()
	checkFail := func(t *testing.T, outs []chan insertOutcome, limit time.Duration) {
		t.Helper()
		timer := time.NewTimer(limit)
		defer timer.Stop()
		for i, o := range outs {
			select {
			case r := <-o:
				if r.err == nil {
					t.Errorf("create %d with the database cut off: took %v, no error", i, r.took)
				}
			case <-timer.C:
				t.Fatalf("creates still waiting after %v", limit)
			}
		}
	}
	four := []context.Context{ctx, ctx, ctx, ctx}

	t.Run("connection cut under a batch", func(t *testing.T) {
		dbURL := pgtest.NewDatabase(t)
		proxy, pool, direct := cutPools(t, dbURL)
		s := poolService(t, pool)
		fillPool(t, direct, "ltcaddr1", "ltcaddr2", "ltcaddr3", "ltcaddr4", "ltcaddr5")
		if err := pool.Ping(ctx); err != nil { // a connection through the proxy
			t.Fatal(err)
		}
		unlock := lockPayments(t, direct)
		outs := queueCreates(t, s, four)
		waitBlocked(t, direct)
		proxy.cut()
		checkFail(t, outs, 5*time.Second)
		_ = unlock()
		waitCoalescer(t, &s.creates["LTC"].coalescer, 0, 0)
		var n int
		if err := direct.QueryRow(ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d payments stored (%v), want none", n, err)
		}
	})

	t.Run("no server", func(t *testing.T) {
		pool := unreachablePool(t)
		s := poolService(t, pool)
		checkFail(t, queueCreates(t, s, four), 5*time.Second)
		// And creates that come as they please.
		var wg sync.WaitGroup
		var failed atomic.Int32
		start := time.Now()
		for range 40 {
			wg.Go(func() {
				if _, err := s.insertFromPool(ctx, newPoolPayment(t, s), nil); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 40 || time.Since(start) > 5*time.Second {
			t.Errorf("%d of 40 creates failed, in %v", failed.Load(), time.Since(start))
		}
		waitCoalescer(t, &s.creates["LTC"].coalescer, 0, 0)
	})
}

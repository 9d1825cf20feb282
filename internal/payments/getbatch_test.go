package payments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/pgtest"
)

// batchFixture inserts payments with zero to three outputs, stored out
// of their read order, and two whose rows decodeGetRow declines (a year
// past 9999, read by Scan, and an infinite expiry, which Scan refuses).
func batchFixture(t *testing.T, pool *pgxpool.Pool, n int) (ids []uuid.UUID, far, infinite uuid.UUID) {
	t.Helper()
	ctx := t.Context()
	insert := func(cols, values string) uuid.UUID {
		id := uuid.New()
		if _, err := pool.Exec(ctx, `INSERT INTO payments (id, coin, amount, confirmations_required, address, metadata`+cols+`)
			VALUES ($1, 'LTC', 150000000, 6, $2, $3`+values+`)`,
			id, "rltc1q"+strings.ReplaceAll(id.String(), "-", ""), fmt.Sprintf(`{"n": %d}`, len(ids))); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for i := range n {
		id := insert("", "")
		ids = append(ids, id)
		// Outputs inserted newest first, with ties on first_seen_at
		// broken by txid, then vout.
		for k := i % 4; k > 0; k-- {
			txid := fmt.Sprintf("%056x%08x", i, 4-k)
			seen := fmt.Sprintf("2026-11-29 04:00:0%d+00", k/2)
			for vout := 1; vout >= 0; vout-- {
				if _, err := pool.Exec(ctx, `INSERT INTO payment_outputs (coin, txid, vout, payment_id, amount, confirmations,
					first_seen_at, observed_at, updated_at, received_at)
					VALUES ('LTC', $1, $2, $3, $4, 1, $5, now(), now(), now())`, txid, vout, id, 1000*k+vout, seen); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	far = insert(`, created_at`, `, '12000-01-01 00:00:00+00'`)
	infinite = insert(`, expires_at`, `, 'infinity'`)
	return ids, far, infinite
}

type getOutcome struct {
	p   *Payment
	err error
}

// TestGetBatchAnswersEach: reads queued together, of distinct, repeated
// and missing ids, each get what a read alone gets (GetSQL): their own
// payment, outputs in order, ErrNotFound for a missing id, and the error
// of a payment whose row cannot be read for that payment alone. Repeated
// ids get payments of their own.
func TestGetBatchAnswersEach(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	store := NewStore(pool)
	ids, far, infinite := batchFixture(t, pool, 40)
	want := map[uuid.UUID]getOutcome{}
	all := append([]uuid.UUID{far, infinite}, ids...)
	for range 10 {
		all = append(all, uuid.New())
	}
	for _, id := range all {
		p, err := store.getOne(ctx, id)
		want[id] = getOutcome{p, err}
	}
	if len(want[ids[3]].p.Outputs) != 6 || want[far].err != nil || want[infinite].err == nil {
		t.Fatalf("fixture: %+v %+v %+v", want[ids[3]], want[far], want[infinite])
	}
	o := want[ids[3]].p.Outputs
	for i := 1; i < len(o); i++ {
		if a, b := o[i-1], o[i]; a.FirstSeenAt.After(b.FirstSeenAt) || (a.FirstSeenAt.Equal(b.FirstSeenAt) &&
			(a.TxID > b.TxID || (a.TxID == b.TxID && a.Vout > b.Vout))) {
			t.Fatalf("outputs out of order: %+v", o)
		}
	}

	// Every id, some three times over: more reads than one batch takes.
	var reads []uuid.UUID
	for i, id := range all {
		reads = append(reads, id)
		if i%3 == 0 {
			reads = append(reads, id, id)
		}
	}
	if len(reads) <= maxGetBatch {
		t.Fatalf("%d reads fit one batch", len(reads))
	}
	release := holdSlots(&store.reads.coalescer)
	got := make([]getOutcome, len(reads))
	var wg sync.WaitGroup
	for i, id := range reads {
		wg.Go(func() {
			p, err := store.Get(ctx, id)
			got[i] = getOutcome{p, err}
		})
	}
	waitQueued(t, &store.reads.coalescer, len(reads))
	release()
	wg.Wait()

	seen := map[*Payment]bool{}
	for i, id := range reads {
		g, w := got[i], want[id]
		if (g.err == nil) != (w.err == nil) || (g.err != nil && g.err.Error() != w.err.Error()) ||
			errors.Is(g.err, ErrNotFound) != errors.Is(w.err, ErrNotFound) {
			t.Errorf("read %d of %s: error %v, alone %v", i, id, g.err, w.err)
		}
		if !reflect.DeepEqual(g.p, w.p) {
			t.Errorf("read %d of %s:\n%+v\nalone:\n%+v", i, id, g.p, w.p)
		}
		if g.p != nil {
			if seen[g.p] {
				t.Errorf("read %d of %s shares its payment with another read", i, id)
			}
			seen[g.p] = true
		}
	}
	waitCoalescer(t, &store.reads.coalescer, 0, 0)
}

// TestGetConcurrentReads: many readers at once, batched as they come,
// each get their own payment whole.
func TestGetConcurrentReads(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	store := NewStore(pool)
	ids, _, _ := batchFixture(t, pool, 30)
	ids = append(ids, uuid.New(), uuid.New())
	want := map[uuid.UUID]*Payment{}
	for _, id := range ids {
		p, err := store.getOne(ctx, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		want[id] = p
	}
	var wg sync.WaitGroup
	for g := range 48 {
		wg.Go(func() {
			for i := range 60 {
				id := ids[(g*7+i)%len(ids)]
				p, err := store.Get(ctx, id)
				if want[id] == nil {
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("missing %s: %v, want ErrNotFound", id, err)
					}
					continue
				}
				if err != nil || !reflect.DeepEqual(p, want[id]) {
					t.Errorf("%s: %+v, %v; want %+v", id, p, err, want[id])
					return
				}
			}
		})
	}
	wg.Wait()
	waitCoalescer(t, &store.reads.coalescer, 0, 0)
}

// TestGetReadsItsWrites: a write committed before Get is called is what
// Get returns, while other reads keep batches in flight, so that a read
// would see an older state if it joined a query already under way.
func TestGetReadsItsWrites(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	store := NewStore(pool)
	ids, _, _ := batchFixture(t, pool, 16)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for g := range 12 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := store.Get(ctx, ids[(g+i)%len(ids)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			id := ids[w]
			for n := int64(1); n <= 60; n++ {
				if _, err := pool.Exec(ctx, `UPDATE payments SET amount_received = $2 WHERE id = $1`, id, n); err != nil {
					t.Error(err)
					return
				}
				if p, err := store.Get(ctx, id); err != nil || p.Received != Amount(n) {
					t.Errorf("read after update %d: %+v, %v", n, p, err)
					return
				}
				fresh := uuid.New()
				if _, err := pool.Exec(ctx, `INSERT INTO payments (id, coin, amount, confirmations_required, address)
					VALUES ($1, 'LTC', 1, 6, $2)`, fresh, "rltc1q"+strings.ReplaceAll(fresh.String(), "-", "")); err != nil {
					t.Error(err)
					return
				}
				if p, err := store.Get(ctx, fresh); err != nil || p.ID != fresh {
					t.Errorf("read after insert: %+v, %v", p, err)
					return
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	waitCoalescer(t, &store.reads.coalescer, 0, 0)
}

// TestGetCancelWhileBatchInFlight: with a batch held up in PostgreSQL (a
// lock on the table), a reader in it whose context is cancelled, and a
// reader queued behind it whose deadline passes, return at once with
// their context's error; the others get their payments once the batch
// runs.
func TestGetCancelWhileBatchInFlight(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	store := NewStore(pool)
	ids, _, _ := batchFixture(t, pool, 4)

	unlock := lockPayments(t, pool)

	release := holdSlots(&store.reads.coalescer)
	cancelCtx, cancel := context.WithCancel(ctx)
	type result struct {
		p    *Payment
		err  error
		took time.Duration
	}
	results := make([]chan result, len(ids))
	for i, id := range ids {
		results[i] = make(chan result, 1)
		c := ctx
		if i == 0 {
			c = cancelCtx
		}
		go func() {
			start := time.Now()
			p, err := store.Get(c, id)
			results[i] <- result{p, err, time.Since(start)}
		}()
	}
	waitQueued(t, &store.reads.coalescer, len(ids))
	release() // the batch starts, and waits for the lock
	waitBlocked(t, pool)

	cancel()
	r := <-results[0]
	if !errors.Is(r.err, context.Canceled) || r.took > 5*time.Second {
		t.Errorf("cancelled reader: %v after %v", r.err, r.took)
	}
	// Every slot is busy: a new reader queues, and leaves at its deadline.
	shortCtx, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	if _, err := store.Get(shortCtx, ids[1]); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("reader queued behind the batch: %v after %v", err, time.Since(start))
	}

	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ids); i++ {
		if r := <-results[i]; r.err != nil || r.p.ID != ids[i] {
			t.Errorf("reader %d: %+v, %v", i, r.p, r.err)
		}
	}
	waitCoalescer(t, &store.reads.coalescer, 0, 0)
}

// waitBlocked waits until a query of pool waits for a lock.
func waitBlocked(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no query waits for the lock")
		}
	}
}

// lockPayments locks the payments table in a transaction of its own on
// pool, so that statements touching it wait; unlock ends it (and runs at
// the test's end if the test has not).
func lockPayments(t *testing.T, pool *pgxpool.Pool) (unlock func() error) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var (
		once sync.Once
		end  error
	)
	unlock = func() error {
		once.Do(func() { end = lock.Rollback(ctx) })
		return end
	}
	t.Cleanup(func() { _ = unlock() })
	if _, err := lock.Exec(ctx, `LOCK TABLE payments IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return unlock
}

// unreachablePool returns a pool whose server is a port nothing listens
// on.
func unreachablePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(t.Context(), "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestGetDatabaseCutOff: when the connection to PostgreSQL is cut under
// a batch in flight, when the pool is closed, and when no server answers
// at all, every queued reader gets an error, not ErrNotFound, promptly.
func TestGetDatabaseCutOff(t *testing.T) {
	ctx := t.Context()
	dbURL := pgtest.NewDatabase(t)

	t.Run("connection cut under a batch", func(t *testing.T) {
		proxy, pool, direct := cutPools(t, dbURL)
		ids, _, _ := batchFixture(t, direct, 3)
		store := NewStore(pool)
		if _, err := store.Get(ctx, ids[0]); err != nil { // a connection through the proxy
			t.Fatal(err)
		}
		unlock := lockPayments(t, direct)
		errs := queueAndRelease(t, store, append(ids, ids[0], uuid.New()))
		waitBlocked(t, direct)
		proxy.cut()
		checkErrors(t, errs, 5*time.Second)
		_ = unlock()
		waitCoalescer(t, &store.reads.coalescer, 0, 0)
	})

	t.Run("pool closed", func(t *testing.T) {
		pool, err := pgxpool.New(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		store := NewStore(pool)
		pool.Close()
		checkErrors(t, queueAndRelease(t, store, []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}), 5*time.Second)
		waitCoalescer(t, &store.reads.coalescer, 0, 0)
	})

	t.Run("no server", func(t *testing.T) {
		pool := unreachablePool(t)
		store := NewStore(pool)
		checkErrors(t, queueAndRelease(t, store, []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}), 5*time.Second)
		// And readers that come as they please.
		var wg sync.WaitGroup
		var failed atomic.Int32
		start := time.Now()
		for range 40 {
			wg.Go(func() {
				if _, err := store.Get(ctx, uuid.New()); err != nil && !errors.Is(err, ErrNotFound) {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 40 || time.Since(start) > 5*time.Second {
			t.Errorf("%d of 40 readers failed, in %v", failed.Load(), time.Since(start))
		}
		waitCoalescer(t, &store.reads.coalescer, 0, 0)
	})
}

// queueAndRelease queues a Get of each id behind held slots and hands
// them the slots; the channel gets each Get's error.
func queueAndRelease(t *testing.T, store *Store, ids []uuid.UUID) chan error {
	t.Helper()
	release := holdSlots(&store.reads.coalescer)
	errs := make(chan error, len(ids))
	for _, id := range ids {
		go func() {
			_, err := store.Get(t.Context(), id)
			errs <- err
		}()
	}
	waitQueued(t, &store.reads.coalescer, len(ids))
	release()
	return errs
}

// checkErrors checks that every Get queued by queueAndRelease fails, not
// with ErrNotFound, within limit.
func checkErrors(t *testing.T, errs chan error, limit time.Duration) {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for range cap(errs) {
		select {
		case err := <-errs:
			if err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("reader with the database cut off: %v, want an error", err)
			}
		case <-timer.C:
			t.Fatalf("readers still waiting after %v", limit)
		}
	}
}

// cutProxy relays TCP to PostgreSQL until cut, which closes every
// connection it relays and refuses new ones.
type cutProxy struct {
	url   string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// cutPools returns a proxy to dbURL, a pool through it and a pool
// straight to the database, closed when the test ends.
func cutPools(t *testing.T, dbURL string) (proxy *cutProxy, proxied, direct *pgxpool.Pool) {
	t.Helper()
	proxy = newCutProxy(t, dbURL)
	proxied, err := pgxpool.New(t.Context(), proxy.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxied.Close)
	direct, err = pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	return proxy, proxied, direct
}

func newCutProxy(t *testing.T, dbURL string) *cutProxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	p := &cutProxy{url: u.String(), ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBatcherGroupsConcurrentCalls(t *testing.T) {
	var (
		mu      sync.Mutex
		batches [][]int
		release = make(chan struct{})
		first   = make(chan struct{}, 1)
	)
	b := newBatcher(100, func(_ context.Context, vs []int) error {
		mu.Lock()
		batches = append(batches, vs)
		n := len(batches)
		mu.Unlock()
		if n == 1 {
			first <- struct{}{}
			<-release // hold the first batch so the rest queue behind it
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.run(ctx, 1); close(done) }()
	waitRunning(t, b)

	var wg sync.WaitGroup
	wg.Go(func() { _ = b.do(context.Background(), 0, nil) })
	<-first
	for i := 1; i <= 10; i++ {
		wg.Go(func() {
			if err := b.do(context.Background(), i, nil); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(b.in) < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 2 || len(batches[0]) != 1 || len(batches[1]) != 10 {
		t.Fatalf("batches = %v, want the first call alone and the ten queued behind it together", batches)
	}
}

func TestBatcherReportsTheBatchError(t *testing.T) {
	boom := errors.New("insert failed")
	b := newBatcher(10, func(context.Context, []int) error { return boom })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.run(ctx, 2)
	waitRunning(t, b)
	if err := b.do(context.Background(), 1, nil); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the batch's error", err)
	}
}

func TestBatcherDirectWhenNotRunning(t *testing.T) {
	b := newBatcher(10, func(context.Context, []int) error { t.Error("flushed without run"); return nil })
	called := false
	if err := b.do(context.Background(), 1, func() error { called = true; return nil }); err != nil || !called {
		t.Fatalf("direct path: called %t err %v", called, err)
	}
}

func TestBatcherSkipsCallersThatGaveUp(t *testing.T) {
	var flushed atomic.Int64
	release := make(chan struct{})
	b := newBatcher(10, func(_ context.Context, vs []int) error {
		if flushed.Add(int64(len(vs))) == 1 {
			<-release
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.run(ctx, 1); close(done) }()
	waitRunning(t, b)
	go func() { _ = b.do(context.Background(), 0, nil) }()
	for flushed.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	gone, giveUp := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.do(gone, 1, nil) }()
	for len(b.in) == 0 {
		time.Sleep(time.Millisecond)
	}
	giveUp()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	close(release)
	cancel()
	<-done
	if n := flushed.Load(); n != 1 {
		t.Fatalf("flushed %d items, want only the first: the second caller had gone", n)
	}
}

func waitRunning[T any](t testing.TB, b *batcher[T]) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		running := b.running
		b.mu.Unlock()
		if running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("batcher did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentHintBatchesShareKeys stores a burst of duplicated hints
// from many callers at once through the running batchers: batches with
// overlapping unique keys used to deadlock in PostgreSQL and fail hints.
func TestConcurrentHintBatchesShareKeys(t *testing.T) {
	pool, svc := hintService(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	waitRunning(t, svc.hintBatch)

	txids := make([]string, 100)
	for i := range txids {
		txids[i] = fmt.Sprintf("%064x", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := range 60 {
				// Each caller walks the txids in its own order.
				if err := svc.HintTx(context.Background(), "LTC", txids[(i*7+w*13)%len(txids)]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	<-done
	close(errs)
	for err := range errs {
		t.Fatalf("hint refused: %v", err)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'tx_hint'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(txids) {
		t.Fatalf("%d hint jobs stored, want one per txid (%d)", n, len(txids))
	}
}

package payments

import (
	"context"
	"sync"
)

// batcher turns concurrent single requests into batches: while a batch is
// being written, the requests arriving behind it queue up and go together
// in the next one. A caller waits until its batch is done and gets the
// batch's error, so batching never acknowledges anything that is not
// stored. While run is not running, do calls direct instead.
type batcher[T any] struct {
	in    chan batchItem[T]
	limit int
	flush func(ctx context.Context, items []T) error

	mu      sync.Mutex
	running bool
}

type batchItem[T any] struct {
	ctx  context.Context // the caller's: once it is done, nobody waits for v
	v    T
	done chan error
}

func newBatcher[T any](limit int, flush func(context.Context, []T) error) *batcher[T] {
	return &batcher[T]{in: make(chan batchItem[T], 4*limit), limit: limit, flush: flush}
}

// do submits v and waits for its batch; direct handles v alone when no
// batcher runs.
func (b *batcher[T]) do(ctx context.Context, v T, direct func() error) error {
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if !running {
		return direct()
	}
	it := batchItem[T]{ctx: ctx, v: v, done: make(chan error, 1)}
	select {
	case b.in <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes batches with the given number of concurrent flushers until ctx
// is done, then writes whatever is still queued and returns.
func (b *batcher[T]) run(ctx context.Context, flushers int) {
	b.mu.Lock()
	b.running = true
	b.mu.Unlock()
	var wg sync.WaitGroup
	for range flushers {
		wg.Go(func() {
			for {
				select {
				case it := <-b.in:
					b.flushFrom(it)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	b.mu.Lock()
	b.running = false
	b.mu.Unlock()
	for {
		select {
		case it := <-b.in:
			b.flushFrom(it)
		default:
			return
		}
	}
}

// flushFrom writes first and the items queued behind it, up to the limit,
// and answers each caller.
func (b *batcher[T]) flushFrom(first batchItem[T]) {
	batch := []batchItem[T]{first}
collect:
	for len(batch) < b.limit {
		select {
		case it := <-b.in:
			batch = append(batch, it)
		default:
			break collect
		}
	}
	// Items whose caller gave up (a job cancelled at shutdown) are not
	// worth the work: nobody would be told the outcome.
	waiting := batch[:0]
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.done <- err
			continue
		}
		waiting = append(waiting, it)
	}
	if len(waiting) == 0 {
		return
	}
	vs := make([]T, len(waiting))
	for i, it := range waiting {
		vs[i] = it.v
	}
	// A batch is shared by callers with their own deadlines: it runs to
	// completion on its own.
	err := b.flush(context.Background(), vs)
	for _, it := range waiting {
		it.done <- err
	}
}

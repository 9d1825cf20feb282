package payments

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// maxCreateBatch is the most creates one batch stores.
	maxCreateBatch = 64
	// createBatchTimeout bounds a batch when one of its creates has no
	// deadline of its own, as getBatchTimeout does a batch read.
	createBatchTimeout = 30 * time.Second
)

// createBatcher coalesces concurrent creates from one coin's address pool
// (the quiet path, createFromPool), as getBatcher does reads. A create
// that finds fewer than slots batches in flight runs at once, alone, with
// createFromPoolSQL and its own context: an idle gateway adds no wait to
// a create. A create that finds every slot busy queues; when a slot is
// released and creates are queued, the slot goes to a goroutine that
// stores up to maxCreateBatch of them with one round trip and one commit
// (runCreateBatch), and again while any are queued. The commit, its WAL
// flush and the round trip are most of what a lone create costs
// PostgreSQL and transientd, and a batch pays them once.
//
// A batch is all or nothing: when it fails, nothing of it is stored, and
// each of its creates is made again on its own (createFromPool, then the
// transaction), on its caller's context, so that one create that needs
// the usual way (errNotPlain) does not fail the others.
type createBatcher struct {
	pool  *pgxpool.Pool
	slots int
	// store stores a batch: runCreateBatch (a test may fail or hold it).
	store func(context.Context, *pgxpool.Pool, []*createCall) ([]createResult, error)

	mu      sync.Mutex
	running int           // statements or batches in flight (slots held)
	queue   []*createCall // creates waiting for a slot, oldest first
}

// createCall is a queued create.
type createCall struct {
	args     []any // createFromPoolSQL's
	deadline time.Time
	done     chan createResult
	gone     atomic.Bool // its caller stopped waiting
}

// createResult answers a queued create: the address it got (took), none
// (the pool was empty), retry (the batch failed and stored nothing), or
// err (it is not known whether the batch was stored).
type createResult struct {
	address string
	took    bool
	retry   error // why the batch failed
	err     error
}

// newCreateBatcher returns a batcher of two statements at once (one on a
// pool of fewer than 8 connections), as newGetBatcher: one keeps
// PostgreSQL busy while the other's commit is flushed.
func newCreateBatcher(pool *pgxpool.Pool) *createBatcher {
	slots := 1
	if pool != nil && pool.Config().MaxConns >= 8 {
		slots = 2
	}
	return &createBatcher{pool: pool, slots: slots, store: runCreateBatch}
}

// createFromPoolBatched is createFromPool with p's statement coalesced
// with concurrent ones of its coin (createBatcher).
func (s *Service) createFromPoolBatched(ctx context.Context, p *Payment) (bool, error) {
	b := s.creates[p.Coin]
	if b == nil {
		return s.createFromPool(ctx, p)
	}
	b.mu.Lock()
	if b.running < b.slots {
		b.running++
		b.mu.Unlock()
		defer b.release()
		return s.createFromPool(ctx, p)
	}
	b.mu.Unlock()
	args, err := s.createFromPoolArgs(p)
	if err != nil {
		return false, err
	}
	c := &createCall{args: args, done: make(chan createResult, 1)}
	c.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	if b.running < b.slots {
		// A slot came free while the arguments were made.
		b.running++
		b.mu.Unlock()
		defer b.release()
		return scanCreated(s.pool.QueryRow(ctx, createFromPoolSQL, args...), p)
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case r := <-c.done:
		if r.retry != nil {
			// Nothing of the batch was stored: p is made alone, as if
			// it had never queued.
			return scanCreated(s.pool.QueryRow(ctx, createFromPoolSQL, args...), p)
		}
		if r.err != nil {
			return false, r.err
		}
		p.Address = r.address
		return r.took, nil
	case <-ctx.Done():
		c.gone.Store(true)
		return false, fmt.Errorf("payments: create from the address pool: %w", ctx.Err())
	}
}

// release ends a statement's hold on its slot: the slot goes to the
// creates queued meanwhile, if any, in a goroutine of their own so that
// the caller that ran the statement returns now.
func (b *createBatcher) release() {
	b.mu.Lock()
	queued := len(b.queue) > 0
	if !queued {
		b.running--
	}
	b.mu.Unlock()
	if queued {
		go b.drain()
	}
}

// drain holds a slot and stores queued creates, a batch at a time, until
// none is queued.
func (b *createBatcher) drain() {
	for {
		b.mu.Lock()
		calls := b.take()
		if len(calls) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.run(calls)
	}
}

// take removes up to maxCreateBatch creates from the queue, oldest first,
// dropping those whose callers have gone. b.mu is held.
func (b *createBatcher) take() []*createCall {
	var calls []*createCall
	n := 0
	for n < len(b.queue) && len(calls) < maxCreateBatch {
		if c := b.queue[n]; !c.gone.Load() {
			calls = append(calls, c)
		}
		n++
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return calls
}

// run stores calls in one batch. Every call gets one result.
func (b *createBatcher) run(calls []*createCall) {
	// As getBatcher.run: the batch serves many callers, so it runs on
	// none's context, until the latest of their deadlines.
	var deadline time.Time
	for _, c := range calls {
		d := c.deadline
		if d.IsZero() {
			d = time.Now().Add(createBatchTimeout)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	answered := false
	defer func() {
		// A panic must not take the gateway down, nor leave creates
		// waiting. Whether the batch was committed is not known, so the
		// creates fail rather than risk taking a second address each.
		if v := recover(); v != nil && !answered {
			for _, c := range calls {
				c.done <- createResult{err: fmt.Errorf("payments: create from the address pool: batch panicked: %v", v)}
			}
		}
	}()
	results, err := b.store(ctx, b.pool, calls)
	answered = true
	for i, c := range calls {
		if err != nil {
			c.done <- createResult{retry: err}
		} else {
			c.done <- results[i]
		}
	}
}

// runCreateBatch stores calls' createFromPoolSQL statements as one
// pgx.Batch: PostgreSQL runs the statements of one Sync in one implicit
// transaction, so they are committed together, once, or not at all, and
// the rows stored are those of the statements run alone. Each statement
// sees the addresses the ones before it took as gone, so the creates get
// the oldest ready addresses in the order of the queue; one that finds
// none gets took=false, and the others are stored.
func runCreateBatch(ctx context.Context, pool *pgxpool.Pool, calls []*createCall) ([]createResult, error) {
	batch := &pgx.Batch{}
	for _, c := range calls {
		batch.Queue(createFromPoolSQL, c.args...)
	}
	br := pool.SendBatch(ctx, batch)
	results := make([]createResult, len(calls))
	var err error
	for i := range calls {
		err = br.QueryRow().Scan(&results[i].address)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
			continue
		}
		if err != nil {
			break
		}
		results[i].took = true
	}
	// Close reads the end of the implicit transaction: its commit.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

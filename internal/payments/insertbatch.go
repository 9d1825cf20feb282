package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// insertBatcher coalesces the statements (createSQL) that store payments
// whose address the node gave (the pool off, or the pool empty), as
// createBatcher does creates from the pool: one at a time per coin; a
// statement that finds none in flight runs at once, alone, on its
// caller's context, so a lone create waits for nothing; those that arrive
// while one is in flight queue, and the next stores up to maxCreateBatch
// of them with one statement (insertManySQL), one round trip and one
// commit. The getnewaddress batches answer their creations together, so
// their inserts arrive together too. What this saves is CPU that the node
// shares the machine with: the wallet makes one address at a time, and on
// a machine with few cores every statement and commit transientd and
// PostgreSQL do beside it slows it down.
//
// A batch is all or nothing: when it fails (an address some payment
// already has, a lost connection), nothing of it is stored and each of its
// payments is stored again alone, so that one create's error is its own.
type insertBatcher struct {
	coalescer[*insertCall]
	pool *pgxpool.Pool
	// store stores a batch: runInsertMany (a test may wrap it).
	store func(context.Context, *pgxpool.Pool, []*insertCall) error
}

// insertCall is a queued insert: createSQL's arguments.
type insertCall struct {
	queued
	args []any
	done chan insertResult
}

// insertResult answers a queued insert: stored (both nil), retry (the
// batch failed and stored nothing: store it alone) or err (it is not
// known whether the batch was stored).
type insertResult struct {
	retry error
	err   error
}

func newInsertBatcher(pool *pgxpool.Pool) *insertBatcher {
	b := &insertBatcher{pool: pool, store: runInsertMany}
	b.coalescer = coalescer[*insertCall]{slots: 1, max: maxCreateBatch, runBatch: b.run}
	return b
}

// execCreated runs createSQL with args, coalesced with the concurrent
// ones of coin (insertBatcher) when s has a batcher for it.
func (s *Service) execCreated(ctx context.Context, coin string, args []any) error {
	b := s.inserts[coin]
	if b == nil {
		return s.execCreatedAlone(ctx, args)
	}
	if b.acquire() {
		defer b.release()
		return s.execCreatedAlone(ctx, args)
	}
	c := &insertCall{args: args, done: make(chan insertResult, 1)}
	c.deadline, _ = ctx.Deadline()
	if b.acquireOrQueue(c) {
		// A slot came free meanwhile.
		defer b.release()
		return s.execCreatedAlone(ctx, args)
	}
	select {
	case r := <-c.done:
		if r.retry != nil {
			return s.execCreatedAlone(ctx, args)
		}
		return r.err
	case <-ctx.Done():
		c.gone.Store(true)
		return fmt.Errorf("payments: insert: %w", ctx.Err())
	}
}

func (s *Service) execCreatedAlone(ctx context.Context, args []any) error {
	_, err := s.pool.Exec(ctx, createSQL, args...)
	return err
}

// run stores calls in one batch. Every call gets one result.
func (b *insertBatcher) run(calls []*insertCall) {
	ctx, cancel := batchContext(calls, createBatchTimeout)
	defer cancel()
	answered := 0
	// Whether a batch that panicked was committed is not known.
	defer answerPanic(calls, &answered, func(c *insertCall, v any) {
		c.done <- insertResult{err: fmt.Errorf("payments: insert: batch panicked: %v", v)}
	})
	err := b.store(ctx, b.pool, calls)
	for _, c := range calls {
		c.done <- insertResult{retry: err}
		answered++
	}
}

// insertManySQL is createSQL for many payments in one statement: $1 to
// $20 are arrays of createSQL's arguments, one element per payment. Every
// payment and event is the row createSQL stores with the same arguments.
const insertManySQL = `
	WITH req AS (
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[],
			$8::bigint[], $9::timestamptz[], $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::text[],
			$15::bigint[], $16::int[], $17::text[], $18::uuid[], $19::text[], $20::text[])
		WITH ORDINALITY AS r (id, coin, amount, address, label, status, confirmations, tolerance_bp, expires_at,
			order_id, metadata, created_at, callback_url, redirect_url, settle_confirmations, window_seconds, api,
			event_id, event_type, payload, n)),
	payment AS (
		INSERT INTO payments (id, coin, amount, address, label, status, confirmations_required,
			tolerance_bp, expires_at, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
			settle_confirmations, monitoring_window_seconds, api, event_sequence)
		SELECT r.id, r.coin, r.amount, r.address, r.label, r.status, r.confirmations, r.tolerance_bp, r.expires_at,
			r.order_id, r.metadata::jsonb, r.created_at, r.created_at, r.callback_url, r.redirect_url,
			r.settle_confirmations, r.window_seconds, r.api, 1
		FROM req r
		ORDER BY r.n
		RETURNING id)
	INSERT INTO payment_events (id, payment_id, sequence, type, status, previous_status, occurred_at, payload)
	SELECT r.event_id, r.id, 1, r.event_type, r.status, '', r.created_at, r.payload::json
	FROM payment JOIN req r USING (id)`

// runInsertMany stores calls with one insertManySQL, in one implicit
// transaction; it fails whole.
func runInsertMany(ctx context.Context, pool *pgxpool.Pool, calls []*insertCall) error {
	n := len(calls)
	var (
		ids, evIDs                                         = make([][16]byte, n), make([][16]byte, n)
		amounts, confs, tols, settles                      = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		coins, addrs, labels, statuses, metas, types, pays = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		expires                                            = make([]*time.Time, n)
		orders, callbacks, redirects, apis                 = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		created                                            = make([]time.Time, n)
		windows                                            = make([]*int32, n)
	)
	for i, c := range calls {
		a := c.args
		ids[i], coins[i], amounts[i], addrs[i], labels[i], statuses[i] = a[0].([16]byte), a[1].(string), a[2].(int64), a[3].(string), a[4].(string), a[5].(string)
		confs[i], tols[i], expires[i], orders[i], metas[i], created[i] = a[6].(int64), a[7].(int64), a[8].(*time.Time), a[9].(*string), jsonText(a[10]), a[11].(time.Time)
		callbacks[i], redirects[i], settles[i], windows[i], apis[i] = a[12].(*string), a[13].(*string), a[14].(int64), a[15].(*int32), a[16].(*string)
		evIDs[i], types[i], pays[i] = a[17].([16]byte), a[18].(string), jsonText(a[19])
	}
	_, err := pool.Exec(ctx, insertManySQL, ids, coins, amounts, addrs, labels, statuses, confs, tols, expires, orders,
		metas, created, callbacks, redirects, settles, windows, apis, evIDs, types, pays)
	return err
}

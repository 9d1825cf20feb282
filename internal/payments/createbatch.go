package payments

import (
	"context"
	"encoding/json"
	"fmt"
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
// stores up to maxCreateBatch of them with one statement, one round trip
// and one commit (createManySQL), and again while any are queued. The
// statement, its commit and WAL flush and the round trip are most of what
// a lone create costs PostgreSQL and transientd, and a batch pays them
// once. One statement for the batch costs PostgreSQL less than a
// pgx.Batch of createFromPoolSQL (one Sync, so also one transaction): in
// bin/transient-dev bench -only create, 16 connections, PostgreSQL spent
// 106–113 µs of CPU per create with it, 120–140 µs with the pgx.Batch,
// 180–266 µs creating one at a time.
//
// A batch is all or nothing: when it fails, nothing of it is stored, and
// each of its creates is made again on its own (createFromPool, then the
// transaction), on its caller's context, so that one create that needs
// the usual way (errNotPlain) does not fail the others.
type createBatcher struct {
	coalescer[*createCall]
	pool *pgxpool.Pool
	// store stores a batch: runCreateMany (a test may wrap it).
	store func(context.Context, *pgxpool.Pool, []*createCall) ([]createResult, error)
}

// createCall is a queued create.
type createCall struct {
	queued
	args []any // createFromPoolSQL's
	done chan createResult
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

// newCreateBatcher returns a batcher of one statement at once: while it
// runs, every create that arrives queues for the next, so the batches are
// as large as the load makes them, and PostgreSQL's cost per create falls
// as the load grows. Measured against two at once (one keeping PostgreSQL
// busy while the other's commit is flushed, as reads do), in three
// alternated pairs of bin/transient-dev bench -only create on a quiet
// 2-core machine: at 16 connections 0.55–0.61 of the INSERT against 0.49,
// PostgreSQL's CPU per create 73–86 µs against 106–120, at 64 connections
// 1.06–1.10 against 0.95–1.04, a lone create unchanged (0.32–0.35 against
// 0.34–0.35). A lone create still runs at once: it finds nothing in flight.
func newCreateBatcher(pool *pgxpool.Pool) *createBatcher {
	b := &createBatcher{pool: pool, store: runCreateMany}
	b.coalescer = coalescer[*createCall]{slots: 1, max: maxCreateBatch, runBatch: b.run}
	return b
}

// createFromPoolBatched is createFromPool with p's statement coalesced
// with concurrent ones of its coin (createBatcher).
func (s *Service) createFromPoolBatched(ctx context.Context, p *Payment) (bool, error) {
	b := s.creates[p.Coin]
	if b == nil {
		return s.createFromPool(ctx, p)
	}
	if b.acquire() {
		defer b.release()
		return s.createFromPool(ctx, p)
	}
	args, err := s.createFromPoolArgs(p)
	if err != nil {
		return false, err
	}
	c := &createCall{args: args, done: make(chan createResult, 1)}
	c.deadline, _ = ctx.Deadline()
	if b.acquireOrQueue(c) {
		// A slot came free while the arguments were made.
		defer b.release()
		return scanCreated(s.pool.QueryRow(ctx, createFromPoolSQL, args...), p)
	}
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

// run stores calls in one batch. Every call gets one result.
func (b *createBatcher) run(calls []*createCall) {
	ctx, cancel := batchContext(calls, createBatchTimeout)
	defer cancel()
	answered := 0
	// Whether a batch that panicked was committed is not known, so its
	// creates fail rather than risk taking a second address each.
	defer answerPanic(calls, &answered, func(c *createCall, v any) {
		c.done <- createResult{err: fmt.Errorf("payments: create from the address pool: batch panicked: %v", v)}
	})
	results, err := b.store(ctx, b.pool, calls)
	for i, c := range calls {
		if err != nil {
			c.done <- createResult{retry: err}
		} else {
			c.done <- results[i]
		}
		answered++
	}
}

// createManySQL is createFromPoolSQL for many payments of coin $1 in one
// statement: $2 to $19 are arrays of their columns, one element per
// payment, $20 the event type. The N oldest ready addresses of the coin
// not locked by another transaction (SKIP LOCKED, as takeCTE) are
// deleted from the pool and paired with the payments in their order, so
// the first queued gets the oldest; when fewer are ready, the last
// payments get none and are not stored. Every payment and event is the
// row createFromPoolSQL stores with the same arguments, and an address
// that is not letters and digits makes the statement fail whole
// (errNotPlain's NULL payload): nothing of the batch is stored.
const createManySQL = `
	WITH req AS (
		SELECT * FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
			$8::timestamptz[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::bigint[],
			$15::int[], $16::text[], $17::uuid[], $18::text[], $19::text[])
		WITH ORDINALITY AS r (id, amount, label, status, confirmations, tolerance_bp, expires_at, order_id, metadata,
			created_at, callback_url, redirect_url, settle_confirmations, window_seconds, api, event_id, payload, token, n)),
	picked AS (
		SELECT id FROM address_pool WHERE coin = $1 AND ready ORDER BY id LIMIT cardinality($2::uuid[]) FOR UPDATE SKIP LOCKED),
	taken AS (
		DELETE FROM address_pool a USING (SELECT id, row_number() OVER (ORDER BY id) AS n FROM picked) p
		WHERE a.id = p.id
		RETURNING a.address, p.n),
	payment AS (
		INSERT INTO payments (id, coin, amount, address, label, status, confirmations_required,
			tolerance_bp, expires_at, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
			settle_confirmations, monitoring_window_seconds, api, event_sequence)
		SELECT r.id, $1, r.amount, taken.address, r.label, r.status, r.confirmations, r.tolerance_bp, r.expires_at,
			r.order_id, r.metadata::jsonb, r.created_at, r.created_at, r.callback_url, r.redirect_url,
			r.settle_confirmations, r.window_seconds, r.api, 1
		FROM req r JOIN taken USING (n)
		ORDER BY r.n
		RETURNING id, address),
	event AS (
		INSERT INTO payment_events (id, payment_id, sequence, type, status, previous_status, occurred_at, payload)
		SELECT r.event_id, r.id, 1, $20, r.status, '', r.created_at,
			CASE WHEN payment.address ~ '^[0-9A-Za-z]+$' THEN replace(r.payload, r.token, payment.address)::json END
		FROM payment JOIN req r USING (id))
	SELECT id, address FROM payment`

// runCreateMany stores calls with one createManySQL, in one implicit
// transaction. Its results are in the order of calls; it fails whole.
func runCreateMany(ctx context.Context, pool *pgxpool.Pool, calls []*createCall) ([]createResult, error) {
	n := len(calls)
	var (
		ids, evIDs                                = make([][16]byte, n), make([][16]byte, n)
		amounts, confs, tols, settles             = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		labels, statuses, metas, payloads, tokens = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		expires                                   = make([]*time.Time, n)
		orders, callbacks, redirects, apis        = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		created                                   = make([]time.Time, n)
		windows                                   = make([]*int32, n)
		coin, evType                              any
		at                                        = make(map[[16]byte]int, n)
	)
	for i, c := range calls {
		a := c.args
		ids[i], coin, amounts[i], labels[i], statuses[i], confs[i] = a[0].([16]byte), a[1], a[2].(int64), a[3].(string), a[4].(string), a[5].(int64)
		tols[i], expires[i], orders[i], metas[i], created[i] = a[6].(int64), a[7].(*time.Time), a[8].(*string), jsonText(a[9]), a[10].(time.Time)
		callbacks[i], redirects[i], settles[i], windows[i], apis[i] = a[11].(*string), a[12].(*string), a[13].(int64), a[14].(*int32), a[15].(*string)
		evIDs[i], evType, payloads[i], tokens[i] = a[16].([16]byte), a[17], a[18].(string), a[19].(string)
		at[ids[i]] = i
	}
	rows, err := pool.Query(ctx, createManySQL, coin, ids, amounts, labels, statuses, confs, tols, expires, orders, metas,
		created, callbacks, redirects, settles, windows, apis, evIDs, payloads, tokens, evType)
	if err != nil {
		return nil, err
	}
	results := make([]createResult, n)
	var (
		id   [16]byte
		addr string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &addr}, func() error {
		i, ok := at[id]
		if !ok {
			return fmt.Errorf("payments: create from the address pool: a payment no create asked for: %x", id)
		}
		results[i] = createResult{address: addr, took: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// jsonText returns createFromPoolArgs' metadata as text.
func jsonText(v any) string {
	switch m := v.(type) {
	case json.RawMessage:
		return string(m)
	case []byte:
		return string(m)
	}
	panic(fmt.Sprintf("metadata of type %T", v))
}

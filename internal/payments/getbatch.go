package payments

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GetManySQL is GetSQL for many payments at once: $1 is an array of ids,
// and the rows of one payment come together (ORDER BY p.id), its outputs
// in GetSQL's order. Its columns are GetSQL's, so a row decodes the same
// way (decodeGetRow). Store.Get runs it for the reads that queued while
// other reads' queries were in flight (getBatcher); the bench's limit
// still measures GetSQL, one id per statement.
const GetManySQL = getSelectSQL + `
	WHERE p.id = ANY($1)
	ORDER BY p.id, o.first_seen_at, o.txid, o.vout`

const (
	// maxGetBatch is the most reads one GetManySQL answers.
	maxGetBatch = 64
	// getBatchTimeout bounds a batch query when one of its readers has no
	// deadline of its own (see getBatcher.run).
	getBatchTimeout = 30 * time.Second
	// getSpill is how long a read statement runs before the second slot
	// may start another (coalescer.spill).
	getSpill = 5 * time.Millisecond
)

// getBatcher coalesces concurrent Store.Get calls (coalescer): a read
// with no query in flight runs at once, alone, with GetSQL; reads that
// find one in flight queue, and the next free slot answers up to
// maxGetBatch of them with one GetManySQL, so PostgreSQL and pgx do one
// round trip for many reads. The second slot is taken only when no query
// has started for getSpill.
type getBatcher struct {
	coalescer[*getCall]
	pool *pgxpool.Pool
}

// getCall is a queued read.
type getCall struct {
	queued
	id   [16]byte
	done chan getResult
}

type getResult struct {
	p   *Payment
	err error
}

// newGetBatcher returns a batcher of one query at a time under load, and
// of two when a query has run for getSpill (one slot on a pool of fewer
// than 8 connections, to leave them to writes and jobs). Fewer queries
// make larger batches, and PostgreSQL's cost per read grows with the
// number of queries: in bin/transient-dev bench -only read (32 readers,
// 2 busy cores) PostgreSQL spent 10–11 µs of CPU per read with getSpill
// against 10–21 µs (mean 16) with two slots taken freely, and earlier 108
// µs in one run with 4 slots and 142–215 µs without coalescing. One slot
// and no second was as cheap, but then one slow query holds up every
// read (one run of eleven fell to 0.33 of the limit, p99 10.7 ms); the
// second slot bounds that wait to about getSpill.
func newGetBatcher(pool *pgxpool.Pool) *getBatcher {
	slots := 1
	if pool != nil && pool.Config().MaxConns >= 8 { // nil: a Service in a test that reads nothing
		slots = 2
	}
	b := &getBatcher{pool: pool}
	b.coalescer = coalescer[*getCall]{slots: slots, spill: getSpill, max: maxGetBatch, runBatch: b.run}
	return b
}

// Get returns the payment with its outputs, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*Payment, error) {
	b := s.reads
	if b.acquire() {
		defer b.release()
		return s.getOne(ctx, id)
	}
	c := &getCall{id: id, done: make(chan getResult, 1)}
	c.deadline, _ = ctx.Deadline()
	if b.acquireOrQueue(c) {
		// A slot came free meanwhile.
		defer b.release()
		return s.getOne(ctx, id)
	}
	select {
	case r := <-c.done:
		return r.p, r.err
	case <-ctx.Done():
		c.gone.Store(true)
		return nil, fmt.Errorf("payments: get %s: %w", id, ctx.Err())
	}
}

// run answers calls with one GetManySQL. Every call gets a result.
func (b *getBatcher) run(calls []*getCall) {
	// A caller without a deadline counts as one of getBatchTimeout, the
	// API's default request timeout.
	ctx, cancel := batchContext(calls, getBatchTimeout)
	defer cancel()

	slices.SortFunc(calls, func(x, y *getCall) int { return bytes.Compare(x.id[:], y.id[:]) })
	ids := make([][16]byte, 0, len(calls))
	for _, c := range calls {
		if len(ids) == 0 || ids[len(ids)-1] != c.id {
			ids = append(ids, c.id)
		}
	}
	answered := make([]bool, len(calls))
	// rest answers every call not answered yet: with err, or ErrNotFound.
	rest := func(err error) {
		if err == nil {
			err = ErrNotFound
		}
		for i, c := range calls {
			if !answered[i] {
				answered[i] = true
				c.done <- getResult{err: fmt.Errorf("payments: get %s: %w", uuid.UUID(c.id), err)}
			}
		}
	}
	defer func() {
		// A panic in decoding must not take the gateway down, nor leave
		// readers waiting.
		if v := recover(); v != nil {
			rest(fmt.Errorf("batch read panicked: %v", v))
		}
	}()
	answer := func(id [16]byte, p *Payment, err error) {
		// Matched by id, not by position: the order PostgreSQL sorts
		// uuids in does not matter.
		i, found := slices.BinarySearchFunc(calls, id, func(c *getCall, id [16]byte) int { return bytes.Compare(c.id[:], id[:]) })
		if !found {
			return
		}
		// Every result is made before any is sent: a caller that has its
		// payment changes it (Service.Get presents it), so p must not be
		// read for a copy once it has gone to its first caller.
		var results []getResult
		j := i
		for ; j < len(calls) && calls[j].id == id; j++ {
			if answered[j] {
				continue
			}
			r := getResult{p: p}
			if err != nil {
				r = getResult{err: fmt.Errorf("payments: get %s: %w", uuid.UUID(id), err)}
			} else if len(results) > 0 {
				r.p = p.clone() // each caller may change its own
			}
			results = append(results, r)
		}
		for ; i < j; i++ {
			if answered[i] {
				continue
			}
			answered[i] = true
			calls[i].done <- results[0]
			results = results[1:]
		}
	}

	rows, err := b.pool.Query(ctx, GetManySQL, ids)
	if err != nil {
		rest(err)
		return
	}
	defer rows.Close() // also on a panic: the connection goes back
	err = readGetMany(rows, answer)
	rows.Close()
	rest(err)
}

// readGetMany reads the rows of GetManySQL and calls answer once for each
// payment they hold, with the payment and its outputs or with the error
// of one of its rows, which leaves the other payments' readable. Its
// error is one that stops the reading (rows.Err()): the payments not
// answered yet are not known. Without raw columns (rawGetColumns) or
// where decodeGetRow declines a row, the row is scanned as readGet does,
// by a fresh getScan so that no payment shares a value with another.
func readGetMany(rows pgx.Rows, answer func(id [16]byte, p *Payment, err error)) error {
	fields := rows.FieldDescriptions()
	raw := rawGetColumns(fields)
	var (
		cur     [16]byte
		have    bool
		ps      paymentScan
		outputs []Output
		rowErr  error
		row     getRow
	)
	flush := func() {
		if !have {
			return
		}
		if rowErr != nil {
			answer(cur, nil, rowErr)
		} else {
			p := ps.payment()
			p.Outputs = outputs
			answer(cur, p, nil)
		}
		have, outputs, rowErr = false, nil, nil
	}
	for rows.Next() {
		v := rows.RawValues()
		var id [16]byte
		if raw && len(v) > 0 && len(v[0]) == 16 {
			copy(id[:], v[0])
		} else if len(v) == 0 || rows.Conn().TypeMap().Scan(fields[0].DataTypeOID, fields[0].Format, v[0], &id) != nil {
			return fmt.Errorf("unreadable payment id in row %v", v)
		}
		if !have || id != cur {
			flush()
			cur, have = id, true
		}
		if rowErr != nil {
			continue
		}
		if raw && decodeGetRow(v, &row) {
			ps = row.ps
			if row.hasOutput {
				outputs = append(outputs, row.output)
			}
			continue
		}
		// As readGet, but with pgx.ScanRow: rows.Scan's error would
		// close the rows, and the other payments with them.
		sc := newGetScan()
		if err := pgx.ScanRow(rows.Conn().TypeMap(), fields, v, sc.dest...); err != nil {
			rowErr = err
			continue
		}
		ps = sc.ps
		if sc.txid != nil {
			outputs = append(outputs, sc.output())
		}
	}
	if err := rows.Err(); err != nil {
		// The last payment's rows may not all have come.
		return err
	}
	flush()
	return nil
}

// clone returns a copy of p that shares nothing mutable with it.
func (p *Payment) clone() *Payment {
	q := *p
	q.Outputs = slices.Clone(p.Outputs)
	q.Metadata = bytes.Clone(p.Metadata)
	return &q
}

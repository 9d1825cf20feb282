package payments

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// paymentColumns is the column list every payment query selects, in the order
// scanPayment reads them.
const paymentColumns = `id, coin, amount, address, label, status, amount_received, amount_confirmed,
	overpaid, paid_late, confirmations_required, tolerance_bp, expires_at, pending_since,
	coalesce(order_id, ''), metadata, created_at, updated_at, coalesce(callback_url, ''),
	coalesce(redirect_url, ''), settle_confirmations, settled, monitoring_window_seconds, coalesce(api, '')`

// Store keeps payments and their outputs in PostgreSQL. Its methods return
// domain errors (ErrNotFound, *Error), never driver errors for expected cases.
type Store struct {
	pool  *pgxpool.Pool
	reads *getBatcher // coalesces concurrent Gets
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, reads: newGetBatcher(pool)} }

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertPayment inserts p through q, numbered for its created event (the
// caller writes it with emitCreated in the same transaction). A second
// payment for the same coin and address is refused with an error wrapping
// ErrAddressReused.
func insertPayment(ctx context.Context, q querier, p *Payment) error {
	_, err := q.Exec(ctx, insertPaymentSQL, insertPaymentArgs(p)...)
	return insertError(p, err)
}

// insertPaymentSQL inserts a payment with its address ($4), numbered for
// its created event.
const insertPaymentSQL = `
	INSERT INTO payments (id, coin, amount, address, label, status, confirmations_required,
		tolerance_bp, expires_at, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
		settle_confirmations, monitoring_window_seconds, api, event_sequence)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $17, 1)`

// insertPaymentArgs are insertPaymentSQL's arguments for p, then more.
// The id goes as its 16 bytes: a uuid.UUID is a driver.Valuer, which pgx
// encodes by formatting it as text, failing to encode that as a uuid (an
// error built with fmt.Errorf) and parsing it back, on every statement.
func insertPaymentArgs(p *Payment, more ...any) []any {
	return append([]any{[16]byte(p.ID), p.Coin, int64(p.Amount), p.Address, p.Label, string(p.Status), p.Confirmations,
		p.ToleranceBP, nullTime(p.ExpiresAt), nullString(p.OrderID), storedMetadata(p), p.CreatedAt,
		nullString(p.CallbackURL), nullString(p.RedirectURL), p.SettleConfirmations, windowSeconds(p.MonitoringWindow),
		nullString(p.API)}, more...)
}

// storedMetadata is p's metadata as the payments table holds it: an
// empty object when it has none.
func storedMetadata(p *Payment) json.RawMessage {
	if len(p.Metadata) == 0 {
		return json.RawMessage("{}")
	}
	return p.Metadata
}

// insertError is the error of a statement inserting p: an address that a
// payment has already is ErrAddressReused.
func insertError(p *Payment, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("payments: insert %s: %w", p.Address, ErrAddressReused)
	}
	if err != nil {
		return fmt.Errorf("payments: insert: %w", err)
	}
	return nil
}

// GetSQL is the statement Store.Get runs for a read that finds a batch
// slot free (reads that queue share a GetManySQL): it reads a payment and
// its outputs in one statement, one row per output (one row with NULL
// outputs when it has none), the read path's single round trip; $1 is the
// payment's id. Its first columns are paymentColumns, qualified. It is
// exported for the bench, which measures PostgreSQL on this same
// statement as the limit of GET /payments/{id}.
const GetSQL = getSelectSQL + `
	WHERE p.id = $1
	ORDER BY o.first_seen_at, o.txid, o.vout`

// getSelectSQL is what GetSQL and GetManySQL read: a payment's columns
// (paymentColumns, qualified) and its outputs', in the order getSQLTypes
// lists them.
const getSelectSQL = `
	SELECT p.id, p.coin, p.amount, p.address, p.label, p.status, p.amount_received, p.amount_confirmed,
		p.overpaid, p.paid_late, p.confirmations_required, p.tolerance_bp, p.expires_at, p.pending_since,
		coalesce(p.order_id, ''), p.metadata, p.created_at, p.updated_at, coalesce(p.callback_url, ''),
		coalesce(p.redirect_url, ''), p.settle_confirmations, p.settled, p.monitoring_window_seconds,
		coalesce(p.api, ''),
		o.txid, o.vout, o.amount, o.confirmations, o.conflicted, o.replaceable,
		coalesce(o.block_hash, ''), coalesce(o.block_height, 0), o.first_seen_at, o.received_at, o.updated_at
	FROM payments p LEFT JOIN payment_outputs o ON o.payment_id = p.id`

// getOne is Store.Get for one read alone: GetSQL, on the caller's context.
func (s *Store) getOne(ctx context.Context, id uuid.UUID) (*Payment, error) {
	// [16]byte goes out as a binary uuid; uuid.UUID would go through its
	// driver.Valuer as text, after pgx tried (and built errors for) the
	// plans that do not fit it.
	rows, err := s.pool.Query(ctx, GetSQL, [16]byte(id))
	if err != nil {
		return nil, fmt.Errorf("payments: get %s: %w", id, err)
	}
	defer rows.Close()
	// The columns are decoded from their raw values when they come as
	// expected: rows.Scan plans a conversion per column on every query,
	// which was a sizeable part of the read's CPU and allocations.
	p, found, err := readGet(rows, rawGetColumns(rows.FieldDescriptions()))
	if err != nil {
		return nil, fmt.Errorf("payments: get %s: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("payments: get %s: %w", id, ErrNotFound)
	}
	return p, nil
}

// readGet reads the rows of GetSQL into a payment with its outputs;
// found is false when there is none. With raw, each row is decoded by
// decodeGetRow, or by rows.Scan where that declines it.
func readGet(rows pgx.Rows, raw bool) (_ *Payment, found bool, _ error) {
	var (
		ps      paymentScan
		outputs []Output
		row     getRow
		sc      *getScan
	)
	for rows.Next() {
		found = true
		if raw && decodeGetRow(rows.RawValues(), &row) {
			ps = row.ps
			if row.hasOutput {
				outputs = append(outputs, row.output)
			}
			continue
		}
		if sc == nil {
			sc = newGetScan()
		}
		if err := rows.Scan(sc.dest...); err != nil {
			return nil, false, err
		}
		ps = sc.ps
		if sc.txid != nil {
			outputs = append(outputs, sc.output())
		}
	}
	if err := rows.Err(); err != nil || !found {
		return nil, false, err
	}
	p := ps.payment()
	p.Outputs = outputs
	return p, true, nil
}

// getScan receives one row of GetSQL through rows.Scan.
type getScan struct {
	ps          paymentScan
	txid        *string
	vout        *int32
	amount      *int64
	confs       *int64
	conflicted  *bool
	replaceable *bool
	blockHash   string
	blockHeight int64
	firstSeen   *time.Time
	received    *time.Time
	updated     *time.Time
	dest        []any
}

func newGetScan() *getScan {
	sc := &getScan{}
	sc.dest = append(sc.ps.dest(), &sc.txid, &sc.vout, &sc.amount, &sc.confs, &sc.conflicted, &sc.replaceable,
		&sc.blockHash, &sc.blockHeight, &sc.firstSeen, &sc.received, &sc.updated)
	return sc
}

// output returns the output of a scanned row that has one (txid set).
func (sc *getScan) output() Output {
	return Output{TxID: *sc.txid, Vout: uint32(*sc.vout), Amount: Amount(*sc.amount), Confirmations: *sc.confs,
		Conflicted: *sc.conflicted, Replaceable: *sc.replaceable, BlockHash: sc.blockHash, BlockHeight: sc.blockHeight,
		FirstSeenAt: *sc.firstSeen, ReceivedAt: *sc.received, UpdatedAt: *sc.updated}
}

// getPayment reads one payment and its outputs through q, locking the
// payment row when forUpdate is set (q must then be a transaction).
func getPayment(ctx context.Context, q querier, id uuid.UUID, forUpdate bool) (*Payment, error) {
	sql := `SELECT ` + paymentColumns + ` FROM payments WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	p, err := scanPayment(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("payments: get %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("payments: get %s: %w", id, err)
	}
	if err := loadOutputs(ctx, q, []*Payment{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// ListFilter selects payments for List. Zero fields do not filter.
type ListFilter struct {
	Statuses      []Status
	Coin          string
	OrderID       string
	CreatedAfter  time.Time // inclusive
	CreatedBefore time.Time // exclusive
	Limit         int
	// Cursor continues a previous listing; it is the NextCursor that listing
	// returned.
	Cursor string
}

// Page is one page of a listing.
type Page struct {
	Payments []*Payment
	// NextCursor is set when more payments follow.
	NextCursor string
}

// List returns payments newest first, filtered by f, one page at a time.
func (s *Store) List(ctx context.Context, f ListFilter) (*Page, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where = append(where, "status = ANY("+arg(st)+")")
	}
	if f.Coin != "" {
		where = append(where, "coin = "+arg(f.Coin))
	}
	if f.OrderID != "" {
		where = append(where, "order_id = "+arg(f.OrderID))
	}
	if !f.CreatedAfter.IsZero() {
		where = append(where, "created_at >= "+arg(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(f.CreatedBefore))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		where = append(where, "(created_at, id) < ("+arg(at)+", "+arg(id)+")")
	}
	sql := `SELECT ` + paymentColumns + ` FROM payments`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY created_at DESC, id DESC LIMIT " + arg(f.Limit+1)

	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("payments: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("payments: list: %w", err)
	}
	page := &Page{Payments: list}
	if len(list) > f.Limit {
		page.Payments = list[:f.Limit]
		last := page.Payments[f.Limit-1]
		page.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	if err := loadOutputs(ctx, s.pool, page.Payments); err != nil {
		return nil, err
	}
	return page, nil
}

// encodeCursor makes an opaque continuation token from the position of the
// last payment on a page.
func encodeCursor(at time.Time, id uuid.UUID) string {
	raw := strconv.FormatInt(at.UnixMicro(), 10) + "," + id.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// The range of times a cursor may hold.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

func decodeCursor(s string) (time.Time, uuid.UUID, error) {
	bad := &Error{Code: CodeInvalidCursor, Field: "cursor", Message: "cursor is not one this server returned; start the listing again without it"}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	micros, idText, ok := strings.Cut(string(raw), ",")
	if !ok {
		return time.Time{}, uuid.Nil, bad
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	// A time outside years 1 to 9999 is no payment's, and pgx would wrap
	// it around rather than refuse it.
	if err != nil || us < minCursorMicros || us > maxCursorMicros {
		return time.Time{}, uuid.Nil, bad
	}
	id, err := uuid.Parse(idText)
	if err != nil {
		return time.Time{}, uuid.Nil, bad
	}
	return time.UnixMicro(us), id, nil
}

func scanPayment(row pgx.Row) (*Payment, error) {
	var ps paymentScan
	if err := row.Scan(ps.dest()...); err != nil {
		return nil, err
	}
	return ps.payment(), nil
}

// paymentScan receives the paymentColumns of one row.
type paymentScan struct {
	p                       Payment
	status                  string
	amount, recv, confirmed int64
	expiresAt, pendingSince *time.Time
	windowSeconds           *int32
}

// dest returns the scan destinations, in paymentColumns order.
func (ps *paymentScan) dest() []any {
	p := &ps.p
	return []any{&p.ID, &p.Coin, &ps.amount, &p.Address, &p.Label, &ps.status, &ps.recv, &ps.confirmed,
		&p.Overpaid, &p.PaidLate, &p.Confirmations, &p.ToleranceBP, &ps.expiresAt, &ps.pendingSince,
		&p.OrderID, &p.Metadata, &p.CreatedAt, &p.UpdatedAt, &p.CallbackURL, &p.RedirectURL,
		&p.SettleConfirmations, &p.Settled, &ps.windowSeconds, &p.API}
}

// payment returns the scanned payment.
func (ps *paymentScan) payment() *Payment {
	p := ps.p
	p.Status = Status(ps.status)
	p.Amount, p.Received, p.Confirmed = Amount(ps.amount), Amount(ps.recv), Amount(ps.confirmed)
	if ps.expiresAt != nil {
		p.ExpiresAt = *ps.expiresAt
	}
	if ps.pendingSince != nil {
		p.PendingSince = *ps.pendingSince
	}
	if ps.windowSeconds != nil {
		p.MonitoringWindow = time.Duration(*ps.windowSeconds) * time.Second
	}
	return &p
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// windowSeconds returns a payment's own monitoring window as stored (whole
// seconds), or nil (the server's) when it has none.
func windowSeconds(d time.Duration) *int32 {
	if d <= 0 {
		return nil
	}
	n := int32(d / time.Second)
	return &n
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

package payments

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/transient-gateway/transient/internal/coind"
)

// AddressSource makes fresh receiving addresses for one coin. The address
// pool calls it in the background, never while a request waits, so a
// source may be slow (importing watch-only addresses into a node runs at a
// few dozen a second) as long as it makes addresses in batches.
//
// NewAddresses returns up to n addresses that were never returned before
// and that the coin's node watches. It may return fewer than asked together
// with an error: the addresses it does return are used.
type AddressSource interface {
	NewAddresses(ctx context.Context, n int) ([]string, error)
}

// NodeWallet is the node's own wallet as an AddressSource: getnewaddress
// calls, many to one HTTP request.
type NodeWallet struct {
	Node interface {
		GetNewAddresses(ctx context.Context, n int, label string) ([]string, error)
	}
}

// NewAddresses implements AddressSource. The addresses carry no label;
// a payment's label is set on its address when the payment takes it.
func (w NodeWallet) NewAddresses(ctx context.Context, n int) ([]string, error) {
	return w.Node.GetNewAddresses(ctx, n, "")
}

// PoolConfig sizes the address pool.
type PoolConfig struct {
	// Size is how many fresh addresses each coin keeps ready
	// (ADDRESS_POOL_SIZE); 0 turns the pool off and every payment asks the
	// node for its address.
	Size int
	// LowWater is the number of ready addresses below which the pool is
	// filled up to Size again (ADDRESS_POOL_LOW_WATER); default Size/2.
	LowWater int
	// Batch is how many addresses one call to a source asks for; default
	// 200.
	Batch int
	// Check is how often the pool counts its addresses; default 250 ms.
	Check time.Duration
	// Observe, when set, is told the number of ready addresses of a coin
	// after every count (the transient_address_pool_ready gauge).
	Observe func(coin string, ready int)
	// GapCheck is how often the gap of each extended public key is read;
	// default 30 s. ObserveGap, when set, is told each gap (the
	// transient_xpub_gap gauge).
	GapCheck   time.Duration
	ObserveGap func(coin string, gap int64)
}

func (c PoolConfig) withDefaults() PoolConfig {
	if c.LowWater <= 0 || c.LowWater > c.Size {
		c.LowWater = c.Size / 2
	}
	if c.Batch <= 0 {
		c.Batch = 200
	}
	if c.Check <= 0 {
		c.Check = 250 * time.Millisecond
	}
	if c.GapCheck <= 0 {
		c.GapCheck = 30 * time.Second
	}
	return c
}

// emptyPoolTimeout bounds the node call a payment falls back to when its
// coin's pool is empty, so that an empty pool and a node that is down give
// a 503 within two seconds.
const emptyPoolTimeout = 1500 * time.Millisecond

// poolOn reports whether payments of c take their address from the pool.
func (s *Service) poolOn(c Coin) bool {
	return s.addrs.Size > 0 && (c.Addresses != nil || c.Derived != nil)
}

// takeFromPoolSQL inserts a payment with the oldest ready address of its
// coin, deleting that address from the pool in the same statement, numbered
// for its created event (written next, in the same transaction). SKIP
// LOCKED lets concurrent creations take different addresses without
// waiting on each other; a row can be deleted once, so two never get the
// same one. No row inserted means the pool is empty.
const takeFromPoolSQL = `
	WITH ` + takeCTE + insertTakenSQL + `
	RETURNING address`

// takeCTE deletes the oldest ready address of coin $2 from the pool and
// returns it (see takeFromPoolSQL).
const takeCTE = `taken AS (
		DELETE FROM address_pool WHERE id = (
			SELECT id FROM address_pool WHERE coin = $2 AND ready ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING address)`

// insertTakenSQL inserts the payment with the address taken, if any.
const insertTakenSQL = `
	INSERT INTO payments (id, coin, amount, address, label, status, confirmations_required,
		tolerance_bp, expires_at, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
		settle_confirmations, monitoring_window_seconds, api, event_sequence)
	SELECT $1, $2, $3, taken.address, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15, $16, 1 FROM taken`

// createFromPoolSQL is takeFromPoolSQL and the payment's created event in
// one statement, so a creation is one round trip and one implicit
// transaction instead of four (BEGIN, take, event, COMMIT): a statement
// is atomic, and the event's foreign key is checked at its end. The
// event's payload ($19) is built before the address is known, with $20
// where the address goes; it is put in only when the address is letters
// and digits (as base58 and bech32 addresses are), which JSON and a BIP21
// URI carry unchanged, so the payload is what encoding it with the address
// gives. Any other address makes the payload NULL, which the table
// refuses (errNotPlain): nothing is stored, and the creation is made the
// usual way.
const createFromPoolSQL = `
	WITH ` + takeCTE + `,
	payment AS (` + insertTakenSQL + `
		RETURNING address),
	event AS (
		INSERT INTO payment_events (id, payment_id, sequence, type, status, previous_status, occurred_at, payload)
		SELECT $17, $1, 1, $18, $5, '', $11,
			CASE WHEN address ~ '^[0-9A-Za-z]+$' THEN replace($19::text, $20::text, address)::json END
		FROM payment)
	SELECT address FROM payment`

// AddressLabelArgs asks to set the label (the account on Dogecoin Core) of
// a pooled address in the node's wallet to its payment's label. It is
// queued in the transaction that gives the address to the payment.
type AddressLabelArgs struct {
	Coin    string `json:"coin"`
	Address string `json:"address"`
	Label   string `json:"label"`
}

// Kind implements river.JobArgs.
func (AddressLabelArgs) Kind() string { return "address_label" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (AddressLabelArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueHints}
}

// labeler is a node that can label an address after making it.
type labeler interface {
	SetLabel(ctx context.Context, address, label string) error
}

type addressLabelWorker struct {
	river.WorkerDefaults[AddressLabelArgs]
	s *Service
}

// Work sets the label. A node that is down is retried with River's
// backoff; a node without the RPC cancels the job: the label stays on the
// payment in PostgreSQL, where the API shows it as account.
func (w *addressLabelWorker) Work(ctx context.Context, job *river.Job[AddressLabelArgs]) error {
	c, err := w.s.nodeFor(job.Args.Coin)
	if err != nil {
		return err
	}
	l, ok := c.Node.(labeler)
	if !ok {
		return river.JobCancel(fmt.Errorf("the %s node client cannot set labels", c.Code))
	}
	err = l.SetLabel(ctx, job.Args.Address, job.Args.Label)
	if errors.Is(err, coind.ErrMethodNotFound) {
		w.s.log.WarnContext(ctx, "the node cannot label an address after making it: the label is kept only in the payment",
			"coin", c.Code, "address", job.Args.Address, "label", job.Args.Label)
		return river.JobCancel(err)
	}
	return err
}

// insertFromPool stores p with an address from its coin's pool, queuing the
// label for the node when p has one, then runs attach and writes the
// created event, all in one transaction; when there is no attach, no label
// and nothing else for the transaction to do (quietCreated), the payment
// and its event are one statement instead (createFromPool). It reports
// false, storing nothing, when the pool is empty.
func (s *Service) insertFromPool(ctx context.Context, p *Payment, attach func(context.Context, pgx.Tx, *Payment) error) (bool, error) {
	if attach == nil && p.Label == "" && s.quietCreated() {
		took, err := s.createFromPoolBatched(ctx, p)
		if !errors.Is(err, errNotPlain) {
			return took, err
		}
	}
	var took bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if took, err = s.takeInto(ctx, tx, p); err != nil || !took {
			return err
		}
		if p.Label != "" {
			if _, err := s.jobs.InsertTx(ctx, tx, AddressLabelArgs{Coin: p.Coin, Address: p.Address, Label: p.Label}, nil); err != nil {
				return fmt.Errorf("payments: queue the address label: %w", err)
			}
		}
		return s.attachAndEmit(ctx, tx, p, attach)
	})
	if err != nil {
		return false, err
	}
	return took, nil
}

// errNotPlain: the address taken from the pool is not letters and digits
// alone (createFromPoolSQL); nothing was stored.
var errNotPlain = errors.New("payments: the pooled address is not plain letters and digits")

// quietCreated reports whether writing a created event, of a payment
// created with no Attach and no label, is all its transaction has to do:
// the outbox does not deliver created events to the webhook URL or the
// callback URL (Config.CreatedWebhooks off) and every event hook adds
// destinations to a created event only for a payment created with an
// Attach (AttachedCreatedHook).
func (s *Service) quietCreated() bool {
	if s.outbox != nil && s.cfg.CreatedWebhooks {
		return false
	}
	for _, h := range s.hooks {
		if _, ok := h.(AttachedCreatedHook); !ok {
			return false
		}
	}
	return true
}

// createFromPool stores p with the oldest pooled address of its coin and
// its created event in one statement (createFromPoolSQL), setting
// p.Address. It reports false, storing nothing, when the pool is empty,
// and errNotPlain when the address taken needs the usual way.
func (s *Service) createFromPool(ctx context.Context, p *Payment) (bool, error) {
	args, err := s.createFromPoolArgs(p)
	if err != nil {
		return false, err
	}
	return scanCreated(s.pool.QueryRow(ctx, createFromPoolSQL, args...), p)
}

// createFromPoolArgs returns the arguments of createFromPoolSQL for p.
func (s *Service) createFromPoolArgs(p *Payment) ([]any, error) {
	// A token no payload can hold otherwise: 122 random bits, drawn after
	// everything the shop sent was read.
	id := uuid.New()
	token := hex.EncodeToString(id[:])
	p.Address = token
	ev, err := s.newEvent(p, EventCreated, "", 1, p.CreatedAt)
	p.Address, p.URI = "", ""
	if err != nil {
		return nil, err
	}
	return takenArgs(p, [16]byte(ev.ID), EventCreated, string(ev.Payload), token), nil
}

// scanCreated reads the answer to one createFromPoolSQL into p.Address:
// false when the pool was empty, errNotPlain when the address taken
// needs the usual way.
func scanCreated(row pgx.Row, p *Payment) (bool, error) {
	err := row.Scan(&p.Address)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if isNotPlain(err) {
		return false, errNotPlain
	}
	if err != nil {
		return false, fmt.Errorf("payments: create from the address pool: %w", err)
	}
	return true, nil
}

// isNotPlain reports whether err is createFromPoolSQL's refusal of an
// address that is not plain letters and digits.
func isNotPlain(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23502" && pgErr.TableName == "payment_events" && pgErr.ColumnName == "payload"
}

// takenArgs are insertTakenSQL's arguments for p ($1 to $16: the payment
// but its address, which the pool gives), then more. runCreateMany reads
// them by position.
func takenArgs(p *Payment, more ...any) []any {
	return append([]any{[16]byte(p.ID), p.Coin, int64(p.Amount), p.Label, string(p.Status), p.Confirmations,
		p.ToleranceBP, nullTime(p.ExpiresAt), nullString(p.OrderID), storedMetadata(p), p.CreatedAt,
		nullString(p.CallbackURL), nullString(p.RedirectURL), p.SettleConfirmations, windowSeconds(p.MonitoringWindow),
		nullString(p.API)}, more...)
}

// takeInto inserts p with the oldest pooled address of its coin through q
// (takeFromPoolSQL), setting p.Address. It reports false when the pool is
// empty.
func (s *Service) takeInto(ctx context.Context, q querier, p *Payment) (bool, error) {
	err := q.QueryRow(ctx, takeFromPoolSQL, takenArgs(p)...).Scan(&p.Address)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("payments: insert from the address pool: %w", err)
	}
	return true, nil
}

// PoolReady returns the number of ready addresses per configured coin.
func (s *Service) PoolReady(ctx context.Context) (map[string]int, error) {
	out := make(map[string]int, len(s.codes))
	for _, code := range s.codes {
		out[code] = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT coin, count(*) FROM address_pool WHERE ready GROUP BY coin`)
	if err != nil {
		return nil, fmt.Errorf("payments: count the address pool: %w", err)
	}
	var (
		coin string
		n    int
	)
	_, err = pgx.ForEachRow(rows, []any{&coin, &n}, func() error {
		if _, ok := out[coin]; ok {
			out[coin] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payments: count the address pool: %w", err)
	}
	return out, nil
}

// runPool keeps each pooled coin's addresses between LowWater and Size
// until ctx is done. It counts every Check; once a coin is below LowWater
// it asks the source for batches until the pool holds Size again.
func (s *Service) runPool(ctx context.Context) {
	if s.addrs.Size <= 0 {
		return
	}
	t := time.NewTicker(s.addrs.Check)
	defer t.Stop()
	for {
		for _, code := range s.codes {
			if c := s.coins[code]; s.poolOn(c) {
				if err := s.refill(ctx, c); err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "address pool: refill failed; payments ask the node while the pool is empty",
						"coin", code, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poolWake:
		}
	}
}

// refill tops up coin c's pool when it is below the low-water mark, at no
// more than half the node's time. One process refills a coin at a time (a
// session advisory lock, released if the process dies); the others skip
// it.
func (s *Service) refill(ctx context.Context, c Coin) error {
	ready, err := s.countPool(ctx, s.pool, c.Code)
	if err != nil || ready >= s.addrs.LowWater {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('transient.address_pool.' || $1))`, c.Code).Scan(&locked); err != nil {
		return err
	}
	if !locked {
		return nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('transient.address_pool.' || $1))`, c.Code)
	}()
	// A busy node answers a big batch late: batches start small, double
	// while they succeed and halve when one fails, from one refill to the
	// next.
	batch := s.poolBatch[c.Code]
	for {
		ready, err := s.countPool(ctx, conn, c.Code)
		if err != nil || ready >= s.addrs.Size {
			return err
		}
		n := int(batch.Load())
		began := time.Now()
		var (
			added  int
			addrs  []string
			srcErr error
		)
		if c.Derived != nil {
			added, srcErr = s.refillDerived(ctx, conn, c, min(n, s.addrs.Size-ready))
		} else {
			addrs, srcErr = c.Addresses.NewAddresses(ctx, min(n, s.addrs.Size-ready))
			added = len(addrs)
		}
		took := time.Since(began)
		if srcErr != nil {
			batch.Store(int32(max(n/2, 1)))
		} else {
			batch.Store(int32(min(n*2, s.addrs.Batch)))
		}
		if len(addrs) > 0 {
			// An address a payment already has (a wallet restored from an
			// old backup, say) is never pooled.
			if _, err := conn.Exec(ctx, `
				INSERT INTO address_pool (coin, address)
				SELECT $1, a FROM unnest($2::text[]) WITH ORDINALITY AS t (a, n)
				WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.coin = $1 AND p.address = t.a)
				ORDER BY n
				ON CONFLICT DO NOTHING`, c.Code, addrs); err != nil {
				return fmt.Errorf("store %d fresh addresses: %w", len(addrs), err)
			}
		}
		if srcErr != nil {
			return srcErr
		}
		if added == 0 {
			return errors.New("the address source made no address")
		}
		// The node's wallet makes addresses under the lock that detection's
		// calls (gettransaction, and the wallet's own work when a
		// transaction arrives) need too: a refill leaves it free at least
		// half the time.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(took):
		}
	}
}

// countPool counts coin's ready addresses and reports the count.
func (s *Service) countPool(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, coin string) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM address_pool WHERE coin = $1 AND ready`, coin).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the address pool: %w", err)
	}
	if s.addrs.Observe != nil {
		s.addrs.Observe(coin, n)
	}
	return n, nil
}

// wakePool asks the pool loop to count now (a payment found the pool
// empty).
func (s *Service) wakePool() {
	select {
	case s.poolWake <- struct{}{}:
	default:
	}
}

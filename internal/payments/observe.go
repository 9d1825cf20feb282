package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// lockObservedSQL locks, in id order, the payments of coin $1 that the
// addresses $2 pay or that have an output in one of the transactions $3.
// The ids are collected first, each side through its own index (payments'
// (coin, address) and payment_outputs' (coin, txid)), then locked by primary
// key. Written as "address = ANY($2) OR id IN (subquery)", PostgreSQL cannot
// use an index for the OR and scanned the whole payments table, dead rows
// included, once per observed batch: its cost grew with every payment ever
// created and with the dead rows each status change leaves until VACUUM
// (a hint burst leaves thousands), on the path of every transaction.
const lockObservedSQL = `
	SELECT id, address FROM payments
	WHERE coin = $1 AND id = ANY(ARRAY(
		SELECT id FROM payments WHERE coin = $1 AND address = ANY($2)
		UNION
		SELECT payment_id FROM payment_outputs WHERE coin = $1 AND txid = ANY($3)))
	ORDER BY id
	FOR UPDATE`

// Observe records what the node said about some transactions of one coin and
// brings the status of every payment they touch up to date, in one database
// transaction. It is idempotent: observing the same facts again changes
// nothing and emits nothing. Transactions paying none of the coin's payment
// addresses are ignored.
func (s *Service) Observe(ctx context.Context, coin string, obs []TxObservation) error {
	if len(obs) == 0 {
		return nil
	}
	var addrs, txids []string
	for _, o := range obs {
		txids = append(txids, o.TxID)
		for _, out := range o.Outputs {
			addrs = append(addrs, out.Address)
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// Lock every payment the observations touch, in id order so that
		// concurrent observers cannot deadlock.
		rows, err := tx.Query(ctx, lockObservedSQL, coin, addrs, txids)
		if err != nil {
			return fmt.Errorf("payments: lock payments: %w", err)
		}
		locked := make(map[string]uuid.UUID)
		var ids []uuid.UUID
		var (
			id   uuid.UUID
			addr string
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &addr}, func() error {
			locked[addr] = id
			ids = append(ids, id)
			return nil
		}); err != nil {
			return fmt.Errorf("payments: lock payments: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		now, err := s.clock(ctx, tx)
		if err != nil {
			return err
		}
		if err := recordObservations(ctx, tx, coin, obs, locked, now); err != nil {
			return err
		}
		return s.reconcile(ctx, tx, ids, now)
	})
}

// reconcile recomputes the status of the payments ids, whose rows tx holds
// locked, and writes every change with its event.
func (s *Service) reconcile(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, now time.Time) error {
	rows, err := tx.Query(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return fmt.Errorf("payments: reconcile: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Payment, error) { return scanPayment(r) })
	if err != nil {
		return fmt.Errorf("payments: reconcile: %w", err)
	}
	if err := loadOutputs(ctx, tx, list); err != nil {
		return err
	}
	for _, p := range list {
		if err := s.apply(ctx, tx, p, now); err != nil {
			return err
		}
	}
	return nil
}

// apply runs Decide on p and stores the outcome, emitting an event when the
// status changes or a late payment arrives.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, p *Payment, now time.Time) error {
	facts := make([]OutputFact, len(p.Outputs))
	for i, o := range p.Outputs {
		facts[i] = o.Fact()
	}
	d := Decide(State{Status: p.Status, PendingSince: p.PendingSince}, p.Terms(s.cfg.MonitoringWindow), facts, now)
	if d.Status == p.Status && d.Received == p.Received && d.Confirmed == p.Confirmed &&
		d.Overpaid == p.Overpaid && d.PaidLate == p.PaidLate && d.Settled == p.Settled &&
		d.PendingSince.Equal(p.PendingSince) {
		return nil
	}
	prev, wasLate, wasSettled := p.Status, p.PaidLate, p.Settled
	p.Status, p.Received, p.Confirmed = d.Status, d.Received, d.Confirmed
	p.Overpaid, p.PaidLate, p.Settled, p.PendingSince = d.Overpaid, d.PaidLate, d.Settled, d.PendingSince
	p.UpdatedAt = now
	// The events this change makes, in order. A payment that becomes PAID
	// and settled at once (it asked for the coin's full depth) needs no
	// settled event: its status change shows settled. A status change to
	// EXPIRED that came with a late payment has its own event before the
	// paid-late one.
	var events []string
	if p.Status != prev {
		events = append(events, EventStatusChanged)
	}
	if p.Settled && !wasSettled && prev == StatusPaid {
		events = append(events, EventSettled)
	}
	if !p.Settled && wasSettled && prev == StatusPaid && p.Status == StatusPaid {
		events = append(events, EventUnsettled)
	}
	if p.PaidLate && !wasLate {
		events = append(events, EventPaidLate)
	}
	// The same statement numbers the events (event_sequence), so a change
	// costs one update of the row, not one more per event.
	var last int64
	err := tx.QueryRow(ctx, `
		UPDATE payments SET status = $2, amount_received = $3, amount_confirmed = $4, overpaid = $5,
			paid_late = $6, pending_since = $7, updated_at = $8, settled = $9, event_sequence = event_sequence + $10
		WHERE id = $1
		RETURNING event_sequence`,
		[16]byte(p.ID), string(p.Status), int64(p.Received), int64(p.Confirmed), p.Overpaid, p.PaidLate,
		nullTime(p.PendingSince), now, p.Settled, len(events)).Scan(&last)
	if err != nil {
		return fmt.Errorf("payments: update %s: %w", p.ID, err)
	}
	for i, typ := range events {
		from := p.Status
		switch typ {
		case EventStatusChanged:
			from = prev
			s.log.InfoContext(ctx, "payment status changed", "payment_id", p.ID, "coin", p.Coin,
				"from", string(prev), "to", string(p.Status), "amount_received", p.Received.String())
		case EventSettled:
			s.log.InfoContext(ctx, "payment settled", "payment_id", p.ID, "coin", p.Coin,
				"confirmations", p.SettleConfirmations)
		case EventUnsettled:
			s.log.WarnContext(ctx, "settled payment no longer at its settle depth after a reorg", "payment_id", p.ID,
				"coin", p.Coin, "confirmations", p.SettleConfirmations)
		case EventPaidLate:
			s.log.InfoContext(ctx, "expired payment paid late", "payment_id", p.ID, "coin", p.Coin,
				"amount_received", p.Received.String())
		}
		seq := last - int64(len(events)) + 1 + int64(i)
		if err := s.record(ctx, tx, p, typ, from, seq, now, true); err != nil {
			return err
		}
	}
	return nil
}

// CheckDeadlines moves payments whose expiry or monitoring window has passed
// by the database clock to EXPIRED or INVALID, after looking at their coin's
// node (see checkDeadlines). The expiry loop calls it periodically; it also
// runs after every block.
func (s *Service) CheckDeadlines(ctx context.Context) error { return s.checkDeadlines(ctx, "", false) }

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

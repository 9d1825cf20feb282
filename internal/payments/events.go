package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/webhook"
)

// Event types.
const (
	// EventCreated is a payment's first event (sequence 1), written in the
	// transaction that stores the payment: status UNPAID, previous status
	// "". An adapter's row stored with the payment (CreateRequest.Attach)
	// is there when the event hooks run.
	EventCreated = "payment.created"
	// EventStatusChanged is emitted on every status change.
	EventStatusChanged = "payment.status_changed"
	// EventPaidLate is emitted when an EXPIRED payment receives the amount
	// due after its expiry; its status stays EXPIRED.
	EventPaidLate = "payment.paid_late"
	// EventSettled is emitted when a PAID payment's outputs reach the
	// settle depth (the coin's default confirmations); its status stays
	// PAID.
	EventSettled = "payment.settled"
	// EventUnsettled is emitted when a reorg takes a settled payment's
	// outputs below the settle depth while it stays PAID; its status stays
	// PAID and settled turns false. (A reorg that takes it out of PAID is a
	// status change, whose event already shows settled false.) It is
	// followed by a new EventSettled once the depth is reached again.
	EventUnsettled = "payment.unsettled"
)

// Event is one change of a payment, stored in the same transaction as the
// change and delivered to the shop by webhook.
type Event struct {
	ID             uuid.UUID
	PaymentID      uuid.UUID
	Sequence       int64
	Type           string
	Status         Status
	PreviousStatus Status
	OccurredAt     time.Time
	// Payload is the webhook body, exactly as every delivery sends it.
	Payload json.RawMessage
}

// EventJSON is the webhook body. payment_id and status are the Python
// Transient's whole body and stay at the top level so its receivers keep
// working.
type EventJSON struct {
	PaymentID      string      `json:"payment_id"`
	Status         Status      `json:"status"`
	EventID        string      `json:"event_id"`
	Type           string      `json:"type"`
	PreviousStatus Status      `json:"previous_status"`
	OccurredAt     time.Time   `json:"occurred_at"`
	Sequence       int64       `json:"sequence"`
	Payment        PaymentJSON `json:"payment"`
}

// Outbox takes every event inside the transaction that writes it, so an
// event is delivered if and only if the change it announces is committed.
// *webhook.Outbox implements it.
type Outbox interface {
	Enqueue(ctx context.Context, tx pgx.Tx, msg webhook.Message) error
}

// EventHook adds destinations with their own bodies to an event, inside the
// transaction that writes it: the BitPay adapter's IPNs are built this way,
// so they share the outbox's guarantees.
type EventHook interface {
	EventDestinations(ctx context.Context, tx pgx.Tx, p *Payment, ev *Event) ([]webhook.Destination, error)
}

// AttachedCreatedHook is an EventHook that adds destinations to a
// payment's created event only when the payment is created with
// CreateRequest.Attach (an adapter's hook, whose invoice row Attach
// stores): for any other payment it returns none. Creating a payment
// without Attach from the address pool need not ask it, and is then one
// statement (createFromPoolSQL). A hook that does not implement it is
// asked for every created event.
type AttachedCreatedHook interface {
	EventHook
	// CreatedOnlyWithAttach marks the hook; it is never called.
	CreatedOnlyWithAttach()
}

// EventsChannel is the PostgreSQL NOTIFY channel on which every committed
// event is announced, with the payload "<payment id>:<sequence>", so any
// process can push live updates without polling. A payment's created event
// is not: nothing can be following a payment before it exists (a follower
// reads the current state when it starts), and PostgreSQL serializes the
// commits of all transactions that notify, which cut creation from a full
// pool to about a third of its rate (BenchmarkCreate).
const EventsChannel = "transient_payment_events"

// AddEventHook registers h for every event written from now on. Call it
// while wiring, before the service runs.
func (s *Service) AddEventHook(h EventHook) { s.hooks = append(s.hooks, h) }

// emitCreated writes p's created event inside tx, the transaction that
// inserted p with event_sequence 1 (so no statement is spent numbering
// it), after CreateRequest.Attach ran. It is not announced on
// EventsChannel (see there why).
func (s *Service) emitCreated(ctx context.Context, tx pgx.Tx, p *Payment) error {
	return s.record(ctx, tx, p, EventCreated, "", 1, p.CreatedAt, false)
}

// insertEventSQL stores an event.
const insertEventSQL = `
	INSERT INTO payment_events (id, payment_id, sequence, type, status, previous_status, occurred_at, payload)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// insertNotifyEventSQL stores an event and announces it on EventsChannel in
// one statement; listeners hear of it when the transaction commits, never
// before.
const insertNotifyEventSQL = `
	WITH ev AS (` + insertEventSQL + ` RETURNING 1)
	SELECT pg_notify($9, $10) FROM ev`

// record writes the event numbered seq for p inside tx, announcing it on
// EventsChannel when notify is set, then asks the event hooks for their
// destinations and hands it to the outbox.
func (s *Service) record(ctx context.Context, tx pgx.Tx, p *Payment, typ string, prev Status, seq int64, now time.Time, notify bool) error {
	ev, err := s.newEvent(p, typ, prev, seq, now)
	if err != nil {
		return err
	}
	// uuid.UUID is a driver.Valuer, which pgx encodes through its text
	// form; the 16 bytes go straight in.
	args := []any{[16]byte(ev.ID), [16]byte(ev.PaymentID), ev.Sequence, ev.Type, string(ev.Status), string(ev.PreviousStatus), ev.OccurredAt, ev.Payload}
	if notify {
		_, err = tx.Exec(ctx, insertNotifyEventSQL, append(args, EventsChannel, fmt.Sprintf("%s:%d", p.ID, seq))...)
	} else {
		_, err = tx.Exec(ctx, insertEventSQL, args...)
	}
	if err != nil {
		return fmt.Errorf("payments: insert event: %w", err)
	}
	// A created event's deliveries need not wake the dispatcher at once: the
	// wake-up is a NOTIFY, and notifying transactions commit one at a time,
	// which halved creation with a webhook URL set. Status changes, whose
	// webhooks a shop waits for, still wake it.
	msg := webhook.Message{EventID: ev.ID, PaymentID: p.ID, Body: ev.Payload, CallbackURL: p.CallbackURL,
		Unhurried: typ == EventCreated,
		ExtraOnly: typ == EventCreated && !s.cfg.CreatedWebhooks}
	for _, h := range s.hooks {
		extra, err := h.EventDestinations(ctx, tx, p, &ev)
		if err != nil {
			return fmt.Errorf("payments: event hook: %w", err)
		}
		msg.Extra = append(msg.Extra, extra...)
	}
	if s.outbox == nil {
		return nil
	}
	return s.outbox.Enqueue(ctx, tx, msg)
}

// newEvent returns the event numbered seq for p, with its payload: the
// webhook body, p as it is now.
func (s *Service) newEvent(p *Payment, typ string, prev Status, seq int64, now time.Time) (Event, error) {
	ev := Event{
		ID:             uuid.New(),
		PaymentID:      p.ID,
		Sequence:       seq,
		Type:           typ,
		Status:         p.Status,
		PreviousStatus: prev,
		OccurredAt:     now,
	}
	s.present(p)
	var err error
	ev.Payload, err = json.Marshal(EventJSON{
		PaymentID:      p.ID.String(),
		Status:         p.Status,
		EventID:        ev.ID.String(),
		Type:           typ,
		PreviousStatus: prev,
		OccurredAt:     now.UTC(),
		Sequence:       seq,
		Payment:        p.JSON(),
	})
	if err != nil {
		return ev, fmt.Errorf("payments: encode event: %w", err)
	}
	return ev, nil
}

// Events returns a payment's events in order, or ErrNotFound when there is
// no such payment.
func (s *Service) Events(ctx context.Context, paymentID uuid.UUID) ([]Event, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payments WHERE id = $1)`, paymentID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("payments: events of %s: %w", paymentID, err)
	}
	if !exists {
		return nil, fmt.Errorf("payments: events of %s: %w", paymentID, ErrNotFound)
	}
	return s.queryEvents(ctx, paymentID, 0)
}

// EventsSince returns a payment's events with a sequence above after, in
// order (the live stream's catch-up after a reconnect).
func (s *Service) EventsSince(ctx context.Context, paymentID uuid.UUID, after int64) ([]Event, error) {
	return s.queryEvents(ctx, paymentID, after)
}

func (s *Service) queryEvents(ctx context.Context, paymentID uuid.UUID, after int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, payment_id, sequence, type, status, previous_status, occurred_at, payload
		FROM payment_events WHERE payment_id = $1 AND sequence > $2 ORDER BY sequence`, paymentID, after)
	if err != nil {
		return nil, fmt.Errorf("payments: events of %s: %w", paymentID, err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("payments: events of %s: %w", paymentID, err)
	}
	return events, nil
}

// Event returns one event, or ErrNotFound.
func (s *Service) Event(ctx context.Context, id uuid.UUID) (*Event, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, payment_id, sequence, type, status, previous_status, occurred_at, payload
		FROM payment_events WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("payments: event %s: %w", id, err)
	}
	ev, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("payments: event %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("payments: event %s: %w", id, err)
	}
	return &ev, nil
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var (
		ev           Event
		status, prev string
	)
	err := row.Scan(&ev.ID, &ev.PaymentID, &ev.Sequence, &ev.Type, &status, &prev, &ev.OccurredAt, &ev.Payload)
	ev.Status, ev.PreviousStatus = Status(status), Status(prev)
	return ev, err
}

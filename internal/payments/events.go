package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/webhook"
)

// Event types.
const (
	// EventStatusChanged is emitted on every status change.
	EventStatusChanged = "payment.status_changed"
	// EventPaidLate is emitted when an EXPIRED payment receives the amount
	// due after its expiry; its status stays EXPIRED.
	EventPaidLate = "payment.paid_late"
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

// emit writes an event for p (already updated) inside tx and hands it to the
// outbox.
func (s *Service) emit(ctx context.Context, tx pgx.Tx, p *Payment, typ string, prev Status, now time.Time) error {
	var seq int64
	err := tx.QueryRow(ctx, `UPDATE payments SET event_sequence = event_sequence + 1 WHERE id = $1 RETURNING event_sequence`, p.ID).Scan(&seq)
	if err != nil {
		return fmt.Errorf("payments: event sequence %s: %w", p.ID, err)
	}
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
		return fmt.Errorf("payments: encode event: %w", err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO payment_events (id, payment_id, sequence, type, status, previous_status, occurred_at, payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		ev.ID, ev.PaymentID, ev.Sequence, ev.Type, string(ev.Status), string(ev.PreviousStatus), ev.OccurredAt, ev.Payload)
	if err != nil {
		return fmt.Errorf("payments: insert event: %w", err)
	}
	if s.outbox == nil {
		return nil
	}
	return s.outbox.Enqueue(ctx, tx, webhook.Message{EventID: ev.ID, PaymentID: p.ID, Body: ev.Payload})
}

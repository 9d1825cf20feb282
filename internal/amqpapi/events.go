package amqpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Kind is the outbox delivery kind of an event published to the broker.
const Kind = "amqp"

// EventDestinations implements payments.EventHook: every event gets one
// AMQP delivery, with the webhook body, recorded in the transaction that
// writes the event.
func (c *Client) EventDestinations(context.Context, pgx.Tx, *payments.Payment, *payments.Event) ([]webhook.Destination, error) {
	return []webhook.Destination{{URL: c.destination, Kind: Kind}}, nil
}

// eventHead is what publishing reads of a webhook body.
type eventHead struct {
	Type       string          `json:"type"`
	Status     payments.Status `json:"status"`
	OccurredAt time.Time       `json:"occurred_at"`
	Payment    struct {
		Currency string `json:"currency"`
	} `json:"payment"`
}

// RoutingKey returns an event's routing key, "<type>.<coin>.<status>" in
// lower case, e.g. payment.status_changed.doge.paid.
func RoutingKey(eventType, coin string, status payments.Status) string {
	return strings.ToLower(eventType + "." + coin + "." + string(status))
}

// Send implements webhook.Transport: it publishes the event to the
// exchange the delivery names and returns nil once the broker has
// confirmed it. A body that is not an event, or a destination without an
// exchange, fails the delivery for good; anything else is retried.
func (c *Client) Send(ctx context.Context, out webhook.Outgoing) error {
	u, err := url.Parse(out.Destination)
	exchange := ""
	if err == nil {
		exchange = u.Query().Get("exchange")
	}
	if exchange == "" || checkName(exchange) != nil {
		return fmt.Errorf("amqp: the delivery names no usable exchange: %w", webhook.ErrPermanent)
	}
	var ev eventHead
	if err := json.Unmarshal(out.Body, &ev); err != nil || ev.Type == "" || ev.Payment.Currency == "" || ev.Status == "" {
		return fmt.Errorf("amqp: the body is not a payment event: %w", webhook.ErrPermanent)
	}
	key := RoutingKey(ev.Type, ev.Payment.Currency, ev.Status)
	err = c.publish(ctx, "event", exchange, key, amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    out.EventID.String(),
		Type:         ev.Type,
		Timestamp:    ev.OccurredAt,
		AppId:        AppID,
		Body:         out.Body,
	})
	if err != nil {
		return fmt.Errorf("amqp: publish %s to %s: %w", key, exchange, err)
	}
	return nil
}

// retrySchedule is the delay after each failed publication. The broker is
// the operator's own and usually back within seconds, so it starts much
// sooner than a webhook's; it ends at five minutes, so a long outage costs
// a few hundred attempts per message at most.
var retrySchedule = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
}

// Backoff implements webhook.RetrySchedule: about 1 s, 2 s, 5 s, 10 s,
// 30 s, 1 min, then every 5 min, each ±20%.
func (c *Client) Backoff(attempt int) time.Duration {
	i := min(max(attempt, 1), len(retrySchedule)) - 1
	return time.Duration(float64(retrySchedule[i]) * (0.8 + 0.4*rand.Float64()))
}

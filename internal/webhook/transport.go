package webhook

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Transport delivers the deliveries of one kind by other means than the
// outbox's own signed HTTP POST: a message broker, or a receiver that wants
// another request format. An adapter package registers one with
// Outbox.AddTransport and adds destinations of that kind to events (through
// Message.Extra, usually from a payments.EventHook). The outbox keeps
// everything else: the delivery row written with the event, the River job,
// attempt numbers claimed before each attempt, the retry schedule, the
// maximum age, the delivery log, redelivery and pruning.
type Transport interface {
	// Send makes one attempt at delivering out and returns nil once the
	// receiver has it. It must return when ctx ends (the attempt timed
	// out, or the worker is stopping). An error wrapping ErrPermanent
	// fails the delivery without retry; any other error is retried on the
	// schedule. The error's text is kept in the delivery log, so it must
	// not carry secrets.
	Send(ctx context.Context, out Outgoing) error
}

// RetrySchedule may be implemented by a Transport whose receiver deserves
// another retry schedule than a shop's web server (an operator's own broker,
// for example): Backoff returns the delay after failed attempt number n (1
// for the first). Without it, Config.Backoff applies.
type RetrySchedule interface {
	Backoff(attempt int) time.Duration
}

// Outgoing is one attempt of a delivery, as a Transport sends it.
type Outgoing struct {
	DeliveryID uuid.UUID
	EventID    uuid.UUID
	PaymentID  uuid.UUID
	// Destination is the delivery's destination as recorded with the event
	// (Destination.URL): whatever the transport put there to know where to
	// send.
	Destination string
	// Body is the delivery's body, byte for byte as recorded.
	Body []byte
	// Attempt is this attempt's number, from 1.
	Attempt int
	// CreatedAt is when the delivery was recorded.
	CreatedAt time.Time
}

// kindRE is what the webhook_deliveries table accepts as a kind.
var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// httpKinds are the kinds the outbox POSTs itself.
var httpKinds = map[string]bool{KindWebhook: true, KindBitPayIPN: true}

// AddTransport makes t deliver every delivery of kind, in this process.
// Call it while wiring, before the workers run. Every process that works
// the delivery queue should register the same transports: a process that
// meets a delivery of a kind it has no transport for retries it later
// rather than failing it, so nothing is lost while processes are upgraded.
// It panics if kind is not lower-case letters, digits and underscores
// (starting with a letter, at most 32), is one the outbox sends itself, or
// is already registered.
func (o *Outbox) AddTransport(kind string, t Transport) {
	if !kindRE.MatchString(kind) || httpKinds[kind] || t == nil {
		panic(fmt.Sprintf("webhook: AddTransport(%q): invalid kind or nil transport", kind))
	}
	o.transportsMu.Lock()
	defer o.transportsMu.Unlock()
	if _, dup := o.transports[kind]; dup {
		panic(fmt.Sprintf("webhook: AddTransport(%q): kind already registered", kind))
	}
	o.transports[kind] = t
}

// transport returns the transport registered for kind, if any.
func (o *Outbox) transport(kind string) (Transport, bool) {
	o.transportsMu.RLock()
	defer o.transportsMu.RUnlock()
	t, ok := o.transports[kind]
	return t, ok
}

// backoff returns the delay after failed attempt number of a delivery of
// kind: its transport's schedule when it has one, else Config.Backoff.
func (o *Outbox) backoff(kind string, attempt int) time.Duration {
	if t, ok := o.transport(kind); ok {
		if s, ok := t.(RetrySchedule); ok {
			return s.Backoff(attempt)
		}
	}
	return o.cfg.Backoff(attempt)
}

// attempt makes attempt number of d through its kind's transport, or by
// HTTP for the kinds the outbox sends itself.
func (o *Outbox) attempt(ctx context.Context, d *deliveryRow, number int, at time.Time) result {
	t, ok := o.transport(d.kind)
	switch {
	case ok:
		return o.sendVia(ctx, t, d, number)
	case httpKinds[d.kind]:
		return o.send(ctx, d, number, at)
	default:
		return result{outcome: outcomeRetry,
			err: fmt.Sprintf("this process has no transport for deliveries of kind %q; retrying later", d.kind)}
	}
}

// sendVia makes one attempt through a Transport, bounded by Config.Timeout,
// and classifies its error.
func (o *Outbox) sendVia(ctx context.Context, t Transport, d *deliveryRow, number int) result {
	actx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	err := t.Send(actx, Outgoing{
		DeliveryID:  d.id,
		EventID:     d.eventID,
		PaymentID:   d.paymentID,
		Destination: d.url,
		Body:        d.body,
		Attempt:     number,
		CreatedAt:   d.createdAt,
	})
	switch {
	case err == nil:
		return result{outcome: outcomeDelivered}
	case ctx.Err() != nil:
		return result{outcome: outcomeInterrupted, err: "interrupted: " + context.Cause(ctx).Error()}
	case errors.Is(err, ErrPermanent):
		return result{outcome: outcomeFail, err: err.Error()}
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return result{outcome: outcomeRetry, err: fmt.Sprintf("timeout: not delivered within %s: %v", o.cfg.Timeout, err)}
	default:
		return result{outcome: outcomeRetry, err: err.Error()}
	}
}

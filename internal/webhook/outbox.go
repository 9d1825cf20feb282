package webhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// Queue is the River queue the delivery and prune jobs use, so that slow
// receivers never hold up other work. The process that works it bounds the
// number of concurrent deliveries with the queue's MaxWorkers.
const Queue = "webhooks"

// Destination kinds.
const (
	// KindWebhook is a Transient webhook (the default kind).
	KindWebhook = "webhook"
	// KindBitPayIPN is a BitPay-compatible instant payment notification.
	KindBitPayIPN = "bitpay_ipn"
)

// Message is one event to deliver, handed to Outbox.Enqueue inside the
// transaction that records the event.
type Message struct {
	EventID   uuid.UUID
	PaymentID uuid.UUID
	// Body is the exact JSON body; every delivery sends it byte for byte.
	Body []byte
	// CallbackURL is the payment's own destination, besides the global URL;
	// "" means none. It is an untrusted destination (see Config.AllowPrivate).
	CallbackURL string
	// Extra are further untrusted destinations with their own bodies (BitPay
	// IPNs, for example).
	Extra []Destination
	// Unhurried lets the deliveries wait for the dispatcher's next fetch
	// (at most its poll interval, a second by default) instead of waking it
	// at once: their jobs go through Config.UnhurriedJobs when set. Waking
	// the dispatcher is a NOTIFY in the caller's transaction, and
	// PostgreSQL serialises the commits of all transactions that notify;
	// creating payments, each with a created event, stalled on it.
	Unhurried bool
	// ExtraOnly delivers the message to Extra alone: neither the global
	// URL nor CallbackURL gets it.
	ExtraOnly bool
}

// Destination is a further place to deliver an event to.
type Destination struct {
	URL string
	// Body is sent instead of Message.Body; empty means Message.Body.
	Body []byte
	// Kind says what the receiver expects: KindWebhook (the default when
	// empty) or, for example, KindBitPayIPN. It must be lower-case letters,
	// digits and underscores.
	Kind string
}

// Config configures an Outbox. Zero fields take the documented defaults.
type Config struct {
	// URL is the global destination (PAYMENT_WEBHOOK_URL) that receives every
	// event; "" means none. It is operator-configured and trusted: it may be
	// a private or loopback address.
	URL string
	// Secret signs every request (PAYMENT_WEBHOOK_SECRET); "" sends them
	// unsigned.
	Secret string
	// Timeout bounds each attempt, from connecting to reading the answer's
	// status. Default 10 s.
	Timeout time.Duration
	// MaxAge is how long after its creation a delivery may still be retried
	// (WEBHOOK_MAX_AGE); a delivery whose next attempt would fall later is
	// dead. Default 72 h.
	MaxAge time.Duration
	// Retention is how long the delivery log is kept (WEBHOOK_RETENTION):
	// hourly, finished deliveries completed longer ago are deleted with
	// their attempts, and older attempts of deliveries still pending.
	// Default 60 days.
	Retention time.Duration
	// AllowPrivate lets per-payment destinations (CallbackURL, Extra) connect
	// to loopback, private, link-local, unspecified and other non-public
	// addresses (WEBHOOK_ALLOW_PRIVATE). Off by default, because those
	// destinations come from API requests and could otherwise reach internal
	// services or cloud metadata endpoints.
	AllowPrivate bool
	// Backoff returns the delay after failed attempt number n (1 for the
	// first). Default DefaultBackoff; tests inject shorter ones.
	Backoff func(attempt int) time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a line per attempt: Info for one that will be retried,
	// Warn when a delivery fails or dies, Debug when it is delivered.
	// Default: discard.
	Logger *slog.Logger
	// UserAgent is sent with every request. Default "Transient-Webhook/1".
	UserAgent string
	// Swept, when set, is called for every delivery Sweep finds without a
	// job, with what it did ("requeued" or "dead"). It must be fast and not
	// block.
	Swept func(action string)
	// UnhurriedJobs, when set, inserts the jobs of Message.Unhurried
	// deliveries: an insert-only River client with the default
	// FetchCooldown, which sends at most one wake-up NOTIFY per queue per
	// cooldown, so that most such transactions do not notify. nil inserts
	// them like the others.
	UnhurriedJobs *river.Client[pgx.Tx]
	// Observe, when set, is called after every attempt with the
	// destination's kind, the attempt's result ("delivered", "retry",
	// "failed", "dead" or "interrupted") and how long it took, for metrics.
	// It must be fast and not block.
	Observe func(kind, result string, d time.Duration)
}

// Config defaults.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxAge    = 72 * time.Hour
	DefaultRetention = 60 * 24 * time.Hour
	DefaultUserAgent = "Transient-Webhook/1"
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Outbox enqueues webhook deliveries, delivers them (through the workers
// AddWorkers registers) and reads the delivery log. It is safe for concurrent
// use.
type Outbox struct {
	pool *pgxpool.Pool
	jobs *river.Client[pgx.Tx]
	cfg  Config

	// trusted connects anywhere (the global URL); untrusted refuses
	// non-public addresses unless AllowPrivate is set.
	trusted, untrusted *http.Client

	// transports deliver the kinds the outbox does not POST itself.
	transportsMu sync.RWMutex
	transports   map[string]Transport
}

// NewOutbox returns an Outbox that stores deliveries through pool and
// schedules them on jobs. jobs may be a client that does not work jobs
// itself (an insert-only client); some process must run the workers
// AddWorkers registers. It panics if pool or jobs is nil.
func NewOutbox(pool *pgxpool.Pool, jobs *river.Client[pgx.Tx], cfg Config) *Outbox {
	if pool == nil || jobs == nil {
		panic("webhook: NewOutbox needs a pool and a River client")
	}
	cfg = cfg.withDefaults()
	return &Outbox{
		pool:       pool,
		jobs:       jobs,
		cfg:        cfg,
		trusted:    newHTTPClient(false),
		untrusted:  newHTTPClient(!cfg.AllowPrivate),
		transports: make(map[string]Transport),
	}
}

// destination is one row to insert into webhook_deliveries.
type destination struct {
	url     string
	kind    string
	body    []byte
	trusted bool
}

// complete reports whether d goes anywhere (it has a URL) and gives it the
// plain webhook kind when it names none.
func (d *destination) complete() bool {
	if d.kind == "" {
		d.kind = KindWebhook
	}
	return d.url != ""
}

// destinations lists where msg goes: the global URL, the callback URL and
// each extra destination, without repeating a URL and body already listed.
func (o *Outbox) destinations(msg Message) []destination {
	var out []destination
	add := func(d destination) {
		if !d.complete() {
			return
		}
		for _, e := range out {
			if e.url == d.url && bytes.Equal(e.body, d.body) {
				return
			}
		}
		out = append(out, d)
	}
	if !msg.ExtraOnly {
		add(destination{url: o.cfg.URL, body: msg.Body, trusted: true})
		add(destination{url: msg.CallbackURL, body: msg.Body})
	}
	for _, x := range msg.Extra {
		body := x.Body
		if len(body) == 0 {
			body = msg.Body
		}
		add(destination{url: x.URL, kind: x.Kind, body: body})
	}
	return out
}

// Enqueue records a delivery of msg for each of its destinations (the global
// URL with msg.Body, msg.CallbackURL with msg.Body, each msg.Extra with its
// own body; an identical URL and body only once) and schedules a delivery job
// for each, all inside tx: they happen if and only if tx commits. A message
// with no destination is a no-op.
//
// A destination URL is not validated here, so that a bad callback URL can
// never roll back the status change in tx: its delivery fails on its first
// attempt and says why in the delivery log. Validate callback URLs when they
// are submitted, with ValidateCallbackURL.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, msg Message) error {
	dests := o.destinations(msg)
	if len(dests) == 0 {
		return nil
	}
	jobs := o.jobs
	if msg.Unhurried && o.cfg.UnhurriedJobs != nil {
		jobs = o.cfg.UnhurriedJobs
	}
	if _, err := o.insert(ctx, tx, jobs, msg.EventID, msg.PaymentID, dests); err != nil {
		return fmt.Errorf("webhook: enqueue event %s: %w", msg.EventID, err)
	}
	return nil
}

// EnqueueTo records a delivery to each of dests (untrusted destinations,
// like Message.Extra) for eventID and schedules a job for each, inside tx,
// without the global URL or a callback URL: it is for an adapter's own
// deliveries that no payment event announces, such as a redelivery with a
// new body or a notification of a change made through the adapter's API.
// eventID need not be a recorded payment event. An empty dests is a no-op.
func (o *Outbox) EnqueueTo(ctx context.Context, tx pgx.Tx, eventID, paymentID uuid.UUID, dests []Destination) error {
	if len(dests) == 0 {
		return nil
	}
	rows := make([]destination, 0, len(dests))
	for _, d := range dests {
		if row := (destination{url: d.URL, kind: d.Kind, body: d.Body}); row.complete() {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := o.insert(ctx, tx, o.jobs, eventID, paymentID, rows); err != nil {
		return fmt.Errorf("webhook: enqueue to destinations of event %s: %w", eventID, err)
	}
	return nil
}

// insert writes one pending delivery per destination and a job for each,
// inserted through jobs, in tx, and returns the new delivery ids.
func (o *Outbox) insert(ctx context.Context, tx pgx.Tx, jobs *river.Client[pgx.Tx], eventID, paymentID uuid.UUID, dests []destination) ([]uuid.UUID, error) {
	var (
		n       = len(dests)
		ids     = make([]uuid.UUID, n)
		urls    = make([]string, n)
		kinds   = make([]string, n)
		bodies  = make([][]byte, n)
		trusted = make([]bool, n)
		params  = make([]river.InsertManyParams, n)
	)
	for i, d := range dests {
		ids[i] = uuid.New()
		urls[i], kinds[i], bodies[i], trusted[i] = d.url, d.kind, d.body, d.trusted
		if bodies[i] == nil {
			bodies[i] = []byte{}
		}
		params[i] = river.InsertManyParams{Args: deliveryArgs{DeliveryID: ids[i]}}
	}
	now := o.cfg.Now()
	_, err := tx.Exec(ctx, `
		INSERT INTO webhook_deliveries (id, event_id, payment_id, url, kind, body, trusted, created_at, next_attempt_at)
		SELECT d.id, $5, $6, d.url, d.kind, d.body, d.trusted, $7, $7
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $8::boolean[]) AS d (id, url, kind, body, trusted)`,
		ids, urls, kinds, bodies, eventID, paymentID, now, trusted)
	if err != nil {
		return nil, fmt.Errorf("insert deliveries: %w", err)
	}
	if _, err := jobs.InsertManyTx(ctx, tx, params); err != nil {
		return nil, fmt.Errorf("insert delivery jobs: %w", err)
	}
	return ids, nil
}

// Redeliver queues a fresh delivery of an event (a new delivery id and job)
// to each destination it was delivered to before, with the same body, so the
// receiver gets the same event id again. It returns the new delivery ids, or
// an error wrapping ErrNotFound if no delivery of eventID was ever recorded.
// The destinations are those recorded with the event, even if the global URL
// has been changed since.
func (o *Outbox) Redeliver(ctx context.Context, eventID uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		// One row per distinct destination, as first recorded.
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT ON (url, body) payment_id, url, kind, body, trusted
			FROM webhook_deliveries
			WHERE event_id = $1
			ORDER BY url, body, created_at`, eventID)
		if err != nil {
			return err
		}
		var (
			paymentID uuid.UUID
			d         destination
			dests     []destination
		)
		_, err = pgx.ForEachRow(rows, []any{&paymentID, &d.url, &d.kind, &d.body, &d.trusted}, func() error {
			dests = append(dests, d)
			return nil
		})
		if err != nil {
			return err
		}
		if len(dests) == 0 {
			return ErrNotFound
		}
		ids, err = o.insert(ctx, tx, o.jobs, eventID, paymentID, dests)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: redeliver event %s: %w", eventID, err)
	}
	return ids, nil
}

// State is where a delivery stands. The webhook_deliveries table's CHECK
// constraint lists the same values.
type State string

// Delivery states.
const (
	// StatePending: not delivered yet; the next attempt is scheduled.
	StatePending State = "pending"
	// StateDelivered: the receiver answered 2xx.
	StateDelivered State = "delivered"
	// StateFailed: the receiver gave an answer that is not retried (3xx or
	// a 4xx other than 408 and 429), or the destination was refused; no
	// more attempts are made.
	StateFailed State = "failed"
	// StateDead: retries ran out, because the next attempt would have come
	// later than Config.MaxAge after the delivery was created.
	StateDead State = "dead"
)

// Delivery is one event sent to one destination, as the delivery log shows
// it.
type Delivery struct {
	ID        uuid.UUID
	EventID   uuid.UUID
	PaymentID uuid.UUID
	URL       string
	Kind      string
	State     State
	// Attempts are oldest first. Attempts older than Config.Retention
	// have been pruned, so the first one listed may not be number 1.
	Attempts  []Attempt
	CreatedAt time.Time
	// CompletedAt is when the delivery stopped being pending; nil while it
	// is.
	CompletedAt *time.Time
	// NextAttemptAt is when the next attempt is due; nil unless pending.
	NextAttemptAt *time.Time
	// LastError is the outcome of the latest attempt when it was not a
	// success; "" otherwise.
	LastError string
}

// Attempt is one request of a delivery.
type Attempt struct {
	// Number counts the attempts of one delivery from 1, without gaps.
	Number int
	At     time.Time
	// Duration is how long the attempt took; 0 while it has no outcome.
	Duration time.Duration
	// HTTPStatus is the answer's status code, 0 if there was no answer.
	HTTPStatus int
	// Error says why the attempt did not succeed (truncated to about 500
	// bytes); "" for a 2xx answer.
	Error string
	// Finished is false for an attempt still in flight, or one whose process
	// stopped before recording its outcome.
	Finished bool
}

// Deliveries returns the delivery log of the given events: for each event
// that has deliveries, its deliveries oldest first, each with its attempts
// oldest first. Events without deliveries are absent from the map.
//
// Each delivery and its attempts are read in one statement, so from one
// snapshot: an attempt recorded while the log is read shows either with the
// delivery row it updated or not at all, never finished beside the row as it
// was before.
func (o *Outbox) Deliveries(ctx context.Context, eventIDs []uuid.UUID) (map[uuid.UUID][]Delivery, error) {
	out := make(map[uuid.UUID][]Delivery)
	if len(eventIDs) == 0 {
		return out, nil
	}
	rows, err := o.pool.Query(ctx, `
		SELECT d.id, d.event_id, d.payment_id, d.url, d.kind, d.state, d.created_at, d.completed_at,
			d.next_attempt_at, coalesce(d.last_error, ''),
			a.number, a.attempted_at, a.duration_ms, a.http_status, a.error
		FROM webhook_deliveries d
		LEFT JOIN webhook_attempts a ON a.delivery_id = d.id
		WHERE d.event_id = ANY($1)
		ORDER BY d.created_at, d.id, a.number`, eventIDs)
	if err != nil {
		return nil, fmt.Errorf("webhook: deliveries: %w", err)
	}
	var (
		list       []*Delivery
		row        Delivery
		state      string
		number     *int
		at         *time.Time
		durationMS *int64
		status     *int
		errText    *string
	)
	_, err = pgx.ForEachRow(rows, []any{
		&row.ID, &row.EventID, &row.PaymentID, &row.URL, &row.Kind, &state, &row.CreatedAt, &row.CompletedAt,
		&row.NextAttemptAt, &row.LastError,
		&number, &at, &durationMS, &status, &errText,
	}, func() error {
		if len(list) == 0 || list[len(list)-1].ID != row.ID {
			d := row
			d.State = State(state)
			// A callback URL may carry user:pass@ for the shop's receiver;
			// the log shows it without the password.
			d.URL = RedactURL(d.URL)
			list = append(list, &d)
		}
		if number == nil {
			return nil // no attempt yet
		}
		a := Attempt{Number: *number, At: *at, Finished: durationMS != nil}
		if durationMS != nil {
			a.Duration = time.Duration(*durationMS) * time.Millisecond
		}
		if status != nil {
			a.HTTPStatus = *status
		}
		if errText != nil {
			a.Error = *errText
		}
		d := list[len(list)-1]
		d.Attempts = append(d.Attempts, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: deliveries: %w", err)
	}
	for _, d := range list {
		out[d.EventID] = append(out[d.EventID], *d)
	}
	return out, nil
}

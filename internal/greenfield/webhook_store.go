package greenfield

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Sentinel errors of the webhook part.
var (
	// ErrWebhookNotFound means the store has no webhook with the given id.
	ErrWebhookNotFound = errors.New("greenfield: webhook not found")
	// ErrDeliveryNotFound means the webhook has no delivery with the given
	// id.
	ErrDeliveryNotFound = errors.New("greenfield: webhook delivery not found")
	// ErrWebhooksOff means the service has no outbox to deliver webhooks
	// through.
	ErrWebhooksOff = errors.New("greenfield: webhooks are not configured")
)

// Webhook is a store's Greenfield webhook.
type Webhook struct {
	ID                  string
	StoreID             string
	URL                 string
	Secret              string
	Enabled             bool
	AutomaticRedelivery bool
	// Everything subscribes to every type; otherwise SpecificEvents lists
	// the types subscribed to.
	Everything     bool
	SpecificEvents []string
	CreatedAt      time.Time
}

// Subscribed reports whether w receives events of type t.
func (w *Webhook) Subscribed(t string) bool {
	return w.Everything || slices.Contains(w.SpecificEvents, t)
}

// idEncoding spells random ids and secrets: lower-case base32 without
// padding, safe in a URL path and a header.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomToken returns n random bytes spelled with idEncoding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b)
}

// Lengths of generated values, in random bytes.
const (
	webhookIDBytes  = 15 // 24 characters
	deliveryIDBytes = webhookIDBytes
	secretBytes     = 20 // 32 characters, 160 bits
)

// validToken reports whether id can be a webhook or delivery id (a
// randomToken of webhookIDBytes or deliveryIDBytes), so that any other text
// is answered 404 without reaching the database.
func validToken(id string) bool {
	if len(id) != idEncoding.EncodedLen(webhookIDBytes) {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

const webhookColumns = `id, store_id, url, secret, enabled, automatic_redelivery, everything, specific_events, created_at`

func scanWebhook(row pgx.CollectableRow) (*Webhook, error) {
	var w Webhook
	err := row.Scan(&w.ID, &w.StoreID, &w.URL, &w.Secret, &w.Enabled, &w.AutomaticRedelivery, &w.Everything,
		&w.SpecificEvents, &w.CreatedAt)
	return &w, err
}

// createWebhook stores w (its ID, Secret and CreatedAt are set here when
// empty).
func (s *Service) createWebhook(ctx context.Context, w *Webhook) error {
	if w.ID == "" {
		w.ID = randomToken(webhookIDBytes)
	}
	if w.Secret == "" {
		w.Secret = randomToken(secretBytes)
	}
	w.CreatedAt = s.cfg.Now()
	if w.SpecificEvents == nil {
		w.SpecificEvents = []string{}
	}
	_, err := s.cfg.Pool.Exec(ctx, `
		INSERT INTO greenfield_webhooks (`+webhookColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		w.ID, w.StoreID, w.URL, w.Secret, w.Enabled, w.AutomaticRedelivery, w.Everything, w.SpecificEvents, w.CreatedAt)
	if err != nil {
		return fmt.Errorf("greenfield: create webhook: %w", err)
	}
	return nil
}

// webhooks returns a store's webhooks, oldest first.
func (s *Service) webhooks(ctx context.Context, storeID string) ([]*Webhook, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+webhookColumns+` FROM greenfield_webhooks
		WHERE store_id = $1 ORDER BY created_at, id`, storeID)
	if err != nil {
		return nil, fmt.Errorf("greenfield: webhooks of %s: %w", storeID, err)
	}
	list, err := pgx.CollectRows(rows, scanWebhook)
	if err != nil {
		return nil, fmt.Errorf("greenfield: webhooks of %s: %w", storeID, err)
	}
	return list, nil
}

// webhook returns a store's webhook id, or ErrWebhookNotFound.
func (s *Service) webhook(ctx context.Context, storeID, id string) (*Webhook, error) {
	if !validToken(id) {
		return nil, ErrWebhookNotFound
	}
	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+webhookColumns+` FROM greenfield_webhooks
		WHERE store_id = $1 AND id = $2`, storeID, id)
	if err != nil {
		return nil, fmt.Errorf("greenfield: webhook %s: %w", id, err)
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrWebhookNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("greenfield: webhook %s: %w", id, err)
	}
	return w, nil
}

// updateWebhook replaces a webhook's settings; an empty w.Secret keeps the
// stored secret. It returns the stored webhook, or ErrWebhookNotFound.
func (s *Service) updateWebhook(ctx context.Context, w *Webhook) (*Webhook, error) {
	if !validToken(w.ID) {
		return nil, ErrWebhookNotFound
	}
	if w.SpecificEvents == nil {
		w.SpecificEvents = []string{}
	}
	rows, err := s.cfg.Pool.Query(ctx, `
		UPDATE greenfield_webhooks
		SET url = $3, secret = coalesce(nullif($4, ''), secret), enabled = $5, automatic_redelivery = $6,
			everything = $7, specific_events = $8
		WHERE store_id = $1 AND id = $2
		RETURNING `+webhookColumns,
		w.StoreID, w.ID, w.URL, w.Secret, w.Enabled, w.AutomaticRedelivery, w.Everything, w.SpecificEvents)
	if err != nil {
		return nil, fmt.Errorf("greenfield: update webhook %s: %w", w.ID, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrWebhookNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("greenfield: update webhook %s: %w", w.ID, err)
	}
	return out, nil
}

// deleteWebhook deletes a webhook with its delivery records, or returns
// ErrWebhookNotFound. Deliveries still pending in the outbox fail at their
// next attempt (the sender finds no webhook).
func (s *Service) deleteWebhook(ctx context.Context, storeID, id string) error {
	if !validToken(id) {
		return ErrWebhookNotFound
	}
	tag, err := s.cfg.Pool.Exec(ctx, `DELETE FROM greenfield_webhooks WHERE store_id = $1 AND id = $2`, storeID, id)
	if err != nil {
		return fmt.Errorf("greenfield: delete webhook %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrWebhookNotFound
	}
	return nil
}

// newDelivery is a delivery row to insert, with the outbox destination it
// goes with.
type newDelivery struct {
	id, webhookID, typ, originalID string
	redelivery                     bool
	body                           []byte
	url                            string
}

// insertDeliveries records deliveries of payment paymentID for event
// eventID in tx, in order (seq follows the slice), and returns their outbox
// destinations in the same order.
func insertDeliveries(ctx context.Context, tx pgx.Tx, eventID, paymentID uuid.UUID, at time.Time, ds []newDelivery) ([]webhook.Destination, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	var (
		ids, hooks, types, originals = make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
		redeliveries                 = make([]bool, len(ds))
		bodies                       = make([][]byte, len(ds))
		dests                        = make([]webhook.Destination, len(ds))
	)
	for i, d := range ds {
		ids[i], hooks[i], types[i], originals[i] = d.id, d.webhookID, d.typ, d.originalID
		redeliveries[i], bodies[i] = d.redelivery, d.body
		dests[i] = webhook.Destination{URL: d.url, Body: d.body, Kind: WebhookKind}
	}
	// seq is assigned in the order of the sorted SELECT.
	_, err := tx.Exec(ctx, `
		INSERT INTO greenfield_webhook_deliveries
			(id, webhook_id, payment_id, event_id, type, original_delivery_id, is_redelivery, body, created_at)
		SELECT d.id, d.webhook_id, $6, $7, d.type, d.original, d.redelivery, d.body, $8
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $9::bytea[])
			WITH ORDINALITY AS d (id, webhook_id, type, original, redelivery, body, ord)
		ORDER BY d.ord`,
		ids, hooks, types, originals, redeliveries, paymentID, eventID, at, bodies)
	if err != nil {
		return nil, fmt.Errorf("greenfield: record webhook deliveries: %w", err)
	}
	return dests, nil
}

// subscribers returns the enabled webhooks of a store, oldest first.
func subscribers(ctx context.Context, tx pgx.Tx, storeID string) ([]*Webhook, error) {
	rows, err := tx.Query(ctx, `SELECT `+webhookColumns+` FROM greenfield_webhooks
		WHERE store_id = $1 AND enabled ORDER BY created_at, id`, storeID)
	if err != nil {
		return nil, fmt.Errorf("greenfield: webhooks of %s: %w", storeID, err)
	}
	list, err := pgx.CollectRows(rows, scanWebhook)
	if err != nil {
		return nil, fmt.Errorf("greenfield: webhooks of %s: %w", storeID, err)
	}
	return list, nil
}

// address builds the deliveries of events to the subscribed, enabled
// webhooks of the invoice's store: event by event, each to every webhook
// subscribed to its type, so that each webhook hears them in order.
func (s *Service) address(ctx context.Context, tx pgx.Tx, row *InvoiceRow, p *payments.Payment, events []hookEvent, at time.Time) ([]newDelivery, error) {
	hooks, err := subscribers(ctx, tx, row.StoreID)
	if err != nil || len(hooks) == 0 {
		return nil, err
	}
	inv := invoiceRef{StoreID: row.StoreID, InvoiceID: p.ID.String(), Metadata: row.Metadata}
	var out []newDelivery
	for _, e := range events {
		for _, w := range hooks {
			if !w.Subscribed(e.Type) {
				continue
			}
			id := randomToken(deliveryIDBytes)
			body, err := buildBody(e, inv, p, w.ID, id, at)
			if err != nil {
				return nil, err
			}
			out = append(out, newDelivery{id: id, webhookID: w.ID, typ: e.Type, originalID: id, body: body, url: w.URL})
		}
	}
	return out, nil
}

// API is payments.Payment.API of the payments behind Greenfield invoices.
const API = "greenfield"

// webhookHook is the payments.EventHook of Greenfield webhooks.
type webhookHook struct{ s *Service }

// CreatedOnlyWithAttach implements payments.AttachedCreatedHook: an
// invoice's row is stored by the Attach of CreateInvoice, and a created
// event without one gets no webhook (see Service.webhookDestinations).
func (h webhookHook) CreatedOnlyWithAttach() {}

var _ payments.AttachedCreatedHook = webhookHook{}

// EventDestinations implements payments.EventHook (see
// Service.webhookDestinations).
func (h webhookHook) EventDestinations(ctx context.Context, tx pgx.Tx, p *payments.Payment, ev *payments.Event) ([]webhook.Destination, error) {
	return h.s.webhookDestinations(ctx, tx, p, ev)
}

// webhookDestinations: for an event of a Greenfield invoice, it records one delivery per Greenfield event type the
// payment event stands for (hookEvents) and per subscribed, enabled webhook
// of the invoice's store, and returns them as outbox destinations of kind
// WebhookKind, inside the event's transaction.
func (s *Service) webhookDestinations(ctx context.Context, tx pgx.Tx, p *payments.Payment, ev *payments.Event) ([]webhook.Destination, error) {
	var row *InvoiceRow
	if ev.Type == payments.EventCreated {
		// Every payment is created with this event: one that is no
		// Greenfield invoice must cost no query. CreateInvoice, the only
		// place invoices are stored, passes its row.
		var ok bool
		if row, ok = CreatingInvoice(ctx, p.ID); !ok {
			return nil, nil
		}
	} else {
		if !p.MaybeMadeBy(API) {
			return nil, nil // made by another API: no invoice row to look for
		}
		var err error
		row, err = LoadInvoiceRow(ctx, tx, p.ID)
		if errors.Is(err, ErrInvoiceNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	marked := row.MarkedStatus
	events := hookEvents(ev, p, func(q *payments.Payment) string {
		st, _ := InvoiceStatus(q, marked)
		return st
	})
	if len(events) == 0 {
		return nil, nil
	}
	ds, err := s.address(ctx, tx, row, p, events, ev.OccurredAt)
	if err != nil {
		return nil, err
	}
	dests, err := insertDeliveries(ctx, tx, ev.ID, p.ID, ev.OccurredAt, ds)
	if err != nil {
		return nil, err
	}
	if len(dests) > 0 {
		s.log.DebugContext(ctx, "greenfield webhooks queued", "payment_id", p.ID, "event_id", ev.ID, "count", len(dests))
	}
	return dests, nil
}

// webhookMarked queues InvoiceSettled or InvoiceInvalid (status is
// StatusSettled or StatusInvalid) with manuallyMarked true to the
// subscribed webhooks of invoice p's store, inside tx, the transaction that
// marks the invoice. No payment event announces a mark, so the deliveries
// get an event id of their own.
func (s *Service) webhookMarked(ctx context.Context, tx pgx.Tx, p *payments.Payment, status string) error {
	var e hookEvent
	switch status {
	case StatusSettled:
		e = hookEvent{Type: TypeInvoiceSettled, ManuallyMarked: true, OverPaid: p.Overpaid}
	case StatusInvalid:
		e = hookEvent{Type: TypeInvoiceInvalid, ManuallyMarked: true}
	default:
		return fmt.Errorf("greenfield: mark webhook: status %q is neither Settled nor Invalid", status)
	}
	if s.outbox == nil {
		return nil
	}
	row, err := LoadInvoiceRow(ctx, tx, p.ID)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	ds, err := s.address(ctx, tx, row, p, []hookEvent{e}, now)
	if err != nil || len(ds) == 0 {
		return err
	}
	eventID := uuid.New()
	dests, err := insertDeliveries(ctx, tx, eventID, p.ID, now, ds)
	if err != nil {
		return err
	}
	return s.outbox.EnqueueTo(ctx, tx, eventID, p.ID, dests)
}

// Delivery is a Greenfield webhook delivery as the deliveries API shows
// it, with its outbox state.
type Delivery struct {
	ID        string
	CreatedAt time.Time
	// SentAt is the latest request's time; nil before the first.
	SentAt *time.Time
	// HTTPCode is the latest answer's status; nil without one.
	HTTPCode *int
	// State is the outbox's: pending, delivered, failed or dead.
	State     webhook.State
	LastError string
	Body      []byte
	eventID   uuid.UUID
	paymentID uuid.UUID
	typ       string
	original  string
}

// deliveryQuery reads Greenfield deliveries with the state of their latest
// outbox delivery.
const deliveryQuery = `
	SELECT g.id, g.created_at, g.sent_at, g.http_code, coalesce(o.state, 'pending'), coalesce(o.last_error, ''),
		g.body, g.event_id, g.payment_id, g.type, g.original_delivery_id
	FROM greenfield_webhook_deliveries g
	LEFT JOIN LATERAL (
		SELECT state, last_error FROM webhook_deliveries o
		WHERE o.event_id = g.event_id AND o.kind = '` + WebhookKind + `' AND o.body = g.body
		ORDER BY o.created_at DESC LIMIT 1) o ON true`

func scanDelivery(row pgx.CollectableRow) (*Delivery, error) {
	var (
		d     Delivery
		state string
	)
	err := row.Scan(&d.ID, &d.CreatedAt, &d.SentAt, &d.HTTPCode, &state, &d.LastError, &d.Body, &d.eventID,
		&d.paymentID, &d.typ, &d.original)
	d.State = webhook.State(state)
	return &d, err
}

// deliveries returns a webhook's latest count deliveries, newest first.
func (s *Service) deliveries(ctx context.Context, webhookID string, count int) ([]*Delivery, error) {
	rows, err := s.cfg.Pool.Query(ctx, deliveryQuery+`
		WHERE g.webhook_id = $1 ORDER BY g.seq DESC LIMIT $2`, webhookID, count)
	if err != nil {
		return nil, fmt.Errorf("greenfield: deliveries of %s: %w", webhookID, err)
	}
	list, err := pgx.CollectRows(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("greenfield: deliveries of %s: %w", webhookID, err)
	}
	return list, nil
}

// delivery returns one delivery of a webhook, or ErrDeliveryNotFound.
func (s *Service) delivery(ctx context.Context, webhookID, id string) (*Delivery, error) {
	if !validToken(id) {
		return nil, ErrDeliveryNotFound
	}
	rows, err := s.cfg.Pool.Query(ctx, deliveryQuery+`
		WHERE g.webhook_id = $1 AND g.id = $2`, webhookID, id)
	if err != nil {
		return nil, fmt.Errorf("greenfield: delivery %s: %w", id, err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrDeliveryNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("greenfield: delivery %s: %w", id, err)
	}
	return d, nil
}

// redeliver queues a new delivery of d's body to webhook w (its current
// URL, signed with its current secret when sent): a new deliveryId and
// timestamp, originalDeliveryId the first delivery's, isRedelivery true.
// It returns the new delivery's id.
func (s *Service) redeliver(ctx context.Context, w *Webhook, d *Delivery) (string, error) {
	if s.outbox == nil {
		return "", ErrWebhooksOff
	}
	id := randomToken(deliveryIDBytes)
	now := s.cfg.Now()
	body, err := redeliveryBody(d.Body, id, now)
	if err != nil {
		return "", err
	}
	original := d.original
	if original == "" {
		original = d.ID
	}
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		dests, err := insertDeliveries(ctx, tx, d.eventID, d.paymentID, now, []newDelivery{{
			id: id, webhookID: w.ID, typ: d.typ, originalID: original, redelivery: true, body: body, url: w.URL,
		}})
		if err != nil {
			return err
		}
		return s.outbox.EnqueueTo(ctx, tx, d.eventID, d.paymentID, dests)
	})
	if err != nil {
		return "", fmt.Errorf("greenfield: redeliver %s: %w", d.ID, err)
	}
	return id, nil
}

// AddWebhooks makes the service deliver Greenfield webhooks through ob: it
// registers the event hook on pay and the sender of WebhookKind on ob, and
// keeps ob for redeliveries and marked invoices. Call it once while wiring,
// in every process that records payment events or works the outbox's
// queue; without it (or with a nil ob) the webhook routes answer 503 to a
// create and nothing is delivered.
func (s *Service) AddWebhooks(pay *payments.Service, ob *webhook.Outbox) {
	if ob == nil {
		return
	}
	s.outbox = ob
	pay.AddEventHook(webhookHook{s})
	ob.AddTransport(WebhookKind, newWebhookSender(s.cfg.Pool, s.cfg.AllowPrivateWebhooks, s.cfg.Now, s.log))
}

// unknownEvent returns the first entry of types that is no webhook type,
// or "".
func unknownEvent(types []string) string {
	for _, t := range types {
		if !knownType(t) {
			return t
		}
	}
	return ""
}

package bitpay

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

// TestCreatedIPN: an invoice with extendedNotifications gets the
// invoice_created IPN (1001) with its creation, queued in the outbox with
// the created event; an invoice without them gets no IPN on creation,
// whether fullNotifications is on or not, and neither does a payment that
// is no invoice.
func TestCreatedIPN(t *testing.T) {
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pay := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 3,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet}},
		Outbox: webhook.NewOutbox(pool, jobs, webhook.Config{}),
	})
	s := newServerOn(t, pool, pay, nil)

	// ipns returns the bodies of the BitPay IPNs queued for the created
	// event of payment id.
	ipns := func(id string) []string {
		t.Helper()
		rows, err := pool.Query(ctx, `
			SELECT d.url, d.body FROM webhook_deliveries d JOIN payment_events e ON e.id = d.event_id
			WHERE e.payment_id = $1 AND e.type = $2 AND d.kind = $3 ORDER BY d.created_at`,
			mustUUID(t, id), payments.EventCreated, webhook.KindBitPayIPN)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var (
				url  string
				body []byte
			)
			if err := rows.Scan(&url, &body); err != nil {
				t.Fatal(err)
			}
			if url != "https://shop.example/ipn" {
				t.Errorf("IPN to %s, want the notificationURL", url)
			}
			out = append(out, string(body))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	inv := s.createIPNInvoice(`"extendedNotifications": true,`)
	got := ipns(inv.ID)
	if len(got) != 1 {
		t.Fatalf("extended invoice: %d IPNs on creation, want 1: %v", len(got), got)
	}
	var ipn struct {
		Event IPNEvent `json:"event"`
		Data  struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(got[0]), &ipn); err != nil {
		t.Fatalf("IPN body: %v: %s", err, got[0])
	}
	if ipn.Event != (IPNEvent{1001, "invoice_created"}) || ipn.Data.ID != inv.ID || ipn.Data.Status != "new" {
		t.Fatalf("IPN on creation = %s, want event 1001 invoice_created for invoice %s, status new", got[0], inv.ID)
	}

	for _, flags := range []string{``, `"fullNotifications": true,`, `"extendedNotifications": false, "fullNotifications": true,`} {
		inv := s.createIPNInvoice(flags)
		if got := ipns(inv.ID); len(got) != 0 {
			t.Errorf("invoice with %q: IPNs on creation %v, want none (plain IPNs announce status changes)", flags, got)
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM payment_events WHERE payment_id = $1 AND type = $2 AND sequence = 1`,
			mustUUID(t, inv.ID), payments.EventCreated).Scan(&n); err != nil || n != 1 {
			t.Errorf("invoice with %q: %d created events (%v), want 1", flags, n, err)
		}
	}

	// A payment that is no invoice gets its created event and no IPN.
	p, err := pay.Create(ctx, payments.CreateRequest{Coin: "LTC", Amount: 50_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if got := ipns(p.ID.String()); len(got) != 0 {
		t.Errorf("plain payment: IPNs %v, want none", got)
	}
}

// TestIPNHookLooksOnlyAtItsPayments: the IPN hook skips, without a query,
// the events of a payment another API made (it is given no transaction to
// query with), finds the invoice of a payment made by CreateInvoice
// (Payment.API "bitpay"), and still looks for the invoice of a payment
// whose API was not recorded (stored by an older binary).
func TestIPNHookLooksOnlyAtItsPayments(t *testing.T) {
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	pay := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 3,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet}},
	})
	s := newServerOn(t, pool, pay, nil)
	paid := &payments.Event{Type: payments.EventStatusChanged, PreviousStatus: payments.StatusPending, Status: payments.StatusPaid}
	for _, api := range []string{payments.APITransient, "greenfield"} {
		ds, err := s.svc.EventDestinations(ctx, nil, &payments.Payment{API: api}, paid)
		if err != nil || ds != nil {
			t.Errorf("event of a payment made by %q: %v, %v; want nothing", api, ds, err)
		}
	}
	p, err := pay.Get(ctx, mustUUID(t, s.createIPNInvoice("").ID))
	if err != nil {
		t.Fatal(err)
	}
	if p.API != API {
		t.Fatalf("invoice's payment has API %q, want %q", p.API, API)
	}
	for _, api := range []string{API, ""} {
		p.API = api
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.svc.EventDestinations(ctx, tx, p, paid)
		_ = tx.Rollback(ctx)
		if err != nil || len(ds) != 1 || ds[0].URL != "https://shop.example/ipn" {
			t.Errorf("PAID event of the invoice's payment with API %q: %+v, %v; want one IPN", api, ds, err)
		}
	}
}

// createIPNInvoice creates an invoice of 0.5 LTC notifying
// https://shop.example/ipn, with flags (members ending in a comma) added to
// its body, and returns it.
func (s *server) createIPNInvoice(flags string) InvoiceJSON {
	s.t.Helper()
	status, body := s.call("POST", "/invoices", fmt.Sprintf(
		`{"price": 0.5, "currency": "LTC", "notificationURL": "https://shop.example/ipn", %s "token": %q}`, flags, s.tok), "")
	if status != 200 {
		s.t.Fatalf("create invoice (%s): %d %s", flags, status, body)
	}
	var created struct {
		Data InvoiceJSON `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		s.t.Fatal(err)
	}
	return created.Data
}

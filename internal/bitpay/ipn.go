package bitpay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// IPNEvent is a BitPay invoice event, as extendedNotifications name them.
type IPNEvent struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

// The BitPay invoice events Transient sends.
var (
	EventCreated             = IPNEvent{1001, "invoice_created"}
	EventReceivedPayment     = IPNEvent{1002, "invoice_receivedPayment"}
	EventPaidInFull          = IPNEvent{1003, "invoice_paidInFull"}
	EventExpired             = IPNEvent{1004, "invoice_expired"}
	EventConfirmed           = IPNEvent{1005, "invoice_confirmed"}
	EventCompleted           = IPNEvent{1006, "invoice_completed"}
	EventPaidAfterExpiration = IPNEvent{1009, "invoice_paidAfterExpiration"}
	EventFailedToConfirm     = IPNEvent{1013, "invoice_failedToConfirm"}
	EventExpiredPaidPartial  = IPNEvent{2000, "invoice_expiredPaidPartial"}
)

// ipnEvents returns the BitPay events a payment event stands for, in
// order. Moves back (a reorg, a double spend) have no BitPay event.
func ipnEvents(ev *payments.Event, p *payments.Payment) []IPNEvent {
	switch ev.Type {
	case payments.EventCreated:
		return []IPNEvent{EventCreated}
	case payments.EventPaidLate:
		return []IPNEvent{EventPaidAfterExpiration}
	case payments.EventSettled:
		return []IPNEvent{EventCompleted}
	}
	if ev.Type != payments.EventStatusChanged {
		return nil
	}
	unpaidBefore := ev.PreviousStatus == payments.StatusUnpaid || ev.PreviousStatus == payments.StatusPartial
	var out []IPNEvent
	switch ev.Status {
	case payments.StatusPartial:
		if ev.PreviousStatus == payments.StatusUnpaid {
			out = append(out, EventReceivedPayment)
		}
	case payments.StatusPending:
		if unpaidBefore {
			out = append(out, EventReceivedPayment)
		}
		out = append(out, EventPaidInFull)
	case payments.StatusPaid:
		if unpaidBefore {
			out = append(out, EventReceivedPayment, EventPaidInFull)
		}
		out = append(out, EventConfirmed)
		if p.Settled {
			out = append(out, EventCompleted)
		}
	case payments.StatusExpired:
		out = append(out, EventExpired)
		if p.Received > 0 {
			out = append(out, EventExpiredPaidPartial)
		}
	case payments.StatusInvalid:
		out = append(out, EventFailedToConfirm)
	}
	return out
}

// sendPlain says whether an invoice without extendedNotifications gets a
// plain IPN for the event: with fullNotifications on every change of its
// BitPay status (and a payment after expiry), otherwise when it becomes
// confirmed and when it stops being confirmed (a reorg or a double spend
// took the payment back): a shop told "confirmed" must hear that it no
// longer is. Creation never gets one: a plain IPN announces a change of
// status, and BitPay's clients (btcpay-python among them) expect none
// before the first payment.
func sendPlain(ev *payments.Event, full bool) bool {
	switch {
	case ev.Type == payments.EventCreated:
		return false
	case ev.Type == payments.EventPaidLate, ev.Type == payments.EventSettled, ev.Type == payments.EventUnsettled:
		return full
	case ev.Type != payments.EventStatusChanged:
		return false
	case !full:
		return (ev.Status == payments.StatusPaid) != (ev.PreviousStatus == payments.StatusPaid)
	default:
		return statusOf(ev.Status) != statusOf(ev.PreviousStatus)
	}
}

// creatingInvoice is the context key under which CreateInvoice passes the
// invoice row it stores (a *invoiceRow, filled by Attach) to the created
// event's hook.
type creatingInvoice struct{}

// extendedIPN is the body of an IPN with extendedNotifications.
type extendedIPN struct {
	Event IPNEvent    `json:"event"`
	Data  InvoiceJSON `json:"data"`
}

// API is payments.Payment.API of the payments behind BitPay invoices.
const API = "bitpay"

// CreatedOnlyWithAttach implements payments.AttachedCreatedHook: an
// invoice's row is stored by the Attach of CreateInvoice, and a created
// event without one gets no IPN (see EventDestinations).
func (s *Service) CreatedOnlyWithAttach() {}

var _ payments.AttachedCreatedHook = (*Service)(nil)

// EventDestinations implements payments.EventHook: for an event of a
// BitPay invoice with a notificationURL, it returns the IPNs to deliver
// through the outbox (kind bitpay_ipn), in the transaction that records the
// event. The body is the invoice as GET /invoices/{id} shows it (with
// currentTime the event's time), or with extendedNotifications one
// {"event": {"code", "name"}, "data": invoice} per BitPay event.
//
// A created event reads no row: CreateInvoice, the only place invoices
// are stored, passes its row in the context of the creation, so that
// creating a payment that is no invoice costs no query here. Nor does any
// event of a payment another API made (payments.Payment.API).
func (s *Service) EventDestinations(ctx context.Context, tx pgx.Tx, p *payments.Payment, ev *payments.Event) ([]webhook.Destination, error) {
	var row *invoiceRow
	if ev.Type == payments.EventCreated {
		row, _ = ctx.Value(creatingInvoice{}).(*invoiceRow)
		if row == nil || row.PaymentID != p.ID {
			return nil, nil
		}
	} else {
		if !p.MaybeMadeBy(API) {
			return nil, nil // made by another API: no invoice row to look for
		}
		var err error
		row, err = loadInvoiceRow(ctx, tx, p.ID)
		if errors.Is(err, errNoInvoice) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if row.NotificationURL == "" {
		return nil, nil
	}
	inv := &Invoice{Payment: p, row: *row}
	data := invoiceJSON(inv, s.cfg.PublicURL, ev.OccurredAt)
	var bodies [][]byte
	if row.ExtendedNotifications {
		for _, e := range ipnEvents(ev, p) {
			b, err := json.Marshal(extendedIPN{Event: e, Data: data})
			if err != nil {
				return nil, fmt.Errorf("bitpay: encode IPN: %w", err)
			}
			bodies = append(bodies, b)
		}
	} else if sendPlain(ev, row.FullNotifications) {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("bitpay: encode IPN: %w", err)
		}
		bodies = append(bodies, b)
	}
	out := make([]webhook.Destination, 0, len(bodies))
	for _, b := range bodies {
		out = append(out, webhook.Destination{URL: row.NotificationURL, Body: b, Kind: webhook.KindBitPayIPN})
	}
	if len(out) > 0 {
		s.log.DebugContext(ctx, "bitpay IPN queued", "payment_id", p.ID, "count", len(out), "status", data.Status)
	}
	return out, nil
}

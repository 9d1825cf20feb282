package greenfield

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/transient-gateway/transient/internal/payments"
)

// The Greenfield webhook event types, as BTCPay names them.
const (
	TypeInvoiceCreated         = "InvoiceCreated"
	TypeInvoiceReceivedPayment = "InvoiceReceivedPayment"
	TypeInvoicePaymentSettled  = "InvoicePaymentSettled"
	TypeInvoiceProcessing      = "InvoiceProcessing"
	TypeInvoiceExpired         = "InvoiceExpired"
	TypeInvoiceSettled         = "InvoiceSettled"
	TypeInvoiceInvalid         = "InvoiceInvalid"
)

// WebhookTypes lists every event type a Greenfield webhook can subscribe to.
var WebhookTypes = []string{
	TypeInvoiceCreated, TypeInvoiceReceivedPayment, TypeInvoicePaymentSettled, TypeInvoiceProcessing,
	TypeInvoiceExpired, TypeInvoiceSettled, TypeInvoiceInvalid,
}

// knownType reports whether t is one of WebhookTypes.
func knownType(t string) bool {
	for _, k := range WebhookTypes {
		if t == k {
			return true
		}
	}
	return false
}

// hookEvent is one Greenfield webhook event a payment event stands for,
// before it is addressed to a webhook.
type hookEvent struct {
	Type            string
	AfterExpiration bool
	OverPaid        bool
	ManuallyMarked  bool
	PartiallyPaid   bool
	// Output is the payment of InvoiceReceivedPayment and
	// InvoicePaymentSettled; nil for the other types.
	Output *payments.Output
}

// hookEvents returns the Greenfield webhook events a payment event stands
// for, in the order a receiver must hear them. statusOf is the one mapping
// from a payment to its Greenfield status (the one GET invoice shows): the
// events follow from that status before and after ev, so that a webhook
// never says what the invoice does not.
//
//   - payment.created: InvoiceCreated.
//   - money arriving on an unpaid or partly paid payment (UNPAID or PARTIAL
//     to PARTIAL, PENDING or PAID): InvoiceReceivedPayment first.
//   - reaching Processing from New: InvoiceProcessing.
//   - reaching Settled: InvoiceProcessing too when coming from New (a
//     payment first seen already confirmed), then InvoicePaymentSettled and
//     InvoiceSettled.
//   - reaching Expired: InvoiceExpired (partiallyPaid when something was
//     received); reaching Invalid: InvoiceInvalid.
//   - payment.paid_late: InvoiceReceivedPayment with afterExpiration.
//
// Moves back (a reorg, a double spend) have no Greenfield event, as in
// BTCPay.
func hookEvents(ev *payments.Event, p *payments.Payment, statusOf func(*payments.Payment) string) []hookEvent {
	switch ev.Type {
	case payments.EventCreated:
		return []hookEvent{{Type: TypeInvoiceCreated}}
	case payments.EventPaidLate:
		return []hookEvent{{Type: TypeInvoiceReceivedPayment, AfterExpiration: true, Output: latestOutput(p, false)}}
	case payments.EventStatusChanged, payments.EventSettled, payments.EventUnsettled:
	default:
		return nil
	}
	prev := *p
	switch ev.Type {
	case payments.EventSettled:
		prev.Settled = false
	case payments.EventUnsettled:
		prev.Settled = true
	case payments.EventStatusChanged:
		prev.Status = ev.PreviousStatus
		if prev.Status != payments.StatusPaid {
			prev.Settled = false
		}
		// A late payment has its own event right after this one.
		prev.PaidLate = false
	}
	before, after := statusOf(&prev), statusOf(p)

	var out []hookEvent
	if ev.Type == payments.EventStatusChanged && unpaid(ev.PreviousStatus) && received(ev.Status) {
		out = append(out, hookEvent{Type: TypeInvoiceReceivedPayment, Output: latestOutput(p, false)})
	}
	if before == after {
		return out
	}
	switch after {
	case StatusProcessing:
		if before == StatusNew {
			out = append(out, hookEvent{Type: TypeInvoiceProcessing, OverPaid: p.Overpaid})
		}
	case StatusSettled:
		if before == StatusNew {
			out = append(out, hookEvent{Type: TypeInvoiceProcessing, OverPaid: p.Overpaid})
		}
		out = append(out,
			hookEvent{Type: TypeInvoicePaymentSettled, Output: latestOutput(p, true)},
			hookEvent{Type: TypeInvoiceSettled, OverPaid: p.Overpaid})
	case StatusExpired:
		out = append(out, hookEvent{Type: TypeInvoiceExpired, PartiallyPaid: p.Received > 0})
	case StatusInvalid:
		out = append(out, hookEvent{Type: TypeInvoiceInvalid})
	}
	return out
}

// unpaid reports whether s is a status before enough money arrived.
func unpaid(s payments.Status) bool { return s == payments.StatusUnpaid || s == payments.StatusPartial }

// received reports whether s is a status with money counted.
func received(s payments.Status) bool {
	return s == payments.StatusPartial || s == payments.StatusPending || s == payments.StatusPaid
}

// latestOutput returns the payment's most recently received counted output
// (with the required confirmations when confirmed is set), or nil.
func latestOutput(p *payments.Payment, confirmed bool) *payments.Output {
	var best *payments.Output
	for i := range p.Outputs {
		o := &p.Outputs[i]
		st := o.State(p.Confirmations)
		if st == payments.OutputConflicted || (confirmed && st != payments.OutputConfirmed) {
			continue
		}
		if best == nil || !o.ReceivedAt.Before(best.ReceivedAt) {
			best = o
		}
	}
	return best
}

// webhookBody is a Greenfield webhook request body: BTCPay's envelope, then
// the fields of its type. Booleans of a type are always present for that
// type and absent for the others, as BTCPay sends them.
type webhookBody struct {
	DeliveryID         string          `json:"deliveryId"`
	WebhookID          string          `json:"webhookId"`
	OriginalDeliveryID string          `json:"originalDeliveryId"`
	IsRedelivery       bool            `json:"isRedelivery"`
	Type               string          `json:"type"`
	Timestamp          int64           `json:"timestamp"`
	StoreID            string          `json:"storeId"`
	InvoiceID          string          `json:"invoiceId"`
	Metadata           json.RawMessage `json:"metadata"`
	ManuallyMarked     *bool           `json:"manuallyMarked,omitempty"`
	OverPaid           *bool           `json:"overPaid,omitempty"`
	AfterExpiration    *bool           `json:"afterExpiration,omitempty"`
	PartiallyPaid      *bool           `json:"partiallyPaid,omitempty"`
	PaymentMethodID    *string         `json:"paymentMethodId,omitempty"`
	Payment            json.RawMessage `json:"payment,omitempty"`
}

// invoiceRef is what a webhook body says about the invoice.
type invoiceRef struct {
	StoreID   string
	InvoiceID string
	// Metadata is the invoice's metadata as stored; nil means {}.
	Metadata json.RawMessage
}

// bool returns a pointer to b.
func boolp(b bool) *bool { return &b }

// buildBody returns the body of e for webhook webhookID as delivery
// deliveryID, created at.
func buildBody(e hookEvent, inv invoiceRef, p *payments.Payment, webhookID, deliveryID string, at time.Time) ([]byte, error) {
	meta := inv.Metadata
	if len(meta) == 0 || string(meta) == "null" {
		meta = json.RawMessage(`{}`)
	}
	b := webhookBody{
		DeliveryID:         deliveryID,
		WebhookID:          webhookID,
		OriginalDeliveryID: deliveryID,
		Type:               e.Type,
		Timestamp:          at.Unix(),
		StoreID:            inv.StoreID,
		InvoiceID:          inv.InvoiceID,
		Metadata:           meta,
	}
	switch e.Type {
	case TypeInvoiceReceivedPayment, TypeInvoicePaymentSettled:
		b.AfterExpiration = boolp(e.AfterExpiration)
		method := PaymentMethodID(p.Coin)
		b.PaymentMethodID = &method
		if e.Output != nil {
			raw, err := json.Marshal(InvoicePaymentJSON(p, *e.Output))
			if err != nil {
				return nil, err
			}
			b.Payment = raw
		}
	case TypeInvoiceProcessing:
		b.OverPaid = boolp(e.OverPaid)
	case TypeInvoiceSettled:
		b.ManuallyMarked = boolp(e.ManuallyMarked)
		b.OverPaid = boolp(e.OverPaid)
	case TypeInvoiceInvalid:
		b.ManuallyMarked = boolp(e.ManuallyMarked)
	case TypeInvoiceExpired:
		b.PartiallyPaid = boolp(e.PartiallyPaid)
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("greenfield: encode webhook body: %w", err)
	}
	return out, nil
}

// redeliveryBody returns original (a body buildBody made) as a redelivery:
// a new deliveryId and timestamp, originalDeliveryId kept from the first
// delivery, isRedelivery true, every other field unchanged.
func redeliveryBody(original []byte, deliveryID string, at time.Time) ([]byte, error) {
	var b webhookBody
	if err := json.Unmarshal(original, &b); err != nil {
		return nil, fmt.Errorf("greenfield: decode stored webhook body: %w", err)
	}
	if b.OriginalDeliveryID == "" {
		b.OriginalDeliveryID = b.DeliveryID
	}
	b.DeliveryID, b.IsRedelivery, b.Timestamp = deliveryID, true, at.Unix()
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("greenfield: encode webhook body: %w", err)
	}
	return out, nil
}

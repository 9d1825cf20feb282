package greenfield

import "github.com/transient-gateway/transient/internal/payments"

// Greenfield invoice statuses.
const (
	StatusNew        = "New"
	StatusProcessing = "Processing"
	StatusSettled    = "Settled"
	StatusExpired    = "Expired"
	StatusInvalid    = "Invalid"
)

// Greenfield additional statuses.
const (
	AdditionalNone        = "None"
	AdditionalPaidPartial = "PaidPartial"
	AdditionalPaidOver    = "PaidOver"
	AdditionalPaidLate    = "PaidLate"
	AdditionalMarked      = "Marked"
)

// InvoiceStatus maps a payment, and the status the merchant marked its
// invoice with ("" when not marked), to Greenfield's status and
// additionalStatus. It reads the payment's status as Decide set it; it is
// the only place Greenfield statuses come from.
//
//	UNPAID            New         None
//	PARTIAL           New         PaidPartial
//	PENDING           Processing  None, or PaidOver
//	PAID              Settled     None, or PaidOver
//	EXPIRED           Expired     None, PaidPartial (something came), PaidLate (enough came late)
//	INVALID           Invalid     None
//	marked Settled    Settled     Marked
//	marked Invalid    Invalid     Marked
func InvoiceStatus(p *payments.Payment, marked string) (status, additional string) {
	switch marked {
	case StatusSettled, StatusInvalid:
		return marked, AdditionalMarked
	}
	over := AdditionalNone
	if p.Overpaid {
		over = AdditionalPaidOver
	}
	switch p.Status {
	case payments.StatusPartial:
		return StatusNew, AdditionalPaidPartial
	case payments.StatusPending:
		return StatusProcessing, over
	case payments.StatusPaid:
		return StatusSettled, over
	case payments.StatusExpired:
		switch {
		case p.PaidLate:
			return StatusExpired, AdditionalPaidLate
		case p.Received > 0:
			return StatusExpired, AdditionalPaidPartial
		}
		return StatusExpired, AdditionalNone
	case payments.StatusInvalid:
		return StatusInvalid, AdditionalNone
	default:
		return StatusNew, AdditionalNone
	}
}

// PaymentStatus is Greenfield's status of one received output: Invalid
// when conflicted, Settled once it has the invoice's confirmations,
// Processing before.
func PaymentStatus(o payments.Output, confirmations int64) string {
	switch o.State(confirmations) {
	case payments.OutputConflicted:
		return StatusInvalid
	case payments.OutputConfirmed:
		return StatusSettled
	default:
		return StatusProcessing
	}
}

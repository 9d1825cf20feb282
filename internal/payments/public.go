package payments

import "time"

// PublicPaymentJSON is what anyone holding a payment's id may read
// (GET /payments/{id} without an API key, and the checkout page's live
// stream): what a payer needs to pay and to follow the payment. The
// merchant's own fields (account, order_id, metadata, redirect_url) are
// left out; they often hold customer data or session tokens, and the id
// travels in every checkout link.
type PublicPaymentJSON struct {
	ID                    string            `json:"id"`
	Currency              string            `json:"currency"`
	Status                Status            `json:"status"`
	Amount                Amount            `json:"amount"`
	AmountReceived        Amount            `json:"amount_received"`
	AmountRecieved        Amount            `json:"amount_recieved"`
	AmountConfirmed       Amount            `json:"amount_confirmed"`
	AmountDue             Amount            `json:"amount_due"`
	Overpaid              bool              `json:"overpaid"`
	PaidLate              bool              `json:"paid_late"`
	Settled               bool              `json:"settled"`
	PaymentAddress        string            `json:"payment_address"`
	PaymentURI            string            `json:"payment_uri"`
	ConfirmationsRequired int64             `json:"confirmations_required"`
	Transactions          []TransactionJSON `json:"transactions"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
	ExpiresAt             *time.Time        `json:"expires_at"`
}

// Public returns the part of j anyone with the payment's id may read. It
// copies fields only, so it costs next to nothing on the read path.
func (j PaymentJSON) Public() PublicPaymentJSON {
	return PublicPaymentJSON{
		ID:                    j.ID,
		Currency:              j.Currency,
		Status:                j.Status,
		Amount:                j.Amount,
		AmountReceived:        j.AmountReceived,
		AmountRecieved:        j.AmountRecieved,
		AmountConfirmed:       j.AmountConfirmed,
		AmountDue:             j.AmountDue,
		Overpaid:              j.Overpaid,
		PaidLate:              j.PaidLate,
		Settled:               j.Settled,
		PaymentAddress:        j.PaymentAddress,
		PaymentURI:            j.PaymentURI,
		ConfirmationsRequired: j.ConfirmationsRequired,
		Transactions:          j.Transactions,
		CreatedAt:             j.CreatedAt,
		UpdatedAt:             j.UpdatedAt,
		ExpiresAt:             j.ExpiresAt,
	}
}

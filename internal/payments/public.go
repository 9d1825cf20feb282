package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

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

// merchantFields are the fields of PaymentJSON that PublicPaymentJSON
// leaves out.
var merchantFields = []string{"account", "order_id", "metadata", "redirect_url"}

// PublicJSON turns a payment object as JSON (PaymentJSON, as events and
// webhooks carry it) into its public view: the merchant's own fields are
// removed, the others kept in their order and compacted onto one line.
func PublicJSON(full []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(full))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("payments: not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if slices.Contains(merchantFields, key) {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		if err := json.Compact(&out, value); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

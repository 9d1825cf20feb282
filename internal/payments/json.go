package payments

import (
	"encoding/json"
	"time"
)

// PaymentJSON is the payment object of Transient's HTTP API and webhook body.
// Its field names are a contract with existing clients: amount_recieved keeps
// the Python Transient's spelling beside amount_received.
type PaymentJSON struct {
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
	Account               string            `json:"account"`
	ConfirmationsRequired int64             `json:"confirmations_required"`
	Transactions          []TransactionJSON `json:"transactions"`
	CreatedAt             time.Time         `json:"created_at"`
	UpdatedAt             time.Time         `json:"updated_at"`
	ExpiresAt             *time.Time        `json:"expires_at"`
	OrderID               *string           `json:"order_id"`
	Metadata              json.RawMessage   `json:"metadata"`
	RedirectURL           *string           `json:"redirect_url"`
}

// TransactionJSON is one output paying a payment, as the API shows it.
type TransactionJSON struct {
	TxID          string      `json:"txid"`
	Vout          uint32      `json:"vout"`
	Amount        Amount      `json:"amount"`
	Confirmations int64       `json:"confirmations"`
	State         OutputState `json:"state"`
	BlockHash     *string     `json:"block_hash"`
	BlockHeight   *int64      `json:"block_height"`
	FirstSeenAt   time.Time   `json:"first_seen_at"`
	// ReceivedAt is when the node says the transaction reached its wallet.
	ReceivedAt time.Time `json:"received_at"`
}

// JSON returns the payment's public representation.
func (p *Payment) JSON() PaymentJSON {
	out := PaymentJSON{
		ID:                    p.ID.String(),
		Currency:              p.Coin,
		Status:                p.Status,
		Amount:                p.Amount,
		AmountReceived:        p.Received,
		AmountRecieved:        p.Received,
		AmountConfirmed:       p.Confirmed,
		Overpaid:              p.Overpaid,
		PaidLate:              p.PaidLate,
		Settled:               p.Settled,
		PaymentAddress:        p.Address,
		PaymentURI:            p.URI,
		Account:               p.Label,
		ConfirmationsRequired: p.Confirmations,
		Transactions:          make([]TransactionJSON, 0, len(p.Outputs)),
		CreatedAt:             p.CreatedAt.UTC(),
		UpdatedAt:             p.UpdatedAt.UTC(),
		Metadata:              p.Metadata,
	}
	if due := p.Terms(0).Due() - p.Received; due > 0 {
		out.AmountDue = due
	}
	if !p.ExpiresAt.IsZero() {
		t := p.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	if p.OrderID != "" {
		out.OrderID = &p.OrderID
	}
	if p.RedirectURL != "" {
		out.RedirectURL = &p.RedirectURL
	}
	if len(out.Metadata) == 0 {
		out.Metadata = json.RawMessage("{}")
	}
	for _, o := range p.Outputs {
		t := TransactionJSON{
			TxID:          o.TxID,
			Vout:          o.Vout,
			Amount:        o.Amount,
			Confirmations: o.Confirmations,
			State:         o.State(p.Confirmations),
			FirstSeenAt:   o.FirstSeenAt.UTC(),
			ReceivedAt:    o.ReceivedAt.UTC(),
		}
		if o.BlockHash != "" {
			hash, height := o.BlockHash, o.BlockHeight
			t.BlockHash, t.BlockHeight = &hash, &height
		}
		out.Transactions = append(out.Transactions, t)
	}
	return out
}

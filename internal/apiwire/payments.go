package apiwire

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
)

// CreatePaymentRequest is the body of a payment creation (POST /payments,
// the payments.create command). The field names are the Python
// Transient's, kept so its clients work unchanged.
type CreatePaymentRequest struct {
	Currency      string          `json:"currency"`
	Amount        json.RawMessage `json:"amount"`
	Account       string          `json:"account"`
	OrderID       string          `json:"order_id"`
	Metadata      json.RawMessage `json:"metadata"`
	ExpiresIn     *int64          `json:"expires_in"`
	ExpiresAt     string          `json:"expires_at"`
	Confirmations *int64          `json:"confirmations"`
	CallbackURL   string          `json:"callback_url"`
	RedirectURL   string          `json:"redirect_url"`
}

// CreateRequest checks the fields that are the wire format's business
// (the amount's form, expires_in's range, expires_at's form) and returns the
// domain request. The service checks the rest.
func (b *CreatePaymentRequest) CreateRequest() (payments.CreateRequest, error) {
	amount, err := payments.ParseAmountJSON(b.Amount)
	if err != nil {
		return payments.CreateRequest{}, err
	}
	req := payments.CreateRequest{
		Coin:          b.Currency,
		Amount:        amount,
		Label:         b.Account,
		OrderID:       b.OrderID,
		Confirmations: b.Confirmations,
		CallbackURL:   b.CallbackURL,
		RedirectURL:   b.RedirectURL,
	}
	if len(b.Metadata) > 0 && string(b.Metadata) != "null" {
		req.Metadata = b.Metadata
	}
	if b.ExpiresIn != nil {
		if *b.ExpiresIn <= 0 || *b.ExpiresIn > int64(365*24*time.Hour/time.Second) {
			return payments.CreateRequest{}, BadRequest(payments.CodeInvalidExpiry, "expires_in",
				"expires_in must be a number of seconds between 1 and 31536000")
		}
		req.ExpiresIn = time.Duration(*b.ExpiresIn) * time.Second
	}
	if b.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, b.ExpiresAt)
		if err != nil || t.IsZero() {
			return payments.CreateRequest{}, BadRequest(payments.CodeInvalidExpiry, "expires_at",
				"expires_at must be a date-time in RFC 3339 form, e.g. 2026-01-02T15:04:05Z")
		}
		req.ExpiresAt = t // the zero time would mean "not given"; it is refused above
	}
	return req, nil
}

// PaymentResponse is the answer of a payment creation or read.
type PaymentResponse struct {
	Success bool                 `json:"success"`
	Payment payments.PaymentJSON `json:"payment"`
}

// NewPaymentResponse returns the answer naming p.
func NewPaymentResponse(p *payments.Payment) PaymentResponse {
	return PaymentResponse{Success: true, Payment: p.JSON()}
}

// ParseID reads a payment id: a UUID in its 36-character form.
func ParseID(text string) (uuid.UUID, error) {
	id, err := uuid.Parse(text)
	if err != nil || len(text) != 36 {
		return uuid.Nil, BadRequest("invalid_id", "id", "the payment id must be a UUID such as 7d444840-9dc0-11d1-b245-5ffdce74fad2")
	}
	return id, nil
}

package greenfield

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/transient-gateway/transient/internal/payments"
)

// The JSON shapes of the Greenfield API. The PHP library types every field
// strictly: decimals are strings, times integer Unix seconds, and fields
// it reads are always present.

// InvoiceData is BTCPay's InvoiceData, an invoice as answered.
type InvoiceData struct {
	ID                                string          `json:"id"`
	StoreID                           string          `json:"storeId"`
	Amount                            string          `json:"amount"`
	Currency                          string          `json:"currency"`
	Type                              string          `json:"type"`
	CheckoutLink                      string          `json:"checkoutLink"`
	CreatedTime                       int64           `json:"createdTime"`
	ExpirationTime                    int64           `json:"expirationTime"`
	MonitoringExpiration              int64           `json:"monitoringExpiration"`
	Status                            string          `json:"status"`
	AdditionalStatus                  string          `json:"additionalStatus"`
	AvailableStatusesForManualMarking []string        `json:"availableStatusesForManualMarking"`
	Archived                          bool            `json:"archived"`
	Metadata                          json.RawMessage `json:"metadata"`
	Checkout                          CheckoutJSON    `json:"checkout"`
	Receipt                           ReceiptJSON     `json:"receipt"`
}

// CheckoutJSON is an invoice's checkout options as answered.
type CheckoutJSON struct {
	SpeedPolicy           string      `json:"speedPolicy"`
	PaymentMethods        []string    `json:"paymentMethods"`
	DefaultPaymentMethod  string      `json:"defaultPaymentMethod"`
	ExpirationMinutes     int64       `json:"expirationMinutes"`
	MonitoringMinutes     int64       `json:"monitoringMinutes"`
	PaymentTolerance      json.Number `json:"paymentTolerance"`
	RedirectURL           *string     `json:"redirectURL"`
	RedirectAutomatically bool        `json:"redirectAutomatically"`
	RequiresRefundEmail   bool        `json:"requiresRefundEmail"`
	DefaultLanguage       *string     `json:"defaultLanguage"`
	CheckoutType          string      `json:"checkoutType"`
}

// ReceiptJSON is an invoice's receipt options; Transient has no receipt
// page, so they are all off.
type ReceiptJSON struct {
	Enabled      bool `json:"enabled"`
	ShowQR       bool `json:"showQR"`
	ShowPayments bool `json:"showPayments"`
}

// PaymentMethodJSON is BTCPay's InvoicePaymentMethodDataModel, with the
// names of BTCPay 2 (paymentMethodId, currency, paymentMethodFee) and of
// BTCPay 1 (paymentMethod, cryptoCode, networkFee) side by side, as the PHP
// library reads either.
type PaymentMethodJSON struct {
	PaymentMethodID   string        `json:"paymentMethodId"`
	PaymentMethod     string        `json:"paymentMethod"`
	Currency          string        `json:"currency"`
	CryptoCode        string        `json:"cryptoCode"`
	Destination       string        `json:"destination"`
	PaymentLink       string        `json:"paymentLink"`
	Rate              string        `json:"rate"`
	PaymentMethodPaid string        `json:"paymentMethodPaid"`
	TotalPaid         string        `json:"totalPaid"`
	Due               string        `json:"due"`
	Amount            string        `json:"amount"`
	PaymentMethodFee  string        `json:"paymentMethodFee"`
	NetworkFee        string        `json:"networkFee"`
	Payments          []PaymentJSON `json:"payments"`
	Activated         bool          `json:"activated"`
	AdditionalData    struct{}      `json:"additionalData"`
}

// PaymentJSON is one payment (a transaction output) of an invoice's
// payment method.
type PaymentJSON struct {
	ID           string `json:"id"` // txid-vout
	ReceivedDate int64  `json:"receivedDate"`
	Value        string `json:"value"`
	Fee          string `json:"fee"`
	Status       string `json:"status"`
	Destination  string `json:"destination"`
}

// InvoicePaymentJSON renders output o of payment p.
func InvoicePaymentJSON(p *payments.Payment, o payments.Output) PaymentJSON {
	received := o.ReceivedAt
	if received.IsZero() {
		received = o.FirstSeenAt
	}
	return PaymentJSON{
		ID:           o.TxID + "-" + strconv.FormatUint(uint64(o.Vout), 10),
		ReceivedDate: received.Unix(),
		Value:        o.Amount.String(),
		Fee:          "0",
		Status:       PaymentStatus(o, p.Confirmations),
		Destination:  p.Address,
	}
}

// CheckoutLink returns an invoice's checkout link under base (PUBLIC_URL):
// base/i/{id}, which leads to the checkout page.
func CheckoutLink(base, invoiceID string) string { return base + "/i/" + invoiceID }

// manualMarking lists the statuses an invoice in status may be marked as.
func manualMarking(status string) []string {
	switch status {
	case StatusSettled:
		return []string{StatusInvalid}
	case StatusInvalid:
		return []string{StatusSettled}
	default:
		return []string{StatusSettled, StatusInvalid}
	}
}

// InvoiceJSON renders inv with base as the public URL. monitoring is the
// server's monitoring window, shown for an invoice without its own.
func InvoiceJSON(inv *Invoice, base string, monitoring time.Duration) InvoiceData {
	p, r := inv.Payment, inv.Row
	monitoring = p.Window(monitoring)
	status, additional := inv.Status()
	expires := p.ExpiresAt
	if expires.IsZero() {
		expires = p.CreatedAt.Add(time.Duration(maxExpirationMinutes) * time.Minute)
	}
	out := InvoiceData{
		ID:                                p.ID.String(),
		StoreID:                           r.StoreID,
		Amount:                            r.Amount.String(),
		Currency:                          r.Currency,
		Type:                              "Standard",
		CheckoutLink:                      CheckoutLink(base, p.ID.String()),
		CreatedTime:                       p.CreatedAt.Unix(),
		ExpirationTime:                    expires.Unix(),
		MonitoringExpiration:              expires.Add(monitoring).Unix(),
		Status:                            status,
		AdditionalStatus:                  additional,
		AvailableStatusesForManualMarking: manualMarking(status),
		Archived:                          r.Archived,
		Metadata:                          r.Metadata,
		Checkout: CheckoutJSON{
			SpeedPolicy:           r.SpeedPolicy,
			PaymentMethods:        []string{PaymentMethodID(p.Coin)},
			DefaultPaymentMethod:  PaymentMethodID(p.Coin),
			ExpirationMinutes:     int64(expires.Sub(p.CreatedAt) / time.Minute),
			MonitoringMinutes:     int64(monitoring / time.Minute),
			PaymentTolerance:      json.Number(r.PaymentTolerance.String()),
			RedirectAutomatically: r.RedirectAutomatically,
			CheckoutType:          "V2",
		},
	}
	if r.RedirectURL != "" {
		u := r.RedirectURL
		out.Checkout.RedirectURL = &u
	}
	if len(out.Metadata) == 0 {
		out.Metadata = json.RawMessage("{}")
	}
	return out
}

// InvoicePaymentMethodsJSON renders the payment methods of inv: one, the
// coin it is paid in.
func InvoicePaymentMethodsJSON(inv *Invoice) []PaymentMethodJSON {
	p, r := inv.Payment, inv.Row
	due := max(p.Amount-p.Received, 0)
	id := PaymentMethodID(p.Coin)
	m := PaymentMethodJSON{
		PaymentMethodID:   id,
		PaymentMethod:     id,
		Currency:          p.Coin,
		CryptoCode:        p.Coin,
		Destination:       p.Address,
		PaymentLink:       p.URI,
		Rate:              r.Rate.String(),
		PaymentMethodPaid: p.Received.String(),
		TotalPaid:         p.Received.String(),
		Due:               due.String(),
		Amount:            p.Amount.String(),
		PaymentMethodFee:  "0",
		NetworkFee:        "0",
		Payments:          []PaymentJSON{},
		Activated:         true,
	}
	for _, o := range p.Outputs {
		m.Payments = append(m.Payments, InvoicePaymentJSON(p, o))
	}
	return []PaymentMethodJSON{m}
}

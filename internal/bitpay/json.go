package bitpay

import (
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/payments"
)

// number prints a decimal as a JSON number with its exact text.
type number decimal.Decimal

// MarshalJSON prints the decimal's text unquoted.
func (n number) MarshalJSON() ([]byte, error) { return []byte(decimal.Decimal(n).String()), nil }

// UnmarshalJSON reads a JSON number exactly.
func (n *number) UnmarshalJSON(b []byte) error {
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return err
	}
	*n = number(d)
	return nil
}

// InvoiceJSON is the invoice object of the BitPay API, as BTCPay Server's
// BitPay-compatible API shapes it: amounts in coins are strings, prices
// and rates numbers, times Unix milliseconds.
type InvoiceJSON struct {
	ID              string `json:"id"`
	URL             string `json:"url"`
	Status          string `json:"status"`
	ExceptionStatus any    `json:"exceptionStatus"` // false, "paidPartial", "paidOver" or "paidLater"
	Price           number `json:"price"`
	Currency        string `json:"currency"`
	OrderID         string `json:"orderId,omitempty"`
	ItemDesc        string `json:"itemDesc,omitempty"`
	ItemCode        string `json:"itemCode,omitempty"`
	PosData         string `json:"posData,omitempty"`
	InvoiceTime     int64  `json:"invoiceTime"`
	ExpirationTime  int64  `json:"expirationTime"`
	CurrentTime     int64  `json:"currentTime"`
	// The legacy btc* fields describe the invoice's coin, whatever it is.
	BTCPrice            string                       `json:"btcPrice"`
	BTCDue              string                       `json:"btcDue"`
	BTCPaid             string                       `json:"btcPaid"`
	Rate                number                       `json:"rate"`
	Addresses           map[string]string            `json:"addresses"`
	PaymentURLs         map[string]string            `json:"paymentUrls"`
	CryptoInfo          []CryptoInfoJSON             `json:"cryptoInfo"`
	AmountPaid          int64                        `json:"amountPaid"`
	PaymentSubtotals    map[string]int64             `json:"paymentSubtotals"`
	PaymentTotals       map[string]int64             `json:"paymentTotals"`
	ExchangeRates       map[string]map[string]number `json:"exchangeRates"`
	TransactionCurrency string                       `json:"transactionCurrency"`
	TransactionSpeed    string                       `json:"transactionSpeed"`
	RedirectURL         string                       `json:"redirectURL,omitempty"`
	Token               string                       `json:"token"`
}

// CryptoInfoJSON describes the invoice in the coin it is paid in.
type CryptoInfoJSON struct {
	CryptoCode  string              `json:"cryptoCode"`
	PaymentType string              `json:"paymentType"`
	Rate        number              `json:"rate"`
	ExRates     map[string]number   `json:"exRates"`
	Price       string              `json:"price"`
	Due         string              `json:"due"`
	Paid        string              `json:"paid"`
	TotalDue    string              `json:"totalDue"`
	NetworkFee  string              `json:"networkFee"`
	TxCount     int                 `json:"txCount"`
	CryptoPaid  string              `json:"cryptoPaid"`
	Address     string              `json:"address"`
	URL         string              `json:"url"`
	PaymentURLs map[string]string   `json:"paymentUrls"`
	Payments    []CryptoPaymentJSON `json:"payments"`
}

// CryptoPaymentJSON is one output paying the invoice.
type CryptoPaymentJSON struct {
	ID            string `json:"id"` // txid-vout
	ReceivedDate  string `json:"receivedDate"`
	Value         string `json:"value"`
	Fee           string `json:"fee"`
	Confirmations int64  `json:"confirmations"`
	Confirmed     bool   `json:"confirmed"`
	Completed     bool   `json:"completed"`
	Destination   string `json:"destination"`
	PaymentType   string `json:"paymentType"`
}

// invoiceStatus maps the payment's status to the BitPay status:
// UNPAID and PARTIAL are new, PENDING paid, PAID confirmed (complete once
// the payment is settled: its outputs reached the invoice's complete
// confirmations), EXPIRED expired, INVALID invalid.
func invoiceStatus(p *payments.Payment) string {
	switch p.Status {
	case payments.StatusPending:
		return StatusPaid
	case payments.StatusPaid:
		if p.Settled {
			return StatusComplete
		}
		return StatusConfirmed
	case payments.StatusExpired:
		return StatusExpired
	case payments.StatusInvalid:
		return StatusInvalid
	default:
		return StatusNew
	}
}

// statusOf maps a payment status alone, with PAID as confirmed.
func statusOf(s payments.Status) string {
	return invoiceStatus(&payments.Payment{Status: s})
}

// exceptionStatus is BitPay's exceptionStatus: paidLater for a payment
// that arrived after expiry, paidOver when more than the amount arrived,
// paidPartial when something but less than due arrived, else false.
func exceptionStatus(p *payments.Payment) any {
	switch {
	case p.PaidLate:
		return "paidLater"
	case p.Overpaid:
		return "paidOver"
	case p.Received > 0 && p.Received < p.Terms(0).Due():
		return "paidPartial"
	default:
		return false
	}
}

// CheckoutURL returns the payment page of a payment under base.
func CheckoutURL(base, paymentID string) string {
	return base + "/payments/" + paymentID + "/checkout"
}

// invoiceJSON renders inv with base as the public URL, at now.
func invoiceJSON(inv *Invoice, base string, now time.Time) InvoiceJSON {
	p, r := inv.Payment, inv.row
	coin := p.Coin
	due := max(p.Terms(0).Due()-p.Received, 0)
	url := CheckoutURL(base, p.ID.String())
	pays := make([]CryptoPaymentJSON, 0, len(p.Outputs))
	for _, o := range p.Outputs {
		f := o.Fact()
		if !f.Counted() {
			continue
		}
		pays = append(pays, CryptoPaymentJSON{
			ID:            o.TxID + "-" + strconv.FormatUint(uint64(o.Vout), 10),
			ReceivedDate:  o.ReceivedAt.UTC().Format(time.RFC3339),
			Value:         o.Amount.String(),
			Fee:           "0",
			Confirmations: o.Confirmations,
			Confirmed:     f.Confirmed(p.Confirmations),
			Completed:     f.Confirmed(r.CompleteConfirmations),
			Destination:   p.Address,
			PaymentType:   "BTCLike",
		})
	}
	paymentURLs := map[string]string{"BIP21": p.URI}
	out := InvoiceJSON{
		ID:                  p.ID.String(),
		URL:                 url,
		Status:              invoiceStatus(p),
		ExceptionStatus:     exceptionStatus(p),
		Price:               number(r.Price),
		Currency:            r.Currency,
		OrderID:             p.OrderID,
		ItemDesc:            r.ItemDesc,
		ItemCode:            r.ItemCode,
		PosData:             r.PosData,
		InvoiceTime:         p.CreatedAt.UnixMilli(),
		CurrentTime:         now.UnixMilli(),
		BTCPrice:            p.Amount.String(),
		BTCDue:              due.String(),
		BTCPaid:             p.Received.String(),
		Rate:                number(r.Rate),
		Addresses:           map[string]string{coin: p.Address},
		PaymentURLs:         paymentURLs,
		AmountPaid:          int64(p.Received),
		PaymentSubtotals:    map[string]int64{coin: int64(p.Amount)},
		PaymentTotals:       map[string]int64{coin: int64(p.Amount)},
		ExchangeRates:       map[string]map[string]number{coin: {r.Currency: number(r.Rate)}},
		TransactionCurrency: coin,
		TransactionSpeed:    r.TransactionSpeed,
		RedirectURL:         p.RedirectURL,
		Token:               r.ResourceToken,
		CryptoInfo: []CryptoInfoJSON{{
			CryptoCode:  coin,
			PaymentType: "BTCLike",
			Rate:        number(r.Rate),
			ExRates:     map[string]number{r.Currency: number(r.Rate)},
			Price:       p.Amount.String(),
			Due:         due.String(),
			Paid:        p.Received.String(),
			TotalDue:    p.Amount.String(),
			NetworkFee:  "0",
			TxCount:     len(pays),
			CryptoPaid:  p.Received.String(),
			Address:     p.Address,
			URL:         url,
			PaymentURLs: paymentURLs,
			Payments:    pays,
		}},
	}
	if !p.ExpiresAt.IsZero() {
		out.ExpirationTime = p.ExpiresAt.UnixMilli()
	}
	return out
}

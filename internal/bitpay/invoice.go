package bitpay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Transaction speeds, BitPay's names for how many confirmations make an
// invoice confirmed.
const (
	SpeedHigh   = "high"   // confirmed as soon as paid (0 confirmations)
	SpeedMedium = "medium" // confirmed at 1 confirmation
	SpeedLow    = "low"    // confirmed when complete
)

// Config configures a Service.
type Config struct {
	Pool     *pgxpool.Pool
	Payments *payments.Service
	// Rates converts fiat prices; nil (or one without sources) accepts only
	// prices in the coin paid.
	Rates *rates.Service
	// PublicURL is the base URL clients reach transientd at (PUBLIC_URL);
	// "" means each request's own scheme and host.
	PublicURL string
	// DefaultCoin is the coin invoices are paid in when they name none.
	DefaultCoin string
	// DefaultSpeed is the transactionSpeed of invoices that give none.
	DefaultSpeed string
	// CompleteConfirmations is, per coin, the confirmations after which a
	// paid invoice is complete (the coin's configured confirmations).
	CompleteConfirmations map[string]int64
	// InvoiceExpiry applies to invoices without an expirationTime.
	InvoiceExpiry time.Duration
	// AllowPrivateCallbacks accepts notificationURLs on private addresses.
	AllowPrivateCallbacks bool
	// ClientPairing allows client-initiated pairing requests.
	ClientPairing bool
	// PairingPerSource is how many client pairing requests from one client
	// address may wait for approval at once; default 3.
	PairingPerSource int
	// Sources finds a request's client address; nil means the connection's.
	Sources *throttle.Sources
	// TokenRequests limits POST /tokens per client address; nil means no
	// limit.
	TokenRequests *throttle.Limiter
	// AuthFailures limits failed token and signature checks per client
	// address, shared with the Transient API; nil means no limit.
	AuthFailures *throttle.Limiter
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service is the BitPay-compatible API over the payments service. It is
// safe for concurrent use.
type Service struct {
	cfg      Config
	pairings *Pairings
	log      *slog.Logger
}

// New returns a Service. Register it with payments.Service.AddEventHook so
// invoices send IPNs, and mount its routes with Mount.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultSpeed == "" {
		cfg.DefaultSpeed = SpeedMedium
	}
	if cfg.InvoiceExpiry <= 0 {
		cfg.InvoiceExpiry = 15 * time.Minute
	}
	if cfg.PairingPerSource <= 0 {
		cfg.PairingPerSource = 3
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg, pairings: NewPairings(cfg.Pool, cfg.Now), log: cfg.Logger}
}

// Pairings returns the service's pairing store.
func (s *Service) Pairings() *Pairings { return s.pairings }

// RequestError is an invoice request the service refuses: Field names the
// BitPay field and Message says what is wrong and what is expected.
type RequestError struct {
	Field   string
	Message string
}

func (e *RequestError) Error() string { return e.Message }

func invalid(field, format string, args ...any) error {
	return &RequestError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrInvoiceNotFound means no invoice with the id belongs to the token.
var ErrInvoiceNotFound = errors.New("no invoice with this id was created with this token")

// InvoiceRequest is a parsed POST /invoices body.
type InvoiceRequest struct {
	Price                 decimal.Decimal
	Currency              string
	OrderID               string
	ItemDesc              string
	ItemCode              string
	PosData               string
	NotificationURL       string
	RedirectURL           string
	TransactionSpeed      string
	ExpirationTime        time.Time // zero: the default expiry
	FullNotifications     bool
	ExtendedNotifications bool
	// PaymentCurrencies lists the coins the shop accepts, in order of
	// preference; the first one configured here is used.
	PaymentCurrencies []string
}

// invoiceRow is the BitPay side of an invoice.
type invoiceRow struct {
	PaymentID             uuid.UUID
	TokenID               uuid.UUID
	Price                 decimal.Decimal
	Currency              string
	Rate                  decimal.Decimal
	RateSource            string
	ItemCode              string
	ItemDesc              string
	PosData               string
	NotificationURL       string
	TransactionSpeed      string
	FullNotifications     bool
	ExtendedNotifications bool
	CompleteConfirmations int64
	ResourceToken         string
	CreatedAt             time.Time
}

// Invoice is a BitPay invoice: a payment and its BitPay fields.
type Invoice struct {
	Payment *payments.Payment
	row     invoiceRow
}

// Limits on invoice fields, in bytes.
const (
	maxIDLen       = 255
	maxItemDescLen = 2000
	maxPosDataLen  = 16 << 10
	maxURLLen      = 2048
	maxExpiry      = 365 * 24 * time.Hour
	minExpiry      = 30 * time.Second
)

// coin picks the coin an invoice is paid in.
func (s *Service) coin(req InvoiceRequest) (string, error) {
	if len(req.PaymentCurrencies) > 0 {
		for _, c := range req.PaymentCurrencies {
			if c = strings.ToUpper(strings.TrimSpace(c)); s.cfg.Payments.HasCoin(c) {
				return c, nil
			}
		}
		return "", invalid("paymentCurrencies", "none of paymentCurrencies %s is accepted here; use one of %s",
			strings.Join(req.PaymentCurrencies, ", "), strings.Join(s.cfg.Payments.Coins(), ", "))
	}
	if s.cfg.Payments.HasCoin(req.Currency) {
		return req.Currency, nil
	}
	return s.cfg.DefaultCoin, nil
}

// speedConfirmations returns the confirmations that make an invoice of the
// given speed confirmed, at most complete.
func speedConfirmations(speed string, complete int64) int64 {
	var n int64
	switch speed {
	case SpeedHigh:
		n = 0
	case SpeedMedium:
		n = 1
	default:
		n = complete
	}
	return min(n, complete)
}

func (s *Service) completeConfirmations(coin string) int64 {
	if n, ok := s.cfg.CompleteConfirmations[coin]; ok {
		return n
	}
	return 6
}

func checkText(field, v string, maxLen int) error {
	if len(v) > maxLen || !payments.ValidText(v) {
		return invalid(field, "%s must be valid UTF-8 of at most %d bytes, without NUL characters", field, maxLen)
	}
	return nil
}

// validate checks what can be checked before a rate or a node is asked.
func (s *Service) validate(req *InvoiceRequest, now time.Time) error {
	if !req.Price.IsPositive() {
		return invalid("price", "price must be a number greater than 0, such as 12.5 or \"12.50\"")
	}
	req.Currency = strings.ToUpper(strings.TrimSpace(req.Currency))
	if req.Currency == "" {
		return invalid("currency", "currency is required: a currency code such as USD or EUR, or a coin code such as %s", s.cfg.DefaultCoin)
	}
	if !rates.ValidCode(req.Currency) {
		return invalid("currency", "currency %q is not a currency code such as USD or EUR", req.Currency)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"orderId", req.OrderID, maxIDLen}, {"itemCode", req.ItemCode, maxIDLen},
		{"itemDesc", req.ItemDesc, maxItemDescLen}, {"posData", req.PosData, maxPosDataLen},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if req.NotificationURL != "" {
		if err := webhook.ValidateCallbackURL(req.NotificationURL, s.cfg.AllowPrivateCallbacks); err != nil {
			if errors.Is(err, webhook.ErrAddressRefused) {
				return invalid("notificationURL", "notificationURL points at a loopback, private or link-local address; "+
					"use a public address (or the operator sets WEBHOOK_ALLOW_PRIVATE=true)")
			}
			return invalid("notificationURL", "notificationURL must be an absolute http or https URL of at most %d bytes, "+
				"with a name or a dotted address as host", maxURLLen)
		}
		req.NotificationURL = webhook.NormalizeURL(req.NotificationURL)
	}
	if req.RedirectURL != "" {
		u, err := url.Parse(req.RedirectURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(req.RedirectURL) > maxURLLen {
			return invalid("redirectURL", "redirectURL must be an absolute http or https URL of at most %d bytes", maxURLLen)
		}
		if u.User != nil {
			return invalid("redirectURL", "redirectURL must not contain user:password@; the buyer's browser would receive it")
		}
		req.RedirectURL = webhook.NormalizeURL(req.RedirectURL)
	}
	req.TransactionSpeed = strings.ToLower(strings.TrimSpace(req.TransactionSpeed))
	switch req.TransactionSpeed {
	case "":
		req.TransactionSpeed = s.cfg.DefaultSpeed
	case SpeedHigh, SpeedMedium, SpeedLow:
	default:
		return invalid("transactionSpeed", "transactionSpeed must be high, medium or low")
	}
	if !req.ExpirationTime.IsZero() {
		if req.ExpirationTime.Before(now.Add(minExpiry)) || req.ExpirationTime.After(now.Add(maxExpiry)) {
			return invalid("expirationTime", "expirationTime must be Unix milliseconds at least 30 seconds and at most a year ahead")
		}
	}
	return nil
}

// CreateInvoice converts the price at the current rate, creates the
// payment and stores the invoice with it. Refusals are *RequestError; no
// fresh rate gives an *rates.UnavailableError; a node that does not answer
// gives an error wrapping payments.ErrCoinUnavailable.
func (s *Service) CreateInvoice(ctx context.Context, tok *Token, req InvoiceRequest) (*Invoice, error) {
	now := s.cfg.Now().UTC()
	if err := s.validate(&req, now); err != nil {
		return nil, err
	}
	coin, err := s.coin(req)
	if err != nil {
		return nil, err
	}
	var quote rates.Quote
	if req.Currency == coin {
		// A price in the coin is the amount itself: it is never rounded.
		if !req.Price.Shift(8).IsInteger() {
			return nil, invalid("price", "a price in %s has at most 8 decimal places, as %s amounts do", coin, coin)
		}
		quote = rates.Quote{Rate: decimal.NewFromInt(1), Source: "identity"}
	} else {
		if !s.cfg.Rates.Configured() {
			return nil, invalid("currency", "prices in %s need exchange rates and this server has none configured; "+
				"price the invoice in %s", req.Currency, coin)
		}
		if quote, err = s.cfg.Rates.Rate(coin, req.Currency); err != nil {
			// A code that names no currency is the client's mistake; a
			// known currency without a fresh rate is ours (503).
			if !rates.KnownCurrency(req.Currency) && !s.cfg.Payments.HasCoin(req.Currency) {
				return nil, invalid("currency", "currency %q is not a currency code this server knows; use an ISO 4217 code such as USD or EUR, or a coin such as %s", req.Currency, coin)
			}
			return nil, err
		}
	}
	units, err := quote.CoinUnits(req.Price)
	if err != nil || payments.Amount(units) > payments.MaxAmount {
		return nil, invalid("price", "price %s %s converts to more than %s %s", req.Price, req.Currency, payments.MaxAmount, coin)
	}
	complete := s.completeConfirmations(coin)
	confs := speedConfirmations(req.TransactionSpeed, complete)
	if confs == 0 && !s.cfg.Payments.ZeroConf(coin) {
		return nil, invalid("transactionSpeed", "transactionSpeed %s accepts unconfirmed payments, which %s does not on this server "+
			"(%s_ZERO_CONF is off); use medium or low", req.TransactionSpeed, coin, coin)
	}
	row := invoiceRow{
		TokenID:               tok.ID,
		Price:                 req.Price,
		Currency:              req.Currency,
		Rate:                  quote.Rate,
		RateSource:            quote.Source,
		ItemCode:              req.ItemCode,
		ItemDesc:              req.ItemDesc,
		PosData:               req.PosData,
		NotificationURL:       req.NotificationURL,
		TransactionSpeed:      req.TransactionSpeed,
		FullNotifications:     req.FullNotifications || req.ExtendedNotifications,
		ExtendedNotifications: req.ExtendedNotifications,
		CompleteConfirmations: complete,
		ResourceToken:         randomBase58(22),
	}
	preq := payments.CreateRequest{
		API:           API,
		Coin:          coin,
		Amount:        payments.Amount(units),
		Label:         strings.TrimSpace("bitpay " + tok.Label),
		OrderID:       req.OrderID,
		RedirectURL:   req.RedirectURL,
		Confirmations: &confs,
		// The payment is settled, and the invoice complete, at the coin's
		// full depth.
		SettleConfirmations: &complete,
		Attach: func(ctx context.Context, tx pgx.Tx, p *payments.Payment) error {
			row.PaymentID, row.CreatedAt = p.ID, p.CreatedAt
			return insertInvoice(ctx, tx, &row)
		},
	}
	if req.ExpirationTime.IsZero() {
		preq.ExpiresIn = s.cfg.InvoiceExpiry
	} else {
		preq.ExpiresAt = req.ExpirationTime
	}
	p, err := s.cfg.Payments.Create(context.WithValue(ctx, creatingInvoice{}, &row), preq)
	if err != nil {
		var perr *payments.Error
		if errors.As(err, &perr) {
			field, msg := perr.Field, perr.Message
			if name, ok := bitpayFields[field]; ok {
				field, msg = name, strings.Replace(msg, perr.Field, name, 1)
			}
			return nil, invalid(field, "%s", msg)
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "bitpay invoice created", "payment_id", p.ID, "price", req.Price.String(),
		"currency", req.Currency, "rate", quote.Rate.String(), "rate_source", quote.Source, "token_label", tok.Label)
	return &Invoice{Payment: p, row: row}, nil
}

// bitpayFields names, in BitPay's words, the payment fields an invoice
// fills from its own.
var bitpayFields = map[string]string{"order_id": "orderId", "redirect_url": "redirectURL", "amount": "price", "account": "token label"}

const invoiceColumns = `payment_id, token_id, price::text, currency, rate::text, rate_source, coalesce(item_code, ''),
	coalesce(item_desc, ''), coalesce(pos_data, ''), coalesce(notification_url, ''), transaction_speed,
	full_notifications, extended_notifications, complete_confirmations, resource_token, created_at`

func insertInvoice(ctx context.Context, tx pgx.Tx, r *invoiceRow) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO bitpay_invoices (payment_id, token_id, price, currency, rate, rate_source, item_code, item_desc,
			pos_data, notification_url, transaction_speed, full_notifications, extended_notifications,
			complete_confirmations, resource_token, created_at)
		VALUES ($1, $2, $3::numeric, $4, $5::numeric, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		r.PaymentID, r.TokenID, r.Price.String(), r.Currency, r.Rate.String(), r.RateSource, nullString(r.ItemCode),
		nullString(r.ItemDesc), nullString(r.PosData), nullString(r.NotificationURL), r.TransactionSpeed,
		r.FullNotifications, r.ExtendedNotifications, r.CompleteConfirmations, r.ResourceToken, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("bitpay: insert invoice: %w", err)
	}
	return nil
}

// querier is what both a pool and a transaction offer for reading.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// errNoInvoice means a payment has no BitPay side.
var errNoInvoice = errors.New("bitpay: not an invoice")

func loadInvoiceRow(ctx context.Context, q querier, paymentID uuid.UUID) (*invoiceRow, error) {
	var (
		r           invoiceRow
		price, rate string
		confs       int32
	)
	err := q.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM bitpay_invoices WHERE payment_id = $1`, paymentID).Scan(
		&r.PaymentID, &r.TokenID, &price, &r.Currency, &rate, &r.RateSource, &r.ItemCode, &r.ItemDesc, &r.PosData,
		&r.NotificationURL, &r.TransactionSpeed, &r.FullNotifications, &r.ExtendedNotifications, &confs,
		&r.ResourceToken, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoInvoice
	}
	if err != nil {
		return nil, fmt.Errorf("bitpay: invoice %s: %w", paymentID, err)
	}
	r.CompleteConfirmations = int64(confs)
	if r.Price, err = decimal.NewFromString(price); err != nil {
		return nil, fmt.Errorf("bitpay: invoice %s: price: %w", paymentID, err)
	}
	if r.Rate, err = decimal.NewFromString(rate); err != nil {
		return nil, fmt.Errorf("bitpay: invoice %s: rate: %w", paymentID, err)
	}
	return &r, nil
}

// Invoice returns the invoice with the given id if tok created it, or
// ErrInvoiceNotFound.
func (s *Service) Invoice(ctx context.Context, tok *Token, id string) (*Invoice, error) {
	pid, err := uuid.Parse(id)
	if err != nil {
		return nil, ErrInvoiceNotFound
	}
	row, err := loadInvoiceRow(ctx, s.cfg.Pool, pid)
	if errors.Is(err, errNoInvoice) || (err == nil && row.TokenID != tok.ID) {
		return nil, ErrInvoiceNotFound
	}
	if err != nil {
		return nil, err
	}
	p, err := s.cfg.Payments.Get(ctx, pid)
	if errors.Is(err, payments.ErrNotFound) {
		return nil, ErrInvoiceNotFound
	}
	if err != nil {
		return nil, err
	}
	return &Invoice{Payment: p, row: *row}, nil
}

// Invoice statuses of the BitPay API.
const (
	StatusNew       = "new"
	StatusPaid      = "paid"
	StatusConfirmed = "confirmed"
	StatusComplete  = "complete"
	StatusExpired   = "expired"
	StatusInvalid   = "invalid"
)

// InvoiceFilter selects invoices for Invoices. Zero fields do not filter.
type InvoiceFilter struct {
	Status    string // one of the BitPay statuses
	OrderID   string
	ItemCode  string
	DateStart time.Time // inclusive
	DateEnd   time.Time // exclusive
	Limit     int       // default 100, at most MaxListLimit
	Offset    int
}

// MaxListLimit is the largest page GET /invoices returns.
const MaxListLimit = 200

// Invoices returns one page of tok's invoices, newest first.
func (s *Service) Invoices(ctx context.Context, tok *Token, f InvoiceFilter) ([]*Invoice, error) {
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return nil, invalid("limit", "limit must be between 1 and %d", MaxListLimit)
	}
	if f.Offset < 0 {
		return nil, invalid("offset", "offset must be 0 or more")
	}
	where := []string{"b.token_id = $1"}
	args := []any{tok.ID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch f.Status {
	case "":
	case StatusNew:
		where = append(where, "p.status IN ('UNPAID', 'PARTIAL')")
	case StatusPaid:
		where = append(where, "p.status = 'PENDING'")
	case StatusConfirmed:
		where = append(where, "p.status = 'PAID' AND NOT p.settled")
	case StatusComplete:
		where = append(where, "p.status = 'PAID' AND p.settled")
	case StatusExpired:
		where = append(where, "p.status = 'EXPIRED'")
	case StatusInvalid:
		where = append(where, "p.status = 'INVALID'")
	default:
		return nil, invalid("status", "status %q is not one of new, paid, confirmed, complete, expired, invalid", f.Status)
	}
	if f.OrderID != "" {
		where = append(where, "p.order_id = "+arg(f.OrderID))
	}
	if f.ItemCode != "" {
		where = append(where, "b.item_code = "+arg(f.ItemCode))
	}
	if !f.DateStart.IsZero() {
		where = append(where, "b.created_at >= "+arg(f.DateStart))
	}
	if !f.DateEnd.IsZero() {
		where = append(where, "b.created_at < "+arg(f.DateEnd))
	}
	sql := `SELECT b.payment_id FROM bitpay_invoices b JOIN payments p ON p.id = b.payment_id WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY b.created_at DESC, b.payment_id DESC LIMIT ` + arg(f.Limit) +
		` OFFSET ` + arg(f.Offset)
	rows, err := s.cfg.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("bitpay: list invoices: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("bitpay: list invoices: %w", err)
	}
	out := make([]*Invoice, 0, len(ids))
	for _, id := range ids {
		inv, err := s.Invoice(ctx, tok, id.String())
		if errors.Is(err, ErrInvoiceNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

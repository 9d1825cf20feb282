package greenfield

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
)

// Speed policies: how many confirmations make an invoice Settled.
const (
	SpeedHigh      = "HighSpeed"      // 0 confirmations
	SpeedMedium    = "MediumSpeed"    // 1
	SpeedLowMedium = "LowMediumSpeed" // 2
	SpeedLow       = "LowSpeed"       // the coin's configured confirmations
)

// InvoiceRow is the Greenfield side of an invoice (greenfield_invoices).
type InvoiceRow struct {
	PaymentID  uuid.UUID
	StoreID    string
	Amount     decimal.Decimal // the price, in Currency
	Currency   string
	Rate       decimal.Decimal // Currency per coin
	RateSource string
	// Metadata is the shop's metadata exactly as sent ({} when none).
	Metadata              json.RawMessage
	OrderID               string
	SpeedPolicy           string
	PaymentTolerance      decimal.Decimal // percent
	RedirectURL           string
	RedirectAutomatically bool
	// MarkedStatus is StatusSettled or StatusInvalid once the merchant
	// marked the invoice, "" before.
	MarkedStatus string
	MarkedAt     time.Time
	Archived     bool
	CreatedAt    time.Time
}

// Invoice is a Greenfield invoice: a payment and its Greenfield row.
type Invoice struct {
	Payment *payments.Payment
	Row     InvoiceRow
}

// Status returns the invoice's Greenfield status and additionalStatus.
func (inv *Invoice) Status() (status, additional string) {
	return InvoiceStatus(inv.Payment, inv.Row.MarkedStatus)
}

// Querier is what both a pool and a transaction offer for reading; the
// webhook hook reads rows inside the event's transaction through it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const invoiceColumns = `payment_id, store_id, amount::text, currency, rate::text, rate_source, metadata::text,
	coalesce(order_id, ''), speed_policy, payment_tolerance::text, coalesce(redirect_url, ''), redirect_automatically,
	coalesce(marked_status, ''), marked_at, archived, created_at`

// LoadInvoiceRow reads the Greenfield row of payment paymentID through q
// (a pool or the event's transaction). A payment that is no Greenfield
// invoice gives ErrInvoiceNotFound.
func LoadInvoiceRow(ctx context.Context, q Querier, paymentID uuid.UUID) (*InvoiceRow, error) {
	var (
		r                       InvoiceRow
		amount, rate, tol, meta string
		markedAt                *time.Time
	)
	err := q.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM greenfield_invoices WHERE payment_id = $1`, paymentID).Scan(
		&r.PaymentID, &r.StoreID, &amount, &r.Currency, &rate, &r.RateSource, &meta, &r.OrderID, &r.SpeedPolicy,
		&tol, &r.RedirectURL, &r.RedirectAutomatically, &r.MarkedStatus, &markedAt, &r.Archived, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrInvoiceNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("greenfield: invoice %s: %w", paymentID, err)
	}
	if markedAt != nil {
		r.MarkedAt = *markedAt
	}
	r.Metadata = json.RawMessage(meta)
	for _, f := range []struct {
		dst *decimal.Decimal
		src string
	}{{&r.Amount, amount}, {&r.Rate, rate}, {&r.PaymentTolerance, tol}} {
		if *f.dst, err = decimal.NewFromString(f.src); err != nil {
			return nil, fmt.Errorf("greenfield: invoice %s: %w", paymentID, err)
		}
	}
	return &r, nil
}

func insertInvoice(ctx context.Context, tx pgx.Tx, r *InvoiceRow) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO greenfield_invoices (payment_id, store_id, amount, currency, rate, rate_source, metadata, order_id,
			speed_policy, payment_tolerance, redirect_url, redirect_automatically, created_at)
		VALUES ($1, $2, $3::numeric, $4, $5::numeric, $6, $7::json, $8, $9, $10::numeric, $11, $12, $13)`,
		r.PaymentID, r.StoreID, r.Amount.String(), r.Currency, r.Rate.String(), r.RateSource, string(r.Metadata),
		nullString(r.OrderID), r.SpeedPolicy, r.PaymentTolerance.String(), nullString(r.RedirectURL),
		r.RedirectAutomatically, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("greenfield: insert invoice: %w", err)
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Invoice returns store storeID's invoice id, or ErrInvoiceNotFound (also
// for an id that is not an invoice of the store).
func (s *Service) Invoice(ctx context.Context, storeID, id string) (*Invoice, error) {
	pid, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return nil, ErrInvoiceNotFound
	}
	row, err := LoadInvoiceRow(ctx, s.cfg.Pool, pid)
	if err != nil {
		return nil, err
	}
	if row.StoreID != storeID {
		return nil, ErrInvoiceNotFound
	}
	p, err := s.cfg.Payments.Get(ctx, pid)
	if errors.Is(err, payments.ErrNotFound) {
		return nil, ErrInvoiceNotFound
	}
	if err != nil {
		return nil, err
	}
	return &Invoice{Payment: p, Row: *row}, nil
}

// CheckoutRequest is the checkout object of a create request; nil fields
// were null or absent.
type CheckoutRequest struct {
	SpeedPolicy           *string
	PaymentMethods        []string
	ExpirationMinutes     *int64
	MonitoringMinutes     *int64
	PaymentTolerance      *decimal.Decimal
	RedirectURL           *string
	RedirectAutomatically *bool
}

// InvoiceRequest is a parsed create request.
type InvoiceRequest struct {
	Amount   decimal.Decimal
	Currency string // "" means the store's default currency
	// Metadata is the metadata object exactly as sent; nil means none.
	Metadata json.RawMessage
	Checkout CheckoutRequest
}

// Limits on invoice requests.
const (
	maxExpirationMinutes = 365 * 24 * 60
	maxOrderIDLen        = 255
)

// ParsePaymentMethod turns a payment method id as BTCPay clients write it
// ("LTC-CHAIN", "LTC_CHAIN", "LTC-OnChain", "LTC") into a coin code, and
// reports whether it names an on-chain method at all.
func ParsePaymentMethod(id string) (string, bool) {
	id = strings.ToUpper(strings.TrimSpace(strings.ReplaceAll(id, "_", "-")))
	for _, suffix := range []string{"-CHAIN", "-ONCHAIN"} {
		if c, ok := strings.CutSuffix(id, suffix); ok {
			id = c
			break
		}
	}
	if id == "" || strings.Contains(id, "-") || !rates.ValidCode(id) {
		return "", false
	}
	return id, true
}

// PaymentMethodID is Greenfield's id of coin's on-chain method: "LTC-CHAIN".
func PaymentMethodID(coin string) string { return coin + "-CHAIN" }

// storeCoins returns the configured coins store st takes, in its order of
// preference: the order they were given at creation, or, for a store that
// takes every coin, Dogecoin first and then the others sorted.
func (s *Service) storeCoins(st *Store) []string {
	if len(st.Coins) > 0 {
		var out []string
		for _, c := range st.Coins {
			if s.cfg.Payments.HasCoin(c) && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		return out
	}
	all := s.cfg.Payments.Coins()
	if i := slices.Index(all, "DOGE"); i > 0 {
		all = append([]string{"DOGE"}, slices.Delete(all, i, i+1)...)
	}
	return all
}

// pickCoin chooses the coin an invoice is paid in. A Transient invoice is
// paid in one coin, where BTCPay's checkout lets the buyer choose among
// several; so of the methods checkout.paymentMethods names (the WooCommerce
// plugin's single gateway names all of the store's), the store's most
// preferred one is taken. Without paymentMethods: the currency when it is a
// coin the store takes, else the store's most preferred coin.
func (s *Service) pickCoin(st *Store, req InvoiceRequest, currency string) (string, error) {
	coins := s.storeCoins(st)
	if len(coins) == 0 {
		return "", Invalid("checkout.paymentMethods", "the store takes none of the coins configured on this server")
	}
	if req.Checkout.PaymentMethods != nil {
		var asked []string
		for _, m := range req.Checkout.PaymentMethods {
			if c, ok := ParsePaymentMethod(m); ok {
				asked = append(asked, c)
			}
		}
		for _, c := range coins {
			if slices.Contains(asked, c) {
				return c, nil
			}
		}
		ids := make([]string, len(coins))
		for i, c := range coins {
			ids[i] = PaymentMethodID(c)
		}
		return "", Invalid("checkout.paymentMethods", "none of the payment methods is offered by this store; use one of %s",
			strings.Join(ids, ", "))
	}
	if slices.Contains(coins, currency) {
		return currency, nil
	}
	return coins[0], nil
}

func (s *Service) completeConfirmations(coin string) int64 {
	if n, ok := s.cfg.CompleteConfirmations[coin]; ok {
		return n
	}
	return 6
}

// speedConfirmations returns the confirmations policy asks for, at most
// complete.
func speedConfirmations(policy string, complete int64) int64 {
	switch policy {
	case SpeedHigh:
		return 0
	case SpeedMedium:
		return min(1, complete)
	case SpeedLowMedium:
		return min(2, complete)
	default:
		return complete
	}
}

// paymentFields names, in Greenfield's words, the payment fields an
// invoice fills from its own.
var paymentFields = map[string]string{
	"order_id": "metadata.orderId", "redirect_url": "checkout.redirectURL", "amount": "amount",
	"tolerance": "checkout.paymentTolerance", "confirmations": "checkout.speedPolicy", "expires_in": "checkout.expirationMinutes",
	"currency": "currency", "metadata": "metadata", "monitoring_window": "checkout.monitoringMinutes",
}

// CreateInvoice prices req in a coin the store takes, creates the payment
// and stores the invoice with it in one transaction. Refusals are
// ValidationErrors; no fresh rate gives a *rates.UnavailableError; a node
// that does not answer an error wrapping payments.ErrCoinUnavailable.
func (s *Service) CreateInvoice(ctx context.Context, st *Store, req InvoiceRequest) (*Invoice, error) {
	if !req.Amount.IsPositive() {
		return nil, Invalid("amount", "amount must be a number greater than 0, such as \"12.50\"")
	}
	currency := strings.ToUpper(strings.TrimSpace(req.Currency))
	if currency == "" {
		currency = st.DefaultCurrency
	}
	if !rates.ValidCode(currency) {
		return nil, Invalid("currency", "currency %q is not a currency code such as USD or EUR", req.Currency)
	}
	row := InvoiceRow{StoreID: st.ID, Amount: req.Amount, Currency: currency, SpeedPolicy: SpeedMedium,
		Metadata: json.RawMessage("{}")}
	if len(req.Metadata) > 0 {
		orderID, err := checkInvoiceMetadata(req.Metadata)
		if err != nil {
			return nil, err
		}
		row.Metadata, row.OrderID = req.Metadata, orderID
	}
	c := req.Checkout
	if c.SpeedPolicy != nil {
		switch *c.SpeedPolicy {
		case SpeedHigh, SpeedMedium, SpeedLowMedium, SpeedLow:
			row.SpeedPolicy = *c.SpeedPolicy
		default:
			return nil, Invalid("checkout.speedPolicy", "speedPolicy must be HighSpeed, MediumSpeed, LowMediumSpeed or LowSpeed")
		}
	}
	expiry := s.cfg.InvoiceExpiry
	if c.ExpirationMinutes != nil {
		if m := *c.ExpirationMinutes; m < 1 || m > maxExpirationMinutes {
			return nil, Invalid("checkout.expirationMinutes", "expirationMinutes must be between 1 and %d", maxExpirationMinutes)
		}
		expiry = time.Duration(*c.ExpirationMinutes) * time.Minute
	}
	var monitoring *time.Duration
	if c.MonitoringMinutes != nil {
		// The invoice's own monitoring window: the payment is INVALID
		// when it stays unconfirmed longer than this after it is paid.
		maxMinutes := int64(payments.MaxMonitoringWindow / time.Minute)
		if m := *c.MonitoringMinutes; m < 1 || m > maxMinutes {
			return nil, Invalid("checkout.monitoringMinutes", "monitoringMinutes must be between 1 and %d, or null for "+
				"this server's %d", maxMinutes, int64(s.cfg.MonitoringWindow/time.Minute))
		}
		w := time.Duration(*c.MonitoringMinutes) * time.Minute
		monitoring = &w
	}
	var toleranceBP *int64
	if c.PaymentTolerance != nil {
		t := *c.PaymentTolerance
		if t.IsNegative() || t.GreaterThan(decimal.NewFromInt(100)) {
			return nil, Invalid("checkout.paymentTolerance", "paymentTolerance must be a percentage between 0 and 100")
		}
		row.PaymentTolerance = t
		bp := t.Shift(2).Floor().IntPart()
		toleranceBP = &bp
	}
	redirect := ""
	if c.RedirectURL != nil {
		redirect = strings.TrimSpace(*c.RedirectURL)
		row.RedirectURL = redirect
	}
	if c.RedirectAutomatically != nil {
		row.RedirectAutomatically = *c.RedirectAutomatically
	}
	coin, err := s.pickCoin(st, req, currency)
	if err != nil {
		return nil, err
	}
	var quote rates.Quote
	if currency == coin {
		if !req.Amount.Shift(8).IsInteger() {
			return nil, Invalid("amount", "an amount in %s has at most 8 decimal places", coin)
		}
		quote = rates.Quote{Rate: decimal.NewFromInt(1), Source: "identity"}
	} else {
		if s.cfg.Rates == nil || !s.cfg.Rates.Configured() {
			return nil, Invalid("currency", "amounts in %s need exchange rates and this server has none configured; "+
				"price the invoice in %s", currency, coin)
		}
		if quote, err = s.cfg.Rates.Rate(coin, currency); err != nil {
			if !rates.KnownCurrency(currency) && !s.cfg.Payments.HasCoin(currency) {
				return nil, Invalid("currency", "currency %q is not a currency this server knows; use an ISO 4217 code "+
					"such as USD or EUR, or a coin such as %s", currency, coin)
			}
			return nil, err
		}
	}
	units, err := quote.CoinUnits(req.Amount)
	if err != nil || payments.Amount(units) > payments.MaxAmount {
		return nil, Invalid("amount", "amount %s %s converts to more than %s %s", req.Amount, currency, payments.MaxAmount, coin)
	}
	row.Rate, row.RateSource = quote.Rate, quote.Source
	complete := s.completeConfirmations(coin)
	confs := speedConfirmations(row.SpeedPolicy, complete)
	if confs == 0 && !s.cfg.Payments.ZeroConf(coin) {
		return nil, Invalid("checkout.speedPolicy", "HighSpeed accepts unconfirmed payments, which %s does not on this server "+
			"(%s_ZERO_CONF is off); use MediumSpeed or slower", coin, coin)
	}
	preq := payments.CreateRequest{
		API:                 API,
		Coin:                coin,
		Amount:              payments.Amount(units),
		Label:               "greenfield",
		OrderID:             row.OrderID,
		RedirectURL:         redirect,
		Confirmations:       &confs,
		SettleConfirmations: &complete,
		ToleranceBP:         toleranceBP,
		ExpiresIn:           expiry,
		MonitoringWindow:    monitoring,
		Attach: func(ctx context.Context, tx pgx.Tx, p *payments.Payment) error {
			row.PaymentID, row.CreatedAt = p.ID, p.CreatedAt
			return insertInvoice(ctx, tx, &row)
		},
	}
	p, err := s.cfg.Payments.Create(context.WithValue(ctx, creatingInvoice{}, &row), preq)
	if err != nil {
		var perr *payments.Error
		if errors.As(err, &perr) {
			field := perr.Field
			if name, ok := paymentFields[field]; ok {
				field = name
			}
			return nil, Invalid(field, "%s", perr.Message)
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "greenfield invoice created", "payment_id", p.ID, "store_id", st.ID, "amount", req.Amount.String(),
		"currency", currency, "rate", quote.Rate.String(), "rate_source", quote.Source)
	return &Invoice{Payment: p, Row: row}, nil
}

// checkInvoiceMetadata checks metadata as payments checks its own (an
// object, storable, bounded) and returns its orderId when that is a string.
func checkInvoiceMetadata(raw json.RawMessage) (string, error) {
	if err := payments.CheckMetadata("metadata", raw); err != nil {
		var perr *payments.Error
		if errors.As(err, &perr) {
			return "", Invalid("metadata", "%s", perr.Message)
		}
		return "", err
	}
	var m struct {
		OrderID json.RawMessage `json:"orderId"`
	}
	_ = json.Unmarshal(raw, &m) // checked above
	var orderID string
	if len(m.OrderID) == 0 || json.Unmarshal(m.OrderID, &orderID) != nil {
		return "", nil // absent, or not a string: no order id
	}
	if len(orderID) > maxOrderIDLen || !payments.ValidText(orderID) {
		return "", Invalid("metadata.orderId", "metadata.orderId must be text of at most %d bytes", maxOrderIDLen)
	}
	return orderID, nil
}

// creatingInvoice is the context key under which CreateInvoice passes the
// row it stores (filled by Attach) to the hooks of the payment.created
// event (see CreatingInvoice).
type creatingInvoice struct{}

// CreatingInvoice returns, inside the payment.created event of a payment
// CreateInvoice is creating, its Greenfield row (already inserted in the
// event's transaction); ok is false for every other payment. A hook can so
// tell, without a query, that a created payment is no Greenfield invoice:
// every Greenfield invoice is created by CreateInvoice.
func CreatingInvoice(ctx context.Context, paymentID uuid.UUID) (row *InvoiceRow, ok bool) {
	row, _ = ctx.Value(creatingInvoice{}).(*InvoiceRow)
	if row == nil || row.PaymentID != paymentID {
		return nil, false
	}
	return row, true
}

// InvoiceFilter selects invoices for Invoices; zero fields do not filter.
type InvoiceFilter struct {
	OrderIDs        []string
	Statuses        []string // Greenfield statuses
	TextSearch      string
	Start, End      time.Time // created at or after Start, at or before End
	Skip, Take      int
	IncludeArchived bool
}

// MaxTake is the largest page a listing returns.
const MaxTake = 1000

// statusSQL selects invoices by Greenfield status, mirroring InvoiceStatus.
var statusSQL = map[string]string{
	StatusNew:        "(g.marked_status IS NULL AND p.status IN ('UNPAID', 'PARTIAL'))",
	StatusProcessing: "(g.marked_status IS NULL AND p.status = 'PENDING')",
	StatusSettled:    "(g.marked_status = 'Settled' OR (g.marked_status IS NULL AND p.status = 'PAID'))",
	StatusExpired:    "(g.marked_status IS NULL AND p.status = 'EXPIRED')",
	StatusInvalid:    "(g.marked_status = 'Invalid' OR (g.marked_status IS NULL AND p.status = 'INVALID'))",
}

// Invoices returns one page of the store's invoices, newest first.
func (s *Service) Invoices(ctx context.Context, st *Store, f InvoiceFilter) ([]*Invoice, error) {
	where := []string{"g.store_id = $1"}
	args := []any{st.ID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.OrderIDs) > 0 {
		where = append(where, "g.order_id = ANY("+arg(f.OrderIDs)+")")
	}
	if len(f.Statuses) > 0 {
		var ors []string
		for _, stt := range f.Statuses {
			ors = append(ors, statusSQL[stt])
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if f.TextSearch != "" {
		pattern := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.TextSearch) + "%"
		where = append(where, "(g.order_id ILIKE "+arg(pattern)+" OR g.metadata::text ILIKE "+arg(pattern)+
			" OR g.payment_id::text = "+arg(f.TextSearch)+")")
	}
	if !f.Start.IsZero() {
		where = append(where, "g.created_at >= "+arg(f.Start))
	}
	if !f.End.IsZero() {
		where = append(where, "g.created_at <= "+arg(f.End))
	}
	if !f.IncludeArchived {
		where = append(where, "NOT g.archived")
	}
	sql := `SELECT g.payment_id FROM greenfield_invoices g JOIN payments p ON p.id = g.payment_id WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY g.created_at DESC, g.payment_id DESC LIMIT ` + arg(f.Take) +
		` OFFSET ` + arg(f.Skip)
	rows, err := s.cfg.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("greenfield: list invoices: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("greenfield: list invoices: %w", err)
	}
	out := make([]*Invoice, 0, len(ids))
	for _, id := range ids {
		inv, err := s.Invoice(ctx, st.ID, id.String())
		if errors.Is(err, ErrInvoiceNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

package payments

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Node is what the service needs from a coin node. *coind.Client implements
// it; the interface exists so pure units can be tested without a node.
type Node interface {
	GetNewAddress(ctx context.Context, label string) (string, error)
	GetTransaction(ctx context.Context, txid string) (*coind.Transaction, error)
	InMempool(ctx context.Context, txid string) (bool, error)
	ListSinceBlock(ctx context.Context, blockHash string, targetConfirmations int) (*coind.SinceBlock, error)
	GetBlock(ctx context.Context, hash string) (*coind.Block, error)
	GetBlockHash(ctx context.Context, height int64) (string, error)
	GetBlockCount(ctx context.Context) (int64, error)
}

// Coin is one configured coin: its code, its node and its defaults.
type Coin struct {
	Code string // e.g. "DOGE"
	Node Node
	// Confirmations is the default number of confirmations a payment needs.
	Confirmations int64
	// ZeroConf lets payments of the coin ask for 0 confirmations. Off, a
	// payment asking for 0 is refused: where the node relays full RBF, an
	// unconfirmed payment can be replaced by one paying someone else
	// without the merchant's wallet being told. On, every unconfirmed
	// output is checked against the node's mempool each time it is read.
	ZeroConf bool
	// URIScheme is the BIP21 scheme, e.g. "dogecoin".
	URIScheme string
	// Wallet is the node wallet's name ("" for the default wallet), used to
	// drop notifications about the node's other wallets.
	Wallet string
	// MaxAmount is the largest amount one payment may ask for; zero means
	// DefaultMaxAmount(Code).
	MaxAmount Amount
	// Addresses fills the coin's address pool (Config.AddressPool); nil
	// means payments of this coin always ask Node for their address.
	Addresses AddressSource
	// Derived, when set, fills the pool instead of Addresses, with
	// addresses derived from the merchant's extended public key; an empty
	// pool then fails creation (ErrNoAddress) instead of asking Node.
	Derived DerivedSource
	// GapWarn is the gap (see Gap) above which the pool loop logs a
	// warning; default 20.
	GapWarn int64
}

// DefaultMaxAmount is the largest amount a payment in the coin may ask for
// unless configured otherwise. The bound is there to turn a typo (base
// units entered as coins) into a clear refusal instead of a payment nobody
// can pay. Bitcoin gets its whole supply, 21 million. Litecoin gets 21
// million too, a quarter of its 84 million: no single payment comes near
// it. Dogecoin has no supply cap (about 5 billion are added a year), so it
// gets MaxAmount, ten billion: several percent of all dogecoins, far above
// any real payment and far below where sums of amounts could overflow.
// Other coins get MaxAmount too.
func DefaultMaxAmount(code string) Amount {
	switch code {
	case "BTC", "LTC":
		return 21_000_000 * UnitsPerCoin
	default:
		return MaxAmount
	}
}

// Config configures a Service.
type Config struct {
	Coins []Coin
	// ToleranceBP is the underpayment tolerance in basis points applied to
	// new payments.
	ToleranceBP int64
	// DefaultExpiry applies to payments created without an expiry; zero
	// means they never expire.
	DefaultExpiry time.Duration
	// MonitoringWindow is how long a payment may stay PENDING before it is
	// INVALID; zero disables the rule.
	MonitoringWindow time.Duration
	// AllowPrivateCallbacks accepts callback URLs on loopback, private and
	// link-local addresses (WEBHOOK_ALLOW_PRIVATE).
	AllowPrivateCallbacks bool
	// NodeTimeout bounds each node call made while serving a request, so a
	// slow node gives a fast ErrCoinUnavailable. Default 5s.
	NodeTimeout time.Duration
	// Now returns the current time; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Jobs inserts background jobs (notification hints). An insert-only
	// River client is enough.
	Jobs *river.Client[pgx.Tx]
	// Outbox receives every event inside the transaction that writes it.
	Outbox Outbox
	// CreatedWebhooks sends each payment's payment.created event to the
	// global webhook URL and to the payment's callback URL
	// (WEBHOOK_CREATED_EVENTS). Off, the event is still recorded and the
	// event hooks still get it (BitPay's invoice_created IPN, Greenfield's
	// InvoiceCreated, AMQP), but those two destinations hear of a payment
	// from its first status change, as they always did: the shop made the
	// payment and has its answer already, and a delivery per payment created
	// would more than double what creating one costs.
	CreatedWebhooks bool
	// AddressPool keeps fresh addresses ready in PostgreSQL for the coins
	// with an address source; Run refills it. Size 0 turns it off.
	AddressPool PoolConfig
}

// Service creates payments and reads them back. It is safe for concurrent
// use.
type Service struct {
	pool   *pgxpool.Pool
	store  *Store
	coins  map[string]Coin
	codes  []string
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	jobs   *river.Client[pgx.Tx]
	outbox Outbox
	hooks  []EventHook

	hintBatch *batcher[hintArgs]
	txBatch   *batcher[txRef]
	// queued remembers River's unique key of recent hints (see
	// skipQueued).
	queued uniqueKeys
	// nodeSlots bounds, per coin, the transaction reads in flight to its
	// node across every batch, refresh and catch-up running at once.
	nodeSlots map[string]chan struct{}

	// addrBatch coalesces, per coin, the getnewaddress calls of concurrent
	// creations (nil for a coin whose node cannot batch, or that never asks
	// its node).
	addrBatch map[string]*addressBatcher
	// inserts coalesces, per coin, the statements that store the payments
	// whose address its node gave (nil for a coin that never asks).
	inserts map[string]*insertBatcher

	addrs     PoolConfig
	creates   map[string]*createBatcher // per pooled coin
	poolWake  chan struct{}
	poolBatch map[string]*atomic.Int32 // per coin: the next refill batch size
	// rewatching is set per coin while a Rewatch started by CheckWatched
	// runs.
	rewatching map[string]*atomic.Bool
}

// NewService returns a Service storing payments through pool.
func NewService(pool *pgxpool.Pool, cfg Config) *Service {
	s := &Service{
		pool:     pool,
		jobs:     cfg.Jobs,
		outbox:   cfg.Outbox,
		store:    NewStore(pool),
		coins:    make(map[string]Coin, len(cfg.Coins)),
		cfg:      cfg,
		now:      cfg.Now,
		log:      cfg.Logger,
		addrs:    cfg.AddressPool.withDefaults(),
		poolWake: make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.hintBatch = newBatcher(hintBatchLimit, s.storeHints)
	s.txBatch = newBatcher(txBatchLimit, s.processTxs)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.NodeTimeout <= 0 {
		s.cfg.NodeTimeout = 5 * time.Second
	}
	s.poolBatch = make(map[string]*atomic.Int32, len(cfg.Coins))
	s.nodeSlots = make(map[string]chan struct{}, len(cfg.Coins))
	s.rewatching = make(map[string]*atomic.Bool, len(cfg.Coins))
	s.addrBatch = make(map[string]*addressBatcher, len(cfg.Coins))
	s.creates = make(map[string]*createBatcher, len(cfg.Coins))
	s.inserts = make(map[string]*insertBatcher, len(cfg.Coins))
	for _, c := range cfg.Coins {
		if c.MaxAmount <= 0 || c.MaxAmount > MaxAmount {
			c.MaxAmount = DefaultMaxAmount(c.Code)
		}
		s.coins[c.Code] = c
		s.codes = append(s.codes, c.Code)
		s.rewatching[c.Code] = new(atomic.Bool)
		s.nodeSlots[c.Code] = make(chan struct{}, refreshConcurrency)
		s.poolBatch[c.Code] = new(atomic.Int32)
		s.poolBatch[c.Code].Store(int32(max(s.addrs.Batch/4, 1)))
		if c.Derived == nil && c.Node != nil {
			s.addrBatch[c.Code] = newAddressBatcher(c.Node, s.cfg.NodeTimeout)
			s.inserts[c.Code] = newInsertBatcher(pool)
		}
		if s.poolOn(c) {
			s.creates[c.Code] = newCreateBatcher(pool)
		}
	}
	slices.Sort(s.codes)
	return s
}

// HasCoin reports whether code is a configured coin.
func (s *Service) HasCoin(code string) bool {
	_, ok := s.coins[code]
	return ok
}

// ZeroConf reports whether payments of the coin may ask for 0
// confirmations (false for a coin not configured).
func (s *Service) ZeroConf(code string) bool { return s.coins[code].ZeroConf }

// Wallet returns the name of the node wallet the coin uses, and whether it
// uses a named wallet at all.
func (s *Service) Wallet(code string) (string, bool) {
	c, ok := s.coins[code]
	if !ok || c.Wallet == "" {
		return "", false
	}
	return c.Wallet, true
}

// Coins returns the configured coin codes, sorted.
func (s *Service) Coins() []string { return slices.Clone(s.codes) }

// CoinList returns the configured coins, by code.
func (s *Service) CoinList() []Coin {
	out := make([]Coin, len(s.codes))
	for i, code := range s.codes {
		out[i] = s.coins[code]
	}
	return out
}

// Limits on what a shop may send with a payment.
const (
	maxLabelLen      = 255
	maxOrderIDLen    = 255
	maxConfirmations = 1000
	maxExpiry        = 365 * 24 * time.Hour
	maxMetadataLen   = 16 << 10
	maxURLLen        = 2048
)

// MaxMonitoringWindow is the longest monitoring window a payment may ask
// for (CreateRequest.MonitoringWindow).
const MaxMonitoringWindow = 30 * 24 * time.Hour

// CreateRequest is what a shop asks for. Zero fields take the defaults.
type CreateRequest struct {
	Coin   string
	Amount Amount
	// API names the API creating the payment (Payment.API): lower-case
	// letters and underscores; "" is APITransient.
	API string
	// Label becomes the address label (account on Dogecoin Core).
	Label   string
	OrderID string
	// Metadata must be a JSON object when set.
	Metadata json.RawMessage
	// At most one of ExpiresIn and ExpiresAt may be set.
	ExpiresIn time.Duration
	ExpiresAt time.Time
	// Confirmations overrides the coin's default when not nil.
	Confirmations *int64
	// SettleConfirmations overrides the settle depth (default: the coin's
	// confirmations, and never below Confirmations).
	SettleConfirmations *int64
	// CallbackURL receives the payment's events besides the global webhook:
	// http or https, and not a private address unless allowed.
	CallbackURL string
	// RedirectURL is where the checkout page sends the buyer once paid.
	RedirectURL string
	// ToleranceBP overrides the configured underpayment tolerance, in
	// basis points (0 to 10000), when not nil.
	ToleranceBP *int64
	// MonitoringWindow, when not nil, is the payment's own monitoring
	// window instead of the server's (Config.MonitoringWindow): a whole
	// number of seconds from 1 second to MaxMonitoringWindow.
	MonitoringWindow *time.Duration
	// Attach, when set, runs inside the transaction that inserts the
	// payment, so an adapter (the BitPay invoice) can store its own row
	// with it: both are stored or neither is. It runs before the
	// payment's created event is written, so the event hooks find the row.
	Attach func(ctx context.Context, tx pgx.Tx, p *Payment) error
}

// Create validates req, gives the payment a fresh address and stores it
// with its EventCreated event, in one transaction.
// With the address pool on, the address comes from the pool in the
// statement that inserts the payment, and the node is not asked; with the
// pool off or empty, the coin's node is. Invalid requests fail with an
// *Error (wrapping ErrInvalid) before anything else; a node that fails or
// does not answer within the node timeout (1.5 s when the pool is on but
// empty) gives an error wrapping ErrCoinUnavailable, and nothing is stored.
// A coin whose addresses are derived from an extended public key (Derived)
// never asks its node: with no ready address it fails at once with an
// *UnavailableError wrapping ErrNoAddress.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Payment, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	p, coin, err := s.validate(req, now)
	if err != nil {
		return nil, err
	}
	timeout := s.cfg.NodeTimeout
	if s.poolOn(coin) {
		took, err := s.insertFromPool(ctx, p, req.Attach)
		if err != nil {
			return nil, err
		}
		if took {
			return s.created(ctx, p), nil
		}
		s.wakePool()
		if coin.Derived != nil {
			return nil, &UnavailableError{Coin: coin.Code, Err: ErrNoAddress}
		}
		s.log.WarnContext(ctx, "address pool empty: asking the node", "coin", coin.Code)
		timeout = min(timeout, emptyPoolTimeout)
	}
	nodeCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr, err := s.newAddress(nodeCtx, coin, p.Label)
	if err != nil {
		return nil, &UnavailableError{Coin: coin.Code, Err: err}
	}
	p.Address = addr
	if err := s.insert(ctx, p, req.Attach); err != nil {
		return nil, err
	}
	return s.created(ctx, p), nil
}

// newAddress asks coin's node for a new address labelled label, in a batch
// with other creations' when some are in flight (addressBatcher).
func (s *Service) newAddress(ctx context.Context, coin Coin, label string) (string, error) {
	if b := s.addrBatch[coin.Code]; b != nil {
		return b.newAddress(ctx, label)
	}
	return coin.Node.GetNewAddress(ctx, label)
}

// insert stores p with the address it has, then runs attach and writes the
// created event, in one transaction: all of them are stored or none. When
// there is no attach and nothing else for the transaction to do
// (quietCreated), the payment and its event are one statement instead
// (createSQL).
func (s *Service) insert(ctx context.Context, p *Payment, attach func(context.Context, pgx.Tx, *Payment) error) error {
	if attach == nil && s.quietCreated() {
		return s.insertCreated(ctx, p)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := insertPayment(ctx, tx, p); err != nil {
			return err
		}
		return s.attachAndEmit(ctx, tx, p, attach)
	})
}

// createSQL is insertPaymentSQL and the payment's created event in one
// statement, so storing a payment whose address the node gave is one round
// trip and one implicit transaction instead of four (BEGIN, payment, event,
// COMMIT): a statement is atomic, and the event's foreign key is checked
// at its end. The address is known before the statement, so the event's
// payload ($20) is encoded with it, as the transaction would write it.
const createSQL = `
	WITH payment AS (` + insertPaymentSQL + `
		RETURNING id)
	INSERT INTO payment_events (id, payment_id, sequence, type, status, previous_status, occurred_at, payload)
	SELECT $18, id, 1, $19, $6, '', $12, $20 FROM payment`

// insertCreated stores p with the address it has and its created event in
// one statement (createSQL), coalesced with concurrent ones of its coin
// (insertBatcher).
func (s *Service) insertCreated(ctx context.Context, p *Payment) error {
	ev, err := s.newEvent(p, EventCreated, "", 1, p.CreatedAt)
	if err != nil {
		return err
	}
	return insertError(p, s.execCreated(ctx, p.Coin, insertPaymentArgs(p, [16]byte(ev.ID), EventCreated, ev.Payload)))
}

// attachAndEmit runs attach (when not nil) on the payment just inserted in
// tx, then writes its created event, so the event hooks see what attach
// stored.
func (s *Service) attachAndEmit(ctx context.Context, tx pgx.Tx, p *Payment, attach func(context.Context, pgx.Tx, *Payment) error) error {
	if attach != nil {
		if err := attach(ctx, tx, p); err != nil {
			return err
		}
	}
	return s.emitCreated(ctx, tx, p)
}

// created presents and logs a payment just stored.
func (s *Service) created(ctx context.Context, p *Payment) *Payment {
	s.present(p)
	s.log.InfoContext(ctx, "payment created", "payment_id", p.ID, "coin", p.Coin, "amount", p.Amount.String(), "address", p.Address)
	return p
}

func (s *Service) validate(req CreateRequest, now time.Time) (*Payment, Coin, error) {
	coin, ok := s.coins[strings.ToUpper(strings.TrimSpace(req.Coin))]
	if !ok {
		msg := fmt.Sprintf("currency %q is not supported; use one of %s", req.Coin, strings.Join(s.codes, ", "))
		if req.Coin == "" {
			msg = "currency is required; use one of " + strings.Join(s.codes, ", ")
		}
		return nil, Coin{}, &Error{Code: CodeUnsupportedCurrency, Field: "currency", Message: msg}
	}
	if req.Amount <= 0 || req.Amount > coin.MaxAmount {
		return nil, Coin{}, invalidAmount(fmt.Sprintf("amount must be greater than 0 and at most %s %s", coin.MaxAmount, coin.Code))
	}
	p := &Payment{
		ID:            uuid.New(),
		Coin:          coin.Code,
		Amount:        req.Amount,
		Label:         req.Label,
		Status:        StatusUnpaid,
		Confirmations: coin.Confirmations,
		ToleranceBP:   s.cfg.ToleranceBP,
		OrderID:       req.OrderID,
		Metadata:      req.Metadata,
		API:           cmp.Or(req.API, APITransient),
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := checkText("account", req.Label, maxLabelLen); err != nil {
		return nil, Coin{}, err
	}
	if err := checkText("order_id", req.OrderID, maxOrderIDLen); err != nil {
		return nil, Coin{}, err
	}
	if req.ToleranceBP != nil {
		if bp := *req.ToleranceBP; bp < 0 || bp > 10_000 {
			return nil, Coin{}, invalidField("tolerance", "the payment tolerance must be between 0 and 100 percent")
		}
		p.ToleranceBP = *req.ToleranceBP
	}
	if req.MonitoringWindow != nil {
		if w := *req.MonitoringWindow; w < time.Second || w > MaxMonitoringWindow || w%time.Second != 0 {
			return nil, Coin{}, invalidField("monitoring_window", fmt.Sprintf("the monitoring window must be a whole number of seconds between 1 and %d",
				int64(MaxMonitoringWindow/time.Second)))
		}
		p.MonitoringWindow = *req.MonitoringWindow
	}
	if req.Confirmations != nil {
		if n := *req.Confirmations; n < 0 || n > maxConfirmations {
			return nil, Coin{}, &Error{Code: CodeInvalidConfirmations, Field: "confirmations",
				Message: fmt.Sprintf("confirmations must be between 0 and %d", maxConfirmations)}
		}
		p.Confirmations = *req.Confirmations
		if p.Confirmations == 0 && !coin.ZeroConf {
			return nil, Coin{}, &Error{Code: CodeInvalidConfirmations, Field: "confirmations",
				Message: fmt.Sprintf("confirmations must be at least 1: %s does not accept unconfirmed payments on this server (%s_ZERO_CONF is off)", coin.Code, coin.Code)}
		}
	}
	// The coin's default confirmations fit the server's window (config
	// checks them at start), not necessarily a payment's own.
	if req.Confirmations != nil || req.MonitoringWindow != nil {
		if err := s.checkConfirmationTime(coin.Code, p, req.MonitoringWindow != nil); err != nil {
			return nil, Coin{}, err
		}
	}
	p.SettleConfirmations = max(coin.Confirmations, p.Confirmations)
	if req.SettleConfirmations != nil {
		if n := *req.SettleConfirmations; n < 0 || n > maxConfirmations {
			return nil, Coin{}, &Error{Code: CodeInvalidConfirmations, Field: "settle_confirmations",
				Message: fmt.Sprintf("settle_confirmations must be between 0 and %d", maxConfirmations)}
		}
		p.SettleConfirmations = max(*req.SettleConfirmations, p.Confirmations)
	}
	if len(req.Metadata) > 0 {
		if err := CheckMetadata("metadata", req.Metadata); err != nil {
			return nil, Coin{}, err
		}
	}
	if req.CallbackURL != "" {
		if err := webhook.ValidateCallbackURL(req.CallbackURL, s.cfg.AllowPrivateCallbacks); err != nil {
			return nil, Coin{}, invalidField("callback_url", callbackMessage(err))
		}
		p.CallbackURL = webhook.NormalizeURL(req.CallbackURL)
	}
	if req.RedirectURL != "" {
		u, err := url.Parse(req.RedirectURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(req.RedirectURL) > maxURLLen {
			return nil, Coin{}, invalidField("redirect_url", fmt.Sprintf("redirect_url must be an absolute http or https URL of at most %d bytes", maxURLLen))
		}
		// The buyer's browser receives this URL: credentials in it would
		// be handed to every buyer.
		if u.User != nil {
			return nil, Coin{}, invalidField("redirect_url", "redirect_url must not contain user:password@; the buyer's browser would receive it")
		}
		p.RedirectURL = webhook.NormalizeURL(req.RedirectURL)
	}
	switch {
	case req.ExpiresIn != 0 && !req.ExpiresAt.IsZero():
		return nil, Coin{}, &Error{Code: CodeInvalidExpiry, Field: "expires_in", Message: "give expires_in or expires_at, not both"}
	case req.ExpiresIn != 0:
		if req.ExpiresIn < time.Second || req.ExpiresIn > maxExpiry {
			return nil, Coin{}, &Error{Code: CodeInvalidExpiry, Field: "expires_in",
				Message: fmt.Sprintf("expires_in must be between 1 and %d seconds", int64(maxExpiry/time.Second))}
		}
		p.ExpiresAt = now.Add(req.ExpiresIn)
	case !req.ExpiresAt.IsZero():
		if !req.ExpiresAt.After(now) || req.ExpiresAt.After(now.Add(maxExpiry)) {
			return nil, Coin{}, &Error{Code: CodeInvalidExpiry, Field: "expires_at",
				Message: "expires_at must be in the future and at most one year ahead"}
		}
		p.ExpiresAt = req.ExpiresAt.UTC().Truncate(time.Microsecond)
	case s.cfg.DefaultExpiry > 0:
		p.ExpiresAt = now.Add(s.cfg.DefaultExpiry)
	}
	return p, coin, nil
}

// callbackMessage says why a callback URL was refused, in words for the
// shop.
func callbackMessage(err error) string {
	if errors.Is(err, webhook.ErrAddressRefused) {
		return "callback_url points at a loopback, private or link-local address; use a public address " +
			"(or set WEBHOOK_ALLOW_PRIVATE=true when the shop runs on your network)"
	}
	return fmt.Sprintf("callback_url must be an absolute http or https URL of at most %d bytes, "+
		"with a name or a dotted address (such as 203.0.113.5) as host", maxURLLen)
}

// Get returns the payment with the given id, or an error wrapping
// ErrNotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*Payment, error) {
	p, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.present(p)
	return p, nil
}

// MaxListLimit is the largest page List returns.
const MaxListLimit = 100

// List returns one page of payments, newest first. An unknown coin or status
// or a bad cursor fails with an *Error.
func (s *Service) List(ctx context.Context, f ListFilter) (*Page, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return nil, &Error{Code: CodeInvalidFilter, Field: "limit", Message: fmt.Sprintf("limit must be between 1 and %d", MaxListLimit)}
	}
	for _, st := range f.Statuses {
		if !st.Valid() {
			return nil, &Error{Code: CodeInvalidFilter, Field: "status",
				Message: fmt.Sprintf("status %q is not one of UNPAID, PARTIAL, PENDING, PAID, EXPIRED, INVALID", st)}
		}
	}
	if f.Coin != "" {
		f.Coin = strings.ToUpper(f.Coin)
		if _, ok := s.coins[f.Coin]; !ok {
			return nil, &Error{Code: CodeUnsupportedCurrency, Field: "currency",
				Message: fmt.Sprintf("currency %q is not supported; use one of %s", f.Coin, strings.Join(s.codes, ", "))}
		}
	}
	page, err := s.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, p := range page.Payments {
		s.present(p)
	}
	return page, nil
}

// present fills the fields computed from configuration.
func (s *Service) present(p *Payment) {
	scheme := ""
	if c, ok := s.coins[p.Coin]; ok {
		scheme = c.URIScheme
	}
	if scheme == "" {
		scheme = strings.ToLower(p.Coin)
	}
	p.URI = BIP21(scheme, p.Address, p.Amount)
}

// checkConfirmationTime refuses confirmations that the coin is not expected
// to reach within p's monitoring window (its own, or the server's): a
// payment is watched for the window, and one that asks for more depth than
// the chain makes in that time cannot be expected to become PAID in it.
// The refusal names monitoring_window when own says the request set the
// window, confirmations otherwise.
func (s *Service) checkConfirmationTime(code string, p *Payment, own bool) error {
	w := p.Window(s.cfg.MonitoringWindow)
	if w <= 0 {
		return nil
	}
	n := p.Confirmations
	if d := coind.ConfirmationTime(code, n); d > w {
		interval := coind.BlockInterval(code)
		if own {
			return invalidField("monitoring_window",
				fmt.Sprintf("confirmations %d take about %s on %s (a block every %s), longer than the monitoring window of %s; "+
					"ask for a window of at least %s or at most %d confirmations", n, d, code, interval, w, d, int64(w/interval)))
		}
		return &Error{Code: CodeInvalidConfirmations, Field: "confirmations",
			Message: fmt.Sprintf("confirmations %d take about %s on %s (a block every %s), longer than the monitoring window of %s; ask for at most %d",
				n, d, code, interval, w, int64(w/interval))}
	}
	return nil
}

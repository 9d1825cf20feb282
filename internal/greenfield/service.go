package greenfield

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Config configures a Service.
type Config struct {
	Pool     *pgxpool.Pool
	Payments *payments.Service
	// Rates converts fiat prices; nil (or one without sources) accepts only
	// prices in a coin.
	Rates *rates.Service
	// Nodes reports each coin node's sync state for server/info; a coin
	// without one counts as synced.
	Nodes map[string]SyncReporter
	// PublicURL is the base URL buyers and shops reach transientd at
	// (PUBLIC_URL); "" means each request's own scheme and host.
	PublicURL string
	// CompleteConfirmations is, per coin, the confirmations after which a
	// paid invoice is Settled (the coin's configured confirmations).
	CompleteConfirmations map[string]int64
	// InvoiceExpiry applies to invoices without checkout.expirationMinutes.
	InvoiceExpiry time.Duration
	// MonitoringWindow is the server's monitoring window (payments'), told
	// to shops in checkout.monitoringMinutes of invoices without their own.
	MonitoringWindow time.Duration
	// AllowPrivateWebhooks accepts webhook URLs on loopback, private and
	// link-local addresses (WEBHOOK_ALLOW_PRIVATE).
	AllowPrivateWebhooks bool
	// Sources finds a request's client address; nil means the connection's.
	Sources *throttle.Sources
	// AuthFailures limits failed key checks per client address, shared
	// with the other APIs; nil means no limit.
	AuthFailures *throttle.Limiter
	// Version is the software version reported by server/info.
	Version string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Service is the Greenfield API over the payments service. It is safe for
// concurrent use.
type Service struct {
	cfg    Config
	stores *Stores
	log    *slog.Logger
	outbox *webhook.Outbox // set by AddWebhooks (webhook_store.go); nil: no webhooks
}

// New returns a Service. Mount its routes with Mount.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InvoiceExpiry <= 0 {
		cfg.InvoiceExpiry = 15 * time.Minute
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg, stores: NewStores(cfg.Pool, cfg.Now), log: cfg.Logger}
}

// Stores returns the service's store and key storage.
func (s *Service) Stores() *Stores { return s.stores }

// Mount adds the Greenfield routes under /api/v1, and /i/{id}, the
// checkout link of an invoice. Every /api/v1 route needs
// "Authorization: token <key>"; each store route also checks the key's
// permission for the store named by {storeId}.
func (s *Service) Mount(r chi.Router) {
	r.Get("/i/{id}", s.handle(s.checkoutLink))
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		r.NotFound(s.handle(func(http.ResponseWriter, *http.Request) error {
			return Fail(http.StatusNotFound, CodeNotFound, "no such Greenfield route; Transient serves the invoice and webhook parts of the Greenfield API")
		}))
		r.MethodNotAllowed(s.handle(func(http.ResponseWriter, *http.Request) error {
			return Fail(http.StatusMethodNotAllowed, "method-not-allowed", "this route does not accept that method")
		}))
		r.Get("/api-keys/current", s.handle(s.currentKey))
		r.Get("/server/info", s.handle(s.serverInfo))
		r.Get("/stores", s.handle(s.listStores))
		const store, invoice = "/stores/{storeId}", "/stores/{storeId}/invoices/{invoiceId}"
		r.With(s.Require(PermViewStoreSettings)).Get(store, s.handle(s.getStore))
		r.With(s.Require(PermViewStoreSettings)).Get(store+"/payment-methods", s.handle(s.storePaymentMethods))
		r.With(s.Require(PermViewInvoices)).Get(store+"/invoices", s.handle(s.listInvoices))
		r.With(s.Require(PermCreateInvoice)).Post(store+"/invoices", s.handle(s.createInvoice))
		r.With(s.Require(PermViewInvoices)).Get(invoice, s.handle(s.getInvoice))
		r.With(s.Require(PermModifyInvoices)).Put(invoice, s.handle(s.updateInvoice))
		r.With(s.Require(PermModifyInvoices)).Delete(invoice, s.handle(s.archiveInvoice))
		r.With(s.Require(PermModifyInvoices)).Post(invoice+"/unarchive", s.handle(s.unarchiveInvoice))
		r.With(s.Require(PermViewInvoices)).Get(invoice+"/payment-methods", s.handle(s.invoicePaymentMethods))
		r.With(s.Require(PermModifyInvoices)).Post(invoice+"/status", s.handle(s.markInvoice))
		s.webhookRoutes(r)
	})
}

// baseURL is where buyers reach transientd: PUBLIC_URL, or this request's
// scheme and host.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Package api is Transient's HTTP interface: the routes, their request and
// response types, authentication, QR codes and the one table that maps
// errors to HTTP statuses. Handlers decode, validate, make one service call
// and encode; the rules live in package payments.
package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/throttle"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Config wires a Server.
type Config struct {
	Payments *payments.Service
	// Keys checks the API keys of merchant routes.
	Keys KeyChecker
	// AllowUnauthenticated lets requests without any API key use the
	// merchant routes (ALLOW_UNAUTHENTICATED). A key that is sent is still
	// checked.
	AllowUnauthenticated bool
	// NotifyToken authenticates the hook binaries; "" disables the
	// notification routes.
	NotifyToken string
	// Webhooks is the outbox behind the delivery log and redeliveries; nil
	// when webhooks are not wired.
	Webhooks *webhook.Outbox
	// Mounts add the routes of other parts (the BitPay API, the checkout
	// page) to the router, beside the API's own.
	Mounts []func(chi.Router)
	// RequestTimeout bounds every request; default 30s.
	RequestTimeout time.Duration
	// Ready runs the checks of GET /readyz; nil reports ready with no
	// checks.
	Ready *health.Checker
	// Metrics, when set, counts every request and every accepted hint.
	Metrics *metrics.Metrics
	// ServeMetrics adds GET /metrics (Metrics' registry) to the routes. The
	// daemon leaves it off when METRICS_ADDR gives /metrics its own
	// listener.
	ServeMetrics bool
	// Sources finds the client of a request for the rate limits; nil means
	// the connection's address.
	Sources *throttle.Sources
	// AuthFailures limits failed authentication per source (API keys and
	// NOTIFY_TOKEN); a source past it gets 429 without its credential
	// being checked. nil means no limit. Share it with the other parts so
	// that failures on every route count together.
	AuthFailures *throttle.Limiter
	// Logger receives a line per request and the errors of failed ones.
	// Records logged with a request's context carry its request_id.
	Logger *slog.Logger
}

// Server serves the HTTP API.
type Server struct {
	payments    *payments.Service
	webhooks    *webhook.Outbox
	mounts      []func(chi.Router)
	keys        KeyChecker
	openAccess  bool
	notifyToken []byte // SHA-256 of NOTIFY_TOKEN; nil when unset
	timeout     time.Duration
	ready       *health.Checker
	metrics     *metrics.Metrics
	showMetrics bool
	sources     *throttle.Sources
	authFails   *throttle.Limiter
	log         *slog.Logger
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	s := &Server{
		payments:    cfg.Payments,
		webhooks:    cfg.Webhooks,
		mounts:      cfg.Mounts,
		keys:        cfg.Keys,
		openAccess:  cfg.AllowUnauthenticated,
		timeout:     cfg.RequestTimeout,
		ready:       cfg.Ready,
		metrics:     cfg.Metrics,
		showMetrics: cfg.ServeMetrics && cfg.Metrics != nil,
		sources:     cfg.Sources,
		authFails:   cfg.AuthFailures,
		log:         cfg.Logger,
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = slog.New(WithRequestID(s.log.Handler()))
	if s.keys == nil {
		s.keys = StaticKeys(nil)
	}
	if cfg.NotifyToken != "" {
		sum := sha256.Sum256([]byte(cfg.NotifyToken))
		s.notifyToken = sum[:]
	}
	return s.routes()
}

// routes lists every route of the API in one place. openapi/openapi.yaml
// describes each of them; TestRoutesMatchOpenAPI keeps the two in step.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(requestID)
	r.Use(s.observe)
	r.Use(s.recoverer)
	r.Use(limitBody)
	r.Use(safeHeaders)
	r.Use(s.deadline)

	r.NotFound(s.handle(func(http.ResponseWriter, *http.Request) error {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such route; GET /openapi.yaml describes the API"}
	}))
	r.MethodNotAllowed(s.handle(func(http.ResponseWriter, *http.Request) error {
		return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "this route does not accept that method"}
	}))

	// GET /payments/{id} is the busiest route (shops poll it): routed here
	// rather than in the /payments subrouter, it is matched once, not by
	// this router and again by the subrouter. Its pattern, in the log and
	// the metrics, is the same.
	r.Get("/payments/{id}", s.handle(s.getPayment))
	r.Route("/payments", func(r chi.Router) {
		r.With(s.requireKey).Post("/", s.handle(s.createPayment))
		r.With(s.requireKey).Get("/", s.handle(s.listPayments))
		r.Get("/{id}/qrcode.png", s.handle(s.paymentQRCode))
		r.With(s.requireKey).Get("/{id}/events", s.handle(s.listEvents))
	})
	r.With(s.requireKey).Post("/events/{id}/redeliver", s.handle(s.redeliverEvent))
	r.Route("/notify", func(r chi.Router) {
		r.Use(s.requireNotifyToken)
		r.Use(peekHint)
		r.Post("/tx", s.handle(s.notifyTx))
		r.Post("/block", s.handle(s.notifyBlock))
	})

	// Operations: liveness, readiness, metrics and this API's description.
	r.Get("/healthz", s.handle(s.healthz))
	r.Get("/readyz", s.handle(s.readyz))
	r.Get("/openapi.yaml", s.handle(serveOpenAPI))
	if s.showMetrics {
		r.Method(http.MethodGet, "/metrics", s.metrics.Handler())
	}

	// The routes of the other parts (BitPay: /tokens, /invoices, /rates;
	// checkout: /payments/{id}/checkout, /stream). Each must be described in
	// openapi/openapi.yaml too, in the section kept for it.
	for _, mount := range s.mounts {
		mount(r)
	}
	return r
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(http.ResponseWriter, *http.Request) error

// handle adapts a handlerFunc: a returned error is written by writeError.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

// recoverer turns a panic into a logged 500 with the JSON error shape.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "request_id", middleware.GetReqID(r.Context()), "panic", v)
				writeError(w, r, s.log, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body at maxBodyBytes.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// safeHeaders sets the headers every answer starts with: nothing is cached
// by browsers or shared caches (payment JSON is per payment and changes),
// and no answer is sniffed into another type. A handler may replace
// Cache-Control (the QR code's immutable caching does).
func safeHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// isStreamPath reports whether path is GET /payments/{id}/stream's, the one
// route that lives longer than a request deadline.
func isStreamPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/payments/")
	if !ok {
		return false
	}
	id, ok := strings.CutSuffix(rest, "/stream")
	return ok && id != "" && !strings.Contains(id, "/")
}

// deadline bounds the time a request may spend in the service.
func (s *Server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The checkout page's event stream is long-lived by design and
		// bounds its own lifetime. The route decides, not the Accept
		// header, which any request can send.
		if isStreamPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

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
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Config wires a Server.
type Config struct {
	Payments *payments.Service
	// Keys checks the API keys of merchant routes.
	Keys KeyChecker
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
	Logger         *slog.Logger
}

// Server serves the HTTP API.
type Server struct {
	payments    *payments.Service
	webhooks    *webhook.Outbox
	mounts      []func(chi.Router)
	keys        KeyChecker
	notifyToken []byte // SHA-256 of NOTIFY_TOKEN; nil when unset
	timeout     time.Duration
	log         *slog.Logger
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	s := &Server{
		payments: cfg.Payments,
		webhooks: cfg.Webhooks,
		mounts:   cfg.Mounts,
		keys:     cfg.Keys,
		timeout:  cfg.RequestTimeout,
		log:      cfg.Logger,
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.keys == nil {
		s.keys = StaticKeys(nil)
	}
	if cfg.NotifyToken != "" {
		sum := sha256.Sum256([]byte(cfg.NotifyToken))
		s.notifyToken = sum[:]
	}
	return s.routes()
}

// routes lists every route of the API in one place.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(s.recoverer)
	r.Use(limitBody)
	r.Use(s.deadline)

	r.NotFound(s.handle(func(http.ResponseWriter, *http.Request) error {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such route; see the README for the API"}
	}))
	r.MethodNotAllowed(s.handle(func(http.ResponseWriter, *http.Request) error {
		return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "this route does not accept that method"}
	}))

	r.Route("/payments", func(r chi.Router) {
		r.With(s.requireKey).Post("/", s.handle(s.createPayment))
		r.With(s.requireKey).Get("/", s.handle(s.listPayments))
		r.Get("/{id}", s.handle(s.getPayment))
		r.Get("/{id}/qrcode.png", s.handle(s.paymentQRCode))
		r.With(s.requireKey).Get("/{id}/events", s.handle(s.listEvents))
	})
	r.With(s.requireKey).Post("/events/{id}/redeliver", s.handle(s.redeliverEvent))
	r.Route("/notify", func(r chi.Router) {
		r.Use(s.requireNotifyToken)
		r.Post("/tx", s.handle(s.notifyTx))
		r.Post("/block", s.handle(s.notifyBlock))
	})
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

// deadline bounds the time a request may spend in the service.
func (s *Server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

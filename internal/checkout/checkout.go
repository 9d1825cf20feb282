package checkout

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/transient-gateway/transient/internal/payments"
)

// Config wires a Server.
type Config struct {
	// Source reads payments. Required.
	Source Source
	// Hub feeds the live streams. Required.
	Hub *Hub
	// Done, when closed, ends every open stream and refuses new ones: close
	// it when shutdown begins, before the HTTP server drains.
	Done <-chan struct{}
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Heartbeat, MaxStream and Retry tune the streams; defaults
	// DefaultHeartbeat, DefaultMaxStream and DefaultRetry. A stream also
	// ends shortly before its request's deadline.
	Heartbeat time.Duration
	MaxStream time.Duration
	Retry     time.Duration
	// MaxStreams bounds the streams open at once on this server, and
	// MaxStreamsPerPayment those of one payment (STREAM_MAX_OPEN,
	// STREAM_MAX_PER_PAYMENT); defaults DefaultMaxStreams and
	// DefaultMaxStreamsPerPayment. A stream beyond either is answered 503
	// with Retry-After, and the page polls instead: every stream holds a
	// connection and a file descriptor, which the rest of the API needs too.
	MaxStreams           int
	MaxStreamsPerPayment int
	// FrameAncestors lists the origins that may show the page in a frame
	// (CHECKOUT_FRAME_ANCESTORS); empty means none may.
	FrameAncestors []string
	Logger         *slog.Logger
}

// Server serves the checkout page and its live stream.
type Server struct {
	src       Source
	hub       *Hub
	done      <-chan struct{}
	now       func() time.Time
	heartbeat time.Duration
	maxStream time.Duration
	retry     time.Duration
	slots     *streamSlots
	csp       string
	denyFrame bool
	log       *slog.Logger
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{
		src:       cfg.Source,
		hub:       cfg.Hub,
		done:      cfg.Done,
		now:       cfg.Now,
		heartbeat: cfg.Heartbeat,
		maxStream: cfg.MaxStream,
		retry:     cfg.Retry,
		log:       cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.maxStream <= 0 {
		s.maxStream = DefaultMaxStream
	}
	if s.retry <= 0 {
		s.retry = DefaultRetry
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.done == nil {
		s.done = make(chan struct{})
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxStreamsPerPayment <= 0 {
		cfg.MaxStreamsPerPayment = DefaultMaxStreamsPerPayment
	}
	s.slots = newStreamSlots(cfg.MaxStreams, cfg.MaxStreamsPerPayment)
	ancestors := "'none'"
	if len(cfg.FrameAncestors) > 0 {
		ancestors = strings.Join(cfg.FrameAncestors, " ")
	}
	s.csp = contentSecurityPolicy + "; frame-ancestors " + ancestors
	s.denyFrame = len(cfg.FrameAncestors) == 0
	return s
}

// OpenStreams returns how many streams are open on this server now.
func (s *Server) OpenStreams() int { return s.slots.open() }

// Mount adds the routes GET /payments/{id}/checkout (the page) and
// GET /payments/{id}/stream (its Server-Sent Events) to r.
func (s *Server) Mount(r chi.Router) {
	r.Get("/payments/{id}/checkout", s.page)
	r.Get("/payments/{id}/stream", s.stream)
}

// PageURL returns the address of a payment's checkout page under base, the
// URL buyers reach transientd at (PUBLIC_URL); with base "" the path alone.
func PageURL(base string, id uuid.UUID) string {
	return strings.TrimRight(base, "/") + "/payments/" + id.String() + "/checkout"
}

// page serves GET /payments/{id}/checkout.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	text := chi.URLParam(r, "id")
	id, err := uuid.Parse(text)
	if err != nil || len(text) != 36 {
		s.writeErrorPage(w, r, http.StatusBadRequest, nil)
		return
	}
	p, err := s.src.Get(r.Context(), id)
	if err != nil {
		s.writeErrorPage(w, r, 0, err)
		return
	}
	body, err := renderPage(p, s.now())
	if err != nil {
		s.writeErrorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.writeHTML(w, http.StatusOK, body)
}

// errorPages are the words of the HTML error pages, by status.
var errorPages = map[int]errorView{
	http.StatusBadRequest: {Title: "This payment link is not valid",
		Message: "The link is incomplete or mistyped. Please go back to the shop and open the payment link again."},
	http.StatusNotFound: {Title: "Payment not found",
		Message: "There is no payment at this address. Please go back to the shop and open the payment link again."},
	http.StatusServiceUnavailable: {Title: "Please try again in a moment",
		Message: "The payment page cannot be shown right now. Nothing is lost: reload this page in a minute."},
	http.StatusInternalServerError: {Title: "Something went wrong",
		Message: "The payment page cannot be shown because of an error on our side. Please reload this page; if it keeps failing, contact the shop."},
}

// writeErrorPage answers with an HTML error page. With status 0 the status
// follows from err: payments.ErrNotFound is a 404, a database that cannot
// be reached a 503, anything else a 500. Server errors are logged.
func (s *Server) writeErrorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == 0 {
		switch {
		case errors.Is(err, payments.ErrNotFound):
			status = http.StatusNotFound
		case unavailable(err):
			status = http.StatusServiceUnavailable
		default:
			status = http.StatusInternalServerError
		}
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "checkout: page failed", "request_id", middleware.GetReqID(r.Context()),
			"path", r.URL.Path, "status", status, "err", err)
	}
	v := errorPages[status]
	v.Status = status
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "30")
	}
	s.writeHTML(w, status, renderError(v))
}

// unavailable reports whether err means PostgreSQL could not be reached or
// did not answer in time.
func unavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded)
}

// writeHTML writes an HTML page with the page's security headers. Pages
// change with the payment, so none is cached; no other site may frame them
// (clickjacking of the wallet and return buttons) unless FrameAncestors
// lets it.
func (s *Server) writeHTML(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", s.csp)
	if s.denyFrame {
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

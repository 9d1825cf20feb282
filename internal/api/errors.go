package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/throttle"
)

// Error is an HTTP-level failure with the status, code and message the client
// receives. Handlers return it for problems found before the domain is
// called (bad JSON, wrong content type, bad query parameters).
type Error struct {
	Status  int
	Code    string
	Field   string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// tooManyRequests is the answer to a source past one of its limits.
func tooManyRequests(wait time.Duration, msg string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: msg, RetryAfter: wait}
}

func badRequest(code, field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: msg}
}

// errorBody is the one error shape of the API.
type errorBody struct {
	Success bool        `json:"success"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// classify maps an error to what the client sees. This is the only table
// from errors to HTTP statuses.
func classify(err error) *Error {
	var (
		apiErr  *Error
		domErr  *payments.Error
		nodeErr *payments.UnavailableError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &domErr):
		return &Error{Status: http.StatusBadRequest, Code: domErr.Code, Field: domErr.Field, Message: domErr.Message}
	case errors.Is(err, payments.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no payment has this id"}
	case errors.As(err, &nodeErr):
		return &Error{Status: http.StatusServiceUnavailable, Code: "coin_unavailable",
			Message: fmt.Sprintf("the %s node is not answering; nothing was created, try again shortly", nodeErr.Coin)}
	case errors.Is(err, payments.ErrCoinUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "coin_unavailable",
			Message: "the coin node is not answering; try again shortly"}
	case databaseUnavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "the database is not answering; try again shortly"}
	case payments.DatabaseRefusedInput(err):
		return &Error{Status: http.StatusBadRequest, Code: payments.CodeInvalidField,
			Message: "a value in the request cannot be stored (text with NUL characters or invalid UTF-8, " +
				"a number out of range, or a value outside its allowed form); check the request's text fields"}
	default:
		return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error"}
	}
}

// databaseUnavailable reports whether err means PostgreSQL could not be
// reached or did not answer in time, as opposed to refusing a statement.
func databaseUnavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded)
}

// writeError answers with the error's status and the one error shape. Server
// errors are logged in full and answered with a generic message carrying the
// request id; client errors are answered with their message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := classify(err)
	msg := e.Message
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", throttle.RetryAfter(e.RetryAfter))
	}
	if e.Status == http.StatusBadRequest && payments.DatabaseRefusedInput(err) {
		// Validation missed this value: worth knowing, not an outage.
		log.WarnContext(r.Context(), "database refused a request's value", "request_id", middleware.GetReqID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Status >= 500 {
		reqID := middleware.GetReqID(r.Context())
		log.ErrorContext(r.Context(), "request failed", "request_id", reqID, "method", r.Method,
			"path", r.URL.Path, "status", e.Status, "err", err)
		if e.Status == http.StatusInternalServerError {
			msg = "internal error; quote request id " + reqID + " when reporting it"
		}
	}
	writeJSON(w, e.Status, errorBody{Error: errorDetail{Code: e.Code, Message: msg, Field: e.Field}})
}

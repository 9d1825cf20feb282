package apiwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/transient-gateway/transient/internal/payments"
)

// Error is a failure with the status, code and message the client
// receives. The interfaces return it for problems found before the domain
// is called (bad JSON, wrong content type, bad parameters); Classify makes
// one of every other error.
type Error struct {
	Status  int
	Code    string
	Field   string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// BadRequest returns a 400 Error.
func BadRequest(code, field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: msg}
}

// ErrorBody is the one error shape of the API.
type ErrorBody struct {
	Success bool        `json:"success"`
	Error   ErrorDetail `json:"error"`
}

// ErrorDetail is the error object of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Body returns the error's body, with message instead of e.Message (a
// server error's answer names a request id, not the cause).
func (e *Error) Body(message string) ErrorBody {
	return ErrorBody{Error: ErrorDetail{Code: e.Code, Message: message, Field: e.Field}}
}

// StatusClientClosedRequest is the status recorded for a request whose
// client closed the connection before its answer, as nginx records it. No
// one reads that answer; the status keeps the request out of the server
// errors in logs and metrics, where an alert on 5xx would page someone for
// a shop's impatient client.
const StatusClientClosedRequest = 499

// ClientGone returns the error to record when err only says that ctx, the
// request's context, ended because the client went away (net/http cancels
// it when the connection closes), and nil otherwise. A cancellation while
// the request's context is live is the server's own failure and stays with
// Classify.
func ClientGone(ctx context.Context, err error) *Error {
	if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
		return nil
	}
	return &Error{Status: StatusClientClosedRequest, Code: "client_closed_request",
		Message: "the client closed the connection before the answer"}
}

// Classify maps an error to what the client sees. This is the only table
// from errors to statuses.
func Classify(err error) *Error {
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
	case errors.Is(err, payments.ErrIdempotencyMismatch):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
			Message: "this idempotency key was used in the last 24 hours for a different request; " +
				"repeat that request unchanged, or use a new key for a new payment"}
	case errors.Is(err, payments.ErrIdempotencyClaimLost):
		return &Error{Status: http.StatusServiceUnavailable, Code: "idempotency_key_busy",
			Message: "this request took too long and was not stored; repeat it with the same idempotency key"}
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
// reached, went away or did not answer in time, as opposed to refusing a
// statement. A server that crashes or shuts down tells the connections it
// had (class 57P: admin or crash shutdown, cannot connect now) or just
// drops them (class 08, or the connection ends mid-answer); a pooled
// connection that was idle then fails on its next use with one of those.
// A transaction whose connection died ends with pgx's "conn closed" (the
// error of its rollback, which pgx.BeginFunc returns in place of the
// statement's).
func databaseUnavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
		pgErr   *pgconn.PgError
	)
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, pgconn.ErrConnClosed)
}

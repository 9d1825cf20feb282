package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/throttle"
)

// Error is an HTTP-level failure with the status, code and message the client
// receives (apiwire.Error, shared with the AMQP commands).
type Error = apiwire.Error

func badRequest(code, field, msg string) *Error { return apiwire.BadRequest(code, field, msg) }

// tooManyRequests is the answer to a source past one of its limits.
func tooManyRequests(wait time.Duration, msg string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: msg, RetryAfter: wait}
}

// writeError answers with the error's status and the one error shape. Server
// errors are logged in full and answered with a generic message carrying the
// request id; client errors are answered with their message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if gone := apiwire.ClientGone(r.Context(), err); gone != nil {
		log.DebugContext(r.Context(), "client went away before the answer", "request_id", middleware.GetReqID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, gone.Status, gone.Body(gone.Message))
		return
	}
	e := apiwire.Classify(err)
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
	writeJSON(w, e.Status, e.Body(msg))
}

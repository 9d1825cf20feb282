package api

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/transient-gateway/transient/internal/apiwire"
)

// Error is an HTTP-level failure with the status, code and message the client
// receives (apiwire.Error, shared with the AMQP commands).
type Error = apiwire.Error

func badRequest(code, field, msg string) *Error { return apiwire.BadRequest(code, field, msg) }

// writeError answers with the error's status and the one error shape. Server
// errors are logged in full and answered with a generic message carrying the
// request id; client errors are answered with their message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := apiwire.Classify(err)
	msg := e.Message
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

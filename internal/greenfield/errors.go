package greenfield

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
)

// Sentinel errors of the package.
var (
	// ErrStoreNotFound means no store has the given id.
	ErrStoreNotFound = errors.New("greenfield: store not found")
	// ErrInvoiceNotFound means the store has no invoice with the given id.
	ErrInvoiceNotFound = errors.New("greenfield: invoice not found")
	// ErrKeyNotFound means no API key has the given id or prefix.
	ErrKeyNotFound = errors.New("greenfield: API key not found")
)

// Error codes of the {code, message} error shape, as BTCPay names them.
const (
	CodeUnauthenticated   = "unauthenticated"
	CodeMissingPermission = "missing-permission"
	CodeStoreNotFound     = "store-not-found"
	CodeInvoiceNotFound   = "invoice-not-found"
	CodeWebhookNotFound   = "webhook-not-found"
	CodeNotFound          = "not-found"
	CodeInvalidRequest    = "invalid-request"
	CodeUnavailable       = "service-unavailable"
	CodeTooManyRequests   = "too-many-requests"
	CodeInternal          = "internal-error"
)

// FieldError is one entry of a 422 validation answer: Path names the
// request field (as BTCPay spells it, e.g. "checkout.speedPolicy") and
// Message says what is wrong.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ValidationError is a request refused field by field: it is answered 422
// with the array of its FieldErrors.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	if len(v) == 0 {
		return "invalid request"
	}
	return v[0].Path + ": " + v[0].Message
}

// Invalid returns a ValidationError for one field.
func Invalid(path, format string, args ...any) error {
	return ValidationError{{Path: path, Message: fmt.Sprintf(format, args...)}}
}

// APIError is a refusal answered with Greenfield's {code, message} shape.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // 0 means no Retry-After header
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Fail returns an *APIError.
func Fail(status int, code, format string, args ...any) error {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorBody is the {code, message} shape.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// classify maps an error to what the client sees: the one table from
// errors to statuses of the Greenfield API. A ValidationError is returned
// as is (422); everything else becomes an *APIError.
func classify(err error) (ValidationError, *APIError) {
	var (
		valErr  ValidationError
		apiErr  *APIError
		domErr  *payments.Error
		rateErr *rates.UnavailableError
		wireErr *apiwire.Error
	)
	switch {
	case errors.As(err, &valErr):
		return valErr, nil
	case errors.As(err, &apiErr):
		return nil, apiErr
	case errors.As(err, &domErr):
		return ValidationError{{Path: domErr.Field, Message: domErr.Message}}, nil
	case errors.Is(err, ErrStoreNotFound):
		return nil, &APIError{Status: http.StatusNotFound, Code: CodeStoreNotFound, Message: "the store was not found"}
	case errors.Is(err, ErrInvoiceNotFound):
		return nil, &APIError{Status: http.StatusNotFound, Code: CodeInvoiceNotFound, Message: "the invoice was not found"}
	case errors.As(err, &rateErr):
		return nil, &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: rateErr.Error()}
	case errors.As(err, &wireErr) && wireErr.Status < 500:
		// Body decoding problems (malformed JSON, wrong types, too large).
		if wireErr.Field != "" && wireErr.Status == http.StatusBadRequest {
			return ValidationError{{Path: wireErr.Field, Message: wireErr.Message}}, nil
		}
		return nil, &APIError{Status: wireErr.Status, Code: CodeInvalidRequest, Message: wireErr.Message}
	}
	// Node, database and refused-input errors: the payments API's one
	// table says which, and a refused value is the client's (400).
	c := apiwire.Classify(err)
	switch {
	case c.Status == http.StatusBadRequest:
		return nil, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: c.Message}
	case c.Status == http.StatusServiceUnavailable:
		return nil, &APIError{Status: c.Status, Code: CodeUnavailable, Message: c.Message}
	case c.Status < 500:
		return nil, &APIError{Status: c.Status, Code: c.Code, Message: c.Message}
	default:
		return nil, &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	}
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(http.ResponseWriter, *http.Request) error

// handle adapts a handlerFunc: a returned error is written by WriteError.
func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.WriteError(w, r, err)
		}
	}
}

// WriteError answers err in Greenfield's shapes: 422 with [{path,
// message}] for a ValidationError, {code, message} with the status of the
// error table otherwise. Server errors are logged in full and answered
// with the request id only.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if gone := apiwire.ClientGone(r.Context(), err); gone != nil {
		s.log.DebugContext(r.Context(), "client went away before the answer", "request_id",
			middleware.GetReqID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
		WriteJSON(w, gone.Status, errorBody{Code: gone.Code, Message: gone.Message})
		return
	}
	valErr, apiErr := classify(err)
	if valErr != nil {
		s.log.DebugContext(r.Context(), "greenfield request refused", "method", r.Method, "path", r.URL.Path,
			"status", http.StatusUnprocessableEntity, "reason", valErr.Error())
		WriteJSON(w, http.StatusUnprocessableEntity, valErr)
		return
	}
	msg := apiErr.Message
	if apiErr.Status >= 500 {
		reqID := middleware.GetReqID(r.Context())
		s.log.ErrorContext(r.Context(), "greenfield request failed", "request_id", reqID, "method", r.Method,
			"path", r.URL.Path, "status", apiErr.Status, "err", err)
		if apiErr.Status == http.StatusInternalServerError {
			msg = "internal error; quote request id " + reqID + " when reporting it"
		}
	} else {
		s.log.DebugContext(r.Context(), "greenfield request refused", "method", r.Method, "path", r.URL.Path,
			"status", apiErr.Status, "reason", msg)
	}
	if apiErr.RetryAfter > 0 {
		w.Header().Set("Retry-After", throttle.RetryAfter(apiErr.RetryAfter))
	}
	WriteJSON(w, apiErr.Status, errorBody{Code: apiErr.Code, Message: msg})
}

// WriteJSON encodes v into a buffer before writing headers and status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"code":"internal-error","message":"internal error"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// tooMany is the answer to a client address past its failed-auth limit.
func tooMany(wait time.Duration) error {
	return &APIError{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests,
		Message: "too many failed authentication attempts from this address; try again later", RetryAfter: wait}
}

package api

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
)

// publicPaymentResponse is GET /payments/{id} without an API key.
type publicPaymentResponse struct {
	Success bool                       `json:"success"`
	Payment payments.PublicPaymentJSON `json:"payment"`
}

type paymentListResponse struct {
	Success    bool                   `json:"success"`
	Payments   []payments.PaymentJSON `json:"payments"`
	NextCursor *string                `json:"next_cursor"`
}

// IdempotencyKeyHeader names a payment creation: POST /payments repeated
// with the same key within 24 hours returns the payment the first made.
const IdempotencyKeyHeader = "Idempotency-Key"

// replayedHeader marks the answer to a repeated request.
const replayedHeader = "Idempotent-Replayed"

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) error {
	var body apiwire.CreatePaymentRequest
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	req, err := body.CreateRequest()
	if err != nil {
		return err
	}
	var p *payments.Payment
	created := true
	if key, ok := r.Header[http.CanonicalHeaderKey(IdempotencyKeyHeader)]; ok {
		if len(key) != 1 || !payments.ValidIdempotencyKey(key[0]) {
			return badRequest("invalid_idempotency_key", IdempotencyKeyHeader,
				"Idempotency-Key must be given once, 1 to 255 bytes of printable text, e.g. a UUID")
		}
		p, created, err = s.payments.CreateOnce(r.Context(), payments.IdempotencyKey{Scope: payments.ScopeHTTP, Key: key[0]}, req)
	} else {
		p, err = s.payments.Create(r.Context(), req)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/payments/"+p.ID.String())
	if !created {
		w.Header().Set(replayedHeader, "true")
	}
	writePayment(w, http.StatusCreated, p.JSON())
	return nil
}

// getPayment answers GET /payments/{id}: the whole payment with an API key,
// the public view (what the payer needs) without one.
func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) error {
	full, err := s.checkKey(w, r)
	if err != nil {
		return err
	}
	p, err := s.loadPayment(r)
	if err != nil {
		return err
	}
	if !full {
		writePublicPayment(w, p.JSON().Public())
		return nil
	}
	writePayment(w, http.StatusOK, p.JSON())
	return nil
}

// writePublicPayment answers 200 with publicPaymentResponse{Success: true,
// Payment: j}, the bytes writeJSON would write, through j's AppendJSON
// rather than reflection (TestPaymentBodiesMatchWriteJSON).
func writePublicPayment(w http.ResponseWriter, j payments.PublicPaymentJSON) {
	if !writeAppended(w, http.StatusOK, j) {
		writeJSON(w, http.StatusOK, publicPaymentResponse{Success: true, Payment: j})
	}
}

// writePayment answers status with apiwire.PaymentResponse{Success: true,
// Payment: j} as writePublicPayment does.
func writePayment(w http.ResponseWriter, status int, j payments.PaymentJSON) {
	if !writeAppended(w, status, j) {
		writeJSON(w, status, apiwire.PaymentResponse{Success: true, Payment: j})
	}
}

// writeAppended answers status with {"success":true,"payment":j} encoded
// by j's AppendJSON into a pooled buffer; false, having written nothing,
// when AppendJSON declines j (the caller then writes it with reflection).
// A type parameter rather than an interface keeps j off the heap.
func writeAppended[J interface {
	AppendJSON([]byte) ([]byte, bool)
}](w http.ResponseWriter, status int, j J) bool {
	buf := paymentBuffers.Get().(*[]byte)
	defer putPaymentBuffer(buf)
	body, ok := j.AppendJSON(append((*buf)[:0], `{"success":true,"payment":`...))
	if !ok {
		return false
	}
	body = append(body, "}\n"...)
	writeBody(w, status, body)
	*buf = body
	return true
}

// paymentBuffers holds the buffers payment answers are encoded into: the
// body is copied into the connection's buffer by Write, so a buffer can
// serve the next answer, and a read does not leave a kilobyte for the
// garbage collector.
var paymentBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 2048)
	return &b
}}

// putPaymentBuffer returns buf to paymentBuffers, unless an unusual payment
// (hundreds of outputs) grew it past what is worth keeping.
func putPaymentBuffer(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		paymentBuffers.Put(buf)
	}
}

// loadPayment reads the payment named by the {id} path parameter.
func (s *Server) loadPayment(r *http.Request) (*payments.Payment, error) {
	id, err := parseID(chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return s.payments.Get(r.Context(), id)
}

func parseID(text string) (uuid.UUID, error) { return apiwire.ParseID(text) }

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "status", "currency", "order_id", "created_after", "created_before", "limit", "cursor":
		default:
			field := key
			if !payments.ValidText(key) {
				field = "" // it cannot be named in JSON as sent; the message quotes it
			}
			return badRequest("unknown_parameter", field, "unknown query parameter "+strconv.Quote(key)+
				"; use status, currency, order_id, created_after, created_before, limit or cursor")
		}
	}
	for key, values := range q {
		for _, v := range values {
			if !payments.ValidText(v) {
				return badRequest(payments.CodeInvalidFilter, key, key+" must be valid UTF-8 without NUL characters")
			}
		}
	}
	f := payments.ListFilter{
		Coin:    q.Get("currency"),
		OrderID: q.Get("order_id"),
		Cursor:  q.Get("cursor"),
	}
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			f.Statuses = append(f.Statuses, payments.Status(strings.ToUpper(strings.TrimSpace(st))))
		}
	}
	for _, tf := range []struct {
		key string
		dst *time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if v := q.Get(tf.key); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return badRequest(payments.CodeInvalidFilter, tf.key, tf.key+" must be a date-time in RFC 3339 form, e.g. 2026-01-02T15:04:05Z")
			}
			*tf.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > payments.MaxListLimit {
			return badRequest(payments.CodeInvalidFilter, "limit", "limit must be an integer between 1 and 100")
		}
		f.Limit = n
	}
	page, err := s.payments.List(r.Context(), f)
	if err != nil {
		return err
	}
	resp := paymentListResponse{Success: true, Payments: make([]payments.PaymentJSON, 0, len(page.Payments))}
	for _, p := range page.Payments {
		resp.Payments = append(resp.Payments, p.JSON())
	}
	if page.NextCursor != "" {
		resp.NextCursor = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

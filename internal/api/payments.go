package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
)

// createPaymentRequest is the body of POST /payments. The field names are
// the Python Transient's, kept so its clients work unchanged.
type createPaymentRequest struct {
	Currency      string          `json:"currency"`
	Amount        json.RawMessage `json:"amount"`
	Account       string          `json:"account"`
	OrderID       string          `json:"order_id"`
	Metadata      json.RawMessage `json:"metadata"`
	ExpiresIn     *int64          `json:"expires_in"`
	ExpiresAt     string          `json:"expires_at"`
	Confirmations *int64          `json:"confirmations"`
	CallbackURL   string          `json:"callback_url"`
	RedirectURL   string          `json:"redirect_url"`
}

type paymentResponse struct {
	Success bool                 `json:"success"`
	Payment payments.PaymentJSON `json:"payment"`
}

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

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) error {
	var body createPaymentRequest
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	amount, err := payments.ParseAmountJSON(body.Amount)
	if err != nil {
		return err
	}
	req := payments.CreateRequest{
		Coin:          body.Currency,
		Amount:        amount,
		Label:         body.Account,
		OrderID:       body.OrderID,
		Confirmations: body.Confirmations,
		CallbackURL:   body.CallbackURL,
		RedirectURL:   body.RedirectURL,
	}
	if len(body.Metadata) > 0 && string(body.Metadata) != "null" {
		req.Metadata = body.Metadata
	}
	if body.ExpiresIn != nil {
		if *body.ExpiresIn <= 0 || *body.ExpiresIn > int64(365*24*time.Hour/time.Second) {
			return badRequest(payments.CodeInvalidExpiry, "expires_in", "expires_in must be a number of seconds between 1 and 31536000")
		}
		req.ExpiresIn = time.Duration(*body.ExpiresIn) * time.Second
	}
	if body.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, body.ExpiresAt)
		if err != nil {
			return badRequest(payments.CodeInvalidExpiry, "expires_at", "expires_at must be a date-time in RFC 3339 form, e.g. 2026-01-02T15:04:05Z")
		}
		req.ExpiresAt = t
	}
	p, err := s.payments.Create(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/payments/"+p.ID.String())
	writeJSON(w, http.StatusCreated, paymentResponse{Success: true, Payment: p.JSON()})
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
		writeJSON(w, http.StatusOK, publicPaymentResponse{Success: true, Payment: p.JSON().Public()})
		return nil
	}
	writeJSON(w, http.StatusOK, paymentResponse{Success: true, Payment: p.JSON()})
	return nil
}

// loadPayment reads the payment named by the {id} path parameter.
func (s *Server) loadPayment(r *http.Request) (*payments.Payment, error) {
	id, err := parseID(chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return s.payments.Get(r.Context(), id)
}

func parseID(text string) (uuid.UUID, error) {
	id, err := uuid.Parse(text)
	if err != nil || len(text) != 36 {
		return uuid.Nil, badRequest("invalid_id", "id", "the payment id must be a UUID such as 7d444840-9dc0-11d1-b245-5ffdce74fad2")
	}
	return id, nil
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "status", "currency", "order_id", "created_after", "created_before", "limit", "cursor":
		default:
			return badRequest("unknown_parameter", key, "unknown query parameter "+strconv.Quote(key)+
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

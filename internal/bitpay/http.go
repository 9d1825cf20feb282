package bitpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
)

// maxBodyBytes bounds a request body.
const maxBodyBytes = 64 << 10

// Mount adds the BitPay routes to r, each with and without a trailing
// slash, as BitPay clients use both:
//
//	POST /tokens            pair (unsigned)
//	POST /invoices          create an invoice (signed)
//	GET  /invoices/{id}     read an invoice (signed)
//	GET  /invoices          list the token's invoices (signed)
//	GET  /rates             rates of a coin (signed when it carries a token)
//	GET  /rates/{base}[/{currency}]
func (s *Service) Mount(r chi.Router) {
	both := func(method, path string, h handlerFunc) {
		r.Method(method, path, s.handle(h))
		r.Method(method, path+"/", s.handle(h))
	}
	both(http.MethodPost, "/tokens", s.postTokens)
	both(http.MethodGet, "/tokens", s.getTokens)
	both(http.MethodPost, "/invoices", s.createInvoice)
	both(http.MethodGet, "/invoices", s.listInvoices)
	both(http.MethodGet, "/invoices/{id}", s.getInvoice)
	both(http.MethodGet, "/rates", s.getRates)
	both(http.MethodGet, "/rates/{base}", s.getRates)
	both(http.MethodGet, "/rates/{base}/{currency}", s.getRate)
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(http.ResponseWriter, *http.Request) error

// apiError is a failure with the status and message the client receives,
// and for a 429 how long the client should wait.
type apiError struct {
	status     int
	msg        string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// tooMany is the answer to a client address past one of its limits.
func tooMany(wait time.Duration, msg string) error {
	return &apiError{status: http.StatusTooManyRequests, msg: msg, retryAfter: wait}
}

// errorBody is BitPay's error shape.
type errorBody struct {
	Error  string        `json:"error"`
	Errors []errorDetail `json:"errors"`
}

type errorDetail struct {
	Error string `json:"error"`
}

// classify maps an error to what the client sees: the one table from
// errors to statuses of the BitPay API.
func classify(err error) *apiError {
	var (
		apiErr      *apiError
		reqErr      *RequestError
		notApproved *NotApprovedError
		rateErr     *rates.UnavailableError
		nodeErr     *payments.UnavailableError
		tooBig      *http.MaxBytesError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &reqErr):
		return &apiError{http.StatusBadRequest, reqErr.Message, 0}
	case errors.As(err, &tooBig):
		return &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the body must be at most %d bytes", maxBodyBytes), 0}
	case errors.As(err, &notApproved):
		return &apiError{http.StatusForbidden, notApproved.Error(), 0}
	case errors.As(err, &rateErr):
		return &apiError{http.StatusServiceUnavailable, rateErr.Error(), 0}
	case errors.As(err, &nodeErr):
		return &apiError{http.StatusServiceUnavailable, fmt.Sprintf("the %s node is not answering; nothing was created, try again shortly", nodeErr.Coin), 0}
	case errors.Is(err, ErrCodeNotFound), errors.Is(err, ErrInvoiceNotFound):
		return &apiError{http.StatusNotFound, err.Error(), 0}
	case errors.Is(err, ErrTokenUnknown):
		return &apiError{http.StatusUnauthorized, err.Error(), 0}
	case errors.Is(err, ErrTooManyRequests):
		return &apiError{status: http.StatusTooManyRequests, msg: err.Error(), retryAfter: CodeLifetime}
	case errors.Is(err, ErrCodeExpired), errors.Is(err, ErrCodeUsed), errors.Is(err, ErrCodeIsClients),
		errors.Is(err, ErrBadSIN), errors.Is(err, ErrBadLabel):
		return &apiError{http.StatusBadRequest, err.Error(), 0}
	case errors.Is(err, ErrBadIdentity), errors.Is(err, ErrBadSignature), errors.Is(err, ErrSignatureMismatch):
		return &apiError{http.StatusUnauthorized, err.Error(), 0}
	case errors.Is(err, payments.ErrCoinUnavailable):
		return &apiError{http.StatusServiceUnavailable, "the coin node is not answering; try again shortly", 0}
	case payments.DatabaseRefusedInput(err):
		return &apiError{http.StatusBadRequest, "a value in the request cannot be stored (text with NUL characters or " +
			"invalid UTF-8, or a value outside its allowed form); check the request's text fields", 0}
	default:
		return &apiError{http.StatusInternalServerError, "internal error", 0}
	}
}

// handle adapts a handlerFunc, writing a returned error in BitPay's shape.
// Server errors are logged in full and answered with the request id.
func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		if gone := apiwire.ClientGone(r.Context(), err); gone != nil {
			s.log.DebugContext(r.Context(), "client went away before the answer", "request_id",
				middleware.GetReqID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
			writeJSON(w, gone.Status, errorBody{Error: gone.Message, Errors: []errorDetail{{Error: gone.Message}}})
			return
		}
		e := classify(err)
		msg := e.msg
		if e.retryAfter > 0 {
			w.Header().Set("Retry-After", throttle.RetryAfter(e.retryAfter))
		}
		if e.status >= 500 {
			reqID := middleware.GetReqID(r.Context())
			s.log.ErrorContext(r.Context(), "bitpay request failed", "request_id", reqID, "method", r.Method,
				"path", r.URL.Path, "status", e.status, "err", err)
			if e.status == http.StatusInternalServerError {
				msg = "internal error; quote request id " + reqID + " when reporting it"
			}
		} else {
			s.log.DebugContext(r.Context(), "bitpay request refused", "method", r.Method, "path", r.URL.Path,
				"status", e.status, "reason", msg)
		}
		writeJSON(w, e.status, errorBody{Error: msg, Errors: []errorDetail{{Error: msg}}})
	}
}

// writeJSON encodes v into a buffer before writing anything.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"internal error","errors":[{"error":"internal error"}]}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// data is the success shape: {"data": ...}.
func writeData(w http.ResponseWriter, v any) {
	writeJSON(w, http.StatusOK, struct {
		Data any `json:"data"`
	}{v})
}

// readBody reads the whole body (at most maxBodyBytes): the bytes a
// signature covers. A body that is not UTF-8, or holds a lone surrogate
// escape, is refused.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, fail(http.StatusBadRequest, "the body could not be read")
	}
	// JSON is UTF-8; encoding/json would store each invalid byte, and each
	// lone surrogate escape, as U+FFFD, keeping text other than was sent.
	if !utf8.Valid(body) {
		return nil, fail(http.StatusBadRequest, "the body must be UTF-8 text")
	}
	if payments.LoneSurrogate(body) {
		return nil, fail(http.StatusBadRequest, `the body must not hold an unpaired surrogate escape such as "\ud800"`)
	}
	return body, nil
}

// baseURL is what the client signed URLs against: PUBLIC_URL, or this
// request's scheme and host.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// authenticate checks a signed request (checkSigned) and counts its
// failures against the client's address: an address with too many failed
// checks gets 429 before its token is looked at.
func (s *Service) authenticate(r *http.Request, token string, body []byte) (*Token, error) {
	source := s.cfg.Sources.Key(r)
	if blocked, wait := s.cfg.AuthFailures.Blocked(source); blocked {
		return nil, tooMany(wait, "too many failed authentication attempts from this address; try again later")
	}
	tok, err := s.checkSigned(r, token, body)
	if err != nil && classify(err).status == http.StatusUnauthorized {
		s.cfg.AuthFailures.Take(source)
	}
	return tok, err
}

// checkSigned checks a signed request: the token must be known and
// approved, X-Identity must be a key whose SIN is the token's, and
// X-Signature must sign SHA-256(base URL + request target + body) with it.
// The request target is taken as received (path and raw query), never
// rebuilt.
func (s *Service) checkSigned(r *http.Request, token string, body []byte) (*Token, error) {
	if token == "" {
		return nil, fail(http.StatusUnauthorized, "this request needs a token: pair first (POST /tokens) and send the "+
			"token in the JSON body (POST) or as the token query parameter (GET)")
	}
	tok, err := s.pairings.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	identity, signature := r.Header.Get("X-Identity"), r.Header.Get("X-Signature")
	if identity == "" || signature == "" {
		return nil, fail(http.StatusUnauthorized, "this request must be signed: send X-Identity (the client's "+
			"public key) and X-Signature (its signature of the full URL followed by the body)")
	}
	key, err := ParseIdentity(identity)
	if err != nil {
		return nil, err
	}
	if sin := SIN(key); sin != tok.SIN {
		return nil, fail(http.StatusUnauthorized, "the key in X-Identity (SIN %s) is not the key this token was paired "+
			"with: sign with the key that paired, or pair this key with a new pairing code", sin)
	}
	msg := append([]byte(s.baseURL(r)+r.RequestURI), body...)
	if err := VerifySignature(key, msg, signature); err != nil {
		return nil, err
	}
	return tok, nil
}

// tokenRequest is the body of POST /tokens.
type tokenRequest struct {
	ID          string `json:"id"`
	PairingCode string `json:"pairingCode"`
	Label       string `json:"label"`
	Facade      string `json:"facade"`
}

// tokenJSON is one token in the answer of POST /tokens.
type tokenJSON struct {
	Policies          []any  `json:"policies"`
	Token             string `json:"token"`
	Facade            string `json:"facade"`
	Label             string `json:"label"`
	DateCreated       int64  `json:"dateCreated"`
	PairingExpiration int64  `json:"pairingExpiration"`
	PairingCode       string `json:"pairingCode"`
}

// postTokens pairs a client: with a pairingCode it claims the operator's
// code, without one it asks for approval (when client pairing is allowed).
func (s *Service) postTokens(w http.ResponseWriter, r *http.Request) error {
	source := s.cfg.Sources.Key(r)
	if ok, wait := s.cfg.TokenRequests.Allow(source); !ok {
		return tooMany(wait, "too many pairing requests from this address; try again later")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return fail(http.StatusBadRequest, `the body must be a JSON object such as {"id": "<SIN>", "pairingCode": "<code>"}`)
	}
	if req.Facade != "" && req.Facade != FacadeMerchant {
		return fail(http.StatusBadRequest, "facade %q is not available: only the merchant facade is", req.Facade)
	}
	if req.ID == "" {
		return fail(http.StatusBadRequest, "'id' is required: the client's SIN")
	}
	if req.PairingCode != "" && !validCode(strings.TrimSpace(req.PairingCode)) {
		return invalid("pairingCode", "pairingCode must be the %d-character code from transientd pairing create", CodeLength)
	}
	var issued *Issued
	if req.PairingCode != "" {
		issued, err = s.pairings.Claim(r.Context(), req.PairingCode, req.ID, req.Label)
	} else {
		if !s.cfg.ClientPairing {
			return fail(http.StatusForbidden, "client-initiated pairing is disabled here: ask the operator for a pairing "+
				"code (transientd pairing create) and send it as pairingCode")
		}
		issued, err = s.pairings.Request(r.Context(), req.ID, req.Label, source, s.cfg.PairingPerSource)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "bitpay pairing", "code", issued.Code.Code, "origin", issued.Code.Origin,
		"sin", issued.Code.SIN, "label", issued.Code.Label, "source", source)
	writeData(w, []tokenJSON{{
		Policies:          []any{},
		Token:             issued.Token,
		Facade:            issued.Code.Facade,
		Label:             issued.Code.Label,
		DateCreated:       issued.Code.CreatedAt.UnixMilli(),
		PairingExpiration: issued.Code.ExpiresAt.UnixMilli(),
		PairingCode:       issued.Code.Code,
	}})
	return nil
}

// getTokens refuses: tokens are stored hashed, so they cannot be listed.
func (s *Service) getTokens(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Allow", http.MethodPost)
	return fail(http.StatusMethodNotAllowed, "listing tokens is not supported: only a hash of each token is stored; "+
		"keep the token you received when pairing, or pair again")
}

// flexString accepts a JSON string, number or boolean (its text), or any
// other JSON value as its raw text: BitPay clients send orderId or posData
// in all these forms.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		*f = flexString(b)
	}
	return nil
}

// flexBool accepts true, false, "true" and "false".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`:
		*f = true
	case "false", `"false"`, "null", `""`:
		*f = false
	default:
		return errors.New("not a boolean")
	}
	return nil
}

// invoiceBody is the body of POST /invoices. Fields BitPay defines that
// Transient does not use (buyer, physical, guid...) are ignored.
type invoiceBody struct {
	Token                 string          `json:"token"`
	Price                 json.RawMessage `json:"price"`
	Currency              string          `json:"currency"`
	OrderID               flexString      `json:"orderId"`
	ItemDesc              flexString      `json:"itemDesc"`
	ItemCode              flexString      `json:"itemCode"`
	PosData               flexString      `json:"posData"`
	NotificationURL       string          `json:"notificationURL"`
	RedirectURL           string          `json:"redirectURL"`
	TransactionSpeed      string          `json:"transactionSpeed"`
	ExpirationTime        json.RawMessage `json:"expirationTime"`
	FullNotifications     flexBool        `json:"fullNotifications"`
	ExtendedNotifications flexBool        `json:"extendedNotifications"`
	PaymentCurrencies     []string        `json:"paymentCurrencies"`
}

// priceRE is the decimal text a price may have: digits with an optional
// fraction and exponent (Python writes 1e-05), bounded so that no price
// costs more than a few digits of arithmetic.
var priceRE = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?$`)

// parsePrice reads price from a JSON number or a string holding one.
func parsePrice(raw json.RawMessage) (decimal.Decimal, error) {
	bad := invalid("price", "price must be a number greater than 0, such as 12.5 or \"12.50\"")
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return decimal.Decimal{}, invalid("price", "price is required: a number greater than 0, such as 12.5")
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return decimal.Decimal{}, bad
		}
		text = strings.TrimSpace(text)
	}
	if !priceRE.MatchString(text) {
		return decimal.Decimal{}, bad
	}
	d, err := decimal.NewFromString(text)
	if err != nil || !d.IsPositive() {
		return decimal.Decimal{}, bad
	}
	return d, nil
}

// parseExpiration reads expirationTime: Unix milliseconds as a number or
// a string.
func parseExpiration(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, nil
	}
	text := strings.Trim(string(raw), `"`)
	ms, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(text, 64); ferr == nil && f == float64(int64(f)) {
			ms, err = int64(f), nil
		}
	}
	if err != nil || ms <= 0 {
		return time.Time{}, invalid("expirationTime", "expirationTime must be Unix time in milliseconds, such as 1767225600000")
	}
	return time.UnixMilli(ms).UTC(), nil
}

// createInvoice handles POST /invoices.
func (s *Service) createInvoice(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	var body invoiceBody
	if err := json.Unmarshal(raw, &body); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return fail(http.StatusBadRequest, "%s must not be a JSON %s", typ.Field, typ.Value)
		}
		return fail(http.StatusBadRequest, "the body must be one JSON object with the invoice's fields")
	}
	tok, err := s.authenticate(r, body.Token, raw)
	if err != nil {
		return err
	}
	price, err := parsePrice(body.Price)
	if err != nil {
		return err
	}
	exp, err := parseExpiration(body.ExpirationTime)
	if err != nil {
		return err
	}
	inv, err := s.CreateInvoice(r.Context(), tok, InvoiceRequest{
		Price:                 price,
		Currency:              body.Currency,
		OrderID:               string(body.OrderID),
		ItemDesc:              string(body.ItemDesc),
		ItemCode:              string(body.ItemCode),
		PosData:               string(body.PosData),
		NotificationURL:       body.NotificationURL,
		RedirectURL:           body.RedirectURL,
		TransactionSpeed:      body.TransactionSpeed,
		ExpirationTime:        exp,
		FullNotifications:     bool(body.FullNotifications),
		ExtendedNotifications: bool(body.ExtendedNotifications),
		PaymentCurrencies:     body.PaymentCurrencies,
	})
	if err != nil {
		return err
	}
	writeData(w, invoiceJSON(inv, s.baseURL(r), s.cfg.Now()))
	return nil
}

// getInvoice handles GET /invoices/{id}.
func (s *Service) getInvoice(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.authenticate(r, r.URL.Query().Get("token"), nil)
	if err != nil {
		return err
	}
	inv, err := s.Invoice(r.Context(), tok, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeData(w, invoiceJSON(inv, s.baseURL(r), s.cfg.Now()))
	return nil
}

// parseDate reads dateStart or dateEnd: a date (2026-01-31, UTC), an
// RFC 3339 time or Unix milliseconds. A date given as dateEnd includes that
// whole day.
func parseDate(field, v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		if end {
			t = t.Add(time.Microsecond)
		}
		return t, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 && ms <= maxDateMillis {
		t := time.UnixMilli(ms)
		if end {
			t = t.Add(time.Millisecond)
		}
		return t, nil
	}
	return time.Time{}, invalid(field, "%s must be a date such as 2026-01-31, an RFC 3339 time or Unix milliseconds "+
		"up to the year 9999", field)
}

// maxDateMillis is the end of the year 9999 in Unix milliseconds: larger
// values are no date, and pgx would wrap them around.
var maxDateMillis = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - 1

// validCode reports whether code has the form of a pairing code.
func validCode(code string) bool {
	if len(code) != CodeLength {
		return false
	}
	for i := range len(code) {
		if !strings.ContainsRune(base58Alphabet, rune(code[i])) {
			return false
		}
	}
	return true
}

// listInvoices handles GET /invoices.
func (s *Service) listInvoices(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	tok, err := s.authenticate(r, q.Get("token"), nil)
	if err != nil {
		return err
	}
	for key, values := range q {
		for _, v := range values {
			if !payments.ValidText(v) {
				return invalid(key, "%s must be valid UTF-8 without NUL characters", key)
			}
		}
	}
	f := InvoiceFilter{Status: strings.ToLower(q.Get("status")), OrderID: q.Get("orderId"), ItemCode: q.Get("itemCode")}
	if f.DateStart, err = parseDate("dateStart", q.Get("dateStart"), false); err != nil {
		return err
	}
	if f.DateEnd, err = parseDate("dateEnd", q.Get("dateEnd"), true); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &f.Limit}, {"offset", &f.Offset}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return invalid(p.name, "%s must be a whole number", p.name)
			}
			if p.name == "limit" && n < 1 {
				// Limit 0 means "not given" below: an explicit 0 is refused.
				return invalid("limit", "limit must be between 1 and %d", MaxListLimit)
			}
			*p.dst = n
		}
	}
	list, err := s.Invoices(r.Context(), tok, f)
	if err != nil {
		return err
	}
	base, now := s.baseURL(r), s.cfg.Now()
	out := make([]InvoiceJSON, 0, len(list))
	for _, inv := range list {
		out = append(out, invoiceJSON(inv, base, now))
	}
	writeData(w, out)
	return nil
}

// rateJSON is one rate of GET /rates.
type rateJSON struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	Rate         number `json:"rate"`
	CryptoCode   string `json:"cryptoCode"`
	CurrencyPair string `json:"currencyPair"`
}

func toRateJSON(q rates.Quote) rateJSON {
	return rateJSON{Code: q.Pair.Quote, Name: rates.Name(q.Pair.Quote), Rate: number(q.Rate),
		CryptoCode: q.Pair.Base, CurrencyPair: q.Pair.String()}
}

// optionalAuth authenticates a request that carries a token; rates are
// public, so a request without one is answered too.
func (s *Service) optionalAuth(r *http.Request) error {
	if tok := r.URL.Query().Get("token"); tok != "" {
		_, err := s.authenticate(r, tok, nil)
		return err
	}
	return nil
}

// getRates handles GET /rates?cryptoCode=DOGE[&currencyPairs=DOGE_USD,...]
// and GET /rates/{base}: the fresh rates of the coin in every currency the
// sources know, or of the pairs asked for (pairs without a fresh rate are
// left out).
func (s *Service) getRates(w http.ResponseWriter, r *http.Request) error {
	if err := s.optionalAuth(r); err != nil {
		return err
	}
	q := r.URL.Query()
	out := []rateJSON{}
	if pairs := q.Get("currencyPairs"); pairs != "" {
		for item := range strings.SplitSeq(pairs, ",") {
			p, err := rates.ParsePair(item)
			if err != nil {
				return invalid("currencyPairs", "currencyPairs must list pairs such as DOGE_USD,LTC_EUR; %q is not one", item)
			}
			if quote, err := s.cfg.Rates.Rate(p.Base, p.Quote); err == nil {
				out = append(out, toRateJSON(quote))
			}
		}
		writeData(w, out)
		return nil
	}
	base := chi.URLParam(r, "base")
	if base == "" {
		base = q.Get("cryptoCode")
	}
	if base == "" {
		base = s.cfg.DefaultCoin
	}
	base = strings.ToUpper(base)
	if !rates.ValidCode(base) {
		return invalid("cryptoCode", "cryptoCode %q is not a coin code such as %s", base, s.cfg.DefaultCoin)
	}
	for _, quote := range s.cfg.Rates.Rates(base) {
		out = append(out, toRateJSON(quote))
	}
	writeData(w, out)
	return nil
}

// getRate handles GET /rates/{base}/{currency}: one rate, or 503.
func (s *Service) getRate(w http.ResponseWriter, r *http.Request) error {
	if err := s.optionalAuth(r); err != nil {
		return err
	}
	base, currency := strings.ToUpper(chi.URLParam(r, "base")), strings.ToUpper(chi.URLParam(r, "currency"))
	if !rates.ValidCode(base) || !rates.ValidCode(currency) {
		return fail(http.StatusBadRequest, "want /rates/COIN/CURRENCY, such as /rates/DOGE/USD")
	}
	quote, err := s.cfg.Rates.Rate(base, currency)
	if err != nil {
		for _, code := range []string{base, currency} {
			if !rates.KnownCurrency(code) && !s.cfg.Payments.HasCoin(code) {
				return invalid("currency", "%q is not a currency or coin code this server knows", code)
			}
		}
		return err
	}
	writeData(w, toRateJSON(quote))
	return nil
}

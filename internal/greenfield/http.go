package greenfield

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/payments"
)

// SyncReporter tells whether a coin node is synced; *coind.Client
// implements it.
type SyncReporter interface {
	GetBlockchainInfo(ctx context.Context) (*coind.ChainInfo, error)
}

// MinVersion is the BTCPay Server version server/info reports: the plugins
// compare it (WooCommerce wants at least 1.7.6 for the features it uses).
const MinVersion = "1.7.6"

// readBody reads a request body as JSON text that is kept as sent: UTF-8,
// without unpaired surrogate escapes, one JSON object and nothing after
// it. It returns the members of the object.
func readBody(r *http.Request) ([]byte, map[string]json.RawMessage, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, Fail(http.StatusRequestEntityTooLarge, "request-too-large", "the body must be at most %d bytes", tooBig.Limit)
		}
		return nil, nil, Fail(http.StatusBadRequest, CodeInvalidRequest, "the body could not be read")
	}
	if !utf8.Valid(body) {
		return nil, nil, Fail(http.StatusBadRequest, CodeInvalidRequest, "the body must be UTF-8 JSON")
	}
	if payments.LoneSurrogate(body) {
		return nil, nil, Fail(http.StatusBadRequest, CodeInvalidRequest, `the body must not hold an unpaired surrogate escape such as "\ud800"`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var members map[string]json.RawMessage
	if err := dec.Decode(&members); err != nil || members == nil {
		return nil, nil, Fail(http.StatusBadRequest, CodeInvalidRequest, "the body must be one JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, Fail(http.StatusBadRequest, CodeInvalidRequest, "the body must hold exactly one JSON object, with nothing after it")
	}
	return body, members, nil
}

// isNull reports whether a member is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// decodeMember decodes member path of a body into dst; a value of the wrong
// type is a validation error naming path.
func decodeMember(path string, raw json.RawMessage, dst any, want string) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return Invalid(path, "%s must be %s", path, want)
	}
	return nil
}

// optString decodes an optional string member.
func optString(path string, raw json.RawMessage) (*string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := decodeMember(path, raw, &s, "a string or null"); err != nil {
		return nil, err
	}
	if !payments.ValidText(s) || len(s) > 2048 {
		return nil, Invalid(path, "%s must be text of at most 2048 bytes, without NUL characters", path)
	}
	return &s, nil
}

// parseDecimal reads a decimal given as a JSON string or number.
func parseDecimal(path string, raw json.RawMessage) (decimal.Decimal, error) {
	text := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(text, `"`) {
		if err := json.Unmarshal(raw, &text); err != nil {
			return decimal.Decimal{}, Invalid(path, "%s must be a decimal number or a string holding one", path)
		}
		text = strings.TrimSpace(text)
	}
	bad := Invalid(path, "%s must be a decimal number such as 12.50, or a string holding one", path)
	if text == "" || len(text) > 64 || strings.ContainsAny(text, "xX") {
		return decimal.Decimal{}, bad
	}
	d, err := decimal.NewFromString(text)
	if err != nil || d.Exponent() < -30 || d.Exponent() > 30 {
		return decimal.Decimal{}, bad
	}
	return d, nil
}

// checkoutLink sends the buyer from an invoice's checkout link to the
// payment's checkout page. An id that is no Greenfield invoice is 404.
func (s *Service) checkoutLink(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	pid, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return ErrInvoiceNotFound
	}
	if _, err := LoadInvoiceRow(r.Context(), s.cfg.Pool, pid); err != nil {
		return err
	}
	http.Redirect(w, r, "/payments/"+pid.String()+"/checkout", http.StatusFound)
	return nil
}

// currentKey answers GET /api/v1/api-keys/current: the key's permissions
// as "permission:storeId", exactly as granted.
func (s *Service) currentKey(w http.ResponseWriter, r *http.Request) error {
	k := KeyFrom(r.Context())
	WriteJSON(w, http.StatusOK, struct {
		APIKey      string   `json:"apiKey"`
		Label       string   `json:"label"`
		Permissions []string `json:"permissions"`
	}{presentedKey(r), k.Label, k.Scoped()})
	return nil
}

// storeJSON is BTCPay's StoreData, the fields Transient has.
type storeJSON struct {
	ID                        string  `json:"id"`
	Name                      string  `json:"name"`
	Website                   *string `json:"website"`
	DefaultCurrency           string  `json:"defaultCurrency"`
	InvoiceExpiration         int64   `json:"invoiceExpiration"`
	MonitoringExpiration      int64   `json:"monitoringExpiration"`
	SpeedPolicy               string  `json:"speedPolicy"`
	PaymentTolerance          int64   `json:"paymentTolerance"`
	Archived                  bool    `json:"archived"`
	AnyoneCanCreateInvoice    bool    `json:"anyoneCanCreateInvoice"`
	LightningAmountInSatoshis bool    `json:"lightningAmountInSatoshis"`
	DefaultPaymentMethod      string  `json:"defaultPaymentMethod"`
}

func (s *Service) storeJSON(st *Store) storeJSON {
	def := ""
	if coins := s.storeCoins(st); len(coins) > 0 {
		def = PaymentMethodID(coins[0])
	}
	return storeJSON{
		ID:                   st.ID,
		Name:                 st.Name,
		DefaultCurrency:      st.DefaultCurrency,
		InvoiceExpiration:    int64(s.cfg.InvoiceExpiry / time.Second),
		MonitoringExpiration: int64(s.cfg.MonitoringWindow / time.Second),
		SpeedPolicy:          SpeedMedium,
		DefaultPaymentMethod: def,
	}
}

// listStores answers GET /api/v1/stores: the stores the key may see (its
// one store, when it may view its settings or invoices).
func (s *Service) listStores(w http.ResponseWriter, r *http.Request) error {
	k := KeyFrom(r.Context())
	out := []storeJSON{}
	if k.Grants(PermViewStoreSettings, k.StoreID) || k.Grants(PermViewInvoices, k.StoreID) || k.Grants(PermCreateInvoice, k.StoreID) {
		st, err := s.stores.Get(r.Context(), k.StoreID)
		if err != nil && !errors.Is(err, ErrStoreNotFound) {
			return err
		}
		if st != nil {
			out = append(out, s.storeJSON(st))
		}
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) getStore(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, s.storeJSON(StoreFrom(r.Context())))
	return nil
}

// queryBool reads an optional boolean query parameter.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, Invalid(name, "%s must be true or false", name)
	}
	return b, nil
}

// storePaymentMethods answers GET /stores/{storeId}/payment-methods: one
// on-chain method per coin the store takes, most preferred first.
func (s *Service) storePaymentMethods(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryBool(r, "onlyEnabled"); err != nil {
		return err
	}
	if _, err := queryBool(r, "includeConfig"); err != nil {
		return err
	}
	type method struct {
		PaymentMethodID string `json:"paymentMethodId"`
		PaymentMethod   string `json:"paymentMethod"`
		CryptoCode      string `json:"cryptoCode"`
		Enabled         bool   `json:"enabled"`
	}
	out := []method{}
	for _, c := range s.storeCoins(StoreFrom(r.Context())) {
		out = append(out, method{PaymentMethodID: PaymentMethodID(c), PaymentMethod: PaymentMethodID(c), CryptoCode: c, Enabled: true})
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// serverInfo answers GET /api/v1/server/info; fullySynched is true when
// every coin node says it is out of initial block download with as many
// blocks as headers.
func (s *Service) serverInfo(w http.ResponseWriter, r *http.Request) error {
	type nodeInfo struct {
		Headers              int64  `json:"headers"`
		Blocks               int64  `json:"blocks"`
		VerificationProgress string `json:"verificationProgress"`
	}
	type syncStatus struct {
		PaymentMethodID string    `json:"paymentMethodId"`
		CryptoCode      string    `json:"cryptoCode"`
		NodeInformation *nodeInfo `json:"nodeInformation"`
		ChainHeight     int64     `json:"chainHeight"`
		SyncHeight      *int64    `json:"syncHeight"`
		Available       bool      `json:"available"`
	}
	out := struct {
		Version                 string       `json:"version"`
		Onion                   *string      `json:"onion"`
		SupportedPaymentMethods []string     `json:"supportedPaymentMethods"`
		FullySynched            bool         `json:"fullySynched"`
		SyncStatus              []syncStatus `json:"syncStatus"`
	}{Version: s.cfg.Version, SupportedPaymentMethods: []string{}, FullySynched: true, SyncStatus: []syncStatus{}}
	if out.Version == "" {
		out.Version = MinVersion
	}
	for _, c := range s.cfg.Payments.Coins() {
		out.SupportedPaymentMethods = append(out.SupportedPaymentMethods, PaymentMethodID(c))
		st := syncStatus{PaymentMethodID: PaymentMethodID(c), CryptoCode: c}
		node, ok := s.cfg.Nodes[c]
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		info, err := node.GetBlockchainInfo(ctx)
		cancel()
		if err != nil {
			out.FullySynched = false
			s.log.WarnContext(r.Context(), "server/info: node not answering", "coin", c, "err", err)
		} else {
			st.Available = !info.InitialBlockDownload && info.Blocks >= info.Headers
			st.ChainHeight = info.Headers
			h := info.Blocks
			st.SyncHeight = &h
			st.NodeInformation = &nodeInfo{Headers: info.Headers, Blocks: info.Blocks, VerificationProgress: "1"}
			if !st.Available {
				out.FullySynched = false
			}
		}
		out.SyncStatus = append(out.SyncStatus, st)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// createInvoice answers POST /stores/{storeId}/invoices.
func (s *Service) createInvoice(w http.ResponseWriter, r *http.Request) error {
	_, m, err := readBody(r)
	if err != nil {
		return err
	}
	var req InvoiceRequest
	if isNull(m["amount"]) {
		return Invalid("amount", "amount is required: Transient has no top-up invoices")
	}
	if req.Amount, err = parseDecimal("amount", m["amount"]); err != nil {
		return err
	}
	cur, err := optString("currency", m["currency"])
	if err != nil {
		return err
	}
	if cur != nil {
		req.Currency = *cur
	}
	for _, name := range []string{"metadata", "checkout", "receipt"} {
		raw := m[name]
		if isNull(raw) {
			continue
		}
		if err := payments.CheckMetadata(name, raw); err != nil {
			var perr *payments.Error
			if errors.As(err, &perr) {
				return Invalid(name, "%s", perr.Message)
			}
			return err
		}
	}
	if !isNull(m["metadata"]) {
		req.Metadata = m["metadata"]
	}
	if !isNull(m["checkout"]) {
		if req.Checkout, err = parseCheckout(m["checkout"]); err != nil {
			return err
		}
	}
	inv, err := s.CreateInvoice(r.Context(), StoreFrom(r.Context()), req)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, InvoiceJSON(inv, s.baseURL(r), s.cfg.MonitoringWindow))
	return nil
}

// parseCheckout reads the checkout object of a create request; null
// members take the defaults.
func parseCheckout(raw json.RawMessage) (CheckoutRequest, error) {
	var (
		c CheckoutRequest
		m map[string]json.RawMessage
	)
	if err := decodeMember("checkout", raw, &m, "an object or null"); err != nil {
		return c, err
	}
	var err error
	if c.SpeedPolicy, err = optString("checkout.speedPolicy", m["speedPolicy"]); err != nil {
		return c, err
	}
	if c.RedirectURL, err = optString("checkout.redirectURL", m["redirectURL"]); err != nil {
		return c, err
	}
	for _, name := range []string{"defaultLanguage", "defaultPaymentMethod", "checkoutType"} {
		if _, err := optString("checkout."+name, m[name]); err != nil {
			return c, err
		}
	}
	if !isNull(m["paymentMethods"]) {
		if err := decodeMember("checkout.paymentMethods", m["paymentMethods"], &c.PaymentMethods, "an array of strings or null"); err != nil {
			return c, err
		}
		if c.PaymentMethods == nil {
			c.PaymentMethods = []string{}
		}
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"expirationMinutes", &c.ExpirationMinutes}, {"monitoringMinutes", &c.MonitoringMinutes}} {
		if isNull(m[f.name]) {
			continue
		}
		var n int64
		if err := decodeMember("checkout."+f.name, m[f.name], &n, "a whole number or null"); err != nil {
			return c, err
		}
		*f.dst = &n
	}
	if !isNull(m["paymentTolerance"]) {
		t, err := parseDecimal("checkout.paymentTolerance", m["paymentTolerance"])
		if err != nil {
			return c, err
		}
		c.PaymentTolerance = &t
	}
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"redirectAutomatically", &c.RedirectAutomatically}, {"requiresRefundEmail", nil}, {"lazyPaymentMethods", nil}} {
		if isNull(m[f.name]) {
			continue
		}
		var b bool
		if err := decodeMember("checkout."+f.name, m[f.name], &b, "true, false or null"); err != nil {
			return c, err
		}
		if f.dst != nil {
			*f.dst = &b
		}
	}
	return c, nil
}

func (s *Service) getInvoice(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.Invoice(r.Context(), StoreFrom(r.Context()).ID, chi.URLParam(r, "invoiceId"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, InvoiceJSON(inv, s.baseURL(r), s.cfg.MonitoringWindow))
	return nil
}

func (s *Service) invoicePaymentMethods(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryBool(r, "onlyAccountedPayments"); err != nil {
		return err
	}
	if _, err := queryBool(r, "includeSensitive"); err != nil {
		return err
	}
	inv, err := s.Invoice(r.Context(), StoreFrom(r.Context()).ID, chi.URLParam(r, "invoiceId"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, InvoicePaymentMethodsJSON(inv))
	return nil
}

// queryText reads the values of a text query parameter, refusing what
// cannot be text.
func queryText(r *http.Request, name string) ([]string, error) {
	vals := r.URL.Query()[name]
	for _, v := range vals {
		if !payments.ValidText(v) || len(v) > 255 {
			return nil, Invalid(name, "%s must be UTF-8 text of at most 255 bytes, without NUL characters", name)
		}
	}
	return vals, nil
}

// queryInt reads an optional whole-number query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, Invalid(name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// listInvoices answers GET /stores/{storeId}/invoices with BTCPay's
// filters: orderId (repeatable), status (repeatable), textSearch,
// startDate and endDate (Unix seconds), skip, take and includeArchived.
func (s *Service) listInvoices(w http.ResponseWriter, r *http.Request) error {
	var (
		f   InvoiceFilter
		err error
	)
	if f.OrderIDs, err = queryText(r, "orderId"); err != nil {
		return err
	}
	statuses, err := queryText(r, "status")
	if err != nil {
		return err
	}
	for _, st := range statuses {
		if _, ok := statusSQL[st]; !ok {
			return Invalid("status", "status must be New, Processing, Settled, Expired or Invalid")
		}
		f.Statuses = append(f.Statuses, st)
	}
	search, err := queryText(r, "textSearch")
	if err != nil {
		return err
	}
	if len(search) > 0 {
		f.TextSearch = search[0]
	}
	const maxUnix = 253402300799 // 9999-12-31
	start, err := queryInt(r, "startDate", 0, 0, maxUnix)
	if err != nil {
		return err
	}
	end, err := queryInt(r, "endDate", 0, 0, maxUnix)
	if err != nil {
		return err
	}
	if start > 0 {
		f.Start = time.Unix(start, 0)
	}
	if end > 0 {
		f.End = time.Unix(end, 0)
	}
	skip, err := queryInt(r, "skip", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	take, err := queryInt(r, "take", 100, 1, MaxTake)
	if err != nil {
		return err
	}
	f.Skip, f.Take = int(skip), int(take)
	if f.IncludeArchived, err = queryBool(r, "includeArchived"); err != nil {
		return err
	}
	invs, err := s.Invoices(r.Context(), StoreFrom(r.Context()), f)
	if err != nil {
		return err
	}
	out := make([]InvoiceData, 0, len(invs))
	base := s.baseURL(r)
	for _, inv := range invs {
		out = append(out, InvoiceJSON(inv, base, s.cfg.MonitoringWindow))
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// markInvoice answers POST /stores/{storeId}/invoices/{invoiceId}/status:
// the merchant marks the invoice Settled or Invalid. The payment itself
// is unchanged (the chain facts stay what they are); the invoice shows the
// marked status with additionalStatus Marked, and the webhooks get
// InvoiceSettled or InvoiceInvalid with manuallyMarked.
func (s *Service) markInvoice(w http.ResponseWriter, r *http.Request) error {
	_, m, err := readBody(r)
	if err != nil {
		return err
	}
	if isNull(m["status"]) {
		return Invalid("status", "status is required: Settled or Invalid")
	}
	var status string
	if err := decodeMember("status", m["status"], &status, "Settled or Invalid"); err != nil {
		return err
	}
	if status != StatusSettled && status != StatusInvalid {
		return Invalid("status", "status must be Settled or Invalid")
	}
	st := StoreFrom(r.Context())
	inv, err := s.Invoice(r.Context(), st.ID, chi.URLParam(r, "invoiceId"))
	if err != nil {
		return err
	}
	current, _ := inv.Status()
	if !slices.Contains(manualMarking(current), status) {
		return Invalid("status", "an invoice that is %s cannot be marked %s", current, status)
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	err = pgx.BeginFunc(r.Context(), s.cfg.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(r.Context(), `
			UPDATE greenfield_invoices SET marked_status = $2, marked_at = $3
			WHERE payment_id = $1 AND marked_status IS DISTINCT FROM $2`, inv.Payment.ID, status, now)
		if err != nil {
			return fmt.Errorf("greenfield: mark invoice %s: %w", inv.Payment.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // already marked so, by a concurrent request
		}
		return s.webhookMarked(r.Context(), tx, inv.Payment, status)
	})
	if err != nil {
		return err
	}
	inv.Row.MarkedStatus, inv.Row.MarkedAt = status, now
	s.log.InfoContext(r.Context(), "greenfield invoice marked", "payment_id", inv.Payment.ID, "store_id", st.ID, "status", status)
	WriteJSON(w, http.StatusOK, InvoiceJSON(inv, s.baseURL(r), s.cfg.MonitoringWindow))
	return nil
}

// updateInvoice answers PUT /stores/{storeId}/invoices/{invoiceId}: the
// metadata is replaced by the one sent, kept exactly as sent (null leaves
// it as it is), and metadata.orderId becomes the order id.
func (s *Service) updateInvoice(w http.ResponseWriter, r *http.Request) error {
	_, m, err := readBody(r)
	if err != nil {
		return err
	}
	inv, err := s.Invoice(r.Context(), StoreFrom(r.Context()).ID, chi.URLParam(r, "invoiceId"))
	if err != nil {
		return err
	}
	if raw := m["metadata"]; !isNull(raw) {
		orderID, err := checkInvoiceMetadata(raw)
		if err != nil {
			return err
		}
		_, err = s.cfg.Pool.Exec(r.Context(), `UPDATE greenfield_invoices SET metadata = $2::json, order_id = $3 WHERE payment_id = $1`,
			inv.Payment.ID, string(raw), nullString(orderID))
		if err != nil {
			return fmt.Errorf("greenfield: update invoice %s: %w", inv.Payment.ID, err)
		}
		inv.Row.Metadata, inv.Row.OrderID = raw, orderID
	}
	WriteJSON(w, http.StatusOK, InvoiceJSON(inv, s.baseURL(r), s.cfg.MonitoringWindow))
	return nil
}

// setArchived archives or unarchives the request's invoice.
func (s *Service) setArchived(r *http.Request, archived bool) (*Invoice, error) {
	inv, err := s.Invoice(r.Context(), StoreFrom(r.Context()).ID, chi.URLParam(r, "invoiceId"))
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Pool.Exec(r.Context(), `UPDATE greenfield_invoices SET archived = $2 WHERE payment_id = $1`,
		inv.Payment.ID, archived); err != nil {
		return nil, fmt.Errorf("greenfield: archive invoice %s: %w", inv.Payment.ID, err)
	}
	inv.Row.Archived = archived
	return inv, nil
}

// archiveInvoice answers DELETE /stores/{storeId}/invoices/{invoiceId}:
// the invoice leaves listings (unless includeArchived) and stays readable.
// The answer is 200 with an empty body, as BTCPay's.
func (s *Service) archiveInvoice(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.setArchived(r, true); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) unarchiveInvoice(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.setArchived(r, false)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, InvoiceJSON(inv, s.baseURL(r), s.cfg.MonitoringWindow))
	return nil
}

package bitpay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/regtest"
)

// server is the BitPay API on a real payments service (PostgreSQL and
// litecoind regtest), served by httptest without PUBLIC_URL: signatures
// are checked against the request's own scheme and host.
type server struct {
	t   testing.TB
	srv *httptest.Server
	svc *Service
	key *btcec.PrivateKey
	tok string
}

func newServer(t *testing.T, r *rates.Service, mods ...func(*Config)) *server {
	t.Helper()
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	pay := payments.NewService(pool, payments.Config{Coins: []payments.Coin{{
		Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 3, URIScheme: "litecoin",
		Wallet: regtest.MerchantWallet}}})
	return newServerOn(t, pool, pay, r, mods...)
}

// newPairingServer is a server for tests of pairing and authentication
// alone: no node, so no invoice can be created.
func newPairingServer(t *testing.T, mods ...func(*Config)) *server {
	t.Helper()
	pool := pgtest.NewPool(t)
	return newServerOn(t, pool, payments.NewService(pool, payments.Config{}), nil, mods...)
}

func newServerOn(t testing.TB, pool *pgxpool.Pool, pay *payments.Service, r *rates.Service, mods ...func(*Config)) *server {
	t.Helper()
	cfg := Config{Pool: pool, Payments: pay, Rates: r, DefaultCoin: "LTC",
		CompleteConfirmations: map[string]int64{"LTC": 3}}
	for _, m := range mods {
		m(&cfg)
	}
	svc := New(cfg)
	pay.AddEventHook(svc)
	router := chi.NewRouter()
	svc.Mount(router)
	s := &server{t: t, srv: httptest.NewServer(router), svc: svc}
	t.Cleanup(s.srv.Close)
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	s.key = key
	code, err := svc.Pairings().CreateCode(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	issued, err := svc.Pairings().Claim(context.Background(), code.Code, SIN(key.PubKey().SerializeCompressed()), "")
	if err != nil {
		t.Fatal(err)
	}
	s.tok = issued.Token
	return s
}

// call sends a request signed over signURL + body (signURL "" = the real
// URL) and returns the status and body.
func (s *server) call(method, target, body, signURL string) (int, string) {
	s.t.Helper()
	if signURL == "" {
		signURL = s.srv.URL + target
	}
	req, err := http.NewRequest(method, s.srv.URL+target, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	hash := sha256.Sum256([]byte(signURL + body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Identity", hex.EncodeToString(s.key.PubKey().SerializeCompressed()))
	req.Header.Set("X-Signature", hex.EncodeToString(ecdsa.Sign(s.key, hash[:]).Serialize()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestServerWithoutRatesOrPublicURL(t *testing.T) {
	s := newServer(t, nil)
	tokQ := "token=" + url.QueryEscape(s.tok)

	// A coin-priced invoice works without any rate source, and its url
	// uses the request's own host.
	status, body := s.call("POST", "/invoices", `{"price": "0.5", "currency": "LTC", "token": "`+s.tok+`"}`, "")
	if status != 200 {
		t.Fatalf("LTC invoice: %d %s", status, body)
	}
	var created struct {
		Data InvoiceJSON `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	inv := created.Data
	if inv.URL != s.srv.URL+"/payments/"+inv.ID+"/checkout" || inv.BTCPrice != "0.5" || inv.TransactionSpeed != "medium" {
		t.Errorf("invoice = %+v", inv)
	}
	// A fiat price is refused with a reason, not a 503 that would pass.
	status, body = s.call("POST", "/invoices/", `{"price": 5, "currency": "USD", "token": "`+s.tok+`"}`, "")
	if status != 400 || !strings.Contains(body, "need exchange rates") {
		t.Errorf("USD invoice without rates: %d %s", status, body)
	}
	// Both spellings of every route; the signature covers the path and
	// query exactly as sent.
	for _, target := range []string{"/invoices/" + inv.ID + "?" + tokQ, "/invoices/" + inv.ID + "/?" + tokQ,
		"/invoices?" + tokQ, "/invoices/?" + tokQ + "&limit=5"} {
		if status, body := s.call("GET", target, "", ""); status != 200 || !strings.Contains(body, inv.ID) {
			t.Errorf("GET %s: %d %s", target, status, body)
		}
	}
	if status, _ := s.call("GET", "/invoices?"+tokQ, "", s.srv.URL+"/invoices?"+tokQ+"&x=1"); status != 401 {
		t.Errorf("signature over another query: %d, want 401", status)
	}
	if status, body := s.call("GET", "/rates/LTC/USD", "", ""); status != 503 || !strings.Contains(body, "rate unavailable for LTC_USD") {
		t.Errorf("GET /rates/LTC/USD without rates: %d %s", status, body)
	}
	if status, body := s.call("GET", "/rates?cryptoCode=LTC", "", ""); status != 200 || strings.TrimSpace(body) != `{"data":[]}` {
		t.Errorf("GET /rates without rates: %d %s", status, body)
	}
	if status, body := s.call("GET", "/tokens", "", ""); status != 405 || !strings.Contains(body, "stored hashed") && !strings.Contains(body, "hash") {
		t.Errorf("GET /tokens: %d %s", status, body)
	}
}

func TestServerRates(t *testing.T) {
	r := rates.New(rates.Config{Static: rates.Table{
		{Base: "LTC", Quote: "USD"}: mustDec(t, "80"),
		{Base: "LTC", Quote: "BTC"}: mustDec(t, "0.00125"),
		{Base: "BTC", Quote: "EUR"}: mustDec(t, "56000"),
	}})
	s := newServer(t, r)
	status, body := s.call("GET", "/rates/", "", "") // anonymous: rates are public
	want := `{"data":[{"code":"BTC","name":"Bitcoin","rate":0.00125,"cryptoCode":"LTC","currencyPair":"LTC_BTC"},` +
		`{"code":"EUR","name":"Euro","rate":70,"cryptoCode":"LTC","currencyPair":"LTC_EUR"},` +
		`{"code":"USD","name":"US Dollar","rate":80,"cryptoCode":"LTC","currencyPair":"LTC_USD"}]}`
	if status != 200 || strings.TrimSpace(body) != want {
		t.Errorf("GET /rates/: %d\n%s\nwant\n%s", status, body, want)
	}
	if status, body := s.call("GET", "/rates/LTC/EUR", "", ""); status != 200 ||
		strings.TrimSpace(body) != `{"data":{"code":"EUR","name":"Euro","rate":70,"cryptoCode":"LTC","currencyPair":"LTC_EUR"}}` {
		t.Errorf("GET /rates/LTC/EUR: %d %s", status, body)
	}
	if status, body := s.call("GET", "/rates?currencyPairs=LTC_USD,LTC_JPY", "", ""); status != 200 || !strings.Contains(body, `"rate":80`) || strings.Contains(body, "JPY") {
		t.Errorf("currencyPairs: %d %s", status, body)
	}
	// A request that carries a token must be signed properly.
	if status, _ := s.call("GET", "/rates?token="+url.QueryEscape(s.tok), "", s.srv.URL+"/elsewhere"); status != 401 {
		t.Errorf("badly signed rates request: %d, want 401", status)
	}
	// An invoice in EUR is converted at the derived rate, rounded up.
	status, body = s.call("POST", "/invoices", `{"price": 10, "currency": "EUR", "orderId": 42, "posData": {"a": 1}, "fullNotifications": "true", "token": "`+s.tok+`"}`, "")
	if status != 200 {
		t.Fatalf("EUR invoice: %d %s", status, body)
	}
	var created struct {
		Data InvoiceJSON `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if inv := created.Data; inv.BTCPrice != "0.14285715" || inv.OrderID != "42" || inv.PosData != `{"a": 1}` {
		t.Errorf("invoice: btcPrice %s orderId %s posData %s", inv.BTCPrice, inv.OrderID, inv.PosData)
	}
	row, err := loadInvoiceRow(context.Background(), s.svc.cfg.Pool, mustUUID(t, created.Data.ID))
	if err != nil || row.Rate.String() != "70" || row.RateSource != "static" || !row.FullNotifications {
		t.Errorf("stored row = %+v, %v", row, err)
	}
}

func mustDec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestServerRefusesHighSpeedWithoutZeroConf: transactionSpeed high accepts a
// payment at 0 confirmations, so a coin that does not accept them refuses
// it, with a 400 naming the field, and stores nothing; medium still works.
func TestServerRefusesHighSpeedWithoutZeroConf(t *testing.T) {
	s := newServer(t, nil) // LTC without ZeroConf
	status, body := s.call("POST", "/invoices", `{"price": "0.5", "currency": "LTC", "transactionSpeed": "high", "token": "`+s.tok+`"}`, "")
	if status != 400 || !strings.Contains(body, `"transactionSpeed high accepts unconfirmed payments, which LTC does not`) {
		t.Fatalf("high speed without zero-conf: %d %s", status, body)
	}
	// The server's default speed is refused the same way.
	high := newServer(t, nil, func(c *Config) { c.DefaultSpeed = SpeedHigh })
	if status, body := high.call("POST", "/invoices", `{"price": "0.5", "currency": "LTC", "token": "`+high.tok+`"}`, ""); status != 400 || !strings.Contains(body, "transactionSpeed") {
		t.Fatalf("default high speed without zero-conf: %d %s", status, body)
	}
	if status, body := s.call("GET", "/invoices?token="+url.QueryEscape(s.tok), "", ""); status != 200 || strings.TrimSpace(body) != `{"data":[]}` {
		t.Fatalf("invoices after the refusals: %d %s", status, body)
	}
	if status, body := s.call("POST", "/invoices", `{"price": "0.5", "currency": "LTC", "transactionSpeed": "medium", "token": "`+s.tok+`"}`, ""); status != 200 {
		t.Fatalf("medium speed: %d %s", status, body)
	}
}

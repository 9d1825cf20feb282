package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // BitPay's SIN is defined with RIPEMD-160.

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
	"github.com/transient-gateway/transient/webhooksig"
)

// ---------------------------------------------------------------------
// A BitPay client that signs exactly as btcpay-python 1.3 does: SIN from
// the compressed key, X-Identity and X-Signature over SHA-256 of host +
// path + ('?' + urlencode(params) | json.dumps(payload)), the token last
// among the params or in the payload. It shares no code with the server.
// ---------------------------------------------------------------------

// kv is one member of a Python dict, which keeps insertion order.
type kv struct {
	k string
	v any
}

// pyJSON encodes v as Python's json.dumps does by default: ", " and ": "
// separators, ensure_ascii, floats in repr form, dicts in insertion order.
func pyJSON(v any) string {
	var b strings.Builder
	var enc func(v any)
	enc = func(v any) {
		switch x := v.(type) {
		case nil:
			b.WriteString("null")
		case bool:
			if x {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case int:
			b.WriteString(strconv.Itoa(x))
		case int64:
			b.WriteString(strconv.FormatInt(x, 10))
		case float64:
			b.WriteString(pyFloat(x))
		case string:
			b.WriteString(pyString(x))
		case []string:
			b.WriteByte('[')
			for i, s := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				enc(s)
			}
			b.WriteByte(']')
		case []kv:
			b.WriteByte('{')
			for i, m := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				enc(m.k)
				b.WriteString(": ")
				enc(m.v)
			}
			b.WriteByte('}')
		default:
			panic(fmt.Sprintf("pyJSON: %T", v))
		}
	}
	enc(v)
	return b.String()
}

// pyString is json.dumps of a str with ensure_ascii=True.
func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r <= 0xffff):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyFloat is Python's repr of a float: the shortest round-tripping digits,
// fixed notation for exponents -4..15 with ".0" on whole numbers,
// otherwise d.ddde±XX.
func pyFloat(f float64) string {
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func TestPythonJSON(t *testing.T) {
	got := pyJSON([]kv{{"price", 12.5}, {"n", 100.0}, {"tiny", 0.00001}, {"big", 1e16}, {"i", 3},
		{"s", "caf\u00e9 \"q\" \U0001F600/<&>"}, {"b", true}, {"l", []string{"LTC", "DOGE"}}, {"nil", nil}})
	want := `{"price": 12.5, "n": 100.0, "tiny": 1e-05, "big": 1e+16, "i": 3, "s": "caf\u00e9 \"q\" \ud83d\ude00/<&>", "b": true, "l": ["LTC", "DOGE"], "nil": null}`
	if got != want {
		t.Errorf("pyJSON =\n%s\nwant\n%s", got, want)
	}
}

// bpClient is one shop's BitPay client.
type bpClient struct {
	t *testing.T
	// http checks every answer against openapi/openapi.yaml: a route,
	// status, field or error shape the document lacks fails the test.
	http  *http.Client
	base  string // where requests go
	host  string // what btcpay-python calls host: the URL it signs
	key   *btcec.PrivateKey
	token string
	// highS flips every signature to its high-S twin, as python-ecdsa
	// produces about half of the time.
	highS bool
}

func newBPClient(t *testing.T, base, host string) *bpClient {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &bpClient{t: t, http: &http.Client{Transport: &openapitest.Transport{TB: t}}, base: base, host: host, key: key}
}

// identity is btcpay-python's compressed public key: 02 or 03 by the parity
// of the uncompressed key, then X.
func (c *bpClient) identity() string {
	xy := c.key.PubKey().SerializeUncompressed()[1:] // X ‖ Y
	prefix := "02"
	if xy[63]%2 == 1 {
		prefix = "03"
	}
	return prefix + hex.EncodeToString(xy[:32])
}

// sin is btcpay-python's get_sin_from_pem: base58 of the hex
// '0F02' + ripemd160(sha256(key)) + checksum, by integer division.
func (c *bpClient) sin() string {
	return c.sinIn("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
}

// legacySIN is the SIN as early btcpay-python releases wrote it, with
// string.digits[1:] + ascii_uppercase + ascii_lowercase as the alphabet.
func (c *bpClient) legacySIN() string {
	return c.sinIn("123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
}

func (c *bpClient) sinIn(chars string) string {
	key, _ := hex.DecodeString(c.identity())
	sha := sha256.Sum256(key)
	h := ripemd160.New()
	h.Write(sha[:])
	version := append([]byte{0x0f, 0x02}, h.Sum(nil)...)
	c1 := sha256.Sum256(version)
	c2 := sha256.Sum256(c1[:])
	n := new(big.Int).SetBytes(append(version, c2[:4]...))
	var out []byte
	for mod := new(big.Int); n.Sign() > 0; {
		n.DivMod(n, big.NewInt(58), mod)
		out = append([]byte{chars[mod.Int64()]}, out...)
	}
	return string(out)
}

// sign is btcpay-python's crypto.sign: hex DER ECDSA of SHA-256(message).
func (c *bpClient) sign(message string) string {
	return signWith(c.key, message, c.highS)
}

func signWith(key *btcec.PrivateKey, message string, highS bool) string {
	hash := sha256.Sum256([]byte(message))
	der := ecdsa.Sign(key, hash[:]).Serialize() // low S
	if !highS {
		return hex.EncodeToString(der)
	}
	// Re-encode with S' = n − S.
	rLen := int(der[3])
	r := der[4 : 4+rLen]
	s := new(big.Int).SetBytes(der[4+rLen+2:])
	s.Sub(btcec.S256().N, s)
	sb := s.Bytes()
	if sb[0]&0x80 != 0 {
		sb = append([]byte{0}, sb...)
	}
	body := append(append([]byte{0x02, byte(len(r))}, r...), append([]byte{0x02, byte(len(sb))}, sb...)...)
	return hex.EncodeToString(append([]byte{0x30, byte(len(body))}, body...))
}

// response is an answer of the BitPay API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d %s: %v", r.status, r.body, err)
	}
}

// errorText checks BitPay's error shape and returns its message.
func (r response) errorText(t *testing.T) string {
	t.Helper()
	var e struct {
		Error  string `json:"error"`
		Errors []struct {
			Error string `json:"error"`
		} `json:"errors"`
	}
	r.decode(t, &e)
	if e.Error == "" || len(e.Errors) != 1 || e.Errors[0].Error != e.Error {
		t.Fatalf("error body %s is not {\"error\": ..., \"errors\": [{\"error\": ...}]}", r.body)
	}
	return e.Error
}

func (c *bpClient) do(method, path, body string, headers map[string]string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	// The session headers of btcpay-python.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("accept", "application/json")
	req.Header.Set("X-accept-version", "2.0.0")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, raw}
}

// signedGet is _signed_get_request: params in order, token appended.
func (c *bpClient) signedGet(path string, params []kv) response {
	c.t.Helper()
	params = append(slices.Clone(params), kv{"token", c.token})
	var q []string
	for _, p := range params {
		q = append(q, url.QueryEscape(p.k)+"="+url.QueryEscape(fmt.Sprint(p.v)))
	}
	payload := "?" + strings.Join(q, "&")
	return c.do("GET", path+payload, "", map[string]string{
		"X-Identity": c.identity(), "X-Signature": c.sign(c.host + path + payload)})
}

// signedPost is _signed_post_request: token set in the payload, then
// json.dumps.
func (c *bpClient) signedPost(path string, payload []kv) response {
	c.t.Helper()
	body := pyJSON(append(slices.Clone(payload), kv{"token", c.token}))
	return c.do("POST", path, body, map[string]string{
		"X-Identity": c.identity(), "X-Signature": c.sign(c.host + path + body)})
}

// tokenData is one element of POST /tokens' data.
type tokenData struct {
	Token             string `json:"token"`
	Facade            string `json:"facade"`
	Label             string `json:"label"`
	PairingCode       string `json:"pairingCode"`
	PairingExpiration int64  `json:"pairingExpiration"`
	DateCreated       int64  `json:"dateCreated"`
	Policies          []any  `json:"policies"`
}

// pairRaw is pair_client's unsigned request.
func (c *bpClient) pairRaw(code string) response {
	c.t.Helper()
	payload := []kv{{"id", c.sin()}}
	if code != "" {
		payload = append(payload, kv{"pairingCode", code})
	}
	return c.do("POST", "/tokens", pyJSON(payload), nil)
}

// pair is pair_client: it keeps data[0]'s token.
func (c *bpClient) pair(code string) tokenData {
	c.t.Helper()
	r := c.pairRaw(code)
	if r.status != 200 {
		c.t.Fatalf("pair: %d %s", r.status, r.body)
	}
	var out struct {
		Data []tokenData `json:"data"`
	}
	r.decode(c.t, &out)
	if len(out.Data) != 1 {
		c.t.Fatalf("pair: data = %s", r.body)
	}
	c.token = out.Data[0].Token
	return out.Data[0]
}

// invoice is the part of the BitPay invoice the tests read.
type invoice struct {
	ID              string            `json:"id"`
	URL             string            `json:"url"`
	Status          string            `json:"status"`
	ExceptionStatus any               `json:"exceptionStatus"`
	Price           json.Number       `json:"price"`
	Currency        string            `json:"currency"`
	OrderID         string            `json:"orderId"`
	ItemDesc        string            `json:"itemDesc"`
	ItemCode        string            `json:"itemCode"`
	PosData         string            `json:"posData"`
	InvoiceTime     int64             `json:"invoiceTime"`
	ExpirationTime  int64             `json:"expirationTime"`
	CurrentTime     int64             `json:"currentTime"`
	BTCPrice        string            `json:"btcPrice"`
	BTCDue          string            `json:"btcDue"`
	BTCPaid         string            `json:"btcPaid"`
	Rate            json.Number       `json:"rate"`
	Addresses       map[string]string `json:"addresses"`
	PaymentURLs     map[string]string `json:"paymentUrls"`
	AmountPaid      int64             `json:"amountPaid"`
	ExchangeRates   map[string]map[string]json.Number
	CryptoInfo      []struct {
		CryptoCode string      `json:"cryptoCode"`
		Rate       json.Number `json:"rate"`
		Price      string      `json:"price"`
		Due        string      `json:"due"`
		Paid       string      `json:"paid"`
		TotalDue   string      `json:"totalDue"`
		Address    string      `json:"address"`
		URL        string      `json:"url"`
		Payments   []struct {
			ID    string `json:"id"`
			Value string `json:"value"`
		} `json:"payments"`
	} `json:"cryptoInfo"`
	Token string `json:"token"`
}

// createInvoice is create_invoice; it fails the test unless the answer is
// 200.
func (c *bpClient) createInvoice(payload []kv) invoice {
	c.t.Helper()
	r := c.signedPost("/invoices/", payload)
	if r.status != 200 {
		c.t.Fatalf("create_invoice: %d %s", r.status, r.body)
	}
	var out struct {
		Data invoice `json:"data"`
	}
	r.decode(c.t, &out)
	return out.Data
}

// getInvoice is get_invoice.
func (c *bpClient) getInvoice(id string) invoice {
	c.t.Helper()
	r := c.signedGet("/invoices/"+id, nil)
	if r.status != 200 {
		c.t.Fatalf("get_invoice %s: %d %s", id, r.status, r.body)
	}
	var out struct {
		Data invoice `json:"data"`
	}
	r.decode(c.t, &out)
	return out.Data
}

// getInvoices is get_invoices; it returns the ids in order.
func (c *bpClient) getInvoices(params ...kv) []string {
	c.t.Helper()
	r := c.signedGet("/invoices", params)
	if r.status != 200 {
		c.t.Fatalf("get_invoices %v: %d %s", params, r.status, r.body)
	}
	var out struct {
		Data []invoice `json:"data"`
	}
	r.decode(c.t, &out)
	ids := []string{}
	for _, inv := range out.Data {
		ids = append(ids, inv.ID)
	}
	return ids
}

// rateJSON is one element of get_rates.
type rateJSON struct {
	Code         string      `json:"code"`
	Name         string      `json:"name"`
	Rate         json.Number `json:"rate"`
	CryptoCode   string      `json:"cryptoCode"`
	CurrencyPair string      `json:"currencyPair"`
}

// getRates is get_rates(crypto).
func (c *bpClient) getRates(crypto string) []rateJSON {
	c.t.Helper()
	r := c.signedGet("/rates/", []kv{{"cryptoCode", crypto}})
	if r.status != 200 {
		c.t.Fatalf("get_rates: %d %s", r.status, r.body)
	}
	var out struct {
		Data []rateJSON `json:"data"`
	}
	r.decode(c.t, &out)
	return out.Data
}

// getRate is get_rate(currency, crypto): "" when the currency is missing
// (btcpay-python would raise IndexError).
func (c *bpClient) getRate(currency, crypto string) string {
	for _, r := range c.getRates(crypto) {
		if r.Code == strings.ToUpper(currency) {
			return r.Rate.String()
		}
	}
	return ""
}

// waitInvoiceStatus polls get_invoice until the status is want.
func (c *bpClient) waitInvoiceStatus(id, want string, timeout time.Duration) invoice {
	c.t.Helper()
	var inv invoice
	waitFor(c.t, timeout, func() bool { inv = c.getInvoice(id); return inv.Status == want },
		func() string { return fmt.Sprintf("invoice %s is %s, want %s", id, inv.Status, want) })
	return inv
}

// ---------------------------------------------------------------------
// Local servers: a rate feed and an IPN receiver.
// ---------------------------------------------------------------------

// rateFeed serves Transient's rate feed shape and can go down.
type rateFeed struct {
	url  string
	mu   sync.Mutex
	body string
	down atomic.Bool
}

func startRateFeed(t *testing.T, rates string) *rateFeed {
	t.Helper()
	f := &rateFeed{body: `{"rates": {` + rates + `}}`}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.url = "http://" + l.Addr().String() + "/rates.json"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "feed down", http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		body := f.body
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// ipnReceiver records every request with its headers.
type ipnReceiver struct {
	url  string
	mu   sync.Mutex
	reqs []ipnRequest
}

type ipnRequest struct {
	header http.Header
	body   []byte
}

func startIPNReceiver(t *testing.T) *ipnReceiver {
	t.Helper()
	rc := &ipnReceiver{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.url = "http://" + l.Addr().String() + "/ipn"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, ipnRequest{r.Header.Clone(), body})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return rc
}

func (rc *ipnReceiver) all() []ipnRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// ---------------------------------------------------------------------
// The daemon and the CLI.
// ---------------------------------------------------------------------

const (
	bitpayPublicURL     = "http://pay.transient.test" // what clients sign; a proxy would map it to the daemon
	bitpayWebhookSecret = "e2e-webhook-secret-0123456789"
)

// bitpayDaemon starts litecoind and transientd with the BitPay API, rates
// from primary and fallback, and PUBLIC_URL set; it returns the daemon and
// its database URL.
func bitpayDaemon(t *testing.T, node *regtest.Node, addr string, env ...string) (*daemon, string) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	base := append(coinEnv(node),
		"DATABASE_URL="+db,
		"LISTEN_ADDR="+addr,
		"PUBLIC_URL="+bitpayPublicURL,
		"BITPAY_DEFAULT_COIN=LTC",
		"BITPAY_CLIENT_PAIRING=true",
		// The protocol checks send many wrong tokens and signatures from
		// one address; the per-address limits have tests of their own.
		"AUTH_FAILURES_PER_MINUTE=0",
		"BITPAY_TOKENS_PER_MINUTE=0",
		"WEBHOOK_ALLOW_PRIVATE=true",
		"PAYMENT_WEBHOOK_SECRET="+bitpayWebhookSecret,
		"CATCHUP_INTERVAL=1s",
	)
	return startDaemon(t, append(base, env...)...), db
}

// pairingCLI runs `transientd pairing args...` on db and returns its exit
// code, stdout and stderr.
func pairingCLI(t *testing.T, db string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin("transientd"), append([]string{"pairing"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + db, "TRANSIENT_ENV_FILE=/nonexistent"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// createCode runs `transientd pairing create --label label` and returns the
// code it prints.
func createCode(t *testing.T, db, label string) string {
	t.Helper()
	code, out, errOut := pairingCLI(t, db, "create", "--label", label)
	if code != 0 {
		t.Fatalf("pairing create: exit %d: %s", code, errOut)
	}
	pc := strings.TrimSpace(out)
	if !regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{7}$`).MatchString(pc) {
		t.Fatalf("pairing create printed %q, want 7 base58 characters", out)
	}
	return pc
}

// coinUnits is price / rate in base units, rounded up, computed with
// big.Rat independently of the server.
func coinUnits(t *testing.T, price, rate string) int64 {
	t.Helper()
	p, ok1 := new(big.Rat).SetString(price)
	r, ok2 := new(big.Rat).SetString(rate)
	if !ok1 || !ok2 {
		t.Fatalf("bad numbers %s %s", price, rate)
	}
	q := new(big.Rat).Quo(p, r)
	q.Mul(q, big.NewRat(100_000_000, 1))
	n := new(big.Int).Quo(q.Num(), q.Denom())
	if new(big.Rat).SetInt(n).Cmp(q) < 0 {
		n.Add(n, big.NewInt(1))
	}
	return n.Int64()
}

// ltc formats base units as btcPrice prints them.
func ltc(units int64) string {
	s := strconv.FormatInt(units/100_000_000, 10)
	if frac := units % 100_000_000; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%08d", frac), "0")
	}
	return s
}

// ---------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------

// TestBitPayInvoiceFlow pairs a btcpay-python-style client with a code
// from `transientd pairing create`, prices invoices in USD, EUR (derived
// through BTC) and LTC, pays them on regtest, follows new → paid →
// confirmed → complete, lists with every filter and receives the IPNs.
func TestBitPayInvoiceFlow(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	feed := startRateFeed(t, `"LTC_USD": "75.123", "LTC_BTC": 0.00125, "BTC_EUR": 56000`)
	ipn := startIPNReceiver(t)
	d, db := bitpayDaemon(t, node, addr, "RATES_URL="+feed.url, "RATES_REFRESH_INTERVAL=200ms")
	ctx := context.Background()

	// Pair with an operator's code, as BTCPayClient.create_client does.
	code := createCode(t, db, "shop1")
	shop := newBPClient(t, d.url, bitpayPublicURL)
	shop.highS = true
	tok := shop.pair(code)
	if tok.Facade != "merchant" || tok.Label != "shop1" || tok.PairingCode != code || len(tok.Token) < 40 ||
		tok.Policies == nil || len(tok.Policies) != 0 {
		t.Errorf("pairing answer = %+v", tok)
	}
	if life := time.Duration(tok.PairingExpiration-tok.DateCreated) * time.Millisecond; life != 15*time.Minute {
		t.Errorf("pairingExpiration - dateCreated = %s, want 15m", life)
	}

	// get_rates / get_rate, including a derived pair.
	waitFor(t, 10*time.Second, func() bool { return shop.getRate("USD", "LTC") != "" },
		func() string { return "no LTC_USD rate" })
	if got := shop.getRate("USD", "LTC"); got != "75.123" {
		t.Errorf("get_rate(USD, LTC) = %s, want 75.123", got)
	}
	if got := shop.getRate("EUR", "LTC"); got != "70" {
		t.Errorf("get_rate(EUR, LTC) = %s, want 70 (LTC_BTC × BTC_EUR)", got)
	}
	for _, r := range shop.getRates("LTC") {
		if r.Code == "USD" && (r.Name != "US Dollar" || r.CryptoCode != "LTC" || r.CurrencyPair != "LTC_USD") {
			t.Errorf("USD rate = %+v", r)
		}
	}

	// A: 12.5 USD, medium speed (confirmed at 1, complete at
	// LTC_CONFIRMATIONS=2), plain IPNs for every status change.
	a := shop.createInvoice([]kv{{"price", 12.5}, {"currency", "USD"}, {"orderId", "order-1"},
		{"itemDesc", "Green tea, 500 g"}, {"itemCode", "sku-1"}, {"posData", `{"cart": 7}`},
		{"notificationURL", ipn.url}, {"redirectURL", "https://shop.example/thanks"},
		{"transactionSpeed", "medium"}, {"fullNotifications", true}})
	unitsA := coinUnits(t, "12.5", "75.123")
	switch {
	case a.Status != "new" || a.ExceptionStatus != false:
		t.Errorf("new invoice: status %s, exceptionStatus %v", a.Status, a.ExceptionStatus)
	case a.Price.String() != "12.5" || a.Currency != "USD" || a.Rate.String() != "75.123":
		t.Errorf("price %s %s at %s", a.Price, a.Currency, a.Rate)
	case a.BTCPrice != ltc(unitsA) || a.BTCDue != ltc(unitsA) || a.BTCPaid != "0" || a.AmountPaid != 0:
		t.Errorf("btcPrice %s btcDue %s btcPaid %s, want %s due", a.BTCPrice, a.BTCDue, a.BTCPaid, ltc(unitsA))
	case a.URL != bitpayPublicURL+"/payments/"+a.ID+"/checkout":
		t.Errorf("url = %s", a.URL)
	case a.OrderID != "order-1" || a.ItemCode != "sku-1" || a.ItemDesc != "Green tea, 500 g" || a.PosData != `{"cart": 7}`:
		t.Errorf("order fields = %+v", a)
	case a.Addresses["LTC"] == "" || !strings.HasPrefix(a.PaymentURLs["BIP21"], "litecoin:"+a.Addresses["LTC"]+"?amount="+ltc(unitsA)):
		t.Errorf("addresses %v paymentUrls %v", a.Addresses, a.PaymentURLs)
	case a.ExpirationTime-a.InvoiceTime != 15*60*1000 || a.CurrentTime < a.InvoiceTime:
		t.Errorf("times: invoice %d expiration %d current %d", a.InvoiceTime, a.ExpirationTime, a.CurrentTime)
	case len(a.CryptoInfo) != 1 || a.CryptoInfo[0].CryptoCode != "LTC" || a.CryptoInfo[0].Rate.String() != "75.123" ||
		a.CryptoInfo[0].TotalDue != ltc(unitsA) || a.CryptoInfo[0].Address != a.Addresses["LTC"]:
		t.Errorf("cryptoInfo = %+v", a.CryptoInfo)
	case a.ExchangeRates["LTC"]["USD"].String() != "75.123" || a.Token == "" || a.Token == shop.token:
		t.Errorf("exchangeRates %v token %q", a.ExchangeRates, a.Token)
	}

	// B: priced in LTC, high speed (confirmed at 0 confirmations), extended
	// notifications. C: 7 EUR at the derived rate, never paid.
	b := shop.createInvoice([]kv{{"price", "0.05"}, {"currency", "LTC"}, {"orderId", "order-2"}, {"itemCode", "sku-2"},
		{"notificationURL", ipn.url}, {"transactionSpeed", "high"}, {"extendedNotifications", true}})
	if b.Rate.String() != "1" || b.BTCPrice != "0.05" {
		t.Errorf("LTC-priced invoice: rate %s btcPrice %s", b.Rate, b.BTCPrice)
	}
	c := shop.createInvoice([]kv{{"price", 7}, {"currency", "EUR"}, {"orderId", "order-3"}, {"itemCode", "sku-1"},
		{"paymentCurrencies", []string{"DOGE", "LTC"}}})
	if c.Rate.String() != "70" || c.BTCPrice != "0.1" {
		t.Errorf("EUR invoice: rate %s btcPrice %s, want 70 and 0.1", c.Rate, c.BTCPrice)
	}

	// Pay A and B. A becomes paid (its 0-conf output is not enough for
	// medium), B confirmed at once.
	if _, err := node.Send(ctx, regtest.MinerWallet, a.Addresses["LTC"], unitsA, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Send(ctx, regtest.MinerWallet, b.Addresses["LTC"], 5_000_000, false); err != nil {
		t.Fatal(err)
	}
	paidA := shop.waitInvoiceStatus(a.ID, "paid", 30*time.Second)
	if paidA.BTCPaid != ltc(unitsA) || paidA.AmountPaid != unitsA || paidA.BTCDue != "0" || len(paidA.CryptoInfo[0].Payments) != 1 {
		t.Errorf("paid invoice: btcPaid %s amountPaid %d btcDue %s", paidA.BTCPaid, paidA.AmountPaid, paidA.BTCDue)
	}
	shop.waitInvoiceStatus(b.ID, "confirmed", 30*time.Second)

	list := func(params ...kv) string { return strings.Join(shop.getInvoices(params...), ",") }
	wantList := func(got string, ids ...string) {
		t.Helper()
		if want := strings.Join(ids, ","); got != want {
			t.Errorf("get_invoices = [%s], want [%s]", got, want)
		}
	}
	wantList(list(), c.ID, b.ID, a.ID)
	wantList(list(kv{"status", "new"}), c.ID)
	wantList(list(kv{"status", "paid"}), a.ID)
	wantList(list(kv{"status", "confirmed"}), b.ID)
	wantList(list(kv{"status", "complete"}))
	wantList(list(kv{"orderId", "order-2"}), b.ID)
	wantList(list(kv{"itemCode", "sku-1"}), c.ID, a.ID)
	today := time.Now().UTC().Format(time.DateOnly)
	wantList(list(kv{"dateStart", today}, kv{"dateEnd", today}), c.ID, b.ID, a.ID)
	wantList(list(kv{"dateEnd", time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)}))
	wantList(list(kv{"dateStart", time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)}))
	wantList(list(kv{"dateStart", strconv.FormatInt(b.InvoiceTime, 10)}), c.ID, b.ID)
	wantList(list(kv{"limit", 1}), c.ID)
	wantList(list(kv{"limit", 2}, kv{"offset", 1}), b.ID, a.ID)
	wantList(list(kv{"status", "new"}, kv{"itemCode", "sku-2"}))
	if r := shop.signedGet("/invoices", []kv{{"status", "settled"}}); r.status != 400 || !strings.Contains(r.errorText(t), "status") {
		t.Errorf("status=settled: %d %s", r.status, r.body)
	}

	// Another pairing sees none of these invoices.
	other := newBPClient(t, d.url, bitpayPublicURL)
	other.pair(createCode(t, db, "shop2"))
	wantList(strings.Join(other.getInvoices(), ","))
	if r := other.signedGet("/invoices/"+a.ID, nil); r.status != 404 {
		t.Errorf("another pairing's get_invoice: %d %s", r.status, r.body)
	}

	// One block: A confirmed; B has 1 of 2 confirmations, still confirmed.
	// A second block: both complete.
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	shop.waitInvoiceStatus(a.ID, "confirmed", 30*time.Second)
	wantList(list(kv{"status", "confirmed"}), b.ID, a.ID)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	shop.waitInvoiceStatus(a.ID, "complete", 30*time.Second)
	shop.waitInvoiceStatus(b.ID, "complete", 30*time.Second)
	wantList(list(kv{"status", "complete"}), b.ID, a.ID)
	wantList(list(kv{"status", "confirmed"}))

	// The IPNs: A's plain bodies for paid, confirmed and complete (none on
	// creation), B's extended events 1001 (on creation), 1002, 1003, 1005,
	// 1006; every one signed with X-Transient-Signature.
	type seen struct{ id, status, event string }
	var got []seen
	waitFor(t, 30*time.Second, func() bool {
		got = nil
		for _, r := range ipn.all() {
			var body struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Event  *struct {
					Code int    `json:"code"`
					Name string `json:"name"`
				} `json:"event"`
				Data *struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"data"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("IPN body %s: %v", r.body, err)
			}
			if err := webhooksig.Verify([]byte(bitpayWebhookSecret), r.header.Get(webhooksig.Header), r.body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("IPN signature: %v", err)
			}
			if body.Event != nil {
				got = append(got, seen{body.Data.ID, body.Data.Status, fmt.Sprintf("%d %s", body.Event.Code, body.Event.Name)})
			} else {
				got = append(got, seen{body.ID, body.Status, ""})
			}
		}
		return len(got) >= 8
	}, func() string { return fmt.Sprintf("IPNs received: %+v", got) })
	// Every body is the webhook bitpayIPN of openapi/openapi.yaml.
	for _, r := range ipn.all() {
		openapitest.CheckSchema(t, "BitPayIPN", r.body)
	}
	var plainA, eventsB []string
	for _, s := range got {
		switch {
		case s.id == a.ID && s.event == "":
			plainA = append(plainA, s.status)
		case s.id == b.ID && s.event != "":
			eventsB = append(eventsB, s.event)
		default:
			t.Errorf("unexpected IPN %+v", s)
		}
	}
	slices.Sort(plainA)
	slices.Sort(eventsB)
	if strings.Join(plainA, ",") != "complete,confirmed,paid" {
		t.Errorf("plain IPNs of A carry statuses %v, want paid, confirmed and complete", plainA)
	}
	if strings.Join(eventsB, ",") != "1001 invoice_created,1002 invoice_receivedPayment,1003 invoice_paidInFull,1005 invoice_confirmed,1006 invoice_completed" {
		t.Errorf("extended IPNs of B = %v", eventsB)
	}
	// They went through the delivery log as kind bitpay_ipn.
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var delivered int
	waitFor(t, 10*time.Second, func() bool {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE kind = 'bitpay_ipn' AND state = 'delivered'`).Scan(&delivered); err != nil {
			t.Fatal(err)
		}
		return delivered == len(got)
	}, func() string {
		return fmt.Sprintf("%d bitpay_ipn deliveries delivered, %d IPNs received", delivered, len(got))
	})
	// The invoice is the payment: Transient's own API shows it too.
	if p := d.get(a.ID); p.Status != "PAID" {
		t.Errorf("GET /payments/%s: status %s, want PAID", a.ID, p.Status)
	}
}

// TestBitPayRefusals checks that every malformed or unauthorised request
// gets a clear 4xx in BitPay's error shape, and the client-initiated
// pairing approved with the CLI.
func TestBitPayRefusals(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "")
	d, db := bitpayDaemon(t, node, addr, "RATES_STATIC=LTC_USD=80")

	shop := newBPClient(t, d.url, bitpayPublicURL)
	code := createCode(t, db, "shop1")
	shop.pair(code)
	good := []kv{{"price", 10}, {"currency", "USD"}}
	shop.createInvoice(good) // the baseline works

	check := func(name string, r response, status int, want string) {
		t.Helper()
		if r.status != status {
			t.Errorf("%s: status %d, want %d (%s)", name, r.status, status, r.body)
			return
		}
		if msg := r.errorText(t); !strings.Contains(msg, want) {
			t.Errorf("%s: error %q does not say %q", name, msg, want)
		}
	}

	// Pairing codes: reused, expired, unknown, malformed SIN.
	late := newBPClient(t, d.url, bitpayPublicURL)
	check("reused pairing code", late.pairRaw(code), 400, "already used")
	expired := createCode(t, db, "late")
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE bitpay_pairing_codes
		SET created_at = now() - interval '20 minutes', expires_at = now() - interval '5 minutes' WHERE code = $1`, expired); err != nil {
		t.Fatal(err)
	}
	check("expired pairing code", late.pairRaw(expired), 400, "expired")
	check("unknown pairing code", late.pairRaw("zzzzzzz"), 404, "no such pairing code")
	check("malformed SIN", late.do("POST", "/tokens", `{"id": "Tf1234", "pairingCode": "`+createCode(t, db, "x")+`"}`, nil), 400, "SIN")

	body := pyJSON(append(slices.Clone(good), kv{"token", shop.token}))
	headers := func(c *bpClient, signed string) map[string]string {
		return map[string]string{"X-Identity": c.identity(), "X-Signature": c.sign(signed)}
	}
	// A tampered body: signed for 10 USD, sent for 1 USD.
	tampered := strings.Replace(body, `"price": 10`, `"price": 1`, 1)
	check("tampered body", shop.do("POST", "/invoices/", tampered, headers(shop, bitpayPublicURL+"/invoices/"+body)), 401, "does not match")
	// The same bytes re-encoded without spaces.
	compact := strings.NewReplacer(", ", ",", ": ", ":").Replace(body)
	check("re-encoded body", shop.do("POST", "/invoices/", compact, headers(shop, bitpayPublicURL+"/invoices/"+body)), 401, "does not match")
	// Signed by another key under the shop's identity.
	intruder := newBPClient(t, d.url, bitpayPublicURL)
	h := map[string]string{"X-Identity": shop.identity(), "X-Signature": intruder.sign(bitpayPublicURL + "/invoices/" + body)}
	check("signature by another key", shop.do("POST", "/invoices/", body, h), 401, "does not match")
	// The intruder signs properly with its own key but uses the shop's token.
	intruder.token = shop.token
	check("token paired to another SIN", intruder.signedPost("/invoices/", good), 401, "not the key this token was paired with")
	// Signed against the daemon's own host although PUBLIC_URL is set.
	check("signed for the wrong host", shop.do("POST", "/invoices/", body, headers(shop, d.url+"/invoices/"+body)), 401, "does not match")
	// No token, an unknown token, no signature.
	noToken := pyJSON(good)
	check("missing token", shop.do("POST", "/invoices/", noToken, headers(shop, bitpayPublicURL+"/invoices/"+noToken)), 401, "needs a token")
	check("missing token (GET)", shop.do("GET", "/invoices", "", headers(shop, bitpayPublicURL+"/invoices")), 401, "needs a token")
	stranger := newBPClient(t, d.url, bitpayPublicURL)
	stranger.token = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"
	check("unknown token", stranger.signedPost("/invoices", good), 401, "unknown token")
	check("unsigned", shop.do("POST", "/invoices", body, nil), 401, "must be signed")
	check("bad identity", shop.do("POST", "/invoices", body, map[string]string{"X-Identity": "02abc", "X-Signature": "30"}), 401, "X-Identity")

	// Malformed prices and other fields.
	for _, p := range []struct {
		name  string
		price any
	}{{"text", "abc"}, {"negative", -5}, {"zero", 0}, {"comma", "1,5"}, {"boolean", true}, {"missing", nil}, {"NaN text", "NaN"}} {
		payload := []kv{{"price", p.price}, {"currency", "USD"}}
		if p.price == nil {
			payload = payload[1:]
		}
		check("malformed price "+p.name, shop.signedPost("/invoices", payload), 400, "price")
	}
	check("bad currency", shop.signedPost("/invoices", []kv{{"price", 1}, {"currency", "US D"}}), 400, "currency")
	check("unpriced currency", shop.signedPost("/invoices", []kv{{"price", 1}, {"currency", "JPY"}}), 503, "rate unavailable for LTC_JPY")
	check("bad speed", shop.signedPost("/invoices", []kv{{"price", 1}, {"currency", "USD"}, {"transactionSpeed", "warp"}}), 400, "transactionSpeed")
	check("bad notificationURL", shop.signedPost("/invoices", []kv{{"price", 1}, {"currency", "USD"}, {"notificationURL", "ftp://x"}}), 400, "notificationURL")
	check("unknown coin", shop.signedPost("/invoices", []kv{{"price", 1}, {"currency", "USD"}, {"paymentCurrencies", []string{"XMR"}}}), 400, "paymentCurrencies")
	check("expiration in the past", shop.signedPost("/invoices", []kv{{"price", 1}, {"currency", "USD"}, {"expirationTime", 1000}}), 400, "expirationTime")
	check("unknown invoice", shop.signedGet("/invoices/not-an-id", nil), 404, "no invoice")
	check("not JSON", shop.do("POST", "/invoices", "price=1", nil), 400, "JSON")

	// The other routes and answers the document describes, each checked
	// against it by the client's transport.
	for _, path := range []string{"/tokens", "/tokens/"} {
		r := shop.do("GET", path, "", nil)
		check("GET "+path, r, 405, "listing tokens is not supported")
		if allow := r.header.Get("Allow"); allow != "POST" {
			t.Errorf("GET %s: Allow %q, want POST", path, allow)
		}
	}
	var rate struct {
		Data rateJSON `json:"data"`
	}
	for _, path := range []string{"/rates/LTC/USD", "/rates/ltc/usd/"} {
		r := shop.do("GET", path, "", nil)
		if r.decode(t, &rate); r.status != 200 || rate.Data.Rate.String() != "80" || rate.Data.CurrencyPair != "LTC_USD" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	var rates struct {
		Data []rateJSON `json:"data"`
	}
	for _, path := range []string{"/rates/LTC", "/rates/ltc/", "/rates?cryptoCode=LTC", "/rates?currencyPairs=LTC_USD,LTC_JPY"} {
		r := shop.do("GET", path, "", nil)
		if r.decode(t, &rates); r.status != 200 || len(rates.Data) != 1 || rates.Data[0].Code != "USD" {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	if r := shop.signedGet("/rates/LTC/USD/", nil); r.status != 200 {
		t.Errorf("signed GET /rates/LTC/USD/: %d %s", r.status, r.body)
	}
	check("no fresh rate for the pair", shop.do("GET", "/rates/LTC/JPY", "", nil), 503, "rate unavailable for LTC_JPY")
	check("malformed pair path", shop.do("GET", "/rates/L/USD", "", nil), 400, "/rates/COIN/CURRENCY")
	check("malformed currencyPairs", shop.do("GET", "/rates?currencyPairs=LTCUSD", "", nil), 400, "currencyPairs")
	check("malformed cryptoCode", shop.do("GET", "/rates/?cryptoCode=L", "", nil), 400, "cryptoCode")
	check("rates with an unsigned token", shop.do("GET", "/rates?token="+shop.token, "", nil), 401, "must be signed")
	check("limit out of range", shop.signedGet("/invoices/", []kv{{"limit", 201}}), 400, "limit")
	check("offset not a number", shop.signedGet("/invoices", []kv{{"offset", "x"}}), 400, "offset")
	check("dateStart not a date", shop.signedGet("/invoices", []kv{{"dateStart", "yesterday"}}), 400, "dateStart")
	check("unknown invoice (slash form)", shop.signedGet("/invoices/7d444840-9dc0-11d1-b245-5ffdce74fad2/", nil), 404, "no invoice")
	check("body over 64 KiB", shop.do("POST", "/invoices", `{"posData": "`+strings.Repeat("x", 70<<10)+`"}`, nil), 413, "at most")
	// A method the BitPay API does not serve gets the API's 405 (the
	// document does not describe it, and the check accepts only that).
	if r := shop.do("DELETE", "/invoices", "", nil); r.status != 405 {
		t.Errorf("DELETE /invoices: %d %s", r.status, r.body)
	}

	// Client-initiated pairing: a pending code and a token that waits for
	// the operator.
	cli := newBPClient(t, d.url, bitpayPublicURL)
	r := cli.pairRaw("")
	if r.status != 200 {
		t.Fatalf("client pairing request: %d %s", r.status, r.body)
	}
	var req struct {
		Data []tokenData `json:"data"`
	}
	r.decode(t, &req)
	pending := req.Data[0]
	if len(pending.PairingCode) != 7 || pending.Token == "" || pending.Facade != "merchant" {
		t.Fatalf("pairing request answer = %s", r.body)
	}
	cli.token = pending.Token
	check("token before approval", cli.signedGet("/invoices", nil), 403, "transientd pairing approve "+pending.PairingCode)
	exit, out, _ := pairingCLI(t, db, "list", "--json")
	var listed []struct {
		Code, State, Origin string
		SIN                 *string `json:"sin"`
		Source              *string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &listed); exit != 0 || err != nil {
		t.Fatalf("pairing list --json: exit %d %v: %s", exit, err, out)
	}
	states := map[string]string{}
	for _, l := range listed {
		states[l.Code] = l.State + "/" + l.Origin
		if l.Code == pending.PairingCode && (l.SIN == nil || *l.SIN != cli.sin()) {
			t.Errorf("listed SIN %v, want %s", l.SIN, cli.sin())
		}
		// The operator sees where a client's request came from.
		if l.Code == pending.PairingCode && (l.Source == nil || *l.Source != "127.0.0.1") {
			t.Errorf("listed source %v, want 127.0.0.1", l.Source)
		}
	}
	if states[pending.PairingCode] != "waiting_for_approval/client" || states[code] != "paired/operator" || states[expired] != "expired/operator" {
		t.Errorf("pairing list states = %v", states)
	}
	if exit, out, errOut := pairingCLI(t, db, "approve", pending.PairingCode); exit != 0 || !strings.Contains(out, "Approved") {
		t.Fatalf("pairing approve: exit %d: %s %s", exit, out, errOut)
	}
	if got := cli.getInvoices(); len(got) != 0 {
		t.Errorf("approved client sees invoices %v", got)
	}
	cli.createInvoice([]kv{{"price", "0.01"}, {"currency", "LTC"}})

	// Early btcpay-python releases wrote SINs in a wrong alphabet; such a
	// client pairs and signs all the same.
	legacy := newBPClient(t, d.url, bitpayPublicURL)
	r = legacy.do("POST", "/tokens", pyJSON([]kv{{"id", legacy.legacySIN()}, {"pairingCode", createCode(t, db, "legacy")}}), nil)
	var paired struct {
		Data []tokenData `json:"data"`
	}
	if r.decode(t, &paired); r.status != 200 || len(paired.Data) != 1 || strings.HasPrefix(legacy.legacySIN(), "T") {
		t.Fatalf("pairing with a legacy SIN: %d %s", r.status, r.body)
	}
	legacy.token = paired.Data[0].Token
	legacy.createInvoice([]kv{{"price", 1}, {"currency", "USD"}})

	// The CLI's refusals exit non-zero with a message.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", pending.PairingCode}, "already approved"},
		{[]string{"approve", code}, "created by the operator"},
		{[]string{"approve", "zzzzzzz"}, "no such pairing code"},
		{[]string{"approve"}, "exactly one pairing code"},
		{[]string{"create"}, "--label is required"},
		{[]string{"create", "--label"}, "flag needs an argument"},
		{[]string{"frobnicate"}, "unknown command"},
		{nil, "usage: transientd pairing"},
	} {
		exit, _, errOut := pairingCLI(t, db, tc.args...)
		if exit == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("pairing %v: exit %d, stderr %q, want non-zero and %q", tc.args, exit, errOut, tc.want)
		}
	}
	for _, args := range [][]string{{"--help"}, {"create", "--help"}, {"list", "-h"}, {"approve", "--help"}} {
		exit, out, errOut := pairingCLI(t, db, args...)
		if exit != 0 || !strings.Contains(out+errOut, "usage: transientd pairing") {
			t.Errorf("pairing %v: exit %d, output %q", args, exit, out+errOut)
		}
	}
	exit, out, _ = pairingCLI(t, db, "create", "--label", "shop3", "--json")
	var created struct{ Code, State, Label, Facade string }
	if err := json.Unmarshal([]byte(out), &created); exit != 0 || err != nil || created.State != "waiting_for_client" ||
		created.Label != "shop3" || created.Facade != "merchant" || len(created.Code) != 7 {
		t.Errorf("pairing create --json: exit %d %v: %s", exit, err, out)
	}
	if exit, out, _ := pairingCLI(t, db, "list"); exit != 0 || !strings.Contains(out, created.Code) || !strings.Contains(out, "waiting_for_client") {
		t.Errorf("pairing list: exit %d: %s", exit, out)
	}
}

// TestBitPayRateOutage takes the primary rate feed down (the fallback
// takes over once the primary's rates pass RATES_MAX_AGE), then the
// fallback (invoices in USD are refused with 503 once its rates pass the
// maximum age; invoices in the coin still work), then brings the primary
// back.
func TestBitPayRateOutage(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "")
	primary := startRateFeed(t, `"LTC_USD": 80`)
	fallback := startRateFeed(t, `"LTC_USD": 81`)
	d, db := bitpayDaemon(t, node, addr, "RATES_URL="+primary.url, "RATES_FALLBACK_URL="+fallback.url,
		"RATES_REFRESH_INTERVAL=100ms", "RATES_MAX_AGE=1s")
	shop := newBPClient(t, d.url, bitpayPublicURL)
	shop.pair(createCode(t, db, "shop1"))
	usd := []kv{{"price", 8}, {"currency", "USD"}}

	waitRate := func(want string) {
		t.Helper()
		var got string
		waitFor(t, 15*time.Second, func() bool { got = shop.getRate("USD", "LTC"); return got == want },
			func() string { return fmt.Sprintf("LTC_USD is %q, want %q", got, want) })
	}
	waitRate("80")
	if inv := shop.createInvoice(usd); inv.Rate.String() != "80" || inv.BTCPrice != "0.1" {
		t.Errorf("primary: rate %s btcPrice %s", inv.Rate, inv.BTCPrice)
	}

	primary.down.Store(true)
	waitRate("81")
	if inv := shop.createInvoice(usd); inv.Rate.String() != "81" || inv.BTCPrice != ltc(coinUnits(t, "8", "81")) {
		t.Errorf("fallback: rate %s btcPrice %s", inv.Rate, inv.BTCPrice)
	}

	fallback.down.Store(true)
	waitRate("")
	r := shop.signedPost("/invoices", usd)
	if r.status != 503 || string(bytes.TrimSpace(r.body)) != `{"error":"rate unavailable for LTC_USD","errors":[{"error":"rate unavailable for LTC_USD"}]}` {
		t.Errorf("no fresh rate: %d %s", r.status, r.body)
	}
	if inv := shop.createInvoice([]kv{{"price", 0.1}, {"currency", "LTC"}}); inv.BTCPrice != "0.1" {
		t.Errorf("LTC invoice during the outage: btcPrice %s", inv.BTCPrice)
	}

	primary.down.Store(false)
	waitRate("80")
	if inv := shop.createInvoice(usd); inv.Rate.String() != "80" {
		t.Errorf("primary back: rate %s", inv.Rate)
	}
}

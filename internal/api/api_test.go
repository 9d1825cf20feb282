package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/hangserver"
	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

const (
	testKey    = "test-key-0123456789abcdef"
	testNotify = "notify-token-0123456789"
)

// testAPI is a real API server on a fresh database and the shared node.
type testAPI struct {
	t    testing.TB
	srv  *httptest.Server
	pool *pgxpool.Pool
	svc  *payments.Service
}

type apiOption func(*payments.Config, *Config)

func newAPI(t *testing.T, opts ...apiOption) *testAPI {
	t.Helper()
	n := testNode(t)
	return newAPIOn(t, n.Client(regtest.MerchantWallet), n.Client(regtest.MerchantWallet), opts...)
}

// newAPIOn is newAPI with coin LTC on coinNode, and readiness asking
// healthNode (none when nil).
func newAPIOn(t testing.TB, coinNode payments.Node, healthNode health.Node, opts ...apiOption) *testAPI {
	t.Helper()
	pool := pgtest.NewPool(t)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pcfg := payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: coinNode, Confirmations: 6,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet}},
		NodeTimeout:      2 * time.Second,
		Jobs:             jobs,
		MonitoringWindow: 24 * time.Hour,
	}
	// Deliveries are queued but never worked: no River workers run here.
	pcfg.Outbox = webhook.NewOutbox(pool, jobs, webhook.Config{URL: "http://127.0.0.1:9/hook"})
	acfg := Config{Keys: NewStaticKeys([]string{testKey}), NotifyToken: testNotify, Webhooks: pcfg.Outbox.(*webhook.Outbox),
		Metrics: metrics.New(), ServeMetrics: true}
	if healthNode != nil {
		acfg.Ready = health.NewChecker(health.Config{Pool: pool, Nodes: map[string]health.Node{"LTC": healthNode}, Cache: -1})
	}
	for _, o := range opts {
		o(&pcfg, &acfg)
	}
	svc := payments.NewService(pool, pcfg)
	acfg.Payments = svc
	srv := httptest.NewServer(New(acfg))
	t.Cleanup(srv.Close)
	return &testAPI{t: t, srv: srv, pool: pool, svc: svc}
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// errorCode returns error.code of an error answer, checking its shape.
func (r response) errorCode(t testing.TB) (code, message string) {
	t.Helper()
	m := r.json(t)
	if m["success"] != false {
		t.Fatalf("error body without success=false: %s", r.body)
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("error body without error object: %s", r.body)
	}
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	if code == "" || message == "" {
		t.Fatalf("error without code or message: %s", r.body)
	}
	return code, message
}

func (a *testAPI) do(method, path string, body string, header ...string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	// Every answer must match openapi/openapi.yaml.
	openapitest.Check(a.t, req, resp.StatusCode, resp.Header, b)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *testAPI) authed(method, path, body string) response {
	a.t.Helper()
	return a.do(method, path, body, "Authorization", "Bearer "+testKey)
}

// create makes a payment and returns its JSON object.
func (a *testAPI) create(body string) map[string]any {
	a.t.Helper()
	r := a.authed("POST", "/payments", body)
	if r.status != http.StatusCreated {
		a.t.Fatalf("POST /payments %s: %d %s", body, r.status, r.body)
	}
	m := r.json(a.t)
	if m["success"] != true {
		a.t.Fatalf("success is not true: %s", r.body)
	}
	return m["payment"].(map[string]any)
}

func TestCreatePayment(t *testing.T) {
	a := newAPI(t)
	r := a.authed("POST", "/payments", `{"currency":"LTC","amount":10.5,"account":"order-42","order_id":"42",
		"metadata":{"cart":[1,2]},"expires_in":900,"confirmations":3}`)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	p := r.json(t)["payment"].(map[string]any)
	if r.header.Get("Location") != "/payments/"+p["id"].(string) {
		t.Errorf("Location = %q", r.header.Get("Location"))
	}
	// Amounts are printed with their exact decimal text.
	if !bytes.Contains(r.body, []byte(`"amount":10.5,`)) || !bytes.Contains(r.body, []byte(`"amount_received":0,`)) ||
		!bytes.Contains(r.body, []byte(`"amount_recieved":0,`)) {
		t.Errorf("amounts not printed exactly: %s", r.body)
	}
	addr := p["payment_address"].(string)
	if !strings.HasPrefix(addr, "rltc1") {
		t.Errorf("payment_address = %q, want a regtest bech32 address", addr)
	}
	want := map[string]any{
		"currency": "LTC", "status": "UNPAID", "payment_uri": "litecoin:" + addr + "?amount=10.5",
		"confirmations_required": 3.0, "order_id": "42", "account": "order-42",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if txs, ok := p["transactions"].([]any); !ok || len(txs) != 0 {
		t.Errorf("transactions = %v, want []", p["transactions"])
	}
	if md, _ := json.Marshal(p["metadata"]); string(md) != `{"cart":[1,2]}` {
		t.Errorf("metadata = %s", md)
	}
	created, _ := time.Parse(time.RFC3339Nano, p["created_at"].(string))
	expires, _ := time.Parse(time.RFC3339Nano, p["expires_at"].(string))
	if d := expires.Sub(created); d != 900*time.Second {
		t.Errorf("expires_at - created_at = %s, want 15m", d)
	}

	// The node's wallet labelled the address with the account.
	var info struct {
		IsMine bool     `json:"ismine"`
		Labels []string `json:"labels"`
	}
	if err := testNode(t).Client(regtest.MerchantWallet).Call(context.Background(), "getaddressinfo", []any{addr}, &info); err != nil {
		t.Fatal(err)
	}
	if !info.IsMine || len(info.Labels) != 1 || info.Labels[0] != "order-42" {
		t.Errorf("getaddressinfo = %+v, want mine with label order-42", info)
	}

	// GET returns the same object.
	g := a.do("GET", "/payments/"+p["id"].(string), "")
	if g.status != http.StatusOK {
		t.Fatalf("GET: %d %s", g.status, g.body)
	}
	if got := g.json(t)["payment"].(map[string]any); got["payment_address"] != addr || got["amount"] != 10.5 {
		t.Errorf("GET payment = %v", got)
	}
}

func TestCreatePaymentAmounts(t *testing.T) {
	// Above every coin's supply but Dogecoin's: the amount is beyond
	// float64's exact integers.
	a := newAPI(t, func(pc *payments.Config, _ *Config) { pc.Coins[0].MaxAmount = payments.MaxAmount })
	for _, tt := range []struct{ in, want string }{
		{`"0.3"`, `"amount":0.3,`},
		{`0.30000000`, `"amount":0.3,`},
		{`"0.00000001"`, `"amount":0.00000001,`},
		{`12345678.12345678`, `"amount":12345678.12345678,`},
		{`"90071992.54740993"`, `"amount":90071992.54740993,`},
	} {
		r := a.authed("POST", "/payments", `{"currency":"ltc","amount":`+tt.in+`}`)
		if r.status != http.StatusCreated || !bytes.Contains(r.body, []byte(tt.want)) {
			t.Errorf("amount %s: %d %s, want %s", tt.in, r.status, r.body, tt.want)
		}
	}
}

func TestCreatePaymentRefusals(t *testing.T) {
	a := newAPI(t)
	big := `{"currency":"LTC","amount":1,"metadata":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`
	tests := []struct {
		name, body, contentType string
		status                  int
		code, field, msgHas     string
	}{
		{"malformed JSON", `{"currency":"LTC",`, "", 400, "malformed_json", "", "JSON"},
		{"not an object", `[1,2]`, "", 400, "malformed_json", "", "object"},
		{"empty body", ``, "application/json", 400, "malformed_json", "", "empty"},
		{"trailing data", `{"currency":"LTC","amount":1} {}`, "", 400, "malformed_json", "", "exactly one"},
		{"unknown field", `{"currency":"LTC","amount":1,"colour":"red"}`, "", 400, "unknown_field", "colour", `"colour"`},
		{"wrong type", `{"currency":"LTC","amount":1,"confirmations":"six"}`, "", 400, "invalid_field", "confirmations", "integer"},
		{"currency wrong type", `{"currency":5,"amount":1}`, "", 400, "invalid_field", "currency", "string"},
		{"missing amount", `{"currency":"LTC"}`, "", 400, "invalid_amount", "amount", "required"},
		{"zero amount", `{"currency":"LTC","amount":0}`, "", 400, "invalid_amount", "amount", "greater than 0"},
		{"negative amount", `{"currency":"LTC","amount":"-1"}`, "", 400, "invalid_amount", "amount", "greater than 0"},
		{"nine decimals", `{"currency":"LTC","amount":"0.123456789"}`, "", 400, "invalid_amount", "amount", "8 decimal"},
		{"exponent", `{"currency":"LTC","amount":1e3}`, "", 400, "invalid_amount", "amount", "exponent"},
		{"huge", `{"currency":"LTC","amount":"100000000000"}`, "", 400, "invalid_amount", "amount", "at most"},
		{"amount bool", `{"currency":"LTC","amount":true}`, "", 400, "invalid_amount", "amount", "number"},
		{"unsupported currency", `{"currency":"XMR","amount":1}`, "", 400, "unsupported_currency", "currency", "LTC"},
		{"missing currency", `{"amount":1}`, "", 400, "unsupported_currency", "currency", "LTC"},
		{"bad expiry", `{"currency":"LTC","amount":1,"expires_in":-5}`, "", 400, "invalid_expiry", "expires_in", "seconds"},
		{"bad expires_at", `{"currency":"LTC","amount":1,"expires_at":"tomorrow"}`, "", 400, "invalid_expiry", "expires_at", "RFC 3339"},
		{"past expires_at", `{"currency":"LTC","amount":1,"expires_at":"2001-01-01T00:00:00Z"}`, "", 400, "invalid_expiry", "expires_at", "future"},
		{"both expiries", `{"currency":"LTC","amount":1,"expires_in":60,"expires_at":"2099-01-01T00:00:00Z"}`, "", 400, "invalid_expiry", "expires_in", "not both"},
		{"too many confirmations", `{"currency":"LTC","amount":1,"confirmations":5000}`, "", 400, "invalid_confirmations", "confirmations", "1000"},
		{"zero confirmations without zero-conf", `{"currency":"LTC","amount":1,"confirmations":0}`, "", 400, "invalid_confirmations", "confirmations", "LTC_ZERO_CONF is off"},
		// 577 × 150 s is 2.5 minutes more than the 24 h window.
		{"confirmations past the monitoring window", `{"currency":"LTC","amount":1,"confirmations":577}`, "", 400, "invalid_confirmations", "confirmations", "at most 576"},
		{"metadata not object", `{"currency":"LTC","amount":1,"metadata":[1]}`, "", 400, "invalid_field", "metadata", "object"},
		{"callback to loopback", `{"currency":"LTC","amount":1,"callback_url":"http://127.0.0.1:8000/hook"}`, "", 400, "invalid_field", "callback_url", "private"},
		{"callback to localhost", `{"currency":"LTC","amount":1,"callback_url":"http://localhost/hook"}`, "", 400, "invalid_field", "callback_url", "private"},
		{"callback to metadata service", `{"currency":"LTC","amount":1,"callback_url":"http://169.254.169.254/"}`, "", 400, "invalid_field", "callback_url", "private"},
		{"callback not http", `{"currency":"LTC","amount":1,"callback_url":"ftp://shop.example/hook"}`, "", 400, "invalid_field", "callback_url", "http"},
		{"redirect not absolute", `{"currency":"LTC","amount":1,"redirect_url":"/thanks"}`, "", 400, "invalid_field", "redirect_url", "absolute"},
		{"body too large", big, "", 413, "body_too_large", "", "bytes"},
		{"wrong content type", `{"currency":"LTC","amount":1}`, "text/plain", 415, "unsupported_media_type", "", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := []string{"Authorization", "Bearer " + testKey}
			if tt.contentType != "" {
				h = append(h, "Content-Type", tt.contentType)
			}
			r := a.do("POST", "/payments", tt.body, h...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			code, msg := r.errorCode(t)
			if code != tt.code || !strings.Contains(msg, tt.msgHas) {
				t.Errorf("error %s %q, want %s containing %q", code, msg, tt.code, tt.msgHas)
			}
			if field, _ := r.json(t)["error"].(map[string]any)["field"].(string); field != tt.field {
				t.Errorf("field = %q, want %q", field, tt.field)
			}
		})
	}
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("payments stored after refusals: %d (%v)", n, err)
	}
}

func TestRoutesAndAuth(t *testing.T) {
	a := newAPI(t)
	id := a.create(`{"currency":"LTC","amount":1}`)["id"].(string)
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     string
	}{
		{"create without key", "POST", "/payments", `{"currency":"LTC","amount":1}`, nil, 401, "unauthorized"},
		{"create with wrong key", "POST", "/payments", `{"currency":"LTC","amount":1}`, []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		{"create with basic auth", "POST", "/payments", `{"currency":"LTC","amount":1}`, []string{"Authorization", "Basic " + testKey}, 401, "unauthorized"},
		{"list without key", "GET", "/payments", "", nil, 401, "unauthorized"},
		{"get is public", "GET", "/payments/" + id, "", nil, 200, ""},
		{"qr is public", "GET", "/payments/" + id + "/qrcode.png", "", nil, 200, ""},
		{"unknown payment", "GET", "/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2", "", nil, 404, "not_found"},
		{"malformed id", "GET", "/payments/not-a-uuid", "", nil, 400, "invalid_id"},
		{"malformed id qr", "GET", "/payments/123/qrcode.png", "", nil, 400, "invalid_id"},
		{"unknown route", "GET", "/nope", "", nil, 404, "not_found"},
		{"wrong method", "DELETE", "/payments/" + id, "", nil, 405, "method_not_allowed"},
		{"wrong method on collection", "PUT", "/payments", "", nil, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(tt.method, tt.path, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				if code, _ := r.errorCode(t); code != tt.code {
					t.Errorf("code %s, want %s", code, tt.code)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestListPayments(t *testing.T) {
	a := newAPI(t)
	var ids []string
	for i := range 5 {
		order := "A"
		if i%2 == 1 {
			order = "B"
		}
		ids = append(ids, a.create(`{"currency":"LTC","amount":1,"order_id":"` + order + `"}`)["id"].(string))
	}
	list := func(query string) ([]string, string) {
		t.Helper()
		r := a.authed("GET", "/payments"+query, "")
		if r.status != 200 {
			t.Fatalf("GET /payments%s: %d %s", query, r.status, r.body)
		}
		var body struct {
			Payments []struct {
				ID string `json:"id"`
			} `json:"payments"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range body.Payments {
			got = append(got, p.ID)
		}
		next := ""
		if body.NextCursor != nil {
			next = *body.NextCursor
		}
		return got, next
	}
	equal := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	got, next := list("")
	equal(got, ids[4], ids[3], ids[2], ids[1], ids[0]) // newest first
	if next != "" {
		t.Errorf("next_cursor %q on the last page", next)
	}
	got, next = list("?limit=2")
	equal(got, ids[4], ids[3])
	got, next = list("?limit=2&cursor=" + next)
	equal(got, ids[2], ids[1])
	got, next = list("?limit=2&cursor=" + next)
	equal(got, ids[0])
	if next != "" {
		t.Errorf("next_cursor after the last page")
	}
	got, _ = list("?order_id=B")
	equal(got, ids[3], ids[1])
	got, _ = list("?status=UNPAID&currency=LTC")
	if len(got) != 5 {
		t.Errorf("status filter: %v", got)
	}
	got, _ = list("?status=PAID,EXPIRED")
	equal(got)
	got, _ = list("?created_after=2099-01-01T00:00:00Z")
	equal(got)
	got, _ = list("?created_before=2099-01-01T00:00:00Z&limit=1")
	equal(got, ids[4])

	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?status=DONE", "?currency=XMR",
		"?cursor=garbage", "?created_after=yesterday", "?colour=red"} {
		r := a.authed("GET", "/payments"+q, "")
		if r.status != 400 {
			t.Errorf("GET /payments%s: %d, want 400", q, r.status)
			continue
		}
		r.errorCode(t)
	}
}

func TestNodeDownGives503(t *testing.T) {
	// A port where nothing listens: connection refused.
	refused := closedPort(t)
	// A node that accepts connections and never answers.
	hung, _ := hangserver.Start(t)
	for name, addr := range map[string]string{"refused": refused, "hung": hung} {
		t.Run(name, func(t *testing.T) {
			client, err := coind.New(coind.Config{URL: "http://u:p@" + addr, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			a := newAPI(t, func(p *payments.Config, _ *Config) {
				p.Coins[0].Node = client
				p.NodeTimeout = time.Second
			})
			start := time.Now()
			r := a.authed("POST", "/payments", `{"currency":"LTC","amount":1}`)
			if r.status != 503 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if code, msg := r.errorCode(t); code != "coin_unavailable" || !strings.Contains(msg, "LTC") {
				t.Errorf("error %s %q", code, msg)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("503 took %s", d)
			}
			if strings.Contains(string(r.body), "u:p") {
				t.Errorf("credentials leaked: %s", r.body)
			}
			var n int
			if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("payments stored: %d (%v)", n, err)
			}
		})
	}
}

func TestDatabaseDownGives503(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+closedPort(t)+"/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: testNode(t).Client(regtest.MerchantWallet), Confirmations: 6, URIScheme: "litecoin"}},
	})
	srv := httptest.NewServer(New(Config{Payments: svc, Keys: NewStaticKeys([]string{testKey})}))
	t.Cleanup(srv.Close)
	a := &testAPI{t: t, srv: srv}
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2", ""},
		{"GET", "/payments", ""},
		{"POST", "/payments", `{"currency":"LTC","amount":1}`},
	} {
		start := time.Now()
		r := a.authed(req.method, req.path, req.body)
		if r.status != 503 {
			t.Errorf("%s %s: %d %s, want 503", req.method, req.path, r.status, r.body)
			continue
		}
		if code, _ := r.errorCode(t); code != "database_unavailable" {
			t.Errorf("%s %s: code %s", req.method, req.path, code)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s %s: 503 took %s", req.method, req.path, d)
		}
	}
}

func TestNotify(t *testing.T) {
	a := newAPI(t)
	txid := strings.Repeat("ab", 32)
	auth := []string{"Authorization", "Bearer " + testNotify}
	tests := []struct {
		name, path, body string
		header           []string
		status           int
		code             string
	}{
		{"tx", "/notify/tx", `{"coin":"LTC","hash":"` + txid + `","wallet":"merchant"}`, auth, 202, ""},
		{"tx again", "/notify/tx", `{"coin":"ltc","hash":"` + strings.ToUpper(txid) + `"}`, auth, 202, ""},
		{"block", "/notify/block", `{"coin":"LTC","hash":"` + strings.Repeat("cd", 32) + `"}`, auth, 202, ""},
		{"other wallet", "/notify/tx", `{"coin":"LTC","hash":"` + strings.Repeat("ef", 32) + `","wallet":"miner"}`, auth, 202, ""},
		{"no token", "/notify/tx", `{"coin":"LTC","hash":"` + txid + `"}`, nil, 401, "unauthorized"},
		{"wrong token", "/notify/tx", `{"coin":"LTC","hash":"` + txid + `"}`, []string{"Authorization", "Bearer " + testKey}, 401, "unauthorized"},
		{"short hash", "/notify/tx", `{"coin":"LTC","hash":"abc"}`, auth, 400, "invalid_hash"},
		{"not hex", "/notify/block", `{"coin":"LTC","hash":"` + strings.Repeat("zz", 32) + `"}`, auth, 400, "invalid_hash"},
		{"unknown coin", "/notify/tx", `{"coin":"DOGE","hash":"` + txid + `"}`, auth, 400, "unsupported_currency"},
		{"malformed", "/notify/tx", `{"coin":`, auth, 400, "malformed_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", tt.path, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				if code, _ := r.errorCode(t); code != tt.code {
					t.Errorf("code %s, want %s", code, tt.code)
				}
			}
		})
	}
	// Two tx hints for one txid were stored once; the other wallet's was
	// dropped; the block hint is stored.
	rows, err := a.pool.Query(context.Background(), `SELECT kind, args->>'coin', coalesce(args->>'txid', args->>'hash') FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var kind, coin, hash string
		err := r.Scan(&kind, &coin, &hash)
		return kind + " " + coin + " " + hash, err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tx_hint LTC " + txid, "block_hint LTC " + strings.Repeat("cd", 32)}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stored jobs %v, want %v", got, want)
	}

	off := newAPI(t, func(_ *payments.Config, c *Config) { c.NotifyToken = "" })
	r := off.do("POST", "/notify/tx", `{"coin":"LTC","hash":"`+txid+`"}`, auth...)
	if code, _ := r.errorCode(t); r.status != 403 || code != "notify_disabled" {
		t.Errorf("with no NOTIFY_TOKEN: %d %s", r.status, r.body)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestEventsAndRedelivery(t *testing.T) {
	a := newAPI(t)
	p := a.create(`{"currency":"LTC","amount":"0.3","callback_url":"https://shop.example/hook","redirect_url":"https://shop.example/thanks"}`)
	id := p["id"].(string)
	if p["redirect_url"] != "https://shop.example/thanks" {
		t.Errorf("redirect_url = %v", p["redirect_url"])
	}
	if _, ok := p["callback_url"]; ok {
		t.Errorf("the public payment object shows the shop's callback_url")
	}
	ctx := context.Background()
	txid, err := testNode(t).Send(ctx, regtest.MinerWallet, p["payment_address"].(string), 30_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	if r := a.do("GET", "/payments/"+id+"/events", ""); r.status != 401 {
		t.Fatalf("events without a key: %d", r.status)
	}
	r := a.authed("GET", "/payments/"+id+"/events", "")
	if r.status != 200 {
		t.Fatalf("events: %d %s", r.status, r.body)
	}
	var body eventsResponse
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Events) != 2 {
		t.Fatalf("events = %s, want the created event and one status change", r.body)
	}
	if c := body.Events[0]; c.Status != "UNPAID" || c.PreviousStatus != "" || c.Sequence != 1 || c.Type != "payment.created" ||
		len(c.Deliveries) != 0 {
		t.Errorf("first event = %+v, want payment.created #1 UNPAID, recorded but not POSTed (payments.Config.CreatedWebhooks is off)", c)
	}
	ev := body.Events[1]
	if ev.Status != "PENDING" || ev.PreviousStatus != "UNPAID" || ev.Sequence != 2 || ev.Type != "payment.status_changed" {
		t.Errorf("event = %+v", ev)
	}
	var payload map[string]any
	if err := json.Unmarshal(ev.Payload, &payload); err != nil || payload["payment_id"] != id || payload["status"] != "PENDING" ||
		payload["event_id"] != ev.ID {
		t.Errorf("payload = %s", ev.Payload)
	}
	urls := map[string]bool{}
	for _, d := range ev.Deliveries {
		urls[d.URL] = true
		if d.State != "pending" {
			t.Errorf("delivery %s state %s", d.URL, d.State)
		}
	}
	if !urls["http://127.0.0.1:9/hook"] || !urls["https://shop.example/hook"] || len(urls) != 2 {
		t.Errorf("deliveries to %v, want the global URL and the callback", urls)
	}

	rd := a.authed("POST", "/events/"+ev.ID+"/redeliver", "")
	if rd.status != 202 {
		t.Fatalf("redeliver: %d %s", rd.status, rd.body)
	}
	var red redeliverResponse
	if err := json.Unmarshal(rd.body, &red); err != nil || len(red.Deliveries) != 2 || red.EventID != ev.ID {
		t.Fatalf("redeliver = %s", rd.body)
	}
	r = a.authed("GET", "/payments/"+id+"/events", "")
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if n := len(body.Events[1].Deliveries); n != 4 {
		t.Errorf("deliveries after redelivery = %d, want 4", n)
	}

	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/events/7d444840-9dc0-11d1-b245-5ffdce74fad2/redeliver", 404, "not_found"},
		{"POST", "/events/nope/redeliver", 400, "invalid_id"},
		{"GET", "/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/events", 404, "not_found"},
	} {
		r := a.authed(tt.method, tt.path, "")
		if code, _ := r.errorCode(t); r.status != tt.status || code != tt.code {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, r.status, r.body)
		}
	}
}

func TestAllowUnauthenticated(t *testing.T) {
	a := newAPI(t, func(_ *payments.Config, c *Config) { c.AllowUnauthenticated = true })
	if r := a.do("POST", "/payments", `{"currency":"LTC","amount":1}`); r.status != http.StatusCreated {
		t.Fatalf("without a key: %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/payments", ""); r.status != http.StatusOK {
		t.Fatalf("list without a key: %d %s", r.status, r.body)
	}
	// A key that is sent is still checked.
	r := a.do("POST", "/payments", `{"currency":"LTC","amount":1}`, "Authorization", "Bearer wrong-key")
	if code, _ := r.errorCode(t); r.status != http.StatusUnauthorized || code != "unauthorized" {
		t.Fatalf("with a wrong key: %d %s", r.status, r.body)
	}
	// Without the setting, no key is no access.
	closed := newAPI(t)
	if r := closed.do("POST", "/payments", `{"currency":"LTC","amount":1}`); r.status != http.StatusUnauthorized {
		t.Fatalf("closed API without a key: %d", r.status)
	}
}

// TestEventStreamsHaveNoRequestDeadline: the stream route alone lives past
// the request deadline; an Accept header any client can send changes
// nothing.
func TestEventStreamsHaveNoRequestDeadline(t *testing.T) {
	probe := func(w http.ResponseWriter, r *http.Request) {
		_, has := r.Context().Deadline()
		fmt.Fprint(w, has)
	}
	srv := httptest.NewServer(New(Config{Payments: payments.NewService(nil, payments.Config{}), RequestTimeout: time.Minute,
		Mounts: []func(chi.Router){func(r chi.Router) {
			r.Get("/probe", probe)
			r.Get("/payments/{id}/stream", probe)
			r.Get("/payments/{id}/stream/x", probe)
		}}}))
	defer srv.Close()
	for _, tt := range []struct{ path, accept, want string }{
		{"/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/stream", "text/event-stream", "false"},
		{"/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/stream", "", "false"},
		{"/probe", "text/event-stream", "true"},
		{"/probe", "application/json", "true"},
		{"/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/stream/x", "text/event-stream", "true"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
		req.Header.Set("Accept", tt.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != tt.want {
			t.Errorf("GET %s with Accept %q: deadline %s, want %s", tt.path, tt.accept, body, tt.want)
		}
	}
}

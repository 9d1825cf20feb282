package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/apikeys"
	"github.com/transient-gateway/transient/internal/bitpay"
	"github.com/transient-gateway/transient/internal/checkout"
	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/greenfield"
	"github.com/transient-gateway/transient/internal/hangserver"
	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/openapi"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// TestRoutesMatchOpenAPI walks the router and the document: every route
// the API serves is described, and every described operation is served.
// The parts transientd mounts beside the API (the BitPay API and the
// checkout page, the Greenfield API) are held to the same rule: their
// operations in the document are the ones tagged bitpay, checkout or
// greenfield.
func TestRoutesMatchOpenAPI(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]func(chi.Router){
		"bitpay":     bitpay.New(bitpay.Config{}).Mount,
		"checkout":   checkout.New(checkout.Config{}).Mount,
		"greenfield": greenfield.New(greenfield.Config{}).Mount,
	}
	walk := func(h http.Handler, trim bool) []string {
		t.Helper()
		var routes []string
		err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			if trim && route != "/" {
				route = strings.TrimSuffix(route, "/")
			}
			routes = append(routes, method+" "+route)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(routes)
		return routes
	}
	// The API's own routes. A subrouter's "/" walks as "/payments/", which
	// the document describes as /payments, hence the trim.
	served := map[string][]string{"": walk(New(Config{Metrics: metrics.New(), ServeMetrics: true}), true)}
	// The parts' routes exactly as they register them: the BitPay API
	// serves each route with and without a trailing slash, and the document
	// must describe both.
	for tag, mount := range mounts {
		r := chi.NewRouter()
		mount(r)
		served[tag] = walk(r, false)
	}
	described := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			part := ""
			for _, tag := range op.Tags {
				if _, ok := mounts[tag]; ok {
					part = tag
				}
			}
			described[part] = append(described[part], method+" "+path)
		}
	}
	for part, routes := range served {
		name := "the API"
		if part != "" {
			name = "the " + part + " part"
		}
		for _, r := range routes {
			if !slices.Contains(described[part], r) {
				t.Errorf("%s is served by %s but not described in openapi/openapi.yaml (with tag %q)", r, name, part)
			}
		}
		for _, r := range described[part] {
			if !slices.Contains(routes, r) {
				t.Errorf("%s is described in openapi/openapi.yaml (with tag %q) but not served by %s", r, part, name)
			}
		}
	}
	if n := len(served[""]); n < 12 {
		t.Errorf("only %d routes walked: %v", n, served[""])
	}
	if n := len(served["bitpay"]); n != 16 {
		t.Errorf("%d BitPay routes walked, want 16: %v", n, served["bitpay"])
	}

	// Mounted into the API's router, as transientd does, every part's route
	// is still there.
	all := walk(New(Config{Metrics: metrics.New(), ServeMetrics: true, Mounts: []func(chi.Router){mounts["bitpay"], mounts["checkout"],
		mounts["greenfield"]}}), false)
	for _, tag := range []string{"bitpay", "checkout", "greenfield"} {
		for _, r := range served[tag] {
			if !slices.Contains(all, r) {
				t.Errorf("%s (%s) is missing from the API's router once mounted: %v", r, tag, all)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	a := newAPI(t)
	r := a.do("GET", "/openapi.yaml", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/yaml" || !bytes.Equal(r.body, openapi.YAML) {
		t.Fatalf("GET /openapi.yaml: %d %q, %d bytes", r.status, r.header.Get("Content-Type"), len(r.body))
	}
	if !bytes.HasPrefix(r.body, []byte("openapi: 3.1.")) {
		t.Errorf("not an OpenAPI 3.1 document: %.40s", r.body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	a := newAPI(t)
	r := a.do("GET", "/healthz", "")
	if r.status != 200 || r.json(t)["status"] != "ok" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	r = a.do("GET", "/readyz", "")
	var rep readyzResponse
	if err := json.Unmarshal(r.body, &rep); err != nil || r.status != 200 || !rep.Ready || len(rep.Checks) != 3 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}

	// The node and the database down: 503 at once, naming the checks.
	deadNode, err := coind.New(coind.Config{URL: "http://u:p@" + closedPort(t), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadPool, err := pgxpool.New(context.Background(), "postgres://postgres@"+closedPort(t)+"/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	down := newAPI(t, func(_ *payments.Config, c *Config) {
		c.Ready = health.NewChecker(health.Config{Pool: deadPool, Nodes: map[string]health.Node{"LTC": deadNode}, Timeout: time.Second})
	})
	start := time.Now()
	r = down.do("GET", "/readyz", "")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("readyz with everything down took %s", d)
	}
	if err := json.Unmarshal(r.body, &rep); err != nil || r.status != 503 || rep.Ready {
		t.Fatalf("readyz down: %d %s", r.status, r.body)
	}
	failed := map[string]string{}
	for _, c := range rep.Checks {
		if !c.OK {
			failed[c.Name] = c.Error
		}
	}
	if len(failed) != 3 || !strings.Contains(failed["node:LTC"], "does not answer") || !strings.Contains(failed["database"], "cannot connect") {
		t.Errorf("failed checks %v", failed)
	}
	// Liveness does not depend on them.
	if r := down.do("GET", "/healthz", ""); r.status != 200 {
		t.Errorf("healthz with everything down: %d", r.status)
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		out = append(out, m)
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// requestLine returns the request log line with the given request id.
func requestLine(t *testing.T, logs *logBuffer, id string) map[string]any {
	t.Helper()
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" && l["request_id"] == id {
			return l
		}
	}
	t.Fatalf("no request line with request_id %s in:\n%s", id, logs.String())
	return nil
}

func TestRequestLogs(t *testing.T) {
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The daemon hands the payment service its logger wrapped so.
	a := newAPI(t, func(p *payments.Config, c *Config) { p.Logger = slog.New(WithRequestID(log.Handler())); c.Logger = log })

	r := a.authed("POST", "/payments", `{"currency":"LTC","amount":1}`)
	id := r.header.Get(RequestIDHeader)
	if r.status != 201 || id == "" {
		t.Fatalf("create: %d, request id %q", r.status, id)
	}
	line := requestLine(t, logs, id)
	if line["method"] != "POST" || line["route"] != "/payments" || line["status"] != 201.0 || line["level"] != "INFO" {
		t.Errorf("request line %v", line)
	}
	if d, ok := line["duration_ms"].(float64); !ok || d <= 0 {
		t.Errorf("duration_ms = %v", line["duration_ms"])
	}
	paymentID := r.json(t)["payment"].(map[string]any)["id"].(string)

	// A proxy's request id is kept; the route is the pattern; the payment id
	// is a field.
	r = a.do("GET", "/payments/"+paymentID, "", RequestIDHeader, "edge-1234.abc")
	if r.header.Get(RequestIDHeader) != "edge-1234.abc" {
		t.Errorf("X-Request-Id answered %q, want the proxy's", r.header.Get(RequestIDHeader))
	}
	line = requestLine(t, logs, "edge-1234.abc")
	if line["route"] != "/payments/{id}" || line["payment_id"] != paymentID || line["status"] != 200.0 {
		t.Errorf("get line %v", line)
	}
	// A request id that could garble the log is replaced.
	r = a.do("GET", "/payments/"+paymentID, "", RequestIDHeader, `evil "id" with spaces`)
	if got := r.header.Get(RequestIDHeader); got == "" || strings.ContainsAny(got, " \n") {
		t.Errorf("bad request id answered as %q", got)
	}
	// Hints log their coin and txid; unmatched routes say so.
	txid := strings.Repeat("ab", 32)
	r = a.do("POST", "/notify/tx", `{"coin":"ltc","hash":"`+txid+`"}`, "Authorization", "Bearer "+testNotify)
	line = requestLine(t, logs, r.header.Get(RequestIDHeader))
	if line["route"] != "/notify/tx" || line["coin"] != "LTC" || line["txid"] != txid || line["status"] != 202.0 {
		t.Errorf("hint line %v", line)
	}
	r = a.do("GET", "/nope", "")
	if line = requestLine(t, logs, r.header.Get(RequestIDHeader)); line["route"] != "unmatched" || line["status"] != 404.0 {
		t.Errorf("unmatched line %v", line)
	}

	// The service's own line carries the request's id.
	var created map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "payment created" {
			created = l
		}
	}
	if created == nil || created["payment_id"] != paymentID || created["request_id"] != id {
		t.Errorf("payment created line %v, want payment_id %s and request_id %s", created, paymentID, id)
	}
	// No key or token reaches the log.
	for _, secret := range []string{testKey, testNotify} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	m := metrics.New()
	a := newAPI(t, func(_ *payments.Config, c *Config) { c.Metrics = m })
	a.create(`{"currency":"LTC","amount":1}`)
	a.authed("POST", "/payments", `{"currency":"LTC","amount":-1}`)
	txid := strings.Repeat("cd", 32)
	for range 2 {
		a.do("POST", "/notify/tx", `{"coin":"LTC","hash":"`+txid+`"}`, "Authorization", "Bearer "+testNotify)
	}
	a.do("POST", "/notify/block", `{"coin":"LTC","hash":"`+txid+`"}`, "Authorization", "Bearer "+testNotify)
	a.do("POST", "/notify/block", `{"coin":"LTC","hash":"nope"}`, "Authorization", "Bearer "+testNotify)
	r := a.do("GET", "/metrics", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`transient_http_requests_total{method="POST",route="/payments",status="201"} 1`,
		`transient_http_requests_total{method="POST",route="/payments",status="400"} 1`,
		`transient_http_requests_total{method="POST",route="/notify/tx",status="202"} 2`,
		`transient_hints_received_total{coin="LTC",kind="tx"} 2`,
		`transient_hints_received_total{coin="LTC",kind="block"} 1`,
		`transient_http_request_duration_seconds_count{method="POST",route="/payments"} 2`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The refused block hint is not counted as received.
	if regexp.MustCompile(`transient_hints_received_total\{coin="LTC",kind="block"\} 2`).Match(r.body) {
		t.Error("a refused hint was counted")
	}

	// Without ServeMetrics there is no /metrics route.
	off := newAPI(t, func(_ *payments.Config, c *Config) { c.ServeMetrics = false })
	if r := off.do("GET", "/metrics", ""); r.status != 404 {
		t.Errorf("GET /metrics without ServeMetrics: %d", r.status)
	}
}

// TestStoredAPIKeys checks AnyKey over API_KEYS and the keys in the
// database, as the daemon wires them.
func TestStoredAPIKeys(t *testing.T) {
	var store *apikeys.Store
	a := newAPI(t)
	store = apikeys.NewStore(a.pool, nil)
	srv := httptest.NewServer(New(Config{Payments: a.svc, Keys: AnyKey{NewStaticKeys([]string{testKey}), store}}))
	t.Cleanup(srv.Close)
	b := &testAPI{t: t, srv: srv, pool: a.pool, svc: a.svc}
	ctx := context.Background()
	k, key, err := store.Create(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	list := func(token string) int {
		return b.do("GET", "/payments", "", "Authorization", "Bearer "+token).status
	}
	if got := list(key); got != 200 {
		t.Errorf("stored key: %d", got)
	}
	if got := list(testKey); got != 200 {
		t.Errorf("API_KEYS key: %d", got)
	}
	wrong := key[:len(key)-1] + "a"
	if strings.HasSuffix(key, "a") {
		wrong = key[:len(key)-1] + "b"
	}
	if got := list(wrong); got != 401 {
		t.Errorf("wrong key: %d", got)
	}
	keys, _ := store.List(ctx)
	if len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Errorf("last used not recorded: %+v", keys)
	}
	if _, err := store.Revoke(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	if got := list(key); got != 401 {
		t.Errorf("revoked key: %d", got)
	}
	// Revoked by another process (transientd keys revoke has a Store of
	// its own): refused within apikeys.TrustFor.
	k2, key2, err := store.Create(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	if got := list(key2); got != 200 {
		t.Fatalf("second stored key: %d", got)
	}
	revoked := time.Now()
	if _, err := apikeys.NewStore(a.pool, nil).Revoke(ctx, k2.ID.String()); err != nil {
		t.Fatal(err)
	}
	for list(key2) != 401 {
		if time.Since(revoked) > apikeys.TrustFor+2*time.Second {
			t.Fatalf("a key revoked by another process is still accepted %v later (TrustFor %v)", time.Since(revoked), apikeys.TrustFor)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}

	// The database down: a stored-looking key cannot be checked (503), an
	// API_KEYS key still works without it.
	deadPool, err := pgxpool.New(ctx, "postgres://postgres@"+closedPort(t)+"/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	dead := httptest.NewServer(New(Config{Payments: a.svc, Keys: AnyKey{NewStaticKeys([]string{testKey}), apikeys.NewStore(deadPool, nil)}}))
	t.Cleanup(dead.Close)
	c := &testAPI{t: t, srv: dead}
	r := c.do("POST", "/payments", `{"currency":"LTC","amount":1}`, "Authorization", "Bearer "+key)
	if code, _ := r.errorCode(t); r.status != 503 || code != "database_unavailable" {
		t.Errorf("stored key with the database down: %d %s", r.status, r.body)
	}
	if r := c.do("POST", "/payments", `{"currency":"LTC","amount":1}`, "Authorization", "Bearer "+testKey); r.status != 201 {
		t.Errorf("API_KEYS key with the key store down: %d %s", r.status, r.body)
	}
}

// TestRequestLogLine: the request line's fields and their order, as a text
// log shows them, and no line below the logger's level.
func TestRequestLogLine(t *testing.T) {
	logs := &logBuffer{}
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey:
			return slog.Attr{}
		case "duration_ms":
			if a.Value.Float64() <= 0 {
				t.Errorf("duration_ms = %v", a.Value)
			}
			return slog.Float64(a.Key, 1.5)
		}
		return a
	}}
	a := newAPIOn(t, nil, nil, func(_ *payments.Config, c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, opts))
	})
	id := "7d444840-9dc0-11d1-b245-5ffdce74fad2"
	r := a.do("GET", "/payments/"+id, "", RequestIDHeader, "edge-1")
	if r.status != http.StatusNotFound {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	want := fmt.Sprintf("level=INFO msg=request method=GET route=/payments/{id} path=/payments/%s status=404 duration_ms=1.5 bytes=%d payment_id=%s request_id=edge-1\n",
		id, len(r.body), id)
	if got := logs.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}

	quiet := &logBuffer{}
	a = newAPIOn(t, nil, nil, func(_ *payments.Config, c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(quiet, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	a.do("GET", "/payments/"+id, "")
	if quiet.String() != "" {
		t.Errorf("a WARN logger shows: %s", quiet)
	}
}

// TestClientGoneIsNotAServerError: a client that hangs up while its
// creation waits on the node is logged as 499 at INFO, not as a server
// failure that would page someone.
func TestClientGoneIsNotAServerError(t *testing.T) {
	// A node that accepts connections and never answers; accepted tells
	// when the creation is waiting on it.
	hung, accepted := hangserver.Start(t)
	client, err := coind.New(coind.Config{URL: "http://u:p@" + hung, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newAPI(t, func(p *payments.Config, c *Config) {
		p.Coins[0].Node = client
		p.NodeTimeout = time.Minute
		c.Logger = log
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", a.srv.URL+"/payments", strings.NewReader(`{"currency":"LTC","amount":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set(RequestIDHeader, "gone-1")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the creation never reached the node")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want its own cancellation", err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"request_id":"gone-1"`) || !strings.Contains(logs.String(), `"msg":"request"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no request line for the abandoned creation:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	line := requestLine(t, logs, "gone-1")
	if line["status"] != 499.0 || line["level"] != "INFO" {
		t.Errorf("request line %v, want status 499 at INFO", line)
	}
	for _, l := range logs.lines(t) {
		if l["level"] == "ERROR" || l["level"] == "WARN" {
			t.Errorf("the abandoned creation logged %v", l)
		}
	}
}

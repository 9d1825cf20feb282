package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/bitpay"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// badRequest is one hostile request of TestBadInputEveryRoute.
type badRequest struct {
	name, method, target string
	body                 []byte
	bitpay               bool // BitPay's routes: signed, and BitPay's error shape
	greenfield           bool // Greenfield's routes: a store key, and Greenfield's error shapes
	html                 bool // the route answers a page, and its errors as pages
}

// badServer is transientd serving in-process with every HTTP part on, and
// the credentials to reach each route's validation: an API key, the
// NOTIFY_TOKEN, a paired BitPay key, and a Greenfield store with a key
// holding every store permission.
type badServer struct {
	base, key, notify, token string
	bitpayKey                *btcec.PrivateKey
	store, storeKey          string
	db                       string
}

// TestBadInputEveryRoute sends every route of openapi/openapi.yaml (the
// Transient API, the BitPay API and the Greenfield API; AMQP is not HTTP) malformed JSON, wrong
// types, missing and unknown members, a 10 MB body, deep nesting, invalid
// UTF-8, overlong strings, out-of-range numbers, bad ids and bad query
// parameters, generated from each operation's parameters and body schema.
// Each answer must be a 4xx JSON error with a code (BitPay's shape on its
// routes), never a 5xx, a hang or a stack trace, and nothing may be stored.
func TestBadInputEveryRoute(t *testing.T) {
	s := startBadServer(t)
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.badRequests(doc)
	if len(reqs) < 300 {
		t.Fatalf("only %d requests generated from openapi.yaml", len(reqs))
	}
	before := storedRows(t, s.db)
	client := &http.Client{Timeout: 15 * time.Second}
	for _, r := range reqs {
		t.Run(r.name, func(t *testing.T) { s.check(t, client, r) })
	}
	if after := storedRows(t, s.db); !maps.Equal(before, after) {
		t.Errorf("bad requests stored rows: before %v, after %v", before, after)
	}
	t.Logf("%d requests", len(reqs))
}

// startBadServer runs serve with the API, the hooks, BitPay (with a static
// USD rate) and the checkout page, and pairs a BitPay key.
func startBadServer(t *testing.T) *badServer {
	t.Helper()
	env := nodeEnv(t)
	s := &badServer{key: env["API_KEYS"], notify: "notify-token-0123456789abcdef", db: env["DATABASE_URL"]}
	env["LISTEN_ADDR"] = closedAddr(t)
	env["NOTIFY_TOKEN"] = s.notify
	env["BITPAY_ENABLED"] = "true"
	env["BITPAY_TOKENS_PER_MINUTE"] = "100000"
	env["AUTH_FAILURES_PER_MINUTE"] = "0"
	env["RATES_STATIC"] = "LTC_USD=80"
	s.base = "http://" + env["LISTEN_ADDR"]
	code := strings.TrimSpace(cli(t, env, "pairing", "create", "--label", "bad input").must(t, "pairing create"))
	s.store = strings.TrimSpace(cli(t, env, "stores", "create", "--name", "bad input").must(t, "stores create"))
	s.storeKey = strings.TrimSpace(cli(t, env, "apikeys", "create", "--label", "bad input", "--store", s.store,
		"--permission", "btcpay.store.canmodifystoresettings").must(t, "apikeys create --store"))

	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	getenv := func(k string) string {
		if k == "TRANSIENT_ENV_FILE" {
			return "/nonexistent/.env"
		}
		return env[k]
	}
	go func() { done <- run(ctx, []string{"serve", "--json"}, getenv, &syncBuffer{}, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Errorf("serve did not stop")
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("the server logged an error: %s", line)
			}
		}
	})
	waitFor(t, 30*time.Second, func() bool { return get(s.base+"/healthz") == 200 },
		func() string { return "serve did not answer /healthz:\n" + stderr.String() })

	s.bitpayKey = must(btcec.NewPrivateKey())
	pair, _ := json.Marshal(map[string]string{"id": bitpay.SIN(s.bitpayKey.PubKey().SerializeCompressed()), "pairingCode": code})
	resp := must(http.Post(s.base+"/tokens", "application/json", bytes.NewReader(pair)))
	defer resp.Body.Close()
	var paired struct {
		Data []struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&paired); err != nil || len(paired.Data) != 1 {
		t.Fatalf("pairing: %d %v", resp.StatusCode, err)
	}
	s.token = paired.Data[0].Token
	return s
}

// Hostile values.
var (
	badIDs = []string{"not-a-uuid", "7d444840-9dc0-11d1-b245-5ffdce74fad2x", "7d444840x9dc0x11d1xb245x5ffdce74fad2",
		"%00", "%FF%FE", "..%2F..%2Fetc%2Fpasswd", "'%20OR%201=1--", strings.Repeat("a", 4000), "-1", "1e308", "%F0%9F%92%A9"}
	badQueryText = []string{"%00", "%FF%FE", "a%00b", strings.Repeat("x", 4000)}
	badNumbers   = []string{"abc", "-1", "1.5", "1e308", "NaN", "99999999999999999999", "-99999999999999999999", "0x10"}
	badTimes     = []string{"yesterday", "2026-13-45", "99999-01-01T00:00:00Z", "-1", "1e308", "2026-01-01T00:00:00"}
	// badAmounts are out of range as coin amounts or prices.
	badAmounts = []string{`21000001`, `"21000001"`, `84000001`, `1e19`, `"1e19"`, `92233720368.54775808`,
		`99999999999999999999999999`, `1e308`, `-1e308`, `-1`, `"-1"`, `0`, `"NaN"`, `"Infinity"`, `1e-9`, `"0.000000001"`, `null`}
	// wrongTypes are JSON values of each type; a property gets those its
	// schema does not allow.
	wrongTypes = map[string]string{"string": `"text"`, "number": `12345`, "integer": `7`, "boolean": `true`,
		"object": `{"a":1}`, "array": `[1,2]`, "null": `null`}
)

// codeShaped is the form of a coin or currency code (rates.ValidCode).
var codeShaped = regexp.MustCompile(`^[A-Z0-9]{2,10}$`)

// badRequests generates the hostile requests from the document.
func (s *badServer) badRequests(doc *openapi3.T) []badRequest {
	var out []badRequest
	paths := doc.Paths.Map()
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item := paths[path]
		for _, method := range slices.Sorted(maps.Keys(item.Operations())) {
			op := item.Operations()[method]
			isBitPay := slices.Contains(op.Tags, "bitpay")
			// Greenfield ignores members and query parameters it does not
			// use, as BTCPay does: plugins send ones we do not know.
			isGreenfield := slices.Contains(op.Tags, "greenfield")
			html := slices.Contains(op.Tags, "checkout") && !strings.HasSuffix(path, "/stream")
			params := append(slices.Clone(item.Parameters), op.Parameters...)
			var pathParams, queryParams []*openapi3.Parameter
			for _, p := range params {
				switch p.Value.In {
				case "path":
					pathParams = append(pathParams, p.Value)
				case "query":
					queryParams = append(queryParams, p.Value)
				}
			}
			var body *openapi3.Schema
			if op.RequestBody != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
					body = mt.Schema.Value
				}
			}
			if len(pathParams) == 0 && len(queryParams) == 0 && body == nil {
				continue // nothing to get wrong
			}
			add := func(what, target string, b []byte) {
				out = append(out, badRequest{name: method + " " + path + " " + what, method: method, target: target,
					body: b, bitpay: isBitPay, greenfield: isGreenfield, html: html})
			}
			good := func(p *openapi3.Parameter) string {
				switch p.Name {
				case "base":
					return "LTC"
				case "currency":
					return "USD"
				case "storeId":
					return s.store
				default:
					return uuid.NewString()
				}
			}
			// A target with the good values, with override for one parameter.
			target := func(override, value string) string {
				t := path
				for _, p := range pathParams {
					v := good(p)
					if p.Name == override {
						v = value
					}
					t = strings.Replace(t, "{"+p.Name+"}", v, 1)
				}
				return t
			}
			query := url.Values{}
			if isBitPay && slices.ContainsFunc(queryParams, func(p *openapi3.Parameter) bool { return p.Name == "token" }) {
				query.Set("token", s.token)
			}
			withQuery := func(t, extra string) string {
				q := query.Encode()
				if extra != "" {
					q = strings.TrimPrefix(q+"&"+extra, "&")
				}
				if q == "" {
					return t
				}
				return t + "?" + q
			}
			for _, p := range pathParams {
				for i, v := range badIDs {
					if (p.Name == "base" || p.Name == "currency") && codeShaped.MatchString(strings.ToUpper(v)) {
						continue // a well-formed code without a rate is an empty list, not an error
					}
					add("path "+p.Name+" #"+itoa(i), withQuery(target(p.Name, v), ""), nil)
				}
			}
			for _, p := range queryParams {
				if p.Name == "token" || (p.Name == "cryptoCode" && strings.Contains(path, "{base}")) {
					continue // the token is the credential; cryptoCode is ignored under /rates/{base}
				}
				for i, v := range badQueryValues(p) {
					add("query "+p.Name+" #"+itoa(i), withQuery(target("", ""), url.QueryEscape(p.Name)+"="+v), nil)
				}
			}
			if len(queryParams) > 0 && !isBitPay && !isGreenfield {
				add("unknown query parameter", withQuery(target("", ""), "nope=1"), nil)
			}
			if body != nil {
				for i, b := range s.badBodies(path, body, isBitPay || isGreenfield) {
					add("body #"+itoa(i), withQuery(target("", ""), ""), b)
				}
			}
		}
	}
	return out
}

// badQueryValues are wrong values for a query parameter, by its schema.
func badQueryValues(p *openapi3.Parameter) []string {
	sc := p.Schema.Value
	switch {
	case sc.Type.Is("integer") || sc.Type.Is("number"):
		values := append(slices.Clone(badNumbers), badQueryText...)
		if sc.Min != nil {
			values = append(values, strconv.FormatFloat(*sc.Min-1, 'f', -1, 64))
		}
		if sc.Max != nil {
			values = append(values, strconv.FormatFloat(*sc.Max+1, 'f', -1, 64))
		}
		return values
	case sc.Format == "date-time":
		return append(slices.Clone(badTimes), badQueryText...)
	case len(sc.Enum) > 0:
		return append([]string{"bogus", "NEW%00"}, badQueryText...)
	case p.Name == "cursor":
		return append([]string{"bogus", "AAAA", "%2F%2F%2F"}, badQueryText...)
	case p.Name == "dateStart" || p.Name == "dateEnd":
		return append(slices.Clone(badTimes), badQueryText...)
	case p.Name == "currencyPairs" || p.Name == "cryptoCode":
		return append([]string{"X", "DOGE_DOGE", "TOOLONGCODE1_USD", "%2C%2C"}, badQueryText...)
	default:
		// Free text: only what cannot be text.
		return []string{"%00", "%FF%FE", "a%00b"}
	}
}

// goodBody is a body the operation accepts (for /tokens one that is
// well-formed but names no pairing code, since a code pairs once): each
// variant below is refused on its own fault.
func (s *badServer) goodBody(path string) map[string]any {
	switch {
	case strings.HasPrefix(path, "/payments"):
		return map[string]any{"currency": "LTC", "amount": "0.01"}
	case strings.HasPrefix(path, "/notify"):
		return map[string]any{"coin": "LTC", "hash": strings.Repeat("ab", 32)}
	case strings.HasPrefix(path, "/tokens"):
		return map[string]any{"id": bitpay.SIN(s.bitpayKey.PubKey().SerializeCompressed()), "pairingCode": "AAAAAAA"}
	case strings.HasPrefix(path, "/invoices"):
		return map[string]any{"token": s.token, "price": "0.01", "currency": "LTC"}
	case strings.HasPrefix(path, "/api/v1/") && strings.HasSuffix(path, "/invoices"):
		return map[string]any{"amount": "0.01", "currency": "LTC"}
	case strings.HasPrefix(path, "/api/v1/") && strings.HasSuffix(path, "/status"):
		return map[string]any{"status": "Invalid"}
	default:
		return map[string]any{}
	}
}

// badBodies are the hostile bodies of an operation with a JSON body.
// lenient APIs (BitPay, Greenfield) ignore members they do not use.
func (s *badServer) badBodies(path string, schema *openapi3.Schema, lenient bool) [][]byte {
	enc := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	with := func(k string, v any) []byte {
		m := s.goodBody(path)
		m[k] = v
		return enc(m)
	}
	bodies := [][]byte{
		[]byte(`{`), []byte(`{"a":}`), []byte(`[]`), []byte(`"x"`), []byte(`null`), []byte(`1`), []byte(`{}`),
		append(enc(s.goodBody(path)), `{}`...), []byte("\xff\xfe{}"), []byte(`{"a":NaN}`), []byte(`{"a":Infinity}`),
		[]byte(`{"a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`),
		append(enc(s.goodBody(path)), bytes.Repeat([]byte(" "), 10<<20)...),
		append(append([]byte(`{"a":"`), bytes.Repeat([]byte("x"), 10<<20)...), `"}`...),
	}
	if !lenient {
		bodies = append(bodies, with("nope", 1)) // BitPay and Greenfield ignore members they do not use, by design
	}
	for _, name := range slices.Sorted(maps.Keys(schema.Properties)) {
		prop := schema.Properties[name].Value
		if slices.Contains(schema.Required, name) {
			m := s.goodBody(path)
			delete(m, name)
			bodies = append(bodies, enc(m), with(name, nil))
		}
		allowed := allowedTypes(prop)
		typed := len(allowed) < len(wrongTypes) // a member of any type takes numbers and objects as text
		required := slices.Contains(schema.Required, name)
		for _, typ := range slices.Sorted(maps.Keys(wrongTypes)) {
			ok := slices.Contains(allowed, typ) || (typ == "integer" && slices.Contains(allowed, "number")) ||
				(typ == "number" && slices.Contains(allowed, "integer")) || (typ == "null" && !required)
			if !ok {
				bodies = append(bodies, with(name, json.RawMessage(wrongTypes[typ])))
			}
		}
		if slices.Contains(allowed, "string") {
			bodies = append(bodies,
				[]byte(strings.Replace(string(with(name, "MARK")), `"MARK"`, "\"\xff\xfe\"", 1)),
				with(name, "a\u0000b"), with(name, json.RawMessage(`"\ud800"`)), with(name, strings.Repeat("x", 20000)))
		}
		switch {
		case name == "amount" || name == "price":
			for _, n := range badAmounts {
				bodies = append(bodies, with(name, json.RawMessage(n)))
			}
		case typed && (slices.Contains(allowed, "number") || slices.Contains(allowed, "integer")):
			for _, n := range []string{"1e308", "-1e308", "99999999999999999999", "-99999999999999999999", `"NaN"`} {
				bodies = append(bodies, with(name, json.RawMessage(n)))
			}
			if prop.Type.Is("integer") {
				bodies = append(bodies, with(name, json.RawMessage("1.5")))
			}
			if prop.Min != nil {
				bodies = append(bodies, with(name, json.RawMessage(strconv.FormatFloat(*prop.Min-1, 'f', -1, 64))))
			}
			if prop.Max != nil {
				bodies = append(bodies, with(name, json.RawMessage(strconv.FormatFloat(*prop.Max+1, 'f', -1, 64))))
			}
		}
		if typed && slices.Contains(allowed, "object") {
			bodies = append(bodies, with(name, json.RawMessage(strings.Repeat(`{"a":`, 1000)+"1"+strings.Repeat("}", 1000))),
				with(name, json.RawMessage(`{"a":1e400}`)), with(name, json.RawMessage(`{"\u0000":1}`)))
		}
	}
	return bodies
}

// allowedTypes lists the JSON types a schema allows (all for none given).
func allowedTypes(sc *openapi3.Schema) []string {
	var types []string
	if sc.Type != nil {
		types = append(types, sc.Type.Slice()...)
	}
	for _, alt := range append(slices.Clone(sc.OneOf), sc.AnyOf...) {
		types = append(types, allowedTypes(alt.Value)...)
	}
	if len(types) == 0 && len(sc.OneOf)+len(sc.AnyOf) == 0 {
		return slices.Collect(maps.Keys(wrongTypes))
	}
	return types
}

// check sends r and checks the answer.
func (s *badServer) check(t *testing.T, client *http.Client, r badRequest) {
	req, err := http.NewRequest(r.method, s.base+r.target, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.bitpay:
		hash := sha256.Sum256(append([]byte(s.base+r.target), r.body...))
		req.Header.Set("X-Identity", hex.EncodeToString(s.bitpayKey.PubKey().SerializeCompressed()))
		req.Header.Set("X-Signature", hex.EncodeToString(ecdsa.Sign(s.bitpayKey, hash[:]).Serialize()))
	case r.greenfield:
		req.Header.Set("Authorization", "token "+s.storeKey)
	case strings.HasPrefix(r.target, "/notify/"):
		req.Header.Set("Authorization", "Bearer "+s.notify)
	default:
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("no answer after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if err := openapitest.Validate(req, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("the answer does not match openapi.yaml: %v", err)
	}
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("%s %.200q: %d, want a 4xx: %.300s", r.target, r.body, resp.StatusCode, body)
	}
	for _, trace := range []string{"goroutine ", "panic", ".go:", "runtime."} {
		if bytes.Contains(body, []byte(trace)) {
			t.Fatalf("the answer shows %q: %.300s", trace, body)
		}
	}
	if r.html {
		return // the checkout page answers its errors as pages
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q: %.300s", ct, body)
	}
	if r.bitpay {
		var e struct {
			Error  string            `json:"error"`
			Errors []json.RawMessage `json:"errors"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || len(e.Errors) == 0 {
			t.Fatalf("not BitPay's error shape: %.300s", body)
		}
		return
	}
	if r.greenfield {
		if resp.StatusCode == http.StatusUnprocessableEntity {
			var v []struct{ Path, Message string }
			if err := json.Unmarshal(body, &v); err != nil || len(v) == 0 || v[0].Message == "" {
				t.Fatalf("not Greenfield's validation shape: %.300s", body)
			}
			return
		}
		var e struct{ Code, Message string }
		if err := json.Unmarshal(body, &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("not Greenfield's error shape: %.300s", body)
		}
		return
	}
	var e struct {
		Success *bool `json:"success"`
		Error   struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Success == nil || *e.Success || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not the error shape with a code: %.300s", body)
	}
}

// storedRows counts the rows of every table a request could write, and
// the hint jobs (a hint is a River job).
func storedRows(t *testing.T, dbURL string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	counts := map[string]int{}
	for _, table := range []string{"payments", "payment_outputs", "payment_events", "payment_idempotency_keys",
		"bitpay_invoices", "bitpay_pairing_codes", "bitpay_tokens", "webhook_deliveries", "webhook_attempts", "api_keys",
		"greenfield_stores", "greenfield_api_keys", "greenfield_invoices"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		counts[table] = n
	}
	var hints int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind IN ('tx_hint', 'block_hint')`).Scan(&hints); err != nil {
		t.Fatal(err)
	}
	counts["hint jobs"] = hints
	return counts
}

func itoa(i int) string { return strconv.Itoa(i) }

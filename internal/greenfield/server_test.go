package greenfield

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

// server is the Greenfield API on a real payments service (PostgreSQL and
// litecoind regtest), with a store and a key holding the WooCommerce
// plugin's permissions.
type server struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *Service
	pay   *payments.Service
	node  *regtest.Node
	store *Store
	key   string
}

func newServer(t *testing.T) *server {
	t.Helper()
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	pay := payments.NewService(pool, payments.Config{Coins: []payments.Coin{{
		Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 2, URIScheme: "litecoin",
		Wallet: regtest.MerchantWallet}}})
	table, err := rates.ParseStatic("LTC_USD=80")
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Config{Pool: pool, Payments: pay, Rates: rates.New(rates.Config{Static: table}),
		Nodes: map[string]SyncReporter{"LTC": node.Client(regtest.MerchantWallet)}, CompleteConfirmations: map[string]int64{"LTC": 2},
		MonitoringWindow: 24 * time.Hour})
	router := chi.NewRouter()
	svc.Mount(router)
	s := &server{t: t, srv: httptest.NewServer(router), svc: svc, pay: pay, node: node}
	t.Cleanup(s.srv.Close)
	ctx := context.Background()
	if s.store, err = svc.Stores().CreateStore(ctx, "Woo", "USD", nil); err != nil {
		t.Fatal(err)
	}
	s.key = s.newKey(PermViewInvoices, PermCreateInvoice, PermViewStoreSettings, PermModifyInvoices)
	return s
}

func (s *server) newKey(perms ...string) string {
	s.t.Helper()
	_, key, err := s.svc.Stores().CreateKey(context.Background(), s.store.ID, "test", perms)
	if err != nil {
		s.t.Fatal(err)
	}
	return key
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with "Authorization: token key" (none when key is "").
func (s *server) do(method, path, key, body string) answer {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "token "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// object decodes a JSON object keeping numbers as their text.
func object(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// wantError checks a {code, message} answer.
func wantError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	m := object(t, a.body)
	if m["code"] != code || m["message"] == "" {
		t.Fatalf("error %s, want code %s", a.body, code)
	}
}

// wantValidation checks a 422 answer naming path.
func wantValidation(t *testing.T, a answer, path string) {
	t.Helper()
	var v []FieldError
	if a.status != 422 || json.Unmarshal(a.body, &v) != nil || len(v) == 0 || v[0].Path != path || v[0].Message == "" {
		t.Fatalf("got %d %s, want 422 naming %s", a.status, a.body, path)
	}
}

func TestAuthenticationAndPermissions(t *testing.T) {
	s := newServer(t)
	for _, tt := range []struct{ name, header string }{{"none", ""}, {"unknown", "token " + strings.Repeat("ab", 20)},
		{"bearer", "Bearer " + s.key}, {"malformed", "token zz"}} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.srv.URL+"/api/v1/api-keys/current", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, answer{resp.StatusCode, resp.Header, b}, 401, CodeUnauthenticated)
		})
	}

	cur := s.do("GET", "/api/v1/api-keys/current", s.key, "")
	var key struct {
		APIKey      string   `json:"apiKey"`
		Permissions []string `json:"permissions"`
	}
	if cur.status != 200 || json.Unmarshal(cur.body, &key) != nil || key.APIKey != s.key {
		t.Fatalf("api-keys/current: %d %s", cur.status, cur.body)
	}
	want := []string{PermViewInvoices + ":" + s.store.ID, PermCreateInvoice + ":" + s.store.ID,
		PermViewStoreSettings + ":" + s.store.ID, PermModifyInvoices + ":" + s.store.ID}
	if !slices.Equal(key.Permissions, want) {
		t.Errorf("permissions %v, want %v", key.Permissions, want)
	}

	viewer := s.newKey(PermViewInvoices)
	wantError(t, s.do("POST", "/api/v1/stores/"+s.store.ID+"/invoices", viewer, `{"amount":"1","currency":"LTC"}`), 403, CodeMissingPermission)
	wantError(t, s.do("GET", "/api/v1/stores/"+s.store.ID, viewer, ""), 403, CodeMissingPermission)
	other, err := s.svc.Stores().CreateStore(context.Background(), "Other", "EUR", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, s.do("GET", "/api/v1/stores/"+other.ID+"/invoices", s.key, ""), 403, CodeMissingPermission)
	if a := s.do("GET", "/api/v1/stores/"+s.store.ID+"/invoices", viewer, ""); a.status != 200 || string(bytes.TrimSpace(a.body)) != "[]" {
		t.Errorf("list with canviewinvoices: %d %s", a.status, a.body)
	}

	stores := s.do("GET", "/api/v1/stores", s.key, "")
	var list []map[string]any
	if stores.status != 200 || json.Unmarshal(stores.body, &list) != nil || len(list) != 1 || list[0]["id"] != s.store.ID {
		t.Errorf("stores: %d %s", stores.status, stores.body)
	}
	pm := s.do("GET", "/api/v1/stores/"+s.store.ID+"/payment-methods", s.key, "")
	if pm.status != 200 || !bytes.Contains(pm.body, []byte(`"paymentMethodId":"LTC-CHAIN"`)) || !bytes.Contains(pm.body, []byte(`"enabled":true`)) {
		t.Errorf("payment-methods: %d %s", pm.status, pm.body)
	}
	info := object(t, s.do("GET", "/api/v1/server/info", s.key, "").body)
	if v, _ := info["version"].(string); v < MinVersion || info["fullySynched"] != true {
		t.Errorf("server/info: %v", info)
	}
}

// phpCreateBody is a create request as btcpayserver-greenfield-php sends
// the WooCommerce plugin's: every checkout member present, unset ones null,
// the payment method with "_", posData a JSON string, taxIncluded as text.
const phpCreateBody = `{"amount":"12.50","currency":"USD","metadata":{"taxIncluded":"1.50","posData":"{\"WooCommerce\":{\"Order ID\":42}}","orderUrl":"https://shop.example/wp-admin/post.php?post=42","orderNumber":"42","orderId":"42"},"checkout":{"speedPolicy":null,"paymentMethods":["LTC_CHAIN"],"expirationMinutes":null,"monitoringMinutes":null,"paymentTolerance":null,"redirectURL":"https://shop.example/checkout/order-received/42/?key=wc_order_x","redirectAutomatically":null,"defaultLanguage":null,"requiresRefundEmail":false}}`

// checkTypes checks every field the PHP library reads has its JSON type.
func checkTypes(t *testing.T, m map[string]any, strs, ints, bools []string) {
	t.Helper()
	for _, k := range strs {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s = %#v, want a string", k, m[k])
		}
	}
	for _, k := range ints {
		n, ok := m[k].(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			t.Errorf("%s = %#v, want an integer", k, m[k])
		}
	}
	for _, k := range bools {
		if _, ok := m[k].(bool); !ok {
			t.Errorf("%s = %#v, want true or false", k, m[k])
		}
	}
}

func TestInvoiceLifecycle(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	base := "/api/v1/stores/" + s.store.ID + "/invoices"
	a := s.do("POST", base, s.key, phpCreateBody)
	if a.status != 200 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	inv := object(t, a.body)
	checkTypes(t, inv, []string{"id", "storeId", "amount", "currency", "checkoutLink", "status", "additionalStatus", "type"},
		[]string{"createdTime", "expirationTime", "monitoringExpiration"}, []string{"archived"})
	id := inv["id"].(string)
	if inv["amount"] != "12.5" || inv["currency"] != "USD" || inv["status"] != StatusNew || inv["additionalStatus"] != AdditionalNone ||
		inv["checkoutLink"] != s.srv.URL+"/i/"+id || inv["storeId"] != s.store.ID {
		t.Fatalf("invoice %s", a.body)
	}
	// The metadata comes back exactly as sent.
	var sent struct{ Metadata json.RawMessage }
	_ = json.Unmarshal([]byte(phpCreateBody), &sent)
	var got struct{ Metadata json.RawMessage }
	_ = json.Unmarshal(a.body, &got)
	if !bytes.Equal(got.Metadata, sent.Metadata) {
		t.Errorf("metadata %s, want %s", got.Metadata, sent.Metadata)
	}
	checkout := inv["checkout"].(map[string]any)
	if checkout["speedPolicy"] != SpeedMedium || checkout["redirectURL"] != "https://shop.example/checkout/order-received/42/?key=wc_order_x" ||
		!slices.Equal(checkout["paymentMethods"].([]any), []any{"LTC-CHAIN"}) || checkout["expirationMinutes"] != json.Number("15") {
		t.Errorf("checkout %v", checkout)
	}

	// The checkout link leads to the payment's checkout page.
	if r := s.do("GET", "/i/"+id, "", ""); r.status != 302 || r.header.Get("Location") != "/payments/"+id+"/checkout" {
		t.Errorf("/i/{id}: %d %q", r.status, r.header.Get("Location"))
	}
	wantError(t, s.do("GET", "/i/7d444840-9dc0-11d1-b245-5ffdce74fad2", "", ""), 404, CodeInvoiceNotFound)
	wantError(t, s.do("GET", "/i/nope", "", ""), 404, CodeInvoiceNotFound)

	methods := func() map[string]any {
		t.Helper()
		r := s.do("GET", base+"/"+id+"/payment-methods", s.key, "")
		var list []json.RawMessage
		if r.status != 200 || json.Unmarshal(r.body, &list) != nil || len(list) != 1 {
			t.Fatalf("payment-methods: %d %s", r.status, r.body)
		}
		m := object(t, list[0])
		checkTypes(t, m, []string{"paymentMethodId", "paymentMethod", "currency", "cryptoCode", "destination", "paymentLink", "rate",
			"paymentMethodPaid", "totalPaid", "due", "amount", "paymentMethodFee", "networkFee"}, nil, []string{"activated"})
		return m
	}
	m := methods()
	// 12.50 USD at 80 USD per LTC is 0.15625 LTC.
	if m["amount"] != "0.15625" || m["due"] != "0.15625" || m["rate"] != "80" || m["totalPaid"] != "0" ||
		m["paymentMethodId"] != "LTC-CHAIN" || len(m["payments"].([]any)) != 0 {
		t.Fatalf("payment method %v", m)
	}

	for q, n := range map[string]int{"?orderId=42": 1, "?orderId=43": 0, "?orderId=43&orderId=42": 1, "?status=New": 1,
		"?status=Settled": 0, "?status=Settled&status=New": 1, "?textSearch=WooCommerce": 1, "?take=1&skip=1": 0} {
		var list []json.RawMessage
		if r := s.do("GET", base+q, s.key, ""); r.status != 200 || json.Unmarshal(r.body, &list) != nil || len(list) != n {
			t.Errorf("list%s: %d %s, want %d invoices", q, r.status, r.body, n)
		}
	}

	// Paid: Processing with the payment listed, then Settled at 2 blocks.
	txid, err := s.node.Send(ctx, regtest.MinerWallet, m["destination"].(string), 15_625_000, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.pay.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	inv = object(t, s.do("GET", base+"/"+id, s.key, "").body)
	if inv["status"] != StatusProcessing || inv["additionalStatus"] != AdditionalNone {
		t.Fatalf("after payment: %v", inv)
	}
	m = methods()
	pays := m["payments"].([]any)
	if len(pays) != 1 || m["due"] != "0" || m["totalPaid"] != "0.15625" {
		t.Fatalf("payment method after payment %v", m)
	}
	p := pays[0].(map[string]any)
	checkTypes(t, p, []string{"id", "value", "fee", "status", "destination"}, []string{"receivedDate"}, nil)
	if !strings.HasPrefix(p["id"].(string), txid+"-") || p["value"] != "0.15625" || p["status"] != StatusProcessing {
		t.Errorf("payment %v", p)
	}
	if _, err := s.node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.pay.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	inv = object(t, s.do("GET", base+"/"+id, s.key, "").body)
	if inv["status"] != StatusSettled || !slices.Equal(inv["availableStatusesForManualMarking"].([]any), []any{"Invalid"}) {
		t.Fatalf("after 2 blocks: %v", inv)
	}
	if p := methods()["payments"].([]any)[0].(map[string]any); p["status"] != StatusSettled {
		t.Errorf("payment after 2 blocks %v", p)
	}
}

func TestMarkInvoice(t *testing.T) {
	s := newServer(t)
	base := "/api/v1/stores/" + s.store.ID + "/invoices"
	a := s.do("POST", base, s.key, `{"amount":0.5,"currency":"LTC","metadata":null,"checkout":null}`)
	if a.status != 200 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	id := object(t, a.body)["id"].(string)
	viewer := s.newKey(PermViewInvoices, PermCreateInvoice)
	wantError(t, s.do("POST", base+"/"+id+"/status", viewer, `{"status":"Invalid"}`), 403, CodeMissingPermission)
	wantValidation(t, s.do("POST", base+"/"+id+"/status", s.key, `{"status":"Complete"}`), "status")
	wantValidation(t, s.do("POST", base+"/"+id+"/status", s.key, `{}`), "status")
	wantError(t, s.do("POST", base+"/7d444840-9dc0-11d1-b245-5ffdce74fad2/status", s.key, `{"status":"Invalid"}`), 404, CodeInvoiceNotFound)

	r := s.do("POST", base+"/"+id+"/status", s.key, `{"status":"Invalid"}`)
	inv := object(t, r.body)
	if r.status != 200 || inv["status"] != StatusInvalid || inv["additionalStatus"] != AdditionalMarked {
		t.Fatalf("mark invalid: %d %s", r.status, r.body)
	}
	got := object(t, s.do("GET", base+"/"+id, s.key, "").body)
	if got["status"] != StatusInvalid || got["additionalStatus"] != AdditionalMarked {
		t.Errorf("read after marking: %v", got)
	}
	wantValidation(t, s.do("POST", base+"/"+id+"/status", s.key, `{"status":"Invalid"}`), "status")
	var list []json.RawMessage
	if r := s.do("GET", base+"?status=Invalid", s.key, ""); json.Unmarshal(r.body, &list) != nil || len(list) != 1 {
		t.Errorf("list of Invalid: %s", r.body)
	}
	if r := s.do("POST", base+"/"+id+"/status", s.key, `{"status":"Settled"}`); object(t, r.body)["status"] != StatusSettled {
		t.Errorf("mark settled: %d %s", r.status, r.body)
	}
	// The payment itself is untouched: the chain says unpaid.
	p, err := s.pay.List(context.Background(), payments.ListFilter{})
	if err != nil || len(p.Payments) != 1 || p.Payments[0].Status != payments.StatusUnpaid {
		t.Errorf("payment after marking: %v %v", p, err)
	}
}

func TestCreateInvoiceRefusals(t *testing.T) {
	s := newServer(t)
	path := "/api/v1/stores/" + s.store.ID + "/invoices"
	for _, tt := range []struct{ name, body, field string }{
		{"no amount", `{"amount":null,"currency":"USD"}`, "amount"},
		{"zero", `{"amount":"0","currency":"USD"}`, "amount"},
		{"text amount", `{"amount":"twelve","currency":"USD"}`, "amount"},
		{"nine decimals", `{"amount":"0.000000001","currency":"LTC"}`, "amount"},
		{"bad currency", `{"amount":"1","currency":"US D"}`, "currency"},
		{"lightning only", `{"amount":"1","checkout":{"paymentMethods":["BTC-LN"]}}`, "checkout.paymentMethods"},
		{"zero monitoring", `{"amount":"1","checkout":{"monitoringMinutes":0}}`, "checkout.monitoringMinutes"},
		{"negative monitoring", `{"amount":"1","checkout":{"monitoringMinutes":-5}}`, "checkout.monitoringMinutes"},
		{"monitoring over 30 days", `{"amount":"1","checkout":{"monitoringMinutes":43201}}`, "checkout.monitoringMinutes"},
		{"monitoring fraction", `{"amount":"1","checkout":{"monitoringMinutes":60.5}}`, "checkout.monitoringMinutes"},
		{"monitoring text", `{"amount":"1","checkout":{"monitoringMinutes":"60"}}`, "checkout.monitoringMinutes"},
		// MediumSpeed on LTC: a confirmation, about 150 s, longer than a minute.
		{"monitoring shorter than a confirmation", `{"amount":"1","checkout":{"monitoringMinutes":1}}`, "checkout.monitoringMinutes"},
		{"zero-conf", `{"amount":"1","checkout":{"speedPolicy":"HighSpeed"}}`, "checkout.speedPolicy"},
		{"bad speed", `{"amount":"1","checkout":{"speedPolicy":"Fast"}}`, "checkout.speedPolicy"},
		{"bad expiry", `{"amount":"1","checkout":{"expirationMinutes":0}}`, "checkout.expirationMinutes"},
		{"tolerance", `{"amount":"1","checkout":{"paymentTolerance":101}}`, "checkout.paymentTolerance"},
		{"redirect", `{"amount":"1","checkout":{"redirectURL":"javascript:alert(1)"}}`, "checkout.redirectURL"},
		{"metadata array", `{"amount":"1","metadata":[1]}`, "metadata"},
		{"metadata 1e400", `{"amount":"1","metadata":{"a":1e400}}`, "metadata"},
		{"metadata NUL key", `{"amount":"1","metadata":{"\u0000":1}}`, "metadata"},
		{"checkout 1e400", `{"amount":"1","checkout":{"x":1e400}}`, "checkout"},
		{"order id", `{"amount":"1","metadata":{"orderId":"` + strings.Repeat("x", 300) + `"}}`, "metadata.orderId"},
	} {
		t.Run(tt.name, func(t *testing.T) { wantValidation(t, s.do("POST", path, s.key, tt.body), tt.field) })
	}
	for _, body := range []string{`{"amount":"1"} {}`, `[1]`, "{\"amount\":\"1\xff\"}", `{"amount":"\ud800"}`, ``} {
		wantError(t, s.do("POST", path, s.key, body), 400, CodeInvalidRequest)
	}
	// Tolerance is the payment's: 5% of 1 LTC lets 0.95 count as paid.
	a := s.do("POST", path, s.key, `{"amount":"1","currency":"LTC","checkout":{"paymentTolerance":5}}`)
	if a.status != 200 {
		t.Fatalf("create with tolerance: %d %s", a.status, a.body)
	}
	p, err := s.pay.List(context.Background(), payments.ListFilter{})
	if err != nil || len(p.Payments) != 1 || p.Payments[0].ToleranceBP != 500 {
		t.Fatalf("payments %v %v", p, err)
	}
}

// TestInvoiceOwnMonitoringMinutes: checkout.monitoringMinutes becomes the
// payment's own monitoring window and comes back in the invoice, while an
// invoice without one shows the server's (24 hours in newServer).
func TestInvoiceOwnMonitoringMinutes(t *testing.T) {
	s := newServer(t)
	base := "/api/v1/stores/" + s.store.ID + "/invoices"
	check := func(name string, inv map[string]any, minutes int64) {
		t.Helper()
		checkout := inv["checkout"].(map[string]any)
		if checkout["monitoringMinutes"] != json.Number(strconv.FormatInt(minutes, 10)) {
			t.Errorf("%s: monitoringMinutes %v, want %d", name, checkout["monitoringMinutes"], minutes)
		}
		exp, err1 := inv["expirationTime"].(json.Number).Int64()
		mon, err2 := inv["monitoringExpiration"].(json.Number).Int64()
		if err1 != nil || err2 != nil || mon-exp != minutes*60 {
			t.Errorf("%s: monitoringExpiration %v - expirationTime %v, want %d s", name, inv["monitoringExpiration"], inv["expirationTime"], minutes*60)
		}
	}
	for _, tt := range []struct {
		name, body string
		minutes    int64
		window     time.Duration // the payment's own
	}{
		{"own", `{"amount":"1","currency":"LTC","checkout":{"monitoringMinutes":90}}`, 90, 90 * time.Minute},
		{"null", `{"amount":"1","currency":"LTC","checkout":{"monitoringMinutes":null}}`, 24 * 60, 0},
		{"absent", `{"amount":"1","currency":"LTC"}`, 24 * 60, 0},
		{"30 days", `{"amount":"1","currency":"LTC","checkout":{"monitoringMinutes":43200}}`, 43200, 30 * 24 * time.Hour},
	} {
		a := s.do("POST", base, s.key, tt.body)
		if a.status != 200 {
			t.Fatalf("%s: create: %d %s", tt.name, a.status, a.body)
		}
		inv := object(t, a.body)
		check(tt.name+" create", inv, tt.minutes)
		id := inv["id"].(string)
		check(tt.name+" get", object(t, s.do("GET", base+"/"+id, s.key, "").body), tt.minutes)
		p, err := s.pay.Get(context.Background(), uuid.MustParse(id))
		if err != nil || p.MonitoringWindow != tt.window {
			t.Fatalf("%s: payment window %v (%v), want %s", tt.name, p, err, tt.window)
		}
	}
	var list []map[string]any
	r := s.do("GET", base, s.key, "")
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if r.status != 200 || dec.Decode(&list) != nil || len(list) != 4 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	check("list newest", list[0], 43200)
	check("list oldest", list[3], 90)
}

func TestUpdateAndArchiveInvoice(t *testing.T) {
	s := newServer(t)
	base := "/api/v1/stores/" + s.store.ID + "/invoices"
	a := s.do("POST", base, s.key, `{"amount":"1","currency":"LTC","metadata":{"orderId":"7"}}`)
	if a.status != 200 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	id := object(t, a.body)["id"].(string)
	count := func(q string) int {
		t.Helper()
		var list []json.RawMessage
		if r := s.do("GET", base+q, s.key, ""); r.status != 200 || json.Unmarshal(r.body, &list) != nil {
			t.Fatalf("list%s: %d %s", q, r.status, r.body)
		}
		return len(list)
	}

	meta := `{"orderId":"8","note":"gift wrap","n":1.50}`
	r := s.do("PUT", base+"/"+id, s.key, `{"metadata":`+meta+`}`)
	var got struct{ Metadata json.RawMessage }
	if r.status != 200 || json.Unmarshal(r.body, &got) != nil || string(got.Metadata) != meta {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if count("?orderId=8") != 1 || count("?orderId=7") != 0 {
		t.Error("the order id did not follow metadata.orderId")
	}
	if r := s.do("PUT", base+"/"+id, s.key, `{"metadata":null}`); r.status != 200 || !bytes.Contains(r.body, []byte(`"note":"gift wrap"`)) {
		t.Errorf("update with null metadata changed it: %s", r.body)
	}
	wantValidation(t, s.do("PUT", base+"/"+id, s.key, `{"metadata":{"a":1e400}}`), "metadata")
	wantError(t, s.do("PUT", base+"/"+id, s.newKey(PermViewInvoices), `{"metadata":{}}`), 403, CodeMissingPermission)

	if r := s.do("DELETE", base+"/"+id, s.key, ""); r.status != 200 {
		t.Fatalf("archive: %d %s", r.status, r.body)
	}
	if count("") != 0 || count("?includeArchived=true") != 1 {
		t.Error("an archived invoice is listed, or lost with includeArchived")
	}
	if inv := object(t, s.do("GET", base+"/"+id, s.key, "").body); inv["archived"] != true {
		t.Errorf("archived invoice reads %v", inv["archived"])
	}
	if r := s.do("POST", base+"/"+id+"/unarchive", s.key, ""); r.status != 200 || object(t, r.body)["archived"] != false || count("") != 1 {
		t.Errorf("unarchive: %d %s", r.status, r.body)
	}
	wantError(t, s.do("DELETE", base+"/7d444840-9dc0-11d1-b245-5ffdce74fad2", s.key, ""), 404, CodeInvoiceNotFound)
}

// rowAtCreated is an event hook that reads the Greenfield row inside the
// created event's transaction, as the webhook hook does for InvoiceCreated.
type rowAtCreated struct {
	mu   sync.Mutex
	rows map[uuid.UUID]*InvoiceRow
	errs []error
}

func (h *rowAtCreated) EventDestinations(ctx context.Context, tx pgx.Tx, p *payments.Payment, ev *payments.Event) ([]webhook.Destination, error) {
	if ev.Type != payments.EventCreated {
		return nil, nil
	}
	row, err := LoadInvoiceRow(ctx, tx, p.ID)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.errs = append(h.errs, err)
		return nil, nil
	}
	if fromCtx, ok := CreatingInvoice(ctx, p.ID); !ok || fromCtx.StoreID != row.StoreID {
		h.errs = append(h.errs, errors.New("CreatingInvoice does not give the row being created"))
	}
	h.rows[p.ID] = row
	return nil, nil
}

// TestCreatedEventSeesTheInvoice checks that the payment.created event of
// a Greenfield invoice is written after the invoice's row, in the same
// transaction, so a hook can read the row (the store, the metadata).
func TestCreatedEventSeesTheInvoice(t *testing.T) {
	s := newServer(t)
	h := &rowAtCreated{rows: map[uuid.UUID]*InvoiceRow{}}
	s.pay.AddEventHook(h)
	a := s.do("POST", "/api/v1/stores/"+s.store.ID+"/invoices", s.key, `{"amount":"1","currency":"LTC","metadata":{"orderId":"9"}}`)
	if a.status != 200 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	id := uuid.MustParse(object(t, a.body)["id"].(string))
	if _, ok := CreatingInvoice(context.Background(), id); ok {
		t.Error("CreatingInvoice outside a create")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	row := h.rows[id]
	if len(h.errs) > 0 || row == nil || row.StoreID != s.store.ID || row.OrderID != "9" || string(row.Metadata) != `{"orderId":"9"}` {
		t.Fatalf("row read in the created event's transaction: %+v, errors %v", row, h.errs)
	}
}

package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/throttle"
)

// addressCount returns how many addresses the wallet has handed out.
func addressCount(t *testing.T, wallet string) int {
	t.Helper()
	var list []any
	if err := testNode(t).Client(wallet).Call(context.Background(), "listreceivedbyaddress", []any{0, true}, &list); err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestHostileTextIsRefused: values that are valid JSON but that PostgreSQL
// refuses are a 400 naming the field, found before the node is asked for
// an address: the wallet hands out no address for a refused create.
func TestHostileTextIsRefused(t *testing.T) {
	// A wallet of its own, so that no other payment moves its count.
	wallet := "hostile-" + uuid.NewString()[:8]
	if err := testNode(t).CreateWallet(context.Background(), wallet); err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, func(pc *payments.Config, _ *Config) {
		pc.Coins[0].Node, pc.Coins[0].Wallet = testNode(t).Client(wallet), wallet
	})
	before := addressCount(t, wallet)
	creates := []struct {
		name, body, field string
	}{
		{"NUL in order_id", `{"currency":"LTC","amount":"0.01","order_id":"a\u0000b"}`, "order_id"},
		{"NUL in account", `{"currency":"LTC","amount":"0.01","account":"\u0000"}`, "account"},
		{"NUL in metadata", `{"currency":"LTC","amount":"0.01","metadata":{"a":"\u0000"}}`, "metadata"},
		{"NUL in a metadata key", `{"currency":"LTC","amount":"0.01","metadata":{"\u0000":1}}`, "metadata"},
		{"lone surrogate in metadata", `{"currency":"LTC","amount":"0.01","metadata":{"a":"\ud800"}}`, "metadata"},
		{"invalid UTF-8 in a metadata key", "{\"currency\":\"LTC\",\"amount\":\"0.01\",\"metadata\":{\"\xff\":1}}", "metadata"},
		{"huge number in metadata", `{"currency":"LTC","amount":"0.01","metadata":{"a":1e1000000}}`, "metadata"},
		{"deep metadata", `{"currency":"LTC","amount":"0.01","metadata":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, "metadata"},
		{"numeric loopback callback", `{"currency":"LTC","amount":"0.01","callback_url":"http://2130706433:9/cb"}`, "callback_url"},
		{"hex loopback callback", `{"currency":"LTC","amount":"0.01","callback_url":"http://0x7f000001/cb"}`, "callback_url"},
		{"redirect with credentials", `{"currency":"LTC","amount":"0.01","redirect_url":"http://user:pass@example.com/x"}`, "redirect_url"},
		{"more than all litecoins", `{"currency":"LTC","amount":"84000001"}`, "amount"},
		{"amount ending in a dot", `{"currency":"LTC","amount":"1."}`, "amount"},
	}
	for _, tt := range creates {
		t.Run(tt.name, func(t *testing.T) {
			r := a.authed("POST", "/payments", tt.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			r.errorCode(t)
			if field, _ := r.json(t)["error"].(map[string]any)["field"].(string); field != tt.field {
				t.Errorf("field %q, want %q: %s", field, tt.field, r.body)
			}
		})
	}
	lists := []struct{ query, field string }{
		{"order_id=%00", "order_id"}, {"order_id=%ff%fe", "order_id"}, {"currency=%00", "currency"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("9223372036854775807,00000000-0000-0000-0000-000000000000")), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("-9223372036854775807,00000000-0000-0000-0000-000000000000")), "cursor"},
	}
	for _, tt := range lists {
		t.Run("GET /payments?"+tt.query, func(t *testing.T) {
			r := a.authed("GET", "/payments?"+tt.query, "")
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			r.errorCode(t)
			if field, _ := r.json(t)["error"].(map[string]any)["field"].(string); field != tt.field {
				t.Errorf("field %q, want %q", field, tt.field)
			}
		})
	}
	if after := addressCount(t, wallet); after != before {
		t.Errorf("the wallet handed out %d addresses for refused requests", after-before)
	}
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("payments stored after refusals: %d (%v)", n, err)
	}

	// Upper-case schemes are accepted and stored in lower case, which the
	// table's CHECK and the dispatcher expect.
	p := a.create(`{"currency":"LTC","amount":"0.01","callback_url":"HTTPS://shop.example/ok","redirect_url":"HTTPS://shop.example/thanks"}`)
	if p["redirect_url"] != "https://shop.example/thanks" {
		t.Errorf("redirect_url stored as %v", p["redirect_url"])
	}
	var stored string
	if err := a.pool.QueryRow(context.Background(), `SELECT callback_url FROM payments WHERE id = $1`, p["id"]).Scan(&stored); err != nil || stored != "https://shop.example/ok" {
		t.Errorf("callback_url stored as %q (%v)", stored, err)
	}
	if after := addressCount(t, wallet); after != before+1 {
		t.Errorf("the wallet handed out %d addresses for one payment", after-before)
	}
}

// TestDatabaseRefusalIsABadRequest: a value the database refuses (data
// exceptions, CHECK violations) is the client's error, never a 500.
func TestDatabaseRefusalIsABadRequest(t *testing.T) {
	for _, code := range []string{"22021", "22P05", "22P02", "22003", "22008", "23514"} {
		err := fmt.Errorf("payments: insert: %w", &pgconn.PgError{Code: code})
		if e := apiwire.Classify(err); e.Status != http.StatusBadRequest || e.Code != payments.CodeInvalidField {
			t.Errorf("SQLSTATE %s: %d %s, want 400 invalid_field", code, e.Status, e.Code)
		}
	}
	for _, code := range []string{"23505", "40001", "42P01"} {
		if e := apiwire.Classify(&pgconn.PgError{Code: code}); e.Status != http.StatusInternalServerError {
			t.Errorf("SQLSTATE %s: %d, want 500", code, e.Status)
		}
	}
}

// TestPublicPaymentHidesMerchantFields: without a key GET /payments/{id}
// shows what the payer needs, never the shop's metadata, order id, account
// or redirect URL; with a key everything.
func TestPublicPaymentHidesMerchantFields(t *testing.T) {
	a := newAPI(t)
	p := a.create(`{"currency":"LTC","amount":"0.5","account":"vip-customers","order_id":"A-1001",` +
		`"metadata":{"email":"ada@example.com","address":"1 Main St"},"redirect_url":"https://shop.example/thanks?session=abc"}`)
	id := p["id"].(string)

	public := a.do("GET", "/payments/"+id, "")
	if public.status != 200 {
		t.Fatalf("public GET: %d %s", public.status, public.body)
	}
	for _, secret := range []string{"ada@example.com", "1 Main St", "vip-customers", "A-1001", "session=abc",
		`"metadata"`, `"account"`, `"order_id"`, `"redirect_url"`} {
		if strings.Contains(string(public.body), secret) {
			t.Errorf("the public answer holds %s: %s", secret, public.body)
		}
	}
	pp := public.json(t)["payment"].(map[string]any)
	for _, k := range []string{"id", "currency", "status", "amount", "amount_due", "payment_address", "payment_uri",
		"transactions", "created_at", "expires_at", "confirmations_required"} {
		if _, ok := pp[k]; !ok {
			t.Errorf("the public answer lacks %s", k)
		}
	}
	if pp["payment_address"] != p["payment_address"] {
		t.Errorf("address %v, want %v", pp["payment_address"], p["payment_address"])
	}

	full := a.authed("GET", "/payments/"+id, "").json(t)["payment"].(map[string]any)
	if full["order_id"] != "A-1001" || full["account"] != "vip-customers" ||
		full["metadata"].(map[string]any)["email"] != "ada@example.com" || full["redirect_url"] != "https://shop.example/thanks?session=abc" {
		t.Errorf("with a key: %v", full)
	}
	if r := a.do("GET", "/payments/"+id, "", "Authorization", "Bearer wrong-key-0123456789"); r.status != 401 {
		t.Errorf("a wrong key: %d, want 401", r.status)
	}
}

// TestJSONAnswersAreNotCachedOrSniffed: payment JSON changes and is per
// payment; no cache may keep it and no browser may sniff it.
func TestJSONAnswersAreNotCachedOrSniffed(t *testing.T) {
	a := newAPI(t)
	id := a.create(`{"currency":"LTC","amount":1}`)["id"].(string)
	for _, path := range []string{"/payments/" + id, "/payments/not-an-id", "/healthz", "/nope"} {
		r := a.do("GET", path, "")
		if cc, ns := r.header.Get("Cache-Control"), r.header.Get("X-Content-Type-Options"); cc != "no-store" || ns != "nosniff" {
			t.Errorf("GET %s: Cache-Control %q, X-Content-Type-Options %q", path, cc, ns)
		}
	}
	// The QR code keeps its own caching: it never changes.
	if r := a.do("GET", "/payments/"+id+"/qrcode.png", ""); !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Errorf("QR code Cache-Control %q", r.header.Get("Cache-Control"))
	}
}

// TestAuthFailuresAreRateLimited: a source that keeps sending wrong keys
// gets 429 with Retry-After, on every authenticated route and before its
// key is looked at; other sources and the public routes are not affected.
func TestAuthFailuresAreRateLimited(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	trusted, _ := throttle.ParsePrefixes("127.0.0.1")
	a := newAPI(t, func(_ *payments.Config, c *Config) {
		c.Sources = throttle.NewSources(trusted) // the test names its clients in X-Forwarded-For
		c.AuthFailures = throttle.NewLimiter(6, 3, now)
	})
	id := a.create(`{"currency":"LTC","amount":1}`)["id"].(string)
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	for i := range 3 {
		r := a.do("GET", "/payments", "", append(from("198.51.100.7"), "Authorization", fmt.Sprintf("Bearer wrong-%d", i))...)
		if r.status != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, r.status)
		}
	}
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/payments", ""}, {"POST", "/payments", `{"currency":"LTC","amount":1}`},
		{"GET", "/payments/" + id, ""}, {"GET", "/payments/" + id + "/events", ""},
		{"POST", "/notify/tx", `{"coin":"LTC","txid":"` + strings.Repeat("a", 64) + `"}`},
	} {
		// Even the right key waits: the source is blocked, not the key.
		r := a.do(tt.method, tt.path, tt.body, append(from("198.51.100.7"), "Authorization", "Bearer "+testKey)...)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "10" {
			t.Errorf("%s %s while blocked: %d Retry-After %q, want 429 and 10", tt.method, tt.path, r.status, r.header.Get("Retry-After"))
			continue
		}
		if code, _ := r.errorCode(t); code != "rate_limited" {
			t.Errorf("code %s", code)
		}
	}
	if r := a.do("GET", "/payments", "", append(from("198.51.100.8"), "Authorization", "Bearer "+testKey)...); r.status != 200 {
		t.Errorf("another source: %d, want 200", r.status)
	}
	if r := a.do("GET", "/payments/"+id, "", from("198.51.100.7")...); r.status != 200 {
		t.Errorf("public read without a key from the blocked source: %d, want 200", r.status)
	}
	clock = clock.Add(10 * time.Second)
	if r := a.do("GET", "/payments", "", append(from("198.51.100.7"), "Authorization", "Bearer "+testKey)...); r.status != 200 {
		t.Errorf("after the wait: %d, want 200", r.status)
	}
	// Successes cost nothing.
	for i := range 10 {
		if r := a.authed("GET", "/payments", ""); r.status != 200 {
			t.Fatalf("success %d: %d", i+1, r.status)
		}
	}
}

package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/regtest"
)

// newFuzzAPI is the API on a fresh database with coin LTC on an
// address-only node: the fuzz targets run too many requests to ask a real
// one, and the routes they fuzz never do.
func newFuzzAPI(f *testing.F) *testAPI {
	f.Helper()
	a := newAPIOn(f, &regtest.AddressOnly{}, nil)
	for _, amount := range []payments.Amount{1, 150_000_000, 2_100_000_000_000_000} {
		if _, err := a.svc.Create(context.Background(), payments.CreateRequest{Coin: "LTC", Amount: amount, OrderID: "A-1"}); err != nil {
			f.Fatal(err)
		}
	}
	return a
}

// listParameters are the query parameters GET /payments knows.
var listParameters = []string{"status", "currency", "order_id", "created_after", "created_before", "limit", "cursor"}

// FuzzListQuery sends GET /payments any query string. The answer is a page
// (200) or a 400 with a code naming a parameter of the query; a parameter
// the route does not know is always refused; every answer matches
// openapi.yaml.
func FuzzListQuery(f *testing.F) {
	cursor := base64.RawURLEncoding.EncodeToString([]byte("9223372036854775807,00000000-0000-0000-0000-000000000000"))
	for _, q := range []string{
		"", "status=UNPAID,paid&currency=ltc&limit=2", "order_id=A-1", "created_after=2026-01-01T00:00:00Z",
		"created_before=9999-12-31T23:59:59Z", "limit=0", "limit=101", "limit=1e3", "limit=-1", "cursor=" + cursor,
		"cursor=bm9wZQ", "cursor=%00", "status=BOGUS", "status=", "order_id=%00", "order_id=%ff", "nope=1", "limit=1&limit=2",
		"created_after=0001-01-01T00:00:00Z", "created_after=2026-01-01T00:00:00%2B25:00", "currency=%C0%80", "status=%E2%80%8B",
	} {
		f.Add(q)
	}
	a := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, query string) {
		a.t = t
		target := a.srv.URL + "/payments?" + query
		u, err := url.Parse(target)
		if err != nil || strings.ContainsAny(query, " \t\r\n#") {
			return // no client can send it
		}
		r := a.authed("GET", "/payments?"+query, "")
		switch r.status {
		case http.StatusOK:
		case http.StatusBadRequest:
			code, _ := r.errorCode(t)
			field, _ := r.json(t)["error"].(map[string]any)["field"].(string)
			named := u.Query().Has(field) // also the empty name of "?=0"
			unnamable := field == "" && slices.ContainsFunc(slices.Collect(maps.Keys(u.Query())), func(k string) bool { return !payments.ValidText(k) })
			if !named && !unnamable {
				t.Fatalf("?%s: 400 %s names %q, not a parameter of the query: %s", query, code, field, r.body)
			}
		default:
			t.Fatalf("?%s: %d, want 200 or 400: %s", query, r.status, r.body)
		}
		for key := range u.Query() {
			if !slices.Contains(listParameters, key) && r.status != http.StatusBadRequest {
				t.Fatalf("?%s: the unknown parameter %q was not refused: %d", query, key, r.status)
			}
		}
	})
}

// FuzzNotify sends POST /notify/tx and /notify/block any body. A hint is
// accepted (202) only for a JSON object naming the configured coin and a
// 64-digit hex hash; whatever else is a 4xx with a code, and stores no
// hint.
func FuzzNotify(f *testing.F) {
	hash := strings.Repeat("0a", 32)
	for _, b := range []string{
		`{"coin":"LTC","hash":"` + hash + `"}`, `{"coin":" ltc ","hash":" ` + strings.ToUpper(hash) + ` "}`,
		`{"coin":"LTC","hash":"` + hash + `","wallet":"merchant"}`, `{"coin":"LTC","hash":"` + hash + `","wallet":"other"}`,
		`{"coin":"LTC","hash":"` + hash + `","wallet":"a\u0000b"}`, `{"coin":"LTC","hash":"` + hash + `","wallet":"\ud800"}`,
		`{"coin":"DOGE","hash":"` + hash + `"}`, `{"coin":"LTC","hash":"` + hash[:63] + `"}`, `{"coin":"LTC","hash":"` + hash + `0"}`,
		`{"coin":"LTC","hash":"` + hash + `","x":1}`, `{"coin":"LTC"}`, `{"coin":1,"hash":2}`, `{}`, `[]`, `null`, ``,
		`{"coin":"LTC","hash":"` + hash + `"}{}`, "{\"coin\":\"LTC\",\"hash\":\"" + hash + "\",\"wallet\":\"\xff\"}",
	} {
		f.Add(false, b)
		f.Add(true, b)
	}
	a := newFuzzAPI(f)
	hints := func() (n int) {
		err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind IN ('tx_hint', 'block_hint')`).Scan(&n)
		if err != nil {
			f.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, block bool, body string) {
		a.t = t
		path := "/notify/tx"
		if block {
			path = "/notify/block"
		}
		before := hints()
		r := a.do("POST", path, body, "Authorization", "Bearer "+testNotify, "Content-Type", "application/json")
		if r.status == http.StatusAccepted {
			var req notifyRequest
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatalf("%q accepted but not a hint: %v", body, err)
			}
			if strings.ToUpper(strings.TrimSpace(req.Coin)) != "LTC" || !isHash(strings.ToLower(strings.TrimSpace(req.Hash))) {
				t.Fatalf("%q accepted with coin %q and hash %q", body, req.Coin, req.Hash)
			}
			if after := hints(); after > before+1 {
				t.Fatalf("%q stored %d hints", body, after-before)
			}
			return
		}
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("%q: %d, want 202 or a 4xx: %s", body, r.status, r.body)
		}
		r.errorCode(t)
		if after := hints(); after != before {
			t.Fatalf("%q refused (%d) but stored %d hints", body, r.status, after-before)
		}
	})
}

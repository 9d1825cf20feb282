package bitpay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
)

// post sends an unsigned JSON POST from the client address ip (named in
// X-Forwarded-For, which the servers of these tests trust from loopback).
func (s *server) post(target, body, ip string) (int, http.Header, string) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

// newSIN returns the SIN of a fresh key.
func newSIN(t *testing.T) string {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return SIN(k.PubKey().SerializeCompressed())
}

func trustLoopback(c *Config) {
	trusted, _ := throttle.ParsePrefixes("127.0.0.1,::1")
	c.Sources = throttle.NewSources(trusted)
}

// TestHostileInvoiceInput: text PostgreSQL cannot store is a 400 naming
// the field, never a 500; upper-case URL schemes are accepted.
func TestHostileInvoiceInput(t *testing.T) {
	r := rates.New(rates.Config{Static: rates.Table{{Base: "LTC", Quote: "USD"}: mustDec(t, "80")}})
	s := newServer(t, r)
	tok := s.tok
	for _, tc := range []struct{ name, body, field string }{
		{"NUL in orderId", `{"price":"0.1","currency":"LTC","orderId":"a\u0000b","token":"` + tok + `"}`, "orderId"},
		{"NUL in itemDesc", `{"price":"0.1","currency":"LTC","itemDesc":"\u0000","token":"` + tok + `"}`, "itemDesc"},
		{"NUL in posData", `{"price":"0.1","currency":"LTC","posData":"x\u0000","token":"` + tok + `"}`, "posData"},
		{"NUL in itemCode", `{"price":"0.1","currency":"LTC","itemCode":"\u0000","token":"` + tok + `"}`, "itemCode"},
		{"numeric loopback notificationURL", `{"price":"0.1","currency":"LTC","notificationURL":"http://2130706433/ipn","token":"` + tok + `"}`, "notificationURL"},
		{"redirect with credentials", `{"price":"0.1","currency":"LTC","redirectURL":"https://u:p@shop.example/","token":"` + tok + `"}`, "redirectURL"},
		{"unknown fiat currency", `{"price":"5","currency":"XX","token":"` + tok + `"}`, "currency"},
		{"more than all litecoins", `{"price":"84000001","currency":"LTC","token":"` + tok + `"}`, "price"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.call("POST", "/invoices", tc.body, "")
			if status != 400 || !strings.Contains(body, tc.field) {
				t.Errorf("%d %s, want 400 naming %s", status, body, tc.field)
			}
		})
	}
	// A known currency without a rate is ours to fix: 503.
	if status, body := s.call("POST", "/invoices", `{"price":"5","currency":"EUR","token":"`+tok+`"}`, ""); status != 503 {
		t.Errorf("EUR without a rate: %d %s, want 503", status, body)
	}
	status, body := s.call("POST", "/invoices", `{"price":"0.1","currency":"LTC","notificationURL":"HTTPS://shop.example/ipn",`+
		`"redirectURL":"HTTPS://shop.example/thanks","token":"`+tok+`"}`, "")
	if status != 200 {
		t.Fatalf("upper-case schemes: %d %s", status, body)
	}
	var created struct {
		Data InvoiceJSON `json:"data"`
	}
	_ = json.Unmarshal([]byte(body), &created)
	var ipn, redirect string
	if err := s.svc.cfg.Pool.QueryRow(context.Background(), `SELECT b.notification_url, p.redirect_url FROM bitpay_invoices b
		JOIN payments p ON p.id = b.payment_id WHERE b.payment_id = $1`, created.Data.ID).Scan(&ipn, &redirect); err != nil ||
		ipn != "https://shop.example/ipn" || redirect != "https://shop.example/thanks" {
		t.Errorf("stored %q, %q (%v)", ipn, redirect, err)
	}

	tokQ := "token=" + url.QueryEscape(tok)
	for _, q := range []string{"orderId=%00", "itemCode=%00", "orderId=%ff%fe", "dateStart=9223372036854775807",
		"dateEnd=9223372036854775807", "dateStart=253402300800000"} {
		status, body := s.call("GET", "/invoices?"+q+"&"+tokQ, "", "")
		if status != 400 {
			t.Errorf("GET /invoices?%s: %d %s, want 400", q, status, body)
		}
	}
	if status, body := s.call("GET", "/invoices?dateStart=253402300799999&"+tokQ, "", ""); status != 200 {
		t.Errorf("the last millisecond of 9999: %d %s", status, body)
	}
}

// TestPairingRefusals: pairing requests with text PostgreSQL cannot store,
// and client pairing while it is off (the default).
func TestPairingRefusals(t *testing.T) {
	s := newPairingServer(t, trustLoopback)
	sin := newSIN(t)
	for _, tc := range []struct{ body, want string }{
		{`{"id":"` + sin + `","pairingCode":"abc\u0000def"}`, "pairingCode"},
		{`{"id":"` + sin + `","pairingCode":"' OR 1"}`, "pairingCode"},
		{`{"id":"` + sin + `","label":"a\u0000b","pairingCode":"zzzzzzz"}`, "label"},
	} {
		status, _, body := s.post("/tokens", tc.body, "198.51.100.1")
		if status != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.body, status, body, tc.want)
		}
	}
	status, _, body := s.post("/tokens", `{"id":"`+sin+`","label":"shop1"}`, "198.51.100.1")
	if status != 403 || !strings.Contains(body, "disabled") {
		t.Errorf("client pairing by default: %d %s, want 403", status, body)
	}
}

// TestClientPairingPerSource: when client pairing is on, one address fills
// only its own few places; a real shop elsewhere still pairs, and the
// operator sees each request's address.
func TestClientPairingPerSource(t *testing.T) {
	s := newPairingServer(t, trustLoopback, func(c *Config) {
		c.ClientPairing, c.PairingPerSource = true, 3
		c.TokenRequests = throttle.NewLimiter(100, 100, nil)
	})
	var statuses []int
	for range 10 {
		status, h, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","label":"shop1"}`, "198.51.100.66")
		statuses = append(statuses, status)
		if status == 429 && h.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(statuses) != "[200 200 200 429 429 429 429 429 429 429]" {
		t.Errorf("one address's requests: %v", statuses)
	}
	// Another IPv6 address of the same /64 is the same source.
	if status, _, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","label":"x"}`, "2001:db8:1:2::5"); status != 200 {
		t.Errorf("first IPv6 request: %d", status)
	}
	for _, ip := range []string{"2001:db8:1:2::6", "2001:db8:1:2:ffff::7"} {
		if status, _, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","label":"x"}`, ip); status != 200 {
			t.Errorf("request from %s: %d", ip, status)
		}
	}
	if status, _, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","label":"x"}`, "2001:db8:1:2::8"); status != 429 {
		t.Errorf("fourth request of one /64: %d, want 429", status)
	}
	status, _, body := s.post("/tokens", `{"id":"`+newSIN(t)+`","label":"real shop"}`, "203.0.113.5")
	if status != 200 {
		t.Fatalf("a real shop after the flood: %d %s", status, body)
	}
	list, err := s.svc.Pairings().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if list[0].Source != "203.0.113.5" || list[0].Label != "real shop" {
		t.Errorf("newest request %+v, want the real shop's from 203.0.113.5", list[0])
	}
}

// TestTokenRequestsAndAuthFailuresAreLimited: POST /tokens is limited per
// address (pairing-code guessing included), and so are failed token and
// signature checks, with 429 and Retry-After.
func TestTokenRequestsAndAuthFailuresAreLimited(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	s := newPairingServer(t, trustLoopback, func(c *Config) {
		c.TokenRequests = throttle.NewLimiter(6, 3, now)
		c.AuthFailures = throttle.NewLimiter(6, 2, now)
	})
	for i := range 3 {
		if status, _, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","pairingCode":"zzzzzzz"}`, "198.51.100.9"); status != 404 {
			t.Fatalf("guess %d: %d, want 404", i+1, status)
		}
	}
	status, h, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","pairingCode":"zzzzzzz"}`, "198.51.100.9")
	if status != 429 || h.Get("Retry-After") != "10" {
		t.Errorf("fourth guess: %d Retry-After %q, want 429 and 10", status, h.Get("Retry-After"))
	}
	if status, _, _ := s.post("/tokens", `{"id":"`+newSIN(t)+`","pairingCode":"zzzzzzz"}`, "203.0.113.1"); status != 404 {
		t.Errorf("another address: %d, want 404", status)
	}

	// Failed token checks: two, then 429 even for the right token.
	for i := range 2 {
		if status, _ := s.call("GET", "/invoices?token=wrong"+fmt.Sprint(i), "", ""); status != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i+1, status)
		}
	}
	status, body := s.call("GET", "/invoices?token="+url.QueryEscape(s.tok), "", "")
	if status != 429 {
		t.Errorf("right token while blocked: %d %s, want 429", status, body)
	}
	clock = clock.Add(10 * time.Second)
	if status, body := s.call("GET", "/invoices?token="+url.QueryEscape(s.tok), "", ""); status != 200 {
		t.Errorf("after the wait: %d %s", status, body)
	}
}

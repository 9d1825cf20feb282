package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// gfHook is a shop's Greenfield webhook endpoint: it records every request
// and can be taken down (503 to everything), as a shop's server in
// maintenance would answer.
type gfHook struct {
	url     string
	down    atomic.Bool
	mu      sync.Mutex
	got     []gfHookRequest // answered 200, in arrival order
	refused int
}

type gfHookRequest struct {
	body []byte
	sig  string
	uri  string
	m    map[string]any
}

func startGFHook(t *testing.T, path string) *gfHook {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &gfHook{url: "http://" + l.Addr().String() + path}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if h.down.Load() {
			h.mu.Lock()
			h.refused++
			h.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		req := gfHookRequest{body: body, sig: r.Header.Get("BTCPay-Sig"), uri: r.URL.RequestURI()}
		_ = json.Unmarshal(body, &req.m)
		h.mu.Lock()
		h.got = append(h.got, req)
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

// requests returns the requests answered 200 so far.
func (h *gfHook) requests() []gfHookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// types returns the types of the requests of invoice id, in arrival order.
func (h *gfHook) types(invoiceID string) []string {
	var out []string
	for _, r := range h.requests() {
		if r.m["invoiceId"] == invoiceID {
			out = append(out, fmt.Sprint(r.m["type"]))
		}
	}
	return out
}

// waitTypes waits until invoice id's requests are want, in that order.
func (h *gfHook) waitTypes(t *testing.T, invoiceID string, want []string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() bool { return len(h.types(invoiceID)) >= len(want) },
		func() string { return fmt.Sprintf("invoice %s: got %v, want %v", invoiceID, h.types(invoiceID), want) })
	if got := h.types(invoiceID); !slices.Equal(got, want) {
		t.Fatalf("invoice %s: got %v, want %v (in this order)", invoiceID, got, want)
	}
}

// btcpaySig computes BTCPay-Sig as the PHP library's
// isIncomingWebhookRequestValid does: sha256= and hash_hmac('sha256',
// body, secret).
func btcpaySig(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// whClient calls the Greenfield API as the PHP library does.
type whClient struct {
	t   *testing.T
	url string
	key string
}

func (c *whClient) do(method, path, body string, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+"/api/v1/"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	openapitest.Check(c.t, req, resp.StatusCode, resp.Header, raw)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// whStoreAndKey creates a store and a key with every permission the
// WooCommerce plugin asks for, through the command line, and returns the
// store id and key.
func whStoreAndKey(t *testing.T, env []string) (string, string) {
	t.Helper()
	r := runCLI(t, env, "stores", "create", "--name", "Woo shop", "--default-currency", "LTC", "--json")
	var st struct {
		ID string `json:"id"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.ID == "" {
		t.Fatalf("stores create: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	args := []string{"apikeys", "create", "--label", "woocommerce", "--store", st.ID, "--json"}
	for _, p := range []string{"btcpay.store.canviewinvoices", "btcpay.store.cancreateinvoice",
		"btcpay.store.canmodifyinvoices", "btcpay.store.webhooks.canmodifywebhooks", "btcpay.store.canviewstoresettings"} {
		args = append(args, "--permission", p)
	}
	r = runCLI(t, env, args...)
	var key struct {
		Key string `json:"key"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &key) != nil || key.Key == "" {
		t.Fatalf("apikeys create: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return st.ID, key.Key
}

// TestGreenfieldWebhooks runs the webhook flow against transientd and
// litecoind: a webhook registered as the PHP library does, an invoice paid
// and mined, every event received in order with a valid BTCPay-Sig at the
// URL exactly as registered; the receiver down for a while still gets
// everything, in order; a redelivery; a manual mark.
func TestGreenfieldWebhooks(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	db := pgtest.NewDatabase(t)
	env := append(coinEnv(node), "LISTEN_ADDR="+addr, "DATABASE_URL="+db, "WEBHOOK_ALLOW_PRIVATE=true",
		"WEBHOOK_RETRY_SCHEDULE=300ms,600ms,1s")
	d := startDaemon(t, env...)
	cliEnv := append(slices.Clone(d.env), "DATABASE_URL="+db)
	storeID, key := whStoreAndKey(t, cliEnv)
	gf := &whClient{t: t, url: d.url, key: key}
	ctx := context.Background()

	// The query string is part of the URL the shop registered.
	hook := startGFHook(t, "/?wc-api=btcpaygf_default&x=a%2Fb")
	var created struct {
		ID               string `json:"id"`
		Secret           string `json:"secret"`
		URL              string `json:"url"`
		Enabled          bool   `json:"enabled"`
		AuthorizedEvents struct {
			Everything bool `json:"everything"`
		} `json:"authorizedEvents"`
	}
	body := fmt.Sprintf(`{"enabled":true,"automaticRedelivery":true,"url":%q,"authorizedEvents":{"everything":true}}`, hook.url)
	if code := gf.do("POST", "stores/"+storeID+"/webhooks", body, &created); code != 200 {
		t.Fatalf("create webhook: %d", code)
	}
	if created.ID == "" || len(created.Secret) < 20 || created.URL != hook.url || !created.Enabled || !created.AuthorizedEvents.Everything {
		t.Fatalf("created webhook %+v", created)
	}
	var listed []map[string]any
	if code := gf.do("GET", "stores/"+storeID+"/webhooks", "", &listed); code != 200 || len(listed) != 1 {
		t.Fatalf("list webhooks: %d %v", code, listed)
	}
	if _, ok := listed[0]["secret"]; ok {
		t.Errorf("the secret is shown after create: %v", listed[0])
	}

	// Invoice 1: paid, then mined to MediumSpeed's one confirmation.
	createInvoice := func(order string) (string, string) {
		var inv struct {
			ID string `json:"id"`
		}
		if code := gf.do("POST", "stores/"+storeID+"/invoices",
			fmt.Sprintf(`{"amount":"0.25","currency":"LTC","metadata":{"orderId":%q,"posData":"{\"WooCommerce\":{\"Order ID\":7}}"},`+
				`"checkout":{"speedPolicy":"MediumSpeed","paymentMethods":["LTC_CHAIN"],"expirationMinutes":null,"redirectURL":null}}`, order),
			&inv); code != 200 {
			t.Fatalf("create invoice: %d", code)
		}
		var methods []struct {
			Destination string `json:"destination"`
		}
		if code := gf.do("GET", "stores/"+storeID+"/invoices/"+inv.ID+"/payment-methods", "", &methods); code != 200 || len(methods) != 1 {
			t.Fatalf("payment methods: %d %v", code, methods)
		}
		return inv.ID, methods[0].Destination
	}
	inv1, addr1 := createInvoice("order-1")
	hook.waitTypes(t, inv1, []string{"InvoiceCreated"}, 20*time.Second)
	if _, err := node.Send(ctx, regtest.MinerWallet, addr1, 25_000_000, false); err != nil {
		t.Fatal(err)
	}
	hook.waitTypes(t, inv1, []string{"InvoiceCreated", "InvoiceReceivedPayment", "InvoiceProcessing"}, 30*time.Second)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	hook.waitTypes(t, inv1, []string{"InvoiceCreated", "InvoiceReceivedPayment", "InvoiceProcessing",
		"InvoicePaymentSettled", "InvoiceSettled"}, 30*time.Second)

	for _, r := range hook.requests() {
		if r.sig != btcpaySig(created.Secret, r.body) {
			t.Errorf("%v: BTCPay-Sig %q is not the HMAC of the body with the secret", r.m["type"], r.sig)
		}
		if r.uri != "/?wc-api=btcpaygf_default&x=a%2Fb" {
			t.Errorf("request URI %q, want the registered one exactly", r.uri)
		}
		m := r.m
		if m["storeId"] != storeID || m["webhookId"] != created.ID || m["isRedelivery"] != false ||
			m["deliveryId"] == "" || m["originalDeliveryId"] != m["deliveryId"] {
			t.Errorf("envelope %s", r.body)
		}
		if ts, ok := m["timestamp"].(float64); !ok || ts != float64(int64(ts)) || ts < 1.7e9 {
			t.Errorf("timestamp %v: want integer unix seconds", m["timestamp"])
		}
		if meta, _ := m["metadata"].(map[string]any); meta["orderId"] != "order-1" || meta["posData"] != `{"WooCommerce":{"Order ID":7}}` {
			t.Errorf("metadata %v: want it as sent", m["metadata"])
		}
		switch m["type"] {
		case "InvoiceReceivedPayment", "InvoicePaymentSettled":
			pay, _ := m["payment"].(map[string]any)
			if m["afterExpiration"] != false || m["paymentMethodId"] != "LTC-CHAIN" || pay["value"] != "0.25" ||
				pay["destination"] != addr1 || !strings.Contains(fmt.Sprint(pay["id"]), "-") {
				t.Errorf("payment event %s", r.body)
			}
		case "InvoiceProcessing":
			if m["overPaid"] != false {
				t.Errorf("processing %s", r.body)
			}
		case "InvoiceSettled":
			if m["overPaid"] != false || m["manuallyMarked"] != false {
				t.Errorf("settled %s", r.body)
			}
		}
	}

	// Invoice 2, with the receiver down from before the payment: the
	// deliveries are retried and arrive in order once it is back.
	inv2, addr2 := createInvoice("order-2")
	hook.waitTypes(t, inv2, []string{"InvoiceCreated"}, 20*time.Second)
	hook.down.Store(true)
	if _, err := node.Send(ctx, regtest.MinerWallet, addr2, 25_000_000, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { hook.mu.Lock(); defer hook.mu.Unlock(); return hook.refused >= 3 },
		func() string { return "the receiver was not tried while down" })
	hook.down.Store(false)
	want2 := []string{"InvoiceCreated", "InvoiceReceivedPayment", "InvoiceProcessing", "InvoicePaymentSettled", "InvoiceSettled"}
	hook.waitTypes(t, inv2, want2, 60*time.Second)

	// The deliveries API: newest first, each delivered.
	var deliveries []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		HTTPCode   *int   `json:"httpCode"`
		Timestamp  int64  `json:"timestamp"`
		SentAt     *int64 `json:"sentTimestamp"`
		ErrMessage any    `json:"errorMessage"`
	}
	waitFor(t, 20*time.Second, func() bool {
		gf.do("GET", "stores/"+storeID+"/webhooks/"+created.ID+"/deliveries?count=100", "", &deliveries)
		if len(deliveries) != 10 {
			return false
		}
		for _, dl := range deliveries {
			if dl.Status != "HttpSuccess" {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("deliveries %+v", deliveries) })
	var settledID string
	for _, r := range hook.requests() {
		if r.m["invoiceId"] == inv1 && r.m["type"] == "InvoiceSettled" {
			settledID = fmt.Sprint(r.m["deliveryId"])
		}
	}
	if deliveries[9].ID != fmt.Sprint(hook.requests()[0].m["deliveryId"]) {
		t.Errorf("the oldest delivery listed is %s, want the first received", deliveries[9].ID)
	}
	var raw map[string]any
	if code := gf.do("GET", "stores/"+storeID+"/webhooks/"+created.ID+"/deliveries/"+settledID+"/request", "", &raw); code != 200 ||
		raw["type"] != "InvoiceSettled" || raw["deliveryId"] != settledID {
		t.Errorf("delivery request: %d %v", code, raw)
	}

	// Redeliver InvoiceSettled of invoice 1.
	var newID string
	if code := gf.do("POST", "stores/"+storeID+"/webhooks/"+created.ID+"/deliveries/"+settledID+"/redeliver", "", &newID); code != 200 || newID == "" || newID == settledID {
		t.Fatalf("redeliver: %d %q", code, newID)
	}
	waitFor(t, 20*time.Second, func() bool { return len(hook.types(inv1)) == 6 },
		func() string { return fmt.Sprintf("after redeliver: %v", hook.types(inv1)) })
	re := hook.requests()[len(hook.requests())-1]
	if re.m["deliveryId"] != newID || re.m["originalDeliveryId"] != settledID || re.m["isRedelivery"] != true ||
		re.m["type"] != "InvoiceSettled" || re.sig != btcpaySig(created.Secret, re.body) {
		t.Errorf("redelivery %s sig %s", re.body, re.sig)
	}
	var one struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	waitFor(t, 10*time.Second, func() bool {
		gf.do("GET", "stores/"+storeID+"/webhooks/"+created.ID+"/deliveries/"+newID, "", &one)
		return one.Status == "HttpSuccess"
	}, func() string { return fmt.Sprintf("redelivery %+v", one) })

	// A webhook for InvoiceInvalid only, and a manual mark.
	var only struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	invalidHook := startGFHook(t, "/invalid")
	if code := gf.do("POST", "stores/"+storeID+"/webhooks", fmt.Sprintf(
		`{"url":%q,"authorizedEvents":{"everything":false,"specificEvents":["InvoiceInvalid"]},"secret":"my own secret"}`, invalidHook.url), &only); code != 200 || only.Secret != "my own secret" {
		t.Fatalf("create second webhook: %d %+v", code, only)
	}
	inv3, _ := createInvoice("order-3")
	hook.waitTypes(t, inv3, []string{"InvoiceCreated"}, 20*time.Second)
	if code := gf.do("POST", "stores/"+storeID+"/invoices/"+inv3+"/status", `{"status":"Invalid"}`, nil); code != 200 {
		t.Fatalf("mark invalid: %d", code)
	}
	hook.waitTypes(t, inv3, []string{"InvoiceCreated", "InvoiceInvalid"}, 20*time.Second)
	invalidHook.waitTypes(t, inv3, []string{"InvoiceInvalid"}, 20*time.Second)
	mk := invalidHook.requests()[0]
	if mk.m["manuallyMarked"] != true || mk.sig != btcpaySig("my own secret", mk.body) {
		t.Errorf("marked: %s sig %s", mk.body, mk.sig)
	}
	if n := len(invalidHook.types(inv1)) + len(invalidHook.types(inv2)); n != 0 {
		t.Errorf("the InvoiceInvalid-only webhook got %d other events", n)
	}

	// Update keeps the secret when none is given; delete.
	if code := gf.do("PUT", "stores/"+storeID+"/webhooks/"+only.ID, fmt.Sprintf(
		`{"url":%q,"enabled":false,"authorizedEvents":{"everything":true},"secret":""}`, invalidHook.url), nil); code != 200 {
		t.Fatalf("update: %d", code)
	}
	var upd map[string]any
	if code := gf.do("GET", "stores/"+storeID+"/webhooks/"+only.ID, "", &upd); code != 200 || upd["enabled"] != false {
		t.Errorf("after update: %d %v", code, upd)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var secret string
	if err := pool.QueryRow(ctx, `SELECT secret FROM greenfield_webhooks WHERE id = $1`, only.ID).Scan(&secret); err != nil ||
		secret != "my own secret" {
		t.Errorf("secret after an update without one: %q %v, want it kept", secret, err)
	}
	if code := gf.do("DELETE", "stores/"+storeID+"/webhooks/"+only.ID, "", nil); code != 200 {
		t.Errorf("delete: %d", code)
	}
	var gone map[string]any
	if code := gf.do("GET", "stores/"+storeID+"/webhooks/"+only.ID, "", &gone); code != 404 || gone["code"] != "webhook-not-found" {
		t.Errorf("deleted webhook: %d %v", code, gone)
	}
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// The Greenfield contract test replays the requests the WooCommerce plugin
// (btcpayserver/woocommerce-greenfield-plugin) makes through
// btcpayserver-greenfield-php, with the library's headers and bodies, and
// checks every field the library's Result classes read for the JSON type
// they declare (the library uses strict typing: a number where a string
// is wanted is a TypeError the plugin swallows).

// wooPermissions are GreenfieldApiAuthorization::REQUIRED_PERMISSIONS.
var wooPermissions = []string{"btcpay.store.canviewinvoices", "btcpay.store.cancreateinvoice",
	"btcpay.store.canviewstoresettings", "btcpay.store.canmodifyinvoices"}

// gfClient is btcpayserver-greenfield-php's AbstractClient: every request
// carries Accept and Content-Type application/json and "token <key>".
type gfClient struct {
	t          *testing.T
	base, key  string
	noRedirect bool
}

type gfAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (c *gfClient) do(method, path, body string) gfAnswer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "token "+c.key)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	if c.noRedirect {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	// A followed redirect answers for another route than the one asked.
	if strings.HasPrefix(path, "/api/v1/") || (strings.HasPrefix(path, "/i/") && c.noRedirect) {
		openapitest.Check(c.t, req, resp.StatusCode, resp.Header, raw)
	}
	return gfAnswer{resp.StatusCode, resp.Header, raw}
}

// ok is a call the library accepts: status 200 exactly (it treats any
// other as an error, 201 included), decoded keeping numbers as text.
func (c *gfClient) ok(method, path, body string) any {
	c.t.Helper()
	a := c.do(method, path, body)
	if a.status != 200 {
		c.t.Fatalf("%s %s: %d %s, want 200", method, path, a.status, a.body)
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		c.t.Fatalf("%s %s: not JSON: %s", method, path, a.body)
	}
	return v
}

func (c *gfClient) object(method, path, body string) map[string]any {
	c.t.Helper()
	m, ok := c.ok(method, path, body).(map[string]any)
	if !ok {
		c.t.Fatalf("%s %s: not a JSON object", method, path)
	}
	return m
}

func (c *gfClient) array(method, path, body string) []map[string]any {
	c.t.Helper()
	list, ok := c.ok(method, path, body).([]any)
	if !ok {
		c.t.Fatalf("%s %s: not a JSON array", method, path)
	}
	out := make([]map[string]any, len(list))
	for i, v := range list {
		if out[i], ok = v.(map[string]any); !ok {
			c.t.Fatalf("%s %s: item %d is not an object", method, path, i)
		}
	}
	return out
}

// phpTypes checks the PHP getters' declared types: string, int or bool.
func phpTypes(t *testing.T, what string, m map[string]any, strs, ints, bools []string) {
	t.Helper()
	for _, k := range strs {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s.%s = %#v: the library declares string", what, k, m[k])
		}
	}
	for _, k := range ints {
		n, ok := m[k].(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, 64); !ok || err != nil {
			t.Errorf("%s.%s = %#v: want an integer (Unix seconds)", what, k, m[k])
		}
	}
	for _, k := range bools {
		if _, ok := m[k].(bool); !ok {
			t.Errorf("%s.%s = %#v: the library declares bool", what, k, m[k])
		}
	}
}

// storeCLI runs transientd with args on db and returns its stdout.
func storeCLI(t *testing.T, db string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin("transientd"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + db, "TRANSIENT_ENV_FILE=/nonexistent"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("transientd %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// versionAtLeast is PHP's version_compare(v, min, '>=') for dotted numbers.
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// TestGreenfieldWooCommerce connects the plugin's way (settings check,
// payment methods), creates an order's invoice as the plugin does, follows
// the buyer to the checkout page, pays it on regtest and reads it through
// Processing to Settled; marks another invoice Invalid as the plugin does
// for a cancelled order; and checks the refusals.
func TestGreenfieldWooCommerce(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	db := pgtest.NewDatabase(t)
	// transientd migrates on start; the CLI needs the schema first.
	d := startDaemon(t, append(coinEnv(node), "DATABASE_URL="+db, "LISTEN_ADDR="+addr, "PUBLIC_URL=http://"+addr,
		"RATES_STATIC=LTC_USD=80", "CATCHUP_INTERVAL=1s", "AUTH_FAILURES_PER_MINUTE=0")...)
	store := storeCLI(t, db, "stores", "create", "--name", "Woo shop", "--default-currency", "USD")
	args := []string{"apikeys", "create", "--label", "woocommerce", "--store", store}
	for _, p := range append(slices.Clone(wooPermissions), "btcpay.store.webhooks.canmodifywebhooks") {
		args = append(args, "--permission", p)
	}
	key := storeCLI(t, db, args...)
	woo := &gfClient{t: t, base: d.url, key: key}
	ctx := context.Background()

	// Settings page: GlobalSettings::validateConnection.
	cur := woo.object("GET", "/api/v1/api-keys/current", "")
	perms, _ := cur["permissions"].([]any)
	var names []string
	for _, p := range perms {
		s, _ := p.(string)
		name, storeID, ok := strings.Cut(s, ":")
		if !ok || storeID != store {
			t.Fatalf("permission %q is not permission:storeId", s)
		}
		names = append(names, name)
	}
	for _, want := range wooPermissions {
		if !slices.Contains(names, want) {
			t.Errorf("api-keys/current lacks %s: %v", want, perms)
		}
	}
	if first, _ := perms[0].(string); !strings.HasSuffix(first, ":"+store) {
		t.Errorf("getStoreID() would read %q", first)
	}
	info := woo.object("GET", "/api/v1/server/info", "")
	phpTypes(t, "server/info", info, []string{"version"}, nil, []string{"fullySynched"})
	if v, _ := info["version"].(string); !versionAtLeast(v, "1.7.6") {
		t.Errorf("version %q is below 1.7.6: the plugin would refuse refunds and warn", v)
	}
	if info["fullySynched"] != true {
		t.Errorf("fullySynched = %v with a synced regtest node", info["fullySynched"])
	}
	if stores := woo.array("GET", "/api/v1/stores", ""); len(stores) != 1 || stores[0]["id"] != store {
		t.Errorf("stores = %v", stores)
	}
	// GreenfieldApiHelper::supportedPaymentMethods: enabled ones become
	// gateways named after paymentMethod with - turned into _.
	pms := woo.array("GET", "/api/v1/stores/"+store+"/payment-methods", "")
	if len(pms) != 1 || pms[0]["enabled"] != true || pms[0]["paymentMethodId"] != "LTC-CHAIN" || pms[0]["paymentMethod"] != "LTC-CHAIN" {
		t.Fatalf("payment-methods = %v", pms)
	}
	symbol := strings.ReplaceAll(pms[0]["paymentMethod"].(string), "-", "_")

	// Checkout: AbstractGateway::createInvoice through Invoice::createInvoice.
	body := `{"amount":"12.50","currency":"USD","metadata":{"taxIncluded":"1.50",` +
		`"posData":"{\"WooCommerce\":{\"Order ID\":42,\"Order Number\":\"42\"}}","orderUrl":"http:\/\/shop.example\/wp-admin\/post.php?post=42&action=edit",` +
		`"orderId":"42"},"checkout":{"speedPolicy":null,"paymentMethods":["` + symbol + `"],"expirationMinutes":null,` +
		`"monitoringMinutes":null,"paymentTolerance":null,"redirectURL":"http:\/\/shop.example\/checkout\/order-received\/42\/?key=wc_order_abc",` +
		`"redirectAutomatically":null,"defaultLanguage":null,"requiresRefundEmail":false}}`
	inv := woo.object("POST", "/api/v1/stores/"+store+"/invoices", body)
	invTypes := func(inv map[string]any) {
		t.Helper()
		phpTypes(t, "invoice", inv, []string{"id", "storeId", "amount", "currency", "checkoutLink", "status", "additionalStatus"},
			[]string{"createdTime", "expirationTime", "monitoringExpiration"}, []string{"archived"})
		if _, ok := inv["metadata"].(map[string]any); !ok {
			t.Errorf("metadata %#v is not an object", inv["metadata"])
		}
		if _, ok := inv["checkout"].(map[string]any)["paymentMethods"].([]any); !ok {
			t.Errorf("checkout.paymentMethods %#v is not an array", inv["checkout"])
		}
	}
	invTypes(inv)
	id := inv["id"].(string)
	if inv["checkoutLink"] != "http://"+addr+"/i/"+id || inv["status"] != "New" || inv["additionalStatus"] != "None" ||
		inv["amount"] != "12.5" || inv["currency"] != "USD" {
		t.Fatalf("created invoice %v", inv)
	}
	meta := inv["metadata"].(map[string]any)
	if meta["posData"] != `{"WooCommerce":{"Order ID":42,"Order Number":"42"}}` || meta["taxIncluded"] != "1.50" || meta["orderId"] != "42" {
		t.Errorf("metadata not kept as sent: %v", meta)
	}

	// The buyer follows checkoutLink (or the plugin's own url/i/{id}) to
	// the checkout page.
	page := woo.do("GET", "/i/"+id, "")
	if page.status != 200 || !strings.Contains(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("checkout link: %d %s", page.status, page.header.Get("Content-Type"))
	}
	direct := &gfClient{t: t, base: d.url, noRedirect: true}
	if r := direct.do("GET", "/i/"+id, ""); r.status != 302 || r.header.Get("Location") != "/payments/"+id+"/checkout" {
		t.Errorf("/i/{id}: %d %q", r.status, r.header.Get("Location"))
	}

	// Invoice::getInvoicesByOrderIds and getPaymentMethods before payment.
	if list := woo.array("GET", "/api/v1/stores/"+store+"/invoices?orderId=42", ""); len(list) != 1 || list[0]["id"] != id {
		t.Errorf("invoices?orderId=42 = %d invoices", len(list))
	}
	methods := func() map[string]any {
		t.Helper()
		list := woo.array("GET", "/api/v1/stores/"+store+"/invoices/"+id+"/payment-methods", "")
		if len(list) != 1 {
			t.Fatalf("%d payment methods", len(list))
		}
		m := list[0]
		phpTypes(t, "payment method", m, []string{"destination", "rate", "paymentMethodPaid", "totalPaid", "due", "amount",
			"networkFee", "paymentMethodFee", "paymentMethod", "paymentMethodId", "currency", "cryptoCode"}, nil, nil)
		pays, ok := m["payments"].([]any)
		if !ok {
			t.Fatalf("payments %#v is not an array", m["payments"])
		}
		for _, p := range pays {
			phpTypes(t, "payment", p.(map[string]any), []string{"id", "value", "fee", "destination", "status"}, []string{"receivedDate"}, nil)
		}
		return m
	}
	m := methods()
	if m["amount"] != "0.15625" || m["due"] != "0.15625" || m["rate"] != "80" || len(m["payments"].([]any)) != 0 {
		t.Fatalf("payment method before payment %v", m)
	}

	// Pay; the invoice is Processing, then Settled at LTC_CONFIRMATIONS=2
	// blocks (MediumSpeed wants 1).
	txid, err := node.Send(ctx, regtest.MinerWallet, m["destination"].(string), 15_625_000, false)
	if err != nil {
		t.Fatal(err)
	}
	getInv := func() map[string]any { return woo.object("GET", "/api/v1/stores/"+store+"/invoices/"+id, "") }
	waitFor(t, 30*time.Second, func() bool { inv = getInv(); return inv["status"] == "Processing" },
		func() string { return "invoice is " + inv["status"].(string) + ", want Processing" })
	invTypes(inv)
	m = methods()
	pays := m["payments"].([]any)
	if len(pays) != 1 || m["paymentMethodPaid"] != "0.15625" || m["due"] != "0" {
		t.Fatalf("payment method after payment %v", m)
	}
	p := pays[0].(map[string]any)
	if !strings.HasPrefix(p["id"].(string), txid+"-") || p["value"] != "0.15625" || p["status"] != "Processing" {
		t.Errorf("payment %v", p)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { inv = getInv(); return inv["status"] == "Settled" },
		func() string { return "invoice is " + inv["status"].(string) + ", want Settled" })
	if inv["additionalStatus"] != "None" {
		t.Errorf("settled invoice: additionalStatus %v", inv["additionalStatus"])
	}
	// Paid, the checkout page sends the buyer back to the order (the
	// plugin's redirectURL); before, it did not show it.
	const back = "http://shop.example/checkout/order-received/42/?key=wc_order_abc"
	if bytes.Contains(page.body, []byte(back)) || !bytes.Contains(page.body, []byte("data-return")) {
		t.Errorf("the unpaid checkout page shows the return link, or does not know of it")
	}
	if page := woo.do("GET", "/i/"+id, ""); page.status != 200 || !bytes.Contains(page.body, []byte(`href="`+back+`"`)) {
		t.Errorf("the paid checkout page has no link back to %s: %d", back, page.status)
	}
	if list := woo.array("GET", "/api/v1/stores/"+store+"/invoices?status=Settled", ""); len(list) != 1 {
		t.Errorf("invoices?status=Settled = %d invoices", len(list))
	}

	// A cancelled order: AbstractGateway::markInvoiceInvalid.
	other := woo.object("POST", "/api/v1/stores/"+store+"/invoices", strings.Replace(body, `"orderId":"42"`, `"orderId":"43"`, 1))
	marked := woo.object("POST", "/api/v1/stores/"+store+"/invoices/"+other["id"].(string)+"/status", `{"status":"Invalid"}`)
	invTypes(marked)
	if marked["status"] != "Invalid" || marked["additionalStatus"] != "Marked" {
		t.Errorf("marked invoice %v", marked)
	}

	// Refusals in Greenfield's shapes.
	refused := func(c *gfClient, method, path, body string, status int, code string) {
		t.Helper()
		a := c.do(method, path, body)
		var e struct{ Code, Message string }
		if a.status != status || json.Unmarshal(a.body, &e) != nil || e.Code != code || e.Message == "" {
			t.Errorf("%s %s: %d %s, want %d %s", method, path, a.status, a.body, status, code)
		}
	}
	anon := &gfClient{t: t, base: d.url}
	refused(anon, "GET", "/api/v1/api-keys/current", "", 401, "unauthenticated")
	refused(&gfClient{t: t, base: d.url, key: strings.Repeat("0", 40)}, "GET", "/api/v1/stores", "", 401, "unauthenticated")
	viewer := &gfClient{t: t, base: d.url, key: storeCLI(t, db, "apikeys", "create", "--label", "viewer", "--store", store,
		"--permission", "btcpay.store.canviewinvoices")}
	refused(viewer, "POST", "/api/v1/stores/"+store+"/invoices", body, 403, "missing-permission")
	refused(viewer, "POST", "/api/v1/stores/"+store+"/invoices/"+id+"/status", `{"status":"Invalid"}`, 403, "missing-permission")
	refused(woo, "GET", "/api/v1/stores/"+store+"/invoices/7d444840-9dc0-11d1-b245-5ffdce74fad2", "", 404, "invoice-not-found")
	a := woo.do("POST", "/api/v1/stores/"+store+"/invoices", `{"amount":"12.50","currency":"USD","checkout":{"paymentMethods":["BTC_LightningLike"]}}`)
	var v []struct{ Path, Message string }
	if a.status != 422 || json.Unmarshal(a.body, &v) != nil || len(v) != 1 || v[0].Path != "checkout.paymentMethods" {
		t.Errorf("lightning-only invoice: %d %s, want 422 naming checkout.paymentMethods", a.status, a.body)
	}
}

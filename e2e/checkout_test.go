package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// The checkout page's browser tests drive Debian's chromium through chromedp
// against a real transientd, PostgreSQL and litecoind in regtest. They fail,
// never skip, when chromium is missing: scripts/chromium.sh installs it.

// chromiumPath is the browser the tests drive: CHROMIUM_PATH, or Debian's.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// newCheckoutBrowser starts a headless chromium with a phone-sized viewport and
// returns its tab's context, closed when the test ends, and the checker of
// every response the tab receives.
func newCheckoutBrowser(t *testing.T) (context.Context, *browserChecker) {
	t.Helper()
	path := chromiumPath()
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("chromium is missing (%s: %v): the browser tests need Debian's chromium; run scripts/chromium.sh "+
			"(as root it runs apt-get install -y chromium), or set CHROMIUM_PATH to a Chromium binary", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait)); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx, checkBrowserResponses(t, ctx)
}

// browserChecker checks every HTTP response a browser tab receives against
// openapi/openapi.yaml, as openapitest.Transport does for the tests' own
// requests: the page and its error pages (HTML), the QR code (PNG), the
// JSON of the polling fallback, each with its body, and the event stream
// (route, status, headers and content type; its body never ends).
type browserChecker struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	pending map[network.RequestID]*browserExchange
	checked map[string]int // "<status> <media type>" -> responses checked
	closed  bool           // the test is ending: report nothing more
	wg      sync.WaitGroup // body checks under way
}

// browserExchange is one request of the tab and, once it arrived, its
// response.
type browserExchange struct {
	method, url string
	status      int
	header      http.Header // nil until the response arrived
}

// checkBrowserResponses starts checking the responses of the tab of ctx.
func checkBrowserResponses(t *testing.T, ctx context.Context) *browserChecker {
	t.Helper()
	c := &browserChecker{t: t, ctx: ctx, pending: map[network.RequestID]*browserExchange{}, checked: map[string]int{}}
	if err := chromedp.Listen(ctx, c.event); err != nil {
		t.Fatal(err)
	}
	// Runs before the browser's cleanup (cleanups run last first): finish
	// the body checks under way, then ignore what the tab still receives.
	t.Cleanup(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

// event handles one event of the tab. It runs on the goroutine that reads
// the browser's messages, so it must not block or run a command: bodies
// are fetched on goroutines of their own.
func (c *browserChecker) event(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.HasPrefix(ev.Request.URL, "http://") || strings.HasPrefix(ev.Request.URL, "https://") {
			c.pending[ev.RequestID] = &browserExchange{method: ev.Request.Method, url: ev.Request.URL}
		}
	case *network.EventResponseReceived:
		x := c.pending[ev.RequestID]
		if x == nil {
			return
		}
		x.status, x.header = int(ev.Response.Status), http.Header{}
		for k, v := range ev.Response.Headers {
			for line := range strings.SplitSeq(fmt.Sprint(v), "\n") {
				x.header.Add(k, line)
			}
		}
		if mediaType(x.header) == openapitest.EventStream {
			// The body of a stream never ends: check the rest now.
			delete(c.pending, ev.RequestID)
			c.check(x, nil, false)
		}
	case *network.EventLoadingFinished:
		x := c.pending[ev.RequestID]
		delete(c.pending, ev.RequestID)
		if x == nil || x.header == nil {
			return
		}
		c.wg.Add(1)
		go func(id network.RequestID) {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			defer cancel()
			body, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
				res, err := cdp.Call(ctx, tg, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
				return res.Body, err
			})
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				// The tab dropped the body (it navigated away, say): check
				// all but the body.
				c.t.Logf("browser: no body for %s %s (%v); checking its status, headers and content type", x.method, x.url, err)
			}
			c.check(x, body, err != nil)
		}(ev.RequestID)
	case *network.EventLoadingFailed:
		delete(c.pending, ev.RequestID) // blocked or cancelled: no response
	}
}

// check validates one response; c.mu is held.
func (c *browserChecker) check(x *browserExchange, body []byte, noBody bool) {
	req, err := http.NewRequest(x.method, x.url, nil)
	if err != nil {
		c.t.Errorf("browser: %s %s: %v", x.method, x.url, err)
		return
	}
	if noBody || mediaType(x.header) == openapitest.EventStream {
		err = openapitest.ValidateHead(req, x.status, x.header)
	} else {
		err = openapitest.Validate(req, x.status, x.header, body)
	}
	if err != nil {
		c.t.Errorf("openapi: the browser's %s %s answered %d: %v", x.method, req.URL.Path, x.status, err)
	}
	c.checked[fmt.Sprintf("%d %s", x.status, mediaType(x.header))]++
}

// wantChecked fails the test unless responses with each "<status> <media
// type>" of want were checked, waiting a little for the last bodies.
func (c *browserChecker) wantChecked(want ...string) {
	c.t.Helper()
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c.mu.Lock()
		missing = missing[:0]
		for _, w := range want {
			if c.checked[w] == 0 {
				missing = append(missing, w)
			}
		}
		got := fmt.Sprint(c.checked)
		c.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Errorf("the browser's responses checked against openapi/openapi.yaml: %s; none with %q", got, missing)
			return
		}
	}
}

// mediaType is the media type of a Content-Type header, without parameters.
func mediaType(h http.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt
}

// checkedClient is an HTTP client whose every answer is checked against
// openapi/openapi.yaml (streams: route, status, headers and content type).
func checkedClient(t *testing.T) *http.Client {
	return &http.Client{Transport: &openapitest.Transport{TB: t}}
}

// checkoutState is what the checkout page shows, read from its DOM.
type checkoutState struct {
	Status        string `json:"status"`
	Badge         string `json:"badge"`
	Title         string `json:"title"`
	Text          string `json:"text"`
	DueLabel      string `json:"dueLabel"`
	Due           string `json:"due"`
	Confirmations string `json:"confirmations"`
	Countdown     string `json:"countdown"`
	Pay           bool   `json:"pay"`
	Confirming    bool   `json:"confirming"`
	Expiry        bool   `json:"expiry"`
	Return        bool   `json:"return"`
	ReturnHref    string `json:"returnHref"`
	Wallet        string `json:"wallet"`
	QR            string `json:"qr"`
	QRLoaded      bool   `json:"qrLoaded"`
	CopyShown     bool   `json:"copyShown"`
	// Marker is set by the test after the first load; a reload clears it.
	Marker string `json:"marker"`
}

const readCheckoutPage = `(() => {
  const $ = (id) => document.getElementById(id);
  const main = $('checkout');
  if (!main || !$('title')) return {status: '', title: document.title};
  const shown = (id) => !!$(id) && !$(id).hidden;
  const text = (id) => $(id) ? $(id).textContent : '';
  return {
    status: main.dataset.status, badge: text('badge'), title: text('title'), text: text('text'),
    dueLabel: text('due-label'), due: text('due'), confirmations: text('confirmations'), countdown: text('countdown'),
    pay: shown('pay'), confirming: shown('confirming'), expiry: shown('expiry'), return: shown('return'),
    returnHref: $('return-link').getAttribute('href'), wallet: $('wallet') ? $('wallet').getAttribute('href') : '',
    qr: $('qr').getAttribute('src'), qrLoaded: $('qr').complete && $('qr').naturalWidth > 0,
    copyShown: !document.querySelector('button[data-copy=address]').hidden,
    marker: window.checkoutTestMarker || '',
  };
})()`

// checkoutPage is one browser tab on one payment's checkout page.
type checkoutPage struct {
	t    *testing.T
	ctx  context.Context
	name string // prefix of the screenshots
	url  string
}

// openCheckout opens the checkout page of payment id on d, checks that it
// loaded, and marks the document so that a reload would show.
func openCheckout(t *testing.T, ctx context.Context, d *daemon, id, name string) *checkoutPage {
	t.Helper()
	p := &checkoutPage{t: t, ctx: ctx, name: name, url: d.url + "/payments/" + id + "/checkout"}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.url))
	if err != nil {
		t.Fatalf("open %s: %v", p.url, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("open %s: status %d", p.url, resp.Status)
	}
	p.mark()
	return p
}

func (p *checkoutPage) mark() {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void](`window.checkoutTestMarker = 'loaded once'`)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *checkoutPage) state() checkoutState {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[checkoutState](readCheckoutPage))
	if err != nil {
		p.t.Fatalf("read the page: %v", err)
	}
	return s
}

// waitFor polls the DOM every 100 ms until cond holds, and fails after
// timeout with the last state. With live set it also fails when the page
// was reloaded (the updates must arrive without one).
func (p *checkoutPage) waitFor(what string, timeout time.Duration, live bool, cond func(checkoutState) bool) checkoutState {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := p.state()
		if live && s.Marker == "" {
			p.t.Fatalf("waiting for %s: the page was reloaded (state %+v)", what, s)
		}
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.screenshot("timeout")
			p.t.Fatalf("after %s the page does not show %s: %+v", timeout, what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the viewport as <artifacts>/checkout/<name>-<step>.png.
func (p *checkoutPage) screenshot(step string) string {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Errorf("screenshot %s: %v", step, err)
		return ""
	}
	path := filepath.Join(checkoutArtifactsDir(p.t), p.name+"-"+step+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("screenshot %s: %v", step, err)
	}
	return path
}

// checkoutArtifactsDir is where the screenshots go: $ARTIFACTS_DIR/checkout, or
// artifacts/checkout at the repository root (git-ignored).
func checkoutArtifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ARTIFACTS_DIR")
	if base == "" {
		base = filepath.Join("..", "artifacts")
	}
	dir := filepath.Join(base, "checkout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// createCheckoutPayment creates a payment from a JSON body and returns its id and
// address.
func createCheckoutPayment(t *testing.T, d *daemon, body string) (id, address string) {
	t.Helper()
	var r struct {
		Payment struct {
			ID      string `json:"id"`
			Address string `json:"payment_address"`
		} `json:"payment"`
	}
	if code := d.call("POST", "/payments", body, &r); code != http.StatusCreated {
		t.Fatalf("create %s: status %d", body, code)
	}
	return r.Payment.ID, r.Payment.Address
}

func checkoutSend(t *testing.T, node *regtest.Node, address string, units int64) {
	t.Helper()
	if _, err := node.Send(context.Background(), regtest.MinerWallet, address, units, false); err != nil {
		t.Fatal(err)
	}
}

func checkoutMine(t *testing.T, node *regtest.Node, n int) {
	t.Helper()
	if _, err := node.Mine(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// TestCheckoutPaidLive opens a payment's page on one transientd while the
// node's hooks report to another (both on one database), pays it from the
// miner wallet and mines: the page goes UNPAID → PENDING (0, then 1 of 2
// confirmations) → PAID with the link back to the shop, without a reload and
// through the event stream alone (no polling).
func TestCheckoutPaidLive(t *testing.T) {
	ctx, responses := newCheckoutBrowser(t)
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	dsn := "DATABASE_URL=" + pgtest.NewDatabase(t)
	startDaemon(t, append(coinEnv(node), dsn, "LISTEN_ADDR="+addr, "PUBLIC_URL=http://"+addr)...)
	// The page's daemon gets no hooks and scans the chain only hourly; the
	// changes are committed by whichever process works off the hooks' jobs,
	// and reach the page through the database.
	pageAddr := freeAddr(t)
	d := startDaemon(t, append(coinEnv(node), dsn, "LISTEN_ADDR="+pageAddr, "PUBLIC_URL=http://"+pageAddr,
		"NOTIFY_TOKEN=", "CATCHUP_INTERVAL=1h")...)

	const redirect = "https://shop.example/thanks?order=A-1001"
	id, address := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"1.25","expires_in":3600,"order_id":"A-1001","redirect_url":"`+redirect+`"}`)
	page := openCheckout(t, ctx, d, id, "paid")

	s := page.waitFor("UNPAID with the payment details", 10*time.Second, true, func(s checkoutState) bool {
		return s.Status == "UNPAID" && s.QRLoaded && s.CopyShown && s.Countdown != ""
	})
	if s.Due != "1.25" || !s.Pay || !s.Expiry || s.Confirming || s.Return {
		t.Errorf("UNPAID page: %+v", s)
	}
	if want := "litecoin:" + address + "?amount=1.25"; s.Wallet != want {
		t.Errorf("wallet link %q, want %q", s.Wallet, want)
	}
	page.screenshot("1-unpaid")

	// The copy button copies the address (or selects it for a manual copy).
	if err := chromedp.Do(ctx, chromedp.Click(`button[data-copy=address]`)); err != nil {
		t.Fatal(err)
	}
	page.waitFor("the copy button's confirmation", 5*time.Second, true, func(checkoutState) bool {
		label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('button[data-copy=address]').textContent`))
		return err == nil && label == "Copied"
	})

	checkoutSend(t, node, address, 125_000_000)
	s = page.waitFor("PENDING with 0 of 2 confirmations", 30*time.Second, true, func(s checkoutState) bool {
		return s.Status == "PENDING" && s.Confirmations == "0 of 2 confirmations"
	})
	if s.Pay || !s.Confirming || s.Expiry || s.Title != "Payment received, confirming" {
		t.Errorf("PENDING page: %+v", s)
	}
	page.screenshot("2-pending")

	checkoutMine(t, node, 1)
	page.waitFor("PENDING with 1 of 2 confirmations", 30*time.Second, true, func(s checkoutState) bool {
		return s.Status == "PENDING" && s.Confirmations == "1 of 2 confirmations"
	})
	page.screenshot("3-pending-1-of-2")

	if polls := jsonPolls(t, ctx, id); polls != 0 {
		t.Errorf("the page polled the payment's JSON %d times; the event stream should have carried every update", polls)
	}

	// The stream carries no redirect_url (anyone with the id may read it);
	// on PAID the page reloads once and the server renders the link.
	checkoutMine(t, node, 1)
	s = page.waitFor("PAID with the link back to the shop", 30*time.Second, false, func(s checkoutState) bool {
		return s.Status == "PAID" && s.Return
	})
	if s.ReturnHref != redirect || s.Title != "Paid, thank you!" || s.Pay || s.Confirming {
		t.Errorf("PAID page: %+v", s)
	}
	if s.Marker != "" {
		t.Error("the PAID page shows the link without a reload: where did the script get redirect_url?")
	}
	page.screenshot("4-paid")
	responses.wantChecked("200 text/html", "200 text/event-stream", "200 image/png")

	// The stream, as another client sees it: Last-Event-ID 2 gives the
	// events after it (PAID), and the served state.
	checkStreamResumes(t, d.url+"/payments/"+id+"/stream")
}

// checkStreamResumes reads the stream with Last-Event-ID: 2 from a payment
// whose events are 1 (created, UNPAID), 2 (PENDING) and 3 (PAID).
func checkStreamResumes(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Last-Event-ID", "2")
	resp, err := checkedClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var id string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			var p struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(v), &p); err != nil {
				t.Fatalf("stream data is not a payment: %v", err)
			}
			// Each message is the payment object of the API.
			openapitest.CheckSchema(t, "PublicPayment", []byte(v))
			if id != "3" || p.Status != "PAID" {
				t.Fatalf("first message after Last-Event-ID 2: id %s status %s, want 3 PAID", id, p.Status)
			}
			return
		}
	}
	t.Fatalf("the stream ended without a message: %v", sc.Err())
}

// TestCheckoutPartialPayment pays part of a payment: the page shows the
// amount still due, a wallet link and code for the rest, then PENDING once
// the rest arrives.
func TestCheckoutPartialPayment(t *testing.T) {
	ctx, responses := newCheckoutBrowser(t)
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr)...)
	id, address := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"1","expires_in":3600}`)
	page := openCheckout(t, ctx, d, id, "partial")
	page.waitFor("UNPAID", 10*time.Second, true, func(s checkoutState) bool { return s.Status == "UNPAID" && s.Due == "1" })

	checkoutSend(t, node, address, 40_000_000)
	s := page.waitFor("PARTIAL with 0.6 LTC remaining", 30*time.Second, true, func(s checkoutState) bool {
		return s.Status == "PARTIAL" && s.Due == "0.6" && s.QRLoaded
	})
	if s.DueLabel != "Remaining amount to send" || !strings.Contains(s.Text, "We received 0.4 LTC. Please send the remaining 0.6 LTC") ||
		!s.Pay || !s.Expiry || s.Badge != "Partly paid" {
		t.Errorf("PARTIAL page: %+v", s)
	}
	if want := "litecoin:" + address + "?amount=0.6"; s.Wallet != want {
		t.Errorf("wallet link %q, want %q", s.Wallet, want)
	}
	if !strings.HasSuffix(s.QR, "/qrcode.png?content=address") {
		t.Errorf("QR code %q: after a partial payment it must not ask for the whole amount", s.QR)
	}
	page.screenshot("1-partial")

	checkoutSend(t, node, address, 60_000_000)
	page.waitFor("PENDING", 30*time.Second, true, func(s checkoutState) bool { return s.Status == "PENDING" && !s.Pay })
	page.screenshot("2-pending")
	responses.wantChecked("200 text/html", "200 text/event-stream", "200 image/png")
}

// TestCheckoutExpired creates a payment that expires in a few seconds: the
// countdown runs and the page then says the request has expired.
func TestCheckoutExpired(t *testing.T) {
	ctx, responses := newCheckoutBrowser(t)
	node := startNode(t, "")
	d := startDaemon(t, append(coinEnv(node), "DEADLINE_INTERVAL=500ms")...)
	id, _ := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"2","expires_in":6}`)
	page := openCheckout(t, ctx, d, id, "expired")
	s := page.waitFor("a countdown", 5*time.Second, true, func(s checkoutState) bool {
		return s.Status == "UNPAID" && s.Expiry && strings.HasPrefix(s.Countdown, "0:0")
	})
	t.Logf("countdown at start: %s", s.Countdown)
	s = page.waitFor("EXPIRED", 30*time.Second, true, func(s checkoutState) bool { return s.Status == "EXPIRED" })
	if s.Title != "This payment request has expired" || s.Pay || s.Expiry || s.Return || s.Badge != "Expired" {
		t.Errorf("EXPIRED page: %+v", s)
	}
	page.screenshot("1-expired")
	responses.wantChecked("200 text/html", "200 text/event-stream")
}

// TestCheckoutPollingFallback: hundreds of streams held open on real
// connections fill the caps; past them a stream gets 503 with Retry-After,
// the browser's EventSource gives up on it and the page polls instead. The
// daemon keeps answering the API meanwhile, and the gauge counts the open
// streams.
func TestCheckoutPollingFallback(t *testing.T) {
	ctx, responses := newCheckoutBrowser(t)
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "STREAM_MAX_OPEN=300", "STREAM_MAX_PER_PAYMENT=150")...)
	id, address := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"0.5"}`)
	other, _ := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"0.1"}`)
	holdStreams(t, d.url, id, 150)
	holdStreams(t, d.url, other, 150)

	start := time.Now()
	if code := d.call("GET", "/healthz", "", nil); code != 200 || time.Since(start) > 5*time.Second {
		t.Errorf("healthz with 300 streams open: %d in %s", code, time.Since(start))
	}
	d.create("LTC", "0.01")
	if n := streamsGauge(t, d.url); n != 300 {
		t.Errorf("transient_checkout_streams_open = %v, want 300", n)
	}

	page := openCheckout(t, ctx, d, id, "polling")
	page.waitFor("UNPAID", 10*time.Second, true, func(s checkoutState) bool { return s.Status == "UNPAID" })
	checkoutSend(t, node, address, 50_000_000)
	page.waitFor("PENDING", 45*time.Second, true, func(s checkoutState) bool { return s.Status == "PENDING" })
	if jsonPolls(t, ctx, id) == 0 {
		t.Error("the page did not poll the payment's JSON")
	}
	responses.wantChecked("200 text/html", "503 application/json", "200 application/json")
}

// holdStreams opens n streams of the payment on connections of their own
// and keeps them open until the test ends; each must be accepted.
func holdStreams(t *testing.T, base, id string, n int) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	for i := range n {
		conn, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "GET /payments/%s/stream HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", id, host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of %s: %d", i+1, id, resp.StatusCode)
		}
		_ = conn.SetReadDeadline(time.Time{})
	}
}

// streamsGauge reads transient_checkout_streams_open from GET /metrics.
func streamsGauge(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "transient_checkout_streams_open "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return -1
}

// jsonPolls returns how often the page fetched GET /payments/{id}.
func jsonPolls(t *testing.T, ctx context.Context, id string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch' && e.name.endsWith('/payments/`+id+`')).length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCheckoutStreamEndsOnShutdown: SIGTERM ends the open event streams at
// once, so transientd stops without waiting out its HTTP drain (15 s).
func TestCheckoutStreamEndsOnShutdown(t *testing.T) {
	d := startDaemon(t, coinEnv(startNode(t, ""))...)
	id, _ := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"1"}`)
	resp, err := checkedClient(t).Get(d.url + "/payments/" + id + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan error, 1)
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				select {
				case first <- sc.Text():
				default:
				}
			}
		}
		ended <- sc.Err()
	}()
	select {
	case line := <-first:
		openapitest.CheckSchema(t, "PublicPayment", []byte(strings.TrimPrefix(line, "data: ")))
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the stream")
	}
	start := time.Now()
	d.stop()
	stopped := time.Since(start)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open after transientd stopped")
	}
	t.Logf("transientd stopped %s after SIGTERM with a stream open", stopped)
	if stopped > 5*time.Second {
		t.Errorf("transientd took %s to stop with a stream open; streams must end when shutdown begins", stopped)
	}
}

// TestCheckoutWithoutJavaScript turns scripts off: the page shows the
// status, refreshes itself and shows PENDING after the payment.
func TestCheckoutWithoutJavaScript(t *testing.T) {
	ctx, responses := newCheckoutBrowser(t)
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr)...)
	id, address := createCheckoutPayment(t, d, `{"currency":"LTC","amount":"0.3","expires_in":600}`)
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(ctx, noScript); err != nil {
		t.Fatal(err)
	}
	page := openCheckout(t, ctx, d, id, "nojs")
	s := page.waitFor("UNPAID", 5*time.Second, false, func(s checkoutState) bool { return s.Status == "UNPAID" })
	if s.CopyShown || !s.Pay || !s.Expiry || s.Due != "0.3" || !strings.HasPrefix(s.Countdown, "9:") && s.Countdown != "10:00" {
		t.Errorf("page without JavaScript: %+v", s)
	}
	checkoutSend(t, node, address, 30_000_000)
	// The meta refresh reloads the page every 10 s.
	page.waitFor("PENDING after a refresh", 45*time.Second, false, func(s checkoutState) bool { return s.Status == "PENDING" })
	page.screenshot("1-pending")
	responses.wantChecked("200 text/html", "200 image/png")
}

// TestCheckoutErrorPages: an unknown payment and a malformed id get HTML
// error pages a buyer can read.
func TestCheckoutErrorPages(t *testing.T) {
	ctx, responses := newCheckoutBrowser(t)
	d := startDaemon(t, coinEnv(startNode(t, ""))...)
	for _, tc := range []struct {
		path   string
		status int64
		title  string
	}{
		{"/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/checkout", 404, "Payment not found"},
		{"/payments/not-a-payment/checkout", 400, "This payment link is not valid"},
	} {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(d.url+tc.path))
		if err != nil {
			t.Fatal(err)
		}
		h1, err := chromedp.Run(ctx, chromedp.Text("h1"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != tc.status || h1 != tc.title || !strings.HasPrefix(resp.MimeType, "text/html") {
			t.Errorf("%s: %d %s %q, want %d HTML %q", tc.path, resp.Status, resp.MimeType, h1, tc.status, tc.title)
		}
	}
	(&checkoutPage{t: t, ctx: ctx, name: "error"}).screenshot(fmt.Sprint(400))
	responses.wantChecked("404 text/html", "400 text/html")

	// The same pages and the stream's errors, as any HTTP client gets them.
	client := checkedClient(t)
	for _, tc := range []struct {
		path, contentType string
		status            int
		want              string
	}{
		{"/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/checkout", "text/html", 404, "Payment not found"},
		{"/payments/not-a-payment/checkout", "text/html", 400, "This payment link is not valid"},
		{"/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/stream", "application/json", 404, `"not_found"`},
		{"/payments/not-a-payment/stream", "application/json", 400, `"invalid_id"`},
	} {
		resp, err := client.Get(d.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || mediaType(resp.Header) != tc.contentType || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d %s, want %d %s with %s:\n%.300s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"),
				tc.status, tc.contentType, tc.want, body)
		}
	}
}

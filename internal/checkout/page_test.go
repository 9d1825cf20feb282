package checkout

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/transient-gateway/transient/internal/payments"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// pageCase is one state of the page with what it must show.
type pageCase struct {
	name    string
	payment func() *payments.Payment
	status  string
	badge   string
	title   string
	text    string // a part of the explanation
	visible []string
	hidden  []string
	refresh bool
	extra   []string // more substrings the page must contain
}

var pageCases = []pageCase{
	{
		name:    "unpaid",
		payment: func() *payments.Payment { return testPayment(payments.StatusUnpaid) },
		status:  "UNPAID", badge: "Awaiting payment", title: "Waiting for your payment",
		text:    "Send exactly 1.25 LTC to the address below",
		visible: []string{"pay", "expiry"}, hidden: []string{"confirming", "return"}, refresh: true,
		extra: []string{`<output id="due" class="value mono" aria-labelledby="due-label">1.25</output>`,
			`<span id="due-label" class="label">Amount to send</span>`,
			`<output id="address" class="value mono">rltc1qg82j9zwrljxvzk3lnmj0lkzvxcqn6rdswn2v0m</output>`,
			`<a id="wallet" class="button" href="litecoin:rltc1qg82j9zwrljxvzk3lnmj0lkzvxcqn6rdswn2v0m?amount=1.25">Open in wallet</a>`,
			`<img id="qr" src="/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/qrcode.png"`,
			`<time id="countdown" datetime="2026-03-14T15:24:25.000Z">14:59</time>`,
			`data-now="2026-03-14T15:09:26.000Z"`},
	},
	{
		name: "unpaid_no_expiry",
		payment: func() *payments.Payment {
			p := testPayment(payments.StatusUnpaid)
			p.ExpiresAt, p.OrderID = time.Time{}, "A-1001 <b>"
			return p
		},
		status: "UNPAID", badge: "Awaiting payment", title: "Waiting for your payment", text: "Send exactly 1.25 LTC",
		visible: []string{"pay"}, hidden: []string{"expiry", "confirming", "return"}, refresh: true,
		extra: []string{`Litecoin payment · order A-1001 &lt;b&gt;`, `data-expires=""`},
	},
	{
		name:    "partial",
		payment: func() *payments.Payment { return testPayment(payments.StatusPartial) },
		status:  "PARTIAL", badge: "Partly paid", title: "Part of the payment has arrived",
		text:    "We received 0.5 LTC. Please send the remaining 0.75 LTC to the same address.",
		visible: []string{"pay", "expiry"}, hidden: []string{"confirming", "return"}, refresh: true,
		extra: []string{`<output id="due" class="value mono" aria-labelledby="due-label">0.75</output>`,
			`<span id="due-label" class="label">Remaining amount to send</span>`,
			`href="litecoin:rltc1qg82j9zwrljxvzk3lnmj0lkzvxcqn6rdswn2v0m?amount=0.75"`,
			`src="/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/qrcode.png?content=address"`},
	},
	{
		name:    "pending",
		payment: func() *payments.Payment { return testPayment(payments.StatusPending) },
		status:  "PENDING", badge: "Confirming", title: "Payment received, confirming",
		text:    "Your payment is on the Litecoin network and waiting for confirmations.",
		visible: []string{"confirming"}, hidden: []string{"pay", "expiry", "return"}, refresh: true,
		extra: []string{`<label id="confirmations" for="progress">1 of 2 confirmations</label>`,
			`<progress id="progress" max="2" value="1"></progress>`},
	},
	{
		name:    "paid",
		payment: func() *payments.Payment { return testPayment(payments.StatusPaid) },
		status:  "PAID", badge: "Paid", title: "Paid, thank you!",
		text:   "We received 1.25 LTC and the payment is confirmed.",
		hidden: []string{"pay", "expiry", "confirming", "return"},
	},
	{
		name: "paid_redirect",
		payment: func() *payments.Payment {
			p := testPayment(payments.StatusPaid)
			p.RedirectURL = "https://shop.example/thanks?order=A-1001&lang=en"
			return p
		},
		status: "PAID", badge: "Paid", title: "Paid, thank you!", text: "the payment is confirmed",
		visible: []string{"return"}, hidden: []string{"pay", "expiry", "confirming"},
		extra: []string{`<a id="return-link" class="button" href="https://shop.example/thanks?order=A-1001&amp;lang=en">Return to the shop</a>`},
	},
	{
		name: "paid_overpaid",
		payment: func() *payments.Payment {
			p := testPayment(payments.StatusPaid)
			p.Outputs[0].Amount, p.Received, p.Confirmed, p.Overpaid = 150_000_000, 150_000_000, 150_000_000, true
			return p
		},
		status: "PAID", badge: "Paid", title: "Paid, thank you!",
		text:   "We received 1.5 LTC, more than the 1.25 LTC asked for, and the payment is confirmed. Contact the shop about the difference.",
		hidden: []string{"pay", "expiry", "confirming", "return"},
	},
	{
		name:    "expired",
		payment: func() *payments.Payment { return testPayment(payments.StatusExpired) },
		status:  "EXPIRED", badge: "Expired", title: "This payment request has expired",
		text:   "The time to pay ran out. Please do not send anything to this address now",
		hidden: []string{"pay", "expiry", "confirming", "return"},
	},
	{
		name: "expired_partial",
		payment: func() *payments.Payment {
			p := testPayment(payments.StatusPartial)
			p.Status, p.ExpiresAt = payments.StatusExpired, testNow.Add(-time.Minute)
			return p
		},
		status: "EXPIRED", badge: "Expired", title: "This payment request has expired",
		text:   "The time to pay ran out after 0.5 of 1.25 LTC arrived.",
		hidden: []string{"pay", "expiry", "confirming", "return"},
	},
	{
		name: "expired_late",
		payment: func() *payments.Payment {
			p := testPayment(payments.StatusPending)
			p.Status, p.PaidLate, p.ExpiresAt = payments.StatusExpired, true, testNow.Add(-time.Minute)
			return p
		},
		status: "EXPIRED", badge: "Expired", title: "Your payment arrived too late",
		text:   "We received 1.25 LTC after the time to pay ran out.",
		hidden: []string{"pay", "expiry", "confirming", "return"},
	},
	{
		name:    "invalid",
		payment: func() *payments.Payment { return testPayment(payments.StatusInvalid) },
		status:  "INVALID", badge: "Not completed", title: "This payment could not be completed",
		text:   "A payment was seen but not confirmed in time",
		hidden: []string{"pay", "expiry", "confirming", "return"},
	},
}

// TestPageGolden renders the page in every status and compares it with
// testdata/page_<case>.html (the embedded CSS and script replaced by
// markers); go test -update rewrites them. It also checks what each state
// must show, so a golden file updated by mistake still fails.
func TestPageGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range pageCases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.status] = true
			body, err := renderPage(tc.payment(), testNow)
			if err != nil {
				t.Fatal(err)
			}
			page := string(body)
			checkGolden(t, "page_"+tc.name+".html", elideAssets(page))

			if got := attr(t, page, "checkout", "data-status"); got != tc.status {
				t.Errorf("data-status = %q, want %q", got, tc.status)
			}
			for id, want := range map[string]string{"badge": tc.badge, "title": tc.title} {
				if got := text(t, page, id); got != want {
					t.Errorf("#%s = %q, want %q", id, got, want)
				}
			}
			if got := text(t, page, "text"); !strings.Contains(got, tc.text) {
				t.Errorf("#text = %q, want it to contain %q", got, tc.text)
			}
			for _, id := range tc.visible {
				if isHidden(t, page, id) {
					t.Errorf("#%s is hidden, want it shown", id)
				}
			}
			for _, id := range tc.hidden {
				if !isHidden(t, page, id) {
					t.Errorf("#%s is shown, want it hidden", id)
				}
			}
			refresh := `<noscript><meta http-equiv="refresh" content="10"></noscript>`
			if got := strings.Contains(page, refresh); got != tc.refresh {
				t.Errorf("meta refresh present = %t, want %t", got, tc.refresh)
			}
			for _, want := range tc.extra {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if !strings.Contains(page, `Payment ID <code>7d444840-9dc0-11d1-b245-5ffdce74fad2</code>`) {
				t.Error("page lacks the payment id")
			}
		})
	}
	for _, st := range payments.Statuses {
		if !covered[string(st)] {
			t.Errorf("no page case for status %s", st)
		}
	}
}

// TestPageAssets checks that the page loads nothing from elsewhere and that
// the Content-Security-Policy admits exactly its inline style and script.
func TestPageAssets(t *testing.T) {
	body, err := renderPage(testPayment(payments.StatusUnpaid), testNow)
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)
	for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url(", "<link", " src=\"//"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: every asset must be embedded", bad)
		}
	}
	style := between(t, page, "<style>", "</style>")
	script := between(t, page, "<script>", "</script>")
	for name, content := range map[string]string{"style": style, "script": script} {
		sum := sha256.Sum256([]byte(content))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(contentSecurityPolicy, name+"-src "+hash) {
			t.Errorf("the CSP %q does not admit the page's inline %s (%s)", contentSecurityPolicy, name, hash)
		}
	}
	if style != pageCSS || script != pageJS {
		t.Error("the inline style or script differs from the embedded file")
	}
	// The words the script uses are the ones the server renders with.
	var got map[string]statusWords
	if err := json.Unmarshal([]byte(between(t, page, `<script id="words" type="application/json">`, "</script>")), &got); err != nil {
		t.Fatalf("#words is not JSON: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(words) {
		t.Errorf("#words = %v\nwant %v", got, words)
	}
	for _, st := range payments.Statuses {
		if _, ok := got[string(st)]; !ok {
			t.Errorf("#words has no entry for %s", st)
		}
	}
	// The weight of the page, which the README reports.
	gz := gzipSize(t, body)
	t.Logf("page weight: %d bytes (HTML %d + CSS %d + JS %d); %d bytes gzipped",
		len(body), len(body)-len(pageCSS)-len(pageJS), len(pageCSS), len(pageJS), gz)
	if len(body) > 16<<10 {
		t.Errorf("the page weighs %d bytes, over its 16 KiB budget", len(body))
	}
}

// TestPageHandler checks the answers of GET /payments/{id}/checkout.
func TestPageHandler(t *testing.T) {
	src := newFakeSource()
	p := src.add()
	s := New(Config{Source: src, Hub: NewHub(HubConfig{Source: src}), Now: func() time.Time { return testNow }})
	r := chi.NewRouter()
	s.Mount(r)

	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	rec := get("/payments/" + p.ID.String() + "/checkout")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": contentSecurityPolicy + "; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(rec.Body.String(), `data-stream="/payments/`+p.ID.String()+`/stream"`) {
		t.Error("the page does not name its stream")
	}

	for _, tc := range []struct {
		name   string
		path   string
		err    error
		status int
		title  string
	}{
		{"unknown payment", "/payments/" + uuid.NewString() + "/checkout", nil, 404, "Payment not found"},
		{"malformed id", "/payments/not-a-uuid/checkout", nil, 400, "This payment link is not valid"},
		{"id without dashes", "/payments/" + strings.ReplaceAll(p.ID.String(), "-", "") + "/checkout", nil, 400, "This payment link is not valid"},
		{"database down", "/payments/" + p.ID.String() + "/checkout", &pgconn.ConnectError{}, 503, "Please try again in a moment"},
		{"other failure", "/payments/" + p.ID.String() + "/checkout", errors.New("boom"), 500, "Something went wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.mu.Lock()
			src.err = tc.err
			src.mu.Unlock()
			rec := get(tc.path)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q, want HTML", ct)
			}
			body := rec.Body.String()
			if !strings.Contains(body, "<h1>"+tc.title+"</h1>") || !strings.Contains(body, fmt.Sprintf("Error %d", tc.status)) {
				t.Errorf("body lacks the title %q and status:\n%s", tc.title, body)
			}
			if strings.Contains(body, "boom") {
				t.Error("the page shows the internal error")
			}
		})
	}
	src.err = nil
	checkGolden(t, "error_404.html", elideAssets(get("/payments/"+uuid.NewString()+"/checkout").Body.String()))
}

func TestFormatTimeLeft(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Millisecond, "0:01"},
		{time.Second, "0:01"},
		{59*time.Second + time.Millisecond, "1:00"},
		{14*time.Minute + 59*time.Second, "14:59"},
		{time.Hour, "1:00:00"},
		{25*time.Hour + 5*time.Minute + 7*time.Second, "25:05:07"},
	} {
		if got := formatTimeLeft(tc.d); got != tc.want {
			t.Errorf("formatTimeLeft(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestConfirmations(t *testing.T) {
	tx := func(confs int64, state payments.OutputState) payments.TransactionJSON {
		return payments.TransactionJSON{Confirmations: confs, State: state}
	}
	for _, tc := range []struct {
		name string
		txs  []payments.TransactionJSON
		want int64
	}{
		{"none", nil, 0},
		{"one", []payments.TransactionJSON{tx(3, payments.OutputSeen)}, 3},
		{"least confirmed counts", []payments.TransactionJSON{tx(5, payments.OutputConfirmed), tx(1, payments.OutputSeen)}, 1},
		{"conflicted ignored", []payments.TransactionJSON{tx(-1, payments.OutputConflicted), tx(2, payments.OutputSeen)}, 2},
		{"only conflicted", []payments.TransactionJSON{tx(-3, payments.OutputConflicted)}, 0},
	} {
		if got := confirmations(&payments.PaymentJSON{Transactions: tc.txs}); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPageURL(t *testing.T) {
	id := uuid.MustParse("7d444840-9dc0-11d1-b245-5ffdce74fad2")
	for base, want := range map[string]string{
		"":                          "/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/checkout",
		"https://pay.example.com":   "https://pay.example.com/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/checkout",
		"https://pay.example.com/":  "https://pay.example.com/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/checkout",
		"https://example.com/pay//": "https://example.com/pay/payments/7d444840-9dc0-11d1-b245-5ffdce74fad2/checkout",
	} {
		if got := PageURL(base, id); got != want {
			t.Errorf("PageURL(%q) = %q, want %q", base, got, want)
		}
	}
}

// elideAssets replaces the embedded CSS and script with markers, so the
// golden files hold the markup alone.
func elideAssets(page string) string {
	page = strings.Replace(page, pageCSS, "/* assets/checkout.css */", 1)
	return strings.Replace(page, pageJS, "/* assets/checkout.js */", 1)
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered page (go test -update rewrites it):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff shows the first differing line of want and got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}

// openTag returns the opening tag of the element with the given id.
func openTag(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<[a-z0-9]+ id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(page)
	if m == "" {
		t.Fatalf("no element #%s", id)
	}
	return m
}

func isHidden(t *testing.T, page, id string) bool {
	t.Helper()
	return regexp.MustCompile(`\shidden[\s>]`).MatchString(openTag(t, page, id))
}

func attr(t *testing.T, page, id, name string) string {
	t.Helper()
	m := regexp.MustCompile(`\s` + name + `="([^"]*)"`).FindStringSubmatch(openTag(t, page, id))
	if m == nil {
		t.Fatalf("#%s has no %s", id, name)
	}
	return html.UnescapeString(m[1])
}

// text returns the text of the element with the given id, which must hold
// text alone.
func text(t *testing.T, page, id string) string {
	t.Helper()
	tag := openTag(t, page, id)
	rest := page[strings.Index(page, tag)+len(tag):]
	return html.UnescapeString(rest[:strings.IndexByte(rest, '<')])
}

func between(t *testing.T, s, start, end string) string {
	t.Helper()
	i := strings.Index(s, start)
	if i < 0 {
		t.Fatalf("no %q", start)
	}
	s = s[i+len(start):]
	j := strings.Index(s, end)
	if j < 0 {
		t.Fatalf("no %q after %q", end, start)
	}
	return s[:j]
}

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	zw := newGzipWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func newGzipWriter(w *bytes.Buffer) *gzip.Writer {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	return zw
}

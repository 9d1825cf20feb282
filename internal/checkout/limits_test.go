package checkout

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
)

// rawStream opens GET /payments/{id}/stream on its own TCP connection, the
// way a browser or an attacker does, and returns the status and headers
// once they arrive. The connection stays open until the test closes it.
func rawStream(t *testing.T, base string, id uuid.UUID) (net.Conn, *http.Response) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte("GET /payments/" + id.String() + "/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, resp
}

// TestStreamCaps: with real connections, a payment holds at most
// MaxStreamsPerPayment streams and the server MaxStreams; beyond either the
// answer is a 503 JSON error with Retry-After, which EventSource does not
// retry (the page polls instead). Closed streams give their slots back.
func TestStreamCaps(t *testing.T) {
	e := newStreamEnv(t, time.Hour, func(c *Config) { c.MaxStreams, c.MaxStreamsPerPayment = 300, 200 })
	srv := New(Config{Source: e.src, Hub: e.hub}) // only for its defaults
	if srv.slots.max != DefaultMaxStreams || srv.slots.perID != DefaultMaxStreamsPerPayment {
		t.Errorf("defaults %d/%d, want %d/%d", srv.slots.max, srv.slots.perID, DefaultMaxStreams, DefaultMaxStreamsPerPayment)
	}
	a, b, c := e.src.add().ID, e.src.add().ID, e.src.add().ID

	refused := func(id uuid.UUID, why string) {
		t.Helper()
		_, resp := rawStream(t, e.srv.URL, id)
		defer resp.Body.Close()
		var body struct {
			Success bool `json:"success"`
			Error   struct{ Code, Message string }
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Code != "too_many_streams" {
			t.Fatalf("%s: %d Retry-After %q code %q, want 503 too_many_streams with Retry-After", why,
				resp.StatusCode, resp.Header.Get("Retry-After"), body.Error.Code)
		}
	}
	open := func(id uuid.UUID, n int) []net.Conn {
		t.Helper()
		conns := make([]net.Conn, 0, n)
		for range n {
			conn, resp := rawStream(t, e.srv.URL, id)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("stream %d of %s: %d", len(conns)+1, id, resp.StatusCode)
			}
			conns = append(conns, conn)
		}
		return conns
	}
	onA := open(a, 200)
	refused(a, "stream 201 of one payment")
	open(b, 100)
	if n := e.hub.Watched(); n != 2 {
		t.Errorf("watching %d payments, want 2", n)
	}
	refused(c, "stream 301 of the server")
	if got := srvOpen(e); got != 300 {
		t.Errorf("OpenStreams = %d, want 300", got)
	}
	for _, conn := range onA[:50] {
		conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for srvOpen(e) > 250 {
		if time.Now().After(deadline) {
			t.Fatalf("OpenStreams = %d 10 s after 50 streams closed, want 250", srvOpen(e))
		}
		time.Sleep(20 * time.Millisecond)
	}
	open(c, 50)
	refused(c, "stream 301 of the server, again")
}

// srvOpen reads the stream count of the env's server.
func srvOpen(e *streamEnv) int { return e.server.OpenStreams() }

// TestFrameAncestors: the page may not be framed by other sites unless the
// operator lists them.
func TestFrameAncestors(t *testing.T) {
	src := newFakeSource()
	p := src.add()
	for _, tc := range []struct {
		ancestors []string
		csp, xfo  string
	}{
		{nil, "; frame-ancestors 'none'", "DENY"},
		{[]string{"https://shop.example", "https://*.shop.example"}, "; frame-ancestors https://shop.example https://*.shop.example", ""},
	} {
		r := chi.NewRouter()
		New(Config{Source: src, Hub: NewHub(HubConfig{Source: src}), FrameAncestors: tc.ancestors}).Mount(r)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/payments/"+p.ID.String()+"/checkout", nil))
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, tc.csp) {
			t.Errorf("CSP %q, want it to end in %q", csp, tc.csp)
		}
		if xfo := rec.Header().Get("X-Frame-Options"); xfo != tc.xfo {
			t.Errorf("X-Frame-Options %q, want %q", xfo, tc.xfo)
		}
	}
}

// TestPageHidesRedirectUntilPaid: the redirect URL (which may hold a
// session token) is in neither the unpaid page nor the stream; the page
// only says that there is one, and shows it once PAID.
func TestPageHidesRedirectUntilPaid(t *testing.T) {
	const redirect = "https://shop.example/thanks?session=abc"
	e := newStreamEnv(t, time.Hour)
	p := e.src.add()
	e.src.mu.Lock()
	e.src.payments[p.ID].RedirectURL = redirect
	e.src.payments[p.ID].OrderID = "A-1"
	e.src.payments[p.ID].Metadata = json.RawMessage(`{"email":"ada@example.com"}`)
	e.src.mu.Unlock()

	page := func() string {
		resp, err := http.Get(e.srv.URL + "/payments/" + p.ID.String() + "/checkout")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		return b.String()
	}
	unpaid := page()
	if strings.Contains(unpaid, "session=abc") || !strings.Contains(unpaid, " data-return>") {
		t.Errorf("unpaid page: redirect shown or not announced:\n%s", unpaid)
	}
	c := openStream(t, e.url(p.ID), nil)
	ev := c.next(5 * time.Second)
	for ev.Data == "" {
		ev = c.next(5 * time.Second)
	}
	for _, secret := range []string{"session=abc", "ada@example.com", "A-1", "redirect_url", "metadata"} {
		if strings.Contains(ev.Data, secret) {
			t.Errorf("the stream carries %q: %s", secret, ev.Data)
		}
	}
	e.src.mu.Lock()
	paid(e.src.payments[p.ID])
	e.src.mu.Unlock()
	if got := page(); !strings.Contains(got, `href="`+strings.ReplaceAll(redirect, "&", "&amp;")+`"`) {
		t.Errorf("the paid page lacks the link back to the shop")
	}
}

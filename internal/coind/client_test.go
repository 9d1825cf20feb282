package coind_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
)

// secret is the password in every URL of these tests; no error may show it.
const secret = "S3cr3t-Pa55word-xyz"

// secretURL returns srvURL ("http://host:port") with user:secret and path.
func secretURL(srvURL, path string) string {
	return strings.Replace(srvURL, "http://", "http://rpcuser:"+secret+"@", 1) + path
}

// assertNoSecret fails if err's text shows the password.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error text shows the password: %q", err)
	}
}

// freeClosedPort returns a local port nothing listens on.
func freeClosedPort(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestNewValidatesURL(t *testing.T) {
	for _, tt := range []struct {
		name, url, want string
	}{
		{"scheme", "ftp://u:" + secret + "@127.0.0.1:1/", "scheme must be http or https"},
		{"no scheme", "u:" + secret + "@127.0.0.1:1", "scheme must be http or https"},
		{"no host", "http://u:" + secret + "@/wallet/x", "no host"},
		{"query", "http://u:" + secret + "@127.0.0.1:1/?wallet=x", "query and fragment"},
		{"fragment", "http://u:" + secret + "@127.0.0.1:1/#x", "query and fragment"},
		{"bad escape", "http://u:" + secret + "%zz@127.0.0.1:1/", "invalid url"},
		{"slash in password", "http://u:" + secret + "/x@127.0.0.1:1/", ""},
		{"bad port", "http://u:" + secret + "@127.0.0.1:port/", "invalid url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := coind.New(coind.Config{URL: tt.url})
			if err == nil {
				t.Fatalf("New(%q) succeeded, want an error", tt.url)
			}
			if !strings.HasPrefix(err.Error(), "coind: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix \"coind: \" and %q", err, tt.want)
			}
			assertNoSecret(t, err)
		})
	}
	if _, err := coind.New(coind.Config{URL: "http://u:p@127.0.0.1:1/", CookieFile: "/tmp/cookie"}); err == nil {
		t.Error("New with both a password and a cookie file succeeded, want an error")
	}
	if _, err := coind.New(coind.Config{URL: "http://u:p@127.0.0.1:1/", Timeout: -time.Second}); err == nil {
		t.Error("New with a negative timeout succeeded, want an error")
	}
}

func TestClientURLAccessors(t *testing.T) {
	for _, tt := range []struct {
		url, wallet, shown string
	}{
		{"http://u:" + secret + "@127.0.0.1:9332", "", "http://u:xxxxx@127.0.0.1:9332"},
		{"http://u:" + secret + "@127.0.0.1:9332/wallet/merchant", "merchant", "http://u:xxxxx@127.0.0.1:9332/wallet/merchant"},
		{"https://u:" + secret + "@node.example:443/wallet/my%20shop", "my shop", "https://u:xxxxx@node.example:443/wallet/my%20shop"},
		{"http://u:" + secret + "@127.0.0.1:9332/wallet/", "", "http://u:xxxxx@127.0.0.1:9332/wallet/"},
	} {
		c, err := coind.New(coind.Config{URL: tt.url})
		if err != nil {
			t.Fatalf("New(%q): %v", tt.url, err)
		}
		if c.Wallet() != tt.wallet {
			t.Errorf("Wallet() = %q, want %q", c.Wallet(), tt.wallet)
		}
		if c.String() != tt.shown {
			t.Errorf("String() = %q, want %q", c.String(), tt.shown)
		}
	}
}

func TestRequestEncoding(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
		header http.Header
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		header = r.Header.Clone()
		mu.Unlock()
		_, _ = io.WriteString(w, `{"result":{"n":12345.67890000,"s":"x"},"error":null,"id":1}`+"\n")
	}))
	defer srv.Close()
	c, err := coind.New(coind.Config{URL: secretURL(srv.URL, "/wallet/a%2Fb")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var result map[string]any
	if err := c.Call(t.Context(), "gettransaction", []any{"abc", 3, int64(-4), true, nil}, &result); err != nil {
		t.Fatalf("Call: %v", err)
	}
	// UseNumber: an amount decoded into an interface keeps its exact text.
	if n, ok := result["n"].(json.Number); !ok || n.String() != "12345.67890000" {
		t.Errorf("result[n] = %#v, want json.Number(\"12345.67890000\")", result["n"])
	}
	odd := "quote\" backslash\\ newline\n é <&>"
	var raw json.RawMessage
	if err := c.Call(t.Context(), "echo", []any{odd, map[string]string{"k": "v"}, []string{"a"}}, &raw); err != nil {
		t.Fatalf("Call: %v", err)
	}
	if want := `{"n":12345.67890000,"s":"x"}`; string(raw) != want {
		t.Errorf("RawMessage = %s, want %s", raw, want)
	}

	mu.Lock()
	defer mu.Unlock()
	if want := `{"jsonrpc":"1.0","id":1,"method":"gettransaction","params":["abc",3,-4,true,null]}`; bodies[0] != want {
		t.Errorf("body %s, want %s", bodies[0], want)
	}
	var req struct {
		ID     int
		Params []any
	}
	if err := json.Unmarshal([]byte(bodies[1]), &req); err != nil {
		t.Fatalf("second body %s: %v", bodies[1], err)
	}
	if req.ID != 2 || len(req.Params) != 3 || req.Params[0] != odd {
		t.Errorf("second request id %d params %#v, want id 2 and %q first", req.ID, req.Params, odd)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if got, want := header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte("rpcuser:"+secret)); got != want {
		t.Errorf("Authorization %q, want %q", got, want)
	}
}

func TestCallRejectsNonPointerResult(t *testing.T) {
	c, err := coind.New(coind.Config{URL: "http://u:p@" + freeClosedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := c.Call(t.Context(), "getblockcount", nil, s); err == nil || !strings.Contains(err.Error(), "pointer") {
		t.Errorf("Call with a non-pointer result: %v, want an error about the pointer", err)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		path      string
		want      error  // sentinel that must match
		wantCode  int    // non-zero: errors.As *coind.Error with this code
		wantText  string // substring of the error text
		notWanted []error
	}{
		{name: "401 empty body", status: 401, want: coind.ErrUnauthorized, wantText: "coind: getblockcount: unauthorized",
			notWanted: []error{coind.ErrUnavailable}},
		{name: "500 plain text work queue", status: 500, body: "Work queue depth exceeded", want: coind.ErrUnavailable,
			wantText: "coind: getblockcount: node unavailable: http 500 \"Work queue depth exceeded\""},
		{name: "503 empty", status: 503, want: coind.ErrUnavailable, wantText: "http 503"},
		{name: "502 html from a proxy", status: 502, body: "<html>bad gateway</html>", want: coind.ErrUnavailable, wantText: "http 502"},
		{name: "-28 warmup", status: 500, body: `{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1}`,
			want: coind.ErrUnavailable, wantCode: coind.CodeInWarmup, wantText: "coind: getblockcount: rpc error -28: Loading block index..."},
		{name: "-18 wallet not loaded", status: 500, path: "/wallet/nope", body: `{"result":null,"error":{"code":-18,"message":"Requested wallet does not exist or is not loaded"},"id":1}`,
			want: coind.ErrWalletNotFound, wantCode: coind.CodeWalletNotFound, notWanted: []error{coind.ErrUnavailable}},
		{name: "-19 wallet not specified", status: 500, body: `{"result":null,"error":{"code":-19,"message":"Wallet file not specified"},"id":1}`,
			wantCode: coind.CodeWalletNotSpecified, notWanted: []error{coind.ErrWalletNotFound, coind.ErrUnavailable}},
		{name: "404 empty on the root path is no wallet error", status: 404, wantText: "unexpected http 404",
			notWanted: []error{coind.ErrWalletNotFound, coind.ErrMethodNotFound, coind.ErrUnavailable}},
		{name: "403 forbidden", status: 403, wantText: "unexpected http 403", notWanted: []error{coind.ErrUnavailable, coind.ErrUnauthorized}},
		{name: "200 garbage", status: 200, body: "not json", wantText: "decode response", notWanted: []error{coind.ErrUnavailable}},
		{name: "200 truncated", status: 200, body: `{"result":12`, want: coind.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := coind.New(coind.Config{URL: secretURL(srv.URL, tt.path)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.GetBlockCount(t.Context())
			if err == nil {
				t.Fatal("GetBlockCount succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want errors.Is %v", err, tt.want)
			}
			for _, nw := range tt.notWanted {
				if errors.Is(err, nw) {
					t.Errorf("got %v, which wrongly matches %v", err, nw)
				}
			}
			if tt.wantCode != 0 {
				if rpcErr, ok := errors.AsType[*coind.Error](err); !ok || rpcErr.Code != tt.wantCode {
					t.Errorf("errors.As *coind.Error = %v, %v; want code %d", rpcErr, ok, tt.wantCode)
				}
			}
			if !strings.Contains(err.Error(), tt.wantText) || !strings.HasPrefix(err.Error(), "coind: getblockcount: ") {
				t.Errorf("error text %q, want prefix \"coind: getblockcount: \" and %q", err, tt.wantText)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestDeadNodeFailsFast(t *testing.T) {
	c, err := coind.New(coind.Config{URL: secretURL("http://"+freeClosedPort(t), "/wallet/merchant")})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = c.GetBlockCount(t.Context())
	if elapsed := time.Since(began); elapsed > time.Second {
		t.Errorf("refused connection took %s, want < 1s", elapsed)
	}
	if !errors.Is(err, coind.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not name the cause", err)
	}
	assertNoSecret(t, err)
}

func TestUnresolvableHostIsUnavailable(t *testing.T) {
	c, err := coind.New(coind.Config{URL: "http://rpcuser:" + secret + "@transient-no-such-host.invalid:9332/", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBlockCount(t.Context())
	if !errors.Is(err, coind.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	assertNoSecret(t, err)
}

func TestHangingNodeTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	const timeout = 300 * time.Millisecond
	c, err := coind.New(coind.Config{URL: secretURL(srv.URL, ""), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	_, err = c.GetBlockCount(t.Context())
	elapsed := time.Since(began)
	if !errors.Is(err, coind.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnavailable and context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+700*time.Millisecond {
		t.Errorf("failed after %s, want about %s", elapsed, timeout)
	}
	assertNoSecret(t, err)

	// The caller's own earlier deadline wins over Config.Timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	began = time.Now()
	if _, err := c.GetBlockCount(ctx); !errors.Is(err, coind.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(began); elapsed > timeout {
		t.Errorf("caller deadline of 50ms ignored: failed after %s", elapsed)
	}

	// A caller that cancels gets context.Canceled, not a node failure.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.GetBlockCount(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, coind.ErrUnavailable) {
		t.Errorf("canceled call: got %v, want context.Canceled only", err)
	}
}

// cookieNode accepts only the credentials in *want and counts requests.
type cookieNode struct {
	mu    sync.Mutex
	want  string // "user:pass"
	calls atomic.Int32
	seen  []string
}

func (n *cookieNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.calls.Add(1)
	user, pass, _ := r.BasicAuth()
	n.mu.Lock()
	n.seen = append(n.seen, user+":"+pass)
	ok := user+":"+pass == n.want
	n.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = io.WriteString(w, `{"result":7,"error":null,"id":1}`)
}

func (n *cookieNode) accept(cred string) {
	n.mu.Lock()
	n.want = cred
	n.mu.Unlock()
}

func TestCookieFile(t *testing.T) {
	node := &cookieNode{want: "__cookie__:first"}
	srv := httptest.NewServer(node)
	defer srv.Close()
	cookie := filepath.Join(t.TempDir(), ".cookie")
	writeCookie := func(s string) {
		if err := os.WriteFile(cookie, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCookie("__cookie__:first\n")
	c, err := coind.New(coind.Config{URL: srv.URL, CookieFile: cookie})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if n, err := c.GetBlockCount(t.Context()); err != nil || n != 7 {
		t.Fatalf("GetBlockCount with the cookie = %d, %v; want 7", n, err)
	}
	if got := node.calls.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}

	// The node restarts and rewrites its cookie: one 401, one re-read, one retry.
	writeCookie("__cookie__:second")
	node.accept("__cookie__:second")
	node.calls.Store(0)
	if n, err := c.GetBlockCount(t.Context()); err != nil || n != 7 {
		t.Fatalf("GetBlockCount after the cookie changed = %d, %v; want 7", n, err)
	}
	if got := node.calls.Load(); got != 2 {
		t.Errorf("%d requests, want 2 (the 401 and the retry)", got)
	}
	node.mu.Lock()
	seen := strings.Join(node.seen, " ")
	node.mu.Unlock()
	if want := "__cookie__:first __cookie__:first __cookie__:second"; seen != want {
		t.Errorf("credentials sent %q, want %q", seen, want)
	}

	// A 401 with an unchanged cookie is final: no retry loop.
	node.accept("someone:else")
	node.calls.Store(0)
	if _, err := c.GetBlockCount(t.Context()); !errors.Is(err, coind.ErrUnauthorized) {
		t.Errorf("got %v, want ErrUnauthorized", err)
	}
	if got := node.calls.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}

	// The node deletes its cookie when it stops.
	if err := os.Remove(cookie); err != nil {
		t.Fatal(err)
	}
	c2, err := coind.New(coind.Config{URL: srv.URL, CookieFile: cookie})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.GetBlockCount(t.Context()); !errors.Is(err, coind.ErrUnavailable) {
		t.Errorf("missing cookie file: got %v, want ErrUnavailable", err)
	}
}

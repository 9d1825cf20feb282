package hookclient

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/hangserver"
)

// The direct path sends what net/http would: method, path, Host, headers
// and body, and reads 202 and refusals framed every way HTTP/1.1 allows.
func TestPostPlain(t *testing.T) {
	var got *http.Request
	var gotBody string
	status, framing := 0, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, gotBody = r, string(b)
		msg := `{"error":{"message":"nope"}}`
		switch framing {
		case "chunked":
			w.WriteHeader(status)
			_, _ = w.Write([]byte(msg[:10]))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(msg[10:]))
		default:
			w.Header().Set("Content-Length", "28")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(msg))
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/notify/tx")
	if !plainOK(u) {
		t.Fatal("plainOK is false for " + srv.URL)
	}
	for _, tt := range []struct {
		status  int
		framing string
		body    string
	}{
		{202, "length", ""},
		{400, "length", `{"error":{"message":"nope"}}`},
		{503, "chunked", `{"error":{"message":"nope"}}`},
	} {
		status, framing = tt.status, tt.framing
		a, err := postPlain(context.Background(), u, "tok", []byte(`{"coin":"DOGE"}`))
		if err != nil {
			t.Fatalf("%d %s: %v", tt.status, tt.framing, err)
		}
		if a.status != tt.status || string(a.body) != tt.body {
			t.Errorf("%d %s: got %d %q", tt.status, tt.framing, a.status, a.body)
		}
		if got.Method != "POST" || got.URL.Path != "/notify/tx" || got.Host != u.Host ||
			got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get("Content-Type") != "application/json" ||
			got.ContentLength != 15 || gotBody != `{"coin":"DOGE"}` {
			t.Errorf("request %s %s host %q headers %v body %q", got.Method, got.URL, got.Host, got.Header, gotBody)
		}
	}
}

// A refusal through Send by the direct path reads like one through net/http.
func TestSendPlainRefused(t *testing.T) {
	d := newDaemon(t, http.StatusServiceUnavailable)
	err := Send(context.Background(), nil, d.URL+"/", "", Tx, Hint{Coin: "DOGE", Hash: txid})
	want := "transientd refused the hint (HTTP 503): hash must be the txid as 64 hexadecimal characters"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

// A server that answers headers and then stalls, or never answers, is cut
// off at the deadline.
func TestPostPlainTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				// Headers promising a body that never comes.
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\n{")
				time.Sleep(2 * time.Second)
			}()
		}
	}()
	u, _ := url.Parse("http://" + l.Addr().String() + "/notify/tx")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The body only decorates a refusal, as with net/http: a stalled one
	// still ends at the deadline, with the status read.
	a, err := postPlain(ctx, u, "", []byte("{}"))
	if err != nil || a.status != 400 || string(a.body) != "{" {
		t.Errorf("stalled body: %d %q %v", a.status, a.body, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
	hung, _ := hangserver.Start(t)
	err = Send(ctx, nil, "http://"+hung, "", Tx, Hint{Coin: "DOGE", Hash: txid})
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("hanging: %v", err)
	}
}

// Proxies, userinfo and https stay with net/http.
func TestPlainOK(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:8080/notify/tx":   true,
		"http://localhost/notify/tx":        true,
		"https://127.0.0.1:8080/notify/tx":  false,
		"http://u:p@127.0.0.1:8080/notify":  false,
		"unix:///run/transient.sock/notify": false,
	} {
		u, _ := url.Parse(raw)
		if got := plainOK(u); got != want {
			t.Errorf("plainOK(%s) = %v", raw, got)
		}
	}
	t.Setenv("HTTP_PROXY", "http://proxy:3128")
	u, _ := url.Parse("http://127.0.0.1:8080/notify/tx")
	if plainOK(u) {
		t.Error("plainOK with HTTP_PROXY set")
	}
}

// https URLs still work (through net/http).
func TestMainHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	if err := Send(context.Background(), srv.Client(), srv.URL, "", Tx, Hint{Coin: "DOGE", Hash: txid}); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/webhooksig"
)

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := newPrefixWriter(&buf, "x | ")
	for _, chunk := range []string{"one\ntw", "o\n", "", "three\nfour"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := buf.String(), "x | one\nx | two\nx | three\nx | four"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for the receiver's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestReceiver(t *testing.T) {
	secret := []byte("dev-secret-0123456789")
	body := []byte(`{"payment_id":"p-1","status":"PENDING","previous_status":"UNPAID","type":"payment.status_changed",
		"payment":{"currency":"LTC","amount":1.50000000,"amount_received":1.50000000}}`)
	now := time.Now()
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"signed", webhooksig.Sign(secret, now, body),
			"webhook    | payment.status_changed: payment p-1 UNPAID -> PENDING, received 1.50000000 of 1.50000000 LTC; signature ok\n"},
		{"other secret", webhooksig.Sign([]byte("another-secret-0123"), now, body), "signature INVALID"},
		{"expired", webhooksig.Sign(secret, now.Add(-time.Hour), body), "signature INVALID"},
		{"unsigned", "", "signature INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			r, err := startReceiver(secret, &out)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			req, err := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set(webhooksig.Header, tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status: got %d, want 204", resp.StatusCode)
			}
			if got := out.String(); !strings.Contains(got, tt.want) {
				t.Errorf("printed %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestListenAddr(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())

	if _, err := listenAddr(takenPort, "8080"); err == nil || !strings.Contains(err.Error(), "is taken") {
		t.Errorf("PORT taken: got %v, want an error saying it is taken", err)
	}
	addr, err := listenAddr("", takenPort)
	if err != nil {
		t.Fatal(err)
	}
	if host, port, _ := net.SplitHostPort(addr); host != "127.0.0.1" || port == takenPort || port == "0" {
		t.Errorf("default port taken: got %s, want another port on 127.0.0.1", addr)
	}
	if _, err := listenAddr("http", "8080"); err == nil {
		t.Error("PORT=http: got no error")
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/repo/bin/notify-tx", `'/repo/bin/notify-tx'`},
		{"/a b/it's", `'/a b/it'\''s'`},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	want := state{PID: 42, TransientdURL: "http://127.0.0.1:8080", APIKey: "dev-key", NodeRPCURL: "http://u:p@127.0.0.1:1", MinerRPCURL: "http://u:p@127.0.0.1:1/wallet/miner"}
	if err := writeState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"pay without a payment", []string{"pay"}, "usage: transient-dev pay"},
		{"mine zero blocks", []string{"mine", "0"}, "positive number of blocks"},
		{"mine two arguments", []string{"mine", "1", "2"}, "usage: transient-dev mine"},
		{"up with an argument", []string{"up", "now"}, "up takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"nonsense"}, func(string) string { return "" }, &stdout, &stderr); err == nil ||
		!strings.Contains(stderr.String(), `unknown command "nonsense"`) {
		t.Errorf("unknown command: got %v and stderr %q", err, stderr.String())
	}
}

// TestWaitReadyWantsTransientd: another server answering on transientd's
// port is not taken for it (the start then fails when transientd exits);
// an answer carrying transientd's request id is.
func TestWaitReadyWantsTransientd(t *testing.T) {
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer foreign.Close()
	d := &daemon{exited: make(chan struct{}), err: errors.New("exit status 1")}
	go func() {
		time.Sleep(300 * time.Millisecond) // transientd failing to bind
		close(d.exited)
	}()
	err := waitReady(context.Background(), foreign.URL, d)
	if err == nil || !strings.Contains(err.Error(), "exited while starting") {
		t.Errorf("a server without X-Request-Id on the port: %v, want transientd's exit", err)
	}

	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "r1")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer own.Close()
	if err := waitReady(context.Background(), own.URL, &daemon{exited: make(chan struct{})}); err != nil {
		t.Errorf("transientd answering: %v", err)
	}
}

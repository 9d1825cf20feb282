package hookclient

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/hangserver"
)

// daemon is a stand-in transientd /notify endpoint recording what it gets.
type daemon struct {
	*httptest.Server
	mu     sync.Mutex
	got    []string // "PATH AUTH BODY"
	status int
}

func newDaemon(t *testing.T, status int) *daemon {
	d := &daemon{status: status}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.got = append(d.got, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
		d.mu.Unlock()
		if d.status != http.StatusAccepted {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(d.status)
			_, _ = w.Write([]byte(`{"success":false,"error":{"code":"invalid_hash","message":"hash must be the txid as 64 hexadecimal characters"}}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *daemon) requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

const txid = "55cb969e7bd5444445342fb133f151e9f939a4d16bae07f7ca08e4eb0b2d97e9"

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestMainSendsHint(t *testing.T) {
	d := newDaemon(t, http.StatusAccepted)
	var stderr bytes.Buffer
	code := Main(Tx, []string{"DOGE", txid}, env(map[string]string{"TRANSIENT_URL": d.URL, "NOTIFY_TOKEN": "tok-from-env"}), &stderr)
	if code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	want := `/notify/tx Bearer tok-from-env {"coin":"DOGE","hash":"` + txid + `"}`
	if got := d.requests(); len(got) != 1 || got[0] != want {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestMainWalletArgument(t *testing.T) {
	d := newDaemon(t, http.StatusAccepted)
	e := env(map[string]string{"TRANSIENT_URL": d.URL})
	if code := Main(Tx, []string{"LTC", txid, "merchant"}, e, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Dogecoin Core has no %w and passes it on as is: it means no wallet.
	if code := Main(Tx, []string{"DOGE", txid, "%w"}, e, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	got := d.requests()
	if len(got) != 2 || !strings.Contains(got[0], `"wallet":"merchant"`) || strings.Contains(got[1], "wallet") {
		t.Errorf("requests = %q", got)
	}
}

func TestMainBlock(t *testing.T) {
	d := newDaemon(t, http.StatusAccepted)
	if code := Main(Block, []string{"-url", d.URL, "LTC", txid}, env(nil), io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := d.requests(); len(got) != 1 || !strings.HasPrefix(got[0], "/notify/block ") {
		t.Errorf("requests = %q", got)
	}
}

// Flags beat the -config file, which beats the environment.
func TestMainSettingsPrecedence(t *testing.T) {
	fromFlag, fromFile, fromEnv := newDaemon(t, 202), newDaemon(t, 202), newDaemon(t, 202)
	cfg := filepath.Join(t.TempDir(), "notify.env")
	if err := os.WriteFile(cfg, []byte("TRANSIENT_URL="+fromFile.URL+"\nNOTIFY_TOKEN=tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{"TRANSIENT_URL": fromEnv.URL, "NOTIFY_TOKEN": "tok-from-env"})

	if code := Main(Tx, []string{"-config", cfg, "DOGE", txid}, e, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := fromFile.requests(); len(got) != 1 || !strings.Contains(got[0], "Bearer tok-from-file") {
		t.Errorf("file settings: %q", got)
	}
	if code := Main(Tx, []string{"-config", cfg, "-url", fromFlag.URL, "-token", "tok-from-flag", "DOGE", txid}, e, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := fromFlag.requests(); len(got) != 1 || !strings.Contains(got[0], "Bearer tok-from-flag") {
		t.Errorf("flag settings: %q", got)
	}
	if n := len(fromEnv.requests()); n != 0 {
		t.Errorf("the environment was used over the file and flags (%d requests)", n)
	}
}

func TestMainFailures(t *testing.T) {
	refused := newDaemon(t, http.StatusBadRequest)
	closed := closedURL(t)
	hungAddr, _ := hangserver.Start(t)
	hung := "http://" + hungAddr
	missingConfig := filepath.Join(t.TempDir(), "missing.env")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"refused", []string{"-url", refused.URL, "DOGE", "abc"}, 1, "transientd refused the hint (HTTP 400): hash must be the txid"},
		{"down", []string{"-url", closed, "DOGE", txid}, 1, "connection refused"},
		{"hangs", []string{"-url", hung, "-timeout", "300ms", "DOGE", txid}, 1, "did not answer in time"},
		{"missing args", []string{"DOGE"}, 2, "usage: notify-tx"},
		{"too many args", []string{"DOGE", txid, "w", "x"}, 2, "usage: notify-tx"},
		{"missing config", []string{"-config", missingConfig, "DOGE", txid}, 1, "read -config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			start := time.Now()
			code := Main(Tx, tt.args, env(nil), &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d stderr %q, want %d containing %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Errorf("stderr is more than one line: %q", stderr.String())
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func closedURL(t *testing.T) string {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// BenchmarkNotifyTxProcess measures what a node pays per walletnotify: start
// the real notify-tx binary and POST one hint to a local endpoint.
//
//	go test -run '^$' -bench NotifyTxProcess ./internal/hookclient/
func BenchmarkNotifyTxProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "notify-tx")
	// Built as make build builds it: without cgo, statically linked.
	build := exec.Command("go", "build", "-o", bin, "../../cmd/notify-tx")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h Hint
		_ = json.NewDecoder(r.Body).Decode(&h)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, "-url", srv.URL, "DOGE", txid)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("notify-tx: %v %s", err, out)
		}
	}
}

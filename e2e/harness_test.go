package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// binDir holds the binaries built once for the whole package.
var binDir string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "transient-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	args := []string{"build", "-o", dir + "/"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "../cmd/transientd", "../cmd/notify-tx", "../cmd/notify-block")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries failed:", err)
		return 1
	}
	return pgtest.Run(m)
}

func bin(name string) string { return filepath.Join(binDir, name) }

const (
	apiKey      = "e2e-api-key-0123456789"
	notifyToken = "e2e-notify-token-0123456789"
)

// daemon is one transientd process.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	env  []string
	logs *syncBuffer

	mu   sync.Mutex // guards cmd and done, which a restart replaces
	done chan struct{}
}

// startDaemon runs transientd with the base settings plus env (KEY=VALUE)
// and waits until it answers HTTP.
func startDaemon(t *testing.T, env ...string) *daemon {
	t.Helper()
	addr := freeAddr(t)
	hasDB := false
	for _, kv := range env {
		hasDB = hasDB || strings.HasPrefix(kv, "DATABASE_URL=")
		if v, ok := strings.CutPrefix(kv, "LISTEN_ADDR="); ok {
			addr = v
		}
	}
	d := &daemon{t: t, url: "http://" + addr, logs: &syncBuffer{}}
	if !hasDB {
		env = append(env, "DATABASE_URL="+pgtest.NewDatabase(t))
	}
	d.env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"LISTEN_ADDR=" + addr,
		"API_KEYS=" + apiKey,
		"NOTIFY_TOKEN=" + notifyToken,
		"LOG_LEVEL=debug",
		"TRANSIENT_ENV_FILE=/nonexistent",
		// The scenarios check every event's webhook, the created one
		// included; TestCreatedWebhookDefault checks the default.
		"WEBHOOK_CREATED_EVENTS=true",
	}, env...)
	d.start()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("transientd %s log:\n%s", d.url, d.logs.String())
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	if err := d.tryStart(); err != nil {
		d.t.Fatal(err)
	}
}

// tryStart starts the process and waits until it answers HTTP; unlike start
// it may be called from any goroutine.
func (d *daemon) tryStart() error {
	cmd := exec.Command(bin("transientd"))
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("transientd exited at start:\n%s", d.logs.String())
		default:
		}
		resp, err := http.Get(d.url + "/payments/00000000-0000-0000-0000-000000000000")
		if err == nil {
			resp.Body.Close()
			// transientd answers every request with its id; another
			// server on the port is not taken for it.
			if resp.Header.Get("X-Request-Id") != "" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transientd did not answer within 30s:\n%s", d.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proc returns the current process and the channel closed when it exits.
func (d *daemon) proc() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd, d.done
}

// stop sends SIGTERM and waits for the process to exit.
func (d *daemon) stop() {
	cmd, done := d.proc()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		d.t.Errorf("transientd did not stop within 40s of SIGTERM")
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (d *daemon) kill() {
	cmd, done := d.proc()
	_ = cmd.Process.Kill()
	<-done
}

// restart starts the process again with the same settings and address.
func (d *daemon) restart() { d.start() }

// call makes an API request and decodes a JSON answer into out.
func (d *daemon) call(method, path, body string, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	// Every answer must match openapi/openapi.yaml.
	openapitest.Check(d.t, req, resp.StatusCode, resp.Header, raw)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// payment is the part of the payment object the tests read.
type payment struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	Amount         float64 `json:"amount"`
	AmountReceived json.Number
	Address        string `json:"payment_address"`
	Transactions   []struct {
		TxID          string `json:"txid"`
		Confirmations int64  `json:"confirmations"`
		State         string `json:"state"`
	} `json:"transactions"`
}

func (d *daemon) create(currency, amount string) payment {
	d.t.Helper()
	var r struct {
		Payment payment `json:"payment"`
	}
	if code := d.call("POST", "/payments", fmt.Sprintf(`{"currency":%q,"amount":%q}`, currency, amount), &r); code != 201 {
		d.t.Fatalf("create: %d", code)
	}
	return r.Payment
}

func (d *daemon) get(id string) payment {
	d.t.Helper()
	var r struct {
		Payment payment `json:"payment"`
	}
	if code := d.call("GET", "/payments/"+id, "", &r); code != 200 {
		d.t.Fatalf("get %s: %d", id, code)
	}
	return r.Payment
}

// waitStatus polls until the payment has status, or fails after timeout.
func (d *daemon) waitStatus(id, status string, timeout time.Duration) payment {
	d.t.Helper()
	var p payment
	waitFor(d.t, timeout, func() bool { p = d.get(id); return p.Status == status },
		func() string { return fmt.Sprintf("payment %s is %s, want %s", id, p.Status, status) })
	return p
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNode starts litecoind; hooks, when set, wires the real hook binaries
// to the daemon at url.
func startNode(t *testing.T, hookURL string) *regtest.Node {
	t.Helper()
	opts := regtest.Options{}
	if hookURL != "" {
		cfg := filepath.Join(t.TempDir(), "notify.env")
		content := "TRANSIENT_URL=" + hookURL + "\nNOTIFY_TOKEN=" + notifyToken + "\n"
		if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		opts.WalletNotify = bin("notify-tx") + " -config " + cfg + " LTC %s %w"
		opts.BlockNotify = bin("notify-block") + " -config " + cfg + " LTC %s"
	}
	return regtest.StartT(t, opts)
}

// coinEnv configures coin LTC on the node's merchant wallet.
func coinEnv(node *regtest.Node) []string {
	return []string{"COINS=LTC", "LTC_RPC_URL=" + node.URL(regtest.MerchantWallet), "LTC_CONFIRMATIONS=2"}
}

// freeAddr returns a loopback address for a process to listen on later
// (transientd, a proxy, a throwaway PostgreSQL): see freeport.Addr.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
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

// receiver is a webhook endpoint on loopback recording every body.
type receiver struct {
	srv    *http.Server
	url    string
	mu     sync.Mutex
	bodies [][]byte
	status func(n int) int // answer for the n-th request (1-based); nil = 200
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "http://" + l.Addr().String() + "/hook"
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		n := len(r.bodies)
		status := r.status
		r.mu.Unlock()
		code := 200
		if status != nil {
			code = status(n)
		}
		w.WriteHeader(code)
	})}
	go func() { _ = r.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
	})
	return r
}

// events returns the webhook bodies received so far, decoded.
func (r *receiver) events() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, b := range r.bodies {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

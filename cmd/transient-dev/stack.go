package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/transient-gateway/transient/internal/regtest"
)

// Settings of the development stack.
const (
	devDatabase     = "transient_dev" // dropped and created again at every start
	devCoin         = "LTC"
	devConfirms     = 2                // confirmations a payment needs: a quick tour
	defaultPort     = "8080"           // transientd's port unless PORT says otherwise
	readyTimeout    = 2 * time.Minute  // transientd start (migrations included) until it answers
	daemonStopLimit = 40 * time.Second // transientd drains HTTP (15 s) and jobs (10 s + 5 s)
	nodeStopLimit   = 20 * time.Second
)

// stack runs the development stack until ctx is cancelled. It starts, in
// order, PostgreSQL, the webhook receiver, litecoind and transientd, and
// stops them in reverse order.
func stack(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("stack takes no arguments (got %q)", args)
	}
	err := runStack(ctx, getenv, stdout, stderr)
	if ctx.Err() != nil {
		// Interrupted, possibly in the middle of starting: what failed
		// then failed because of the interruption.
		return nil
	}
	return err
}

func runStack(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	files := devFiles(root)
	for _, name := range []string{"transientd", "notify-tx", "notify-block"} {
		if _, err := os.Stat(files.bin(name)); err != nil {
			return fmt.Errorf("%s is missing: run make build (or make run)", files.bin(name))
		}
	}
	if st, err := readState(files.state()); err == nil && processAlive(st.PID) {
		return fmt.Errorf("the dev stack already runs (pid %d, transientd %s): stop it first", st.PID, st.TransientdURL)
	}
	// Each run starts from nothing: a new chain, new secrets, new logs.
	if err := os.RemoveAll(files.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(files.dir, 0o700); err != nil {
		return err
	}
	addr, err := listenAddr(getenv("PORT"), defaultPort)
	if err != nil {
		return err
	}
	base := "http://" + addr
	apiKey, notifyToken, webhookSecret := "dev-"+rand.Text(), rand.Text(), rand.Text()
	say := func(format string, args ...any) { fmt.Fprintf(stderr, "transient-dev: "+format+"\n", args...) }
	if getenv("PORT") == "" && !strings.HasSuffix(addr, ":"+defaultPort) {
		say("port %s is taken: transientd listens on %s instead (set PORT to choose)", defaultPort, addr)
	}

	pg, err := startPostgres(ctx, files.script("postgres.sh"), stderr)
	if err != nil {
		return err
	}
	defer pg.stop(stderr)
	dbURL, err := recreateDatabase(ctx, pg.url, devDatabase)
	if err != nil {
		return err
	}
	say("PostgreSQL: database %s on the %s server %s", devDatabase, pg.kind, redactURL(pg.url))

	recv, err := startReceiver([]byte(webhookSecret), stdout)
	if err != nil {
		return err
	}
	defer recv.Close()

	hookConfig := "TRANSIENT_URL=" + base + "\nNOTIFY_TOKEN=" + notifyToken + "\n"
	if err := os.WriteFile(files.notifyEnv(), []byte(hookConfig), 0o600); err != nil {
		return err
	}
	node, err := regtest.Start(ctx, regtest.Options{
		Dir: files.nodeDir(),
		WalletNotify: strings.Join([]string{shellQuote(files.bin("notify-tx")), "-config",
			shellQuote(files.notifyEnv()), devCoin, "%s", "%w"}, " "),
		BlockNotify: strings.Join([]string{shellQuote(files.bin("notify-block")), "-config",
			shellQuote(files.notifyEnv()), devCoin, "%s"}, " "),
		Log: newPrefixWriter(stderr, "litecoind  | "),
	})
	if err != nil {
		return err
	}
	defer stopNode(node, stderr)
	if err := node.Setup(ctx); err != nil {
		return err
	}

	logFile, err := os.Create(files.daemonLog())
	if err != nil {
		return err
	}
	defer logFile.Close()
	daemon, err := startDaemon(files.bin("transientd"), files.dir, []string{
		"TRANSIENT_ENV_FILE=" + os.DevNull, // never a developer's .env
		"LISTEN_ADDR=" + addr,
		"PUBLIC_URL=" + base,
		"DATABASE_URL=" + dbURL,
		"MIGRATE_ON_START=true",
		"COINS=" + devCoin,
		devCoin + "_RPC_URL=" + node.URL(regtest.MerchantWallet),
		devCoin + "_RPC_COOKIE_FILE=",
		devCoin + "_CONFIRMATIONS=" + strconv.Itoa(devConfirms),
		"API_KEYS=" + apiKey,
		"NOTIFY_TOKEN=" + notifyToken,
		"PAYMENT_WEBHOOK_URL=" + recv.url,
		"PAYMENT_WEBHOOK_SECRET=" + webhookSecret,
		"CATCHUP_INTERVAL=5s",
		// Made-up rates, so BitPay invoices priced in USD or EUR work on the
		// dev chain.
		"RATES_STATIC=" + devCoin + "_USD=75," + devCoin + "_EUR=70",
	}, io.MultiWriter(newPrefixWriter(stderr, "transientd | "), logFile))
	if err != nil {
		return err
	}
	defer daemon.stop(stderr)
	if err := waitReady(ctx, base, daemon); err != nil {
		return fmt.Errorf("%w; its log is %s", err, files.daemonLog())
	}

	st := state{
		PID:           os.Getpid(),
		TransientdURL: base,
		APIKey:        apiKey,
		NodeRPCURL:    node.URL(""),
		MinerRPCURL:   node.URL(regtest.MinerWallet),
	}
	if err := writeState(files.state(), st); err != nil {
		return err
	}
	defer os.Remove(files.state())
	printBanner(stdout, st, node, recv.url, files)

	select {
	case <-ctx.Done():
		say("stopping: transientd, then litecoind, then PostgreSQL if started here")
		return nil
	case <-daemon.exited:
		return fmt.Errorf("transientd exited unexpectedly (%v); its log is %s", daemon.err, files.daemonLog())
	}
}

// printBanner tells the developer what runs and what to try.
func printBanner(w io.Writer, st state, node *regtest.Node, webhookURL string, files files) {
	const create = `curl -s -X POST %s/payments -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{"currency":"LTC","amount":"1.5"}'`
	fmt.Fprintf(w, `
==============================================================================
Transient dev stack is up (local development only). Ctrl-C stops everything.

  transientd  %s   (log: %s)
  API key     %s
  litecoind   regtest, RPC 127.0.0.1:%d, wallets %q (funded) and %q (transientd's)
  webhooks    %s   (printed below as "webhook |")

Create a payment:
  %s
Fetch it and its QR code:
  curl -s %s/payments/<id>
  curl -s -o qrcode.png %s/payments/<id>/qrcode.png
Pay it from the miner wallet (default: what is still due), then confirm it
(%d confirmations make it PAID):
  make pay PAYMENT=<id> [AMOUNT=0.5]
  make mine [BLOCKS=1]
==============================================================================

`, st.TransientdURL, files.daemonLog(), st.APIKey, node.RPCPort, regtest.MinerWallet, regtest.MerchantWallet,
		webhookURL, fmt.Sprintf(create, st.TransientdURL, st.APIKey), st.TransientdURL, st.TransientdURL, devConfirms)
}

// files names the stack's files.
type files struct {
	root string // the repository
	dir  string // .cache/dev
}

func devFiles(root string) files {
	return files{root: root, dir: filepath.Join(root, ".cache", "dev")}
}

func (f files) bin(name string) string    { return filepath.Join(f.root, "bin", name) }
func (f files) script(name string) string { return filepath.Join(f.root, "scripts", name) }
func (f files) state() string             { return filepath.Join(f.dir, "state.json") }
func (f files) notifyEnv() string         { return filepath.Join(f.dir, "notify.env") }
func (f files) nodeDir() string           { return filepath.Join(f.dir, "litecoind") }
func (f files) daemonLog() string         { return filepath.Join(f.dir, "transientd.log") }

// repoRoot returns the nearest directory at or above the working directory
// that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run transient-dev inside the repository (no go.mod here or above)")
		}
		dir = parent
	}
}

// listenAddr returns transientd's listen address on 127.0.0.1: port when
// given (it must be free), else def, else any free port.
func listenAddr(port, def string) (string, error) {
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("PORT=%q: want a TCP port number", port)
		}
		addr := net.JoinHostPort("127.0.0.1", port)
		if !portFree(addr) {
			return "", fmt.Errorf("PORT=%s: %s is taken; choose another PORT", port, addr)
		}
		return addr, nil
	}
	if addr := net.JoinHostPort("127.0.0.1", def); portFree(addr) {
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// shellQuote quotes s for /bin/sh, which runs the node's notify commands.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stopNode stops litecoind, waiting for it.
func stopNode(node *regtest.Node, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), nodeStopLimit)
	defer cancel()
	if err := node.Stop(ctx); err != nil {
		fmt.Fprintf(stderr, "transient-dev: %v\n", err)
	}
}

// daemon is a running transientd.
type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, set before exited is closed
}

// startDaemon starts transientd with env added to ours. It gets SIGTERM
// if this process dies.
func startDaemon(bin, dir string, env []string, out io.Writer) (*daemon, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start transientd: %w", err)
	}
	d := &daemon{cmd: cmd, exited: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// stop sends SIGTERM and waits for transientd to exit, killing it after
// daemonStopLimit.
func (d *daemon) stop(stderr io.Writer) {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(daemonStopLimit):
		fmt.Fprintf(stderr, "transient-dev: transientd did not stop in %s; killing it\n", daemonStopLimit)
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// waitReady polls transientd until it answers HTTP at all.
func waitReady(ctx context.Context, base string, d *daemon) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.After(readyTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/payments/00000000-0000-0000-0000-000000000000", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("transientd exited while starting (%v)", d.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("transientd did not answer at %s within %s", base, readyTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/transient-gateway/transient/internal/freeport"
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
	if st, err := readState(files.state()); err == nil && processAlive(st.PID) {
		return fmt.Errorf("the dev stack already runs (pid %d, transientd %s): stop it first", st.PID, st.TransientdURL)
	}
	addr, err := listenAddr(getenv("PORT"), defaultPort)
	if err != nil {
		return err
	}
	if getenv("PORT") == "" && !strings.HasSuffix(addr, ":"+defaultPort) {
		fmt.Fprintf(stderr, "transient-dev: port %s is taken: transientd listens on %s instead (set PORT to choose)\n", defaultPort, addr)
	}
	s, err := startStack(ctx, stackOptions{files: files, addr: addr, stdout: stdout, stderr: stderr})
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return err
	}
	st := state{
		PID:           os.Getpid(),
		TransientdURL: s.base,
		APIKey:        s.apiKey,
		NodeRPCURL:    s.node.URL(""),
		MinerRPCURL:   s.node.URL(regtest.MinerWallet),
	}
	if err := writeState(files.state(), st); err != nil {
		return err
	}
	defer os.Remove(files.state())
	printBanner(stdout, st, s.node, s.webhookURL, files)

	select {
	case <-ctx.Done():
		s.say("stopping: transientd, then litecoind, then PostgreSQL if started here")
		return nil
	case <-s.daemon.exited:
		return fmt.Errorf("transientd exited unexpectedly (%v); its log is %s", s.daemon.err, files.daemonLog())
	}
}

// stackOptions says how to start a stack.
type stackOptions struct {
	files files
	addr  string // transientd's listen address
	// webhooks, when set, receives the webhooks instead of the printing
	// receiver (the benchmark's timing receiver).
	webhooks http.Handler
	// env is added to (and overrides) transientd's settings.
	env    []string
	stdout io.Writer
	stderr io.Writer
	// adminURL is a PostgreSQL superuser URL to use instead of the server
	// scripts/postgres.sh picks or starts.
	adminURL string
	// quiet keeps litecoind's and transientd's lines out of stderr; they
	// still go to the daemon's log file.
	quiet bool
}

// devStack is a running stack: PostgreSQL, the webhook receiver, litecoind
// and transientd.
type devStack struct {
	opts          stackOptions
	base          string // transientd's URL
	apiKey        string
	notifyToken   string
	webhookSecret string
	webhookURL    string
	dbURL         string
	pg            *postgres
	recv          *http.Server
	node          *regtest.Node
	daemon        *daemon
	logFile       *os.File
	settings      []string // transientd's environment, without opts.env
}

func (s *devStack) say(format string, args ...any) {
	fmt.Fprintf(s.opts.stderr, "transient-dev: "+format+"\n", args...)
}

// startStack starts, in order, PostgreSQL, the webhook receiver, litecoind
// and transientd. On error it returns what it started too (or nil): call
// stop on it either way.
func startStack(ctx context.Context, opts stackOptions) (*devStack, error) {
	files := opts.files
	for _, name := range []string{"transientd", "notify-tx", "notify-block"} {
		if _, err := os.Stat(files.bin(name)); err != nil {
			return nil, fmt.Errorf("%s is missing: run make build (or make run)", files.bin(name))
		}
	}
	// Each run starts from nothing: a new chain, new secrets, new logs.
	if err := os.RemoveAll(files.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(files.dir, 0o700); err != nil {
		return nil, err
	}
	s := &devStack{
		opts:          opts,
		base:          "http://" + opts.addr,
		apiKey:        "dev-" + rand.Text(),
		notifyToken:   rand.Text(),
		webhookSecret: rand.Text(),
	}
	var err error
	if opts.adminURL != "" {
		s.pg = &postgres{url: opts.adminURL, kind: "given"}
	} else if s.pg, err = startPostgres(ctx, files.script("postgres.sh"), opts.stderr); err != nil {
		return s, err
	}
	if s.dbURL, err = recreateDatabase(ctx, s.pg.url, files.database); err != nil {
		return s, err
	}
	s.say("PostgreSQL: database %s on the %s server %s", files.database, s.pg.kind, redactURL(s.pg.url))

	webhooks := opts.webhooks
	if webhooks == nil {
		webhooks = newReceiver([]byte(s.webhookSecret), opts.stdout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, fmt.Errorf("webhook receiver: %w", err)
	}
	s.webhookURL = "http://" + ln.Addr().String() + "/webhook"
	s.recv = &http.Server{Handler: webhooks, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.recv.Serve(ln) }()

	if err := s.writeNotifyConfig(s.base); err != nil {
		return s, err
	}
	nodeLog := io.Writer(newPrefixWriter(opts.stderr, "litecoind  | "))
	if opts.quiet {
		nodeLog = io.Discard
	}
	node, err := regtest.Start(ctx, regtest.Options{
		Dir: files.nodeDir(),
		WalletNotify: strings.Join([]string{shellQuote(files.bin("notify-tx")), "-config",
			shellQuote(files.notifyEnv()), devCoin, "%s", "%w"}, " "),
		BlockNotify: strings.Join([]string{shellQuote(files.bin("notify-block")), "-config",
			shellQuote(files.notifyEnv()), devCoin, "%s"}, " "),
		Log: nodeLog,
	})
	if err != nil {
		return s, err
	}
	s.node = node
	if err := setupNode(ctx, node); err != nil {
		return s, err
	}

	if s.logFile, err = os.Create(files.daemonLog()); err != nil {
		return s, err
	}
	s.settings = []string{
		"TRANSIENT_ENV_FILE=" + os.DevNull, // never a developer's .env
		"LISTEN_ADDR=" + opts.addr,
		"PUBLIC_URL=" + s.base,
		"DATABASE_URL=" + s.dbURL,
		"MIGRATE_ON_START=true",
		"COINS=" + devCoin,
		devCoin + "_RPC_URL=" + node.URL(regtest.MerchantWallet),
		devCoin + "_RPC_COOKIE_FILE=",
		devCoin + "_CONFIRMATIONS=" + strconv.Itoa(devConfirms),
		"API_KEYS=" + s.apiKey,
		"NOTIFY_TOKEN=" + s.notifyToken,
		"PAYMENT_WEBHOOK_URL=" + s.webhookURL,
		"PAYMENT_WEBHOOK_SECRET=" + s.webhookSecret,
		"CATCHUP_INTERVAL=5s",
		// Made-up rates, so BitPay invoices priced in USD or EUR work on the
		// dev chain.
		"RATES_STATIC=" + devCoin + "_USD=75," + devCoin + "_EUR=70",
	}
	return s, s.startDaemon(ctx, opts.env)
}

// startDaemon starts transientd with the stack's settings and env, and
// waits until it answers.
func (s *devStack) startDaemon(ctx context.Context, env []string) error {
	out := io.Writer(s.logFile)
	if !s.opts.quiet {
		out = io.MultiWriter(newPrefixWriter(s.opts.stderr, "transientd | "), s.logFile)
	}
	d, err := startDaemon(s.opts.files.bin("transientd"), s.opts.files.dir, append(slices.Clone(s.settings), env...), out)
	if err != nil {
		return err
	}
	s.daemon = d
	if err := waitReady(ctx, s.base, d); err != nil {
		return fmt.Errorf("%w; its log is %s", err, s.opts.files.daemonLog())
	}
	return nil
}

// restartDaemon stops transientd and starts it again with env.
func (s *devStack) restartDaemon(ctx context.Context, env []string) error {
	s.daemon.stop(s.opts.stderr)
	return s.startDaemon(ctx, env)
}

// setupNode makes what regtest.Setup makes (the miner and merchant wallets,
// 101 blocks so the miner has mature coins), mining in steps that each
// stay well inside the node client's timeout on a loaded machine.
func setupNode(ctx context.Context, node *regtest.Node) error {
	for _, w := range []string{regtest.MinerWallet, regtest.MerchantWallet} {
		if err := node.CreateWallet(ctx, w); err != nil {
			return err
		}
	}
	for left := 101; left > 0; left -= 10 {
		if _, err := node.Mine(ctx, min(left, 10)); err != nil {
			return err
		}
	}
	return nil
}

// writeNotifyConfig points the node's notification hooks at base.
func (s *devStack) writeNotifyConfig(base string) error {
	cfg := "TRANSIENT_URL=" + base + "\nNOTIFY_TOKEN=" + s.notifyToken + "\n"
	tmp := s.opts.files.notifyEnv() + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.opts.files.notifyEnv())
}

// stop stops what runs, in reverse order: transientd, litecoind, the
// receiver, PostgreSQL (if started here).
func (s *devStack) stop() {
	if s.daemon != nil {
		s.daemon.stop(s.opts.stderr)
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
	if s.node != nil {
		stopNode(s.node, s.opts.stderr)
	}
	if s.recv != nil {
		s.recv.Close()
	}
	if s.pg != nil {
		s.pg.stop(s.opts.stderr)
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
	root     string // the repository
	dir      string // .cache/dev
	binDir   string // bin/ of the repository
	database string // the database, dropped and created again at every start
}

func devFiles(root string) files {
	return files{root: root, dir: filepath.Join(root, ".cache", "dev"), binDir: filepath.Join(root, "bin"), database: devDatabase}
}

func (f files) bin(name string) string    { return filepath.Join(f.binDir, name) }
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
	return freeport.Addr()
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
			// transientd answers every request with its id; another
			// server on the port is not taken for it.
			if resp.Header.Get("X-Request-Id") != "" {
				return nil
			}
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

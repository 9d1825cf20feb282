// Package regtest runs a Litecoin Core (litecoind) node in regtest mode for
// integration tests and for the local development stack. It owns starting the
// node on free ports in its own datadir, waiting until RPC answers, stopping
// it, and scenario helpers (wallets, mining, payments, fee bumps, reorgs and
// double spends) built on RPC calls through internal/coind.
//
// The core API (Start, Node) needs no testing.T; StartT wraps it for tests.
// The facts it relies on are in docs/coind-regtest.md (§2 flags, §3 wallets,
// §4 the MWEB height limit, §10 the double-spend recipe).
package regtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
)

// Wallet names created by Setup.
const (
	MinerWallet    = "miner"    // holds the mined coins; pays in Send and SendMany
	MerchantWallet = "merchant" // the gateway's wallet: receives payments
)

// MaxHeight is the highest block Mine will produce. Litecoin's MWEB
// activates at height 432 in regtest, and mining block 432 without an MWEB
// peg-in fails (coind-regtest.md §4), so tests stay below 431.
const MaxHeight = 430

const (
	readyTimeout = 30 * time.Second       // node start until RPC answers
	readyPoll    = 20 * time.Millisecond  // readiness poll interval
	stopTimeout  = 15 * time.Second       // "stop" until the process exits
	bindAttempts = 5                      // port picks when a port is taken
	rpcTimeout   = 30 * time.Second       // per call; generatetoaddress 101 takes ~0.5 s
	doubleFee    = int64(10_000)          // fee of the DoubleSpend transaction, base units
	logTailBytes = 4 << 10                // debug.log tail quoted in errors
	pollTimeout  = 200 * time.Millisecond // per readiness call
)

// Options configures Start.
type Options struct {
	// Dir is the datadir; required for Start (StartT uses t.TempDir()). It
	// is created if missing. Nothing is written outside it.
	Dir string
	// WalletNotify is the full -walletnotify command, for example
	// "/path/notify-tx LTC %s %w"; "" = none. The node runs it through
	// /bin/sh with %s = txid and %w = wallet name.
	WalletNotify string
	// BlockNotify is the full -blocknotify command (%s = block hash); "" =
	// none.
	BlockNotify string
	// ExtraArgs are appended to the litecoind command line, for example
	// "-wallet=miner" to load an existing wallet at start.
	ExtraArgs []string
	// Log, when set, receives one line per step (start, ready, stop).
	Log io.Writer
}

// Node is a running (or stopped) litecoind regtest node. Its methods are safe
// for concurrent use.
type Node struct {
	Dir      string // datadir; debug.log is Dir/regtest/debug.log
	RPCPort  int    // RPC on 127.0.0.1:RPCPort
	P2PPort  int    // P2P port (not listening: -listen=0)
	User     string // rpcuser
	Password string // rpcpassword

	opts Options
	bin  string // litecoind executable

	mu        sync.Mutex
	proc      *process
	clients   map[string]*coind.Client
	minerAddr string
}

// process is one run of litecoind.
type process struct {
	cmd     *exec.Cmd
	stderr  *tailBuffer
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// Start starts litecoind in regtest on two free local ports with the flags
// of coind-regtest.md §2 and waits until RPC answers (polling getblockcount
// every 20 ms, up to 30 s or ctx). The node runs until Stop or Kill, or
// until this process dies (it is started with a parent-death signal on
// Linux); ctx bounds only the start. If litecoind is not installed the
// error says how to install it.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if opts.Dir == "" {
		return nil, errors.New("regtest: start: Options.Dir is required")
	}
	bin, err := litecoindPath()
	if err != nil {
		return nil, fmt.Errorf("regtest: start: litecoind not found in PATH; install it with `apt-get install -y litecoind` (Debian package litecoind): %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("regtest: start: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("regtest: start: %w", err)
	}
	n := &Node{
		bin:      bin,
		Dir:      dir,
		User:     "regtest",
		Password: rand.Text(),
		opts:     opts,
		clients:  make(map[string]*coind.Client),
	}
	for attempt := 1; ; attempt++ {
		if n.RPCPort, n.P2PPort, err = freePorts(); err != nil {
			return nil, fmt.Errorf("regtest: start: %w", err)
		}
		err = n.start(ctx)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == bindAttempts {
			return nil, err
		}
		n.logf("regtest: port %d taken, retrying with other ports", n.RPCPort)
	}
}

// debianLitecoind is the real binary behind Debian's /usr/bin/litecoind.
const debianLitecoind = "/usr/lib/litecoin/litecoind"

// litecoindPath finds litecoind in PATH. Debian's /usr/bin/litecoind is a
// shell script that creates ~/.litecoin/litecoin.conf and DB_CONFIG before
// exec'ing /usr/lib/litecoin/litecoind; when PATH finds a script and that
// binary exists, the binary is run directly so nothing is written outside
// the datadir.
func litecoindPath() (string, error) {
	path, err := exec.LookPath("litecoind")
	if err != nil {
		return "", err
	}
	head := make([]byte, 2)
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.ReadFull(f, head); err == nil && string(head) == "#!" {
		if _, err := exec.LookPath(debianLitecoind); err == nil {
			return debianLitecoind, nil
		}
	}
	return path, nil
}

// Sentinel errors (internal).
var (
	// errPortTaken marks a start that failed because the RPC port was
	// taken between picking and binding it; Start then picks other ports.
	errPortTaken = errors.New("rpc port taken")
)

// freePorts returns two distinct ports that were free a moment ago, outside
// the kernel's ephemeral range (freeport), so no listener on port 0 or
// outgoing connection takes the RPC port before litecoind binds it.
func freePorts() (int, int, error) {
	rpc, err := freeport.Port()
	if err != nil {
		return 0, 0, err
	}
	p2p, err := freeport.Port()
	if err != nil {
		return 0, 0, err
	}
	return rpc, p2p, nil
}

// args returns the litecoind command line (without the program name).
func (n *Node) args() []string {
	args := []string{
		"-regtest",
		"-datadir=" + n.Dir,
		"-printtoconsole=0",
		"-rpcport=" + strconv.Itoa(n.RPCPort),
		"-port=" + strconv.Itoa(n.P2PPort),
		"-listen=0",
		"-dnsseed=0",
		"-rpcbind=127.0.0.1",
		"-rpcallowip=127.0.0.1",
		"-rpcuser=" + n.User,
		"-rpcpassword=" + n.Password,
		"-fallbackfee=0.0002",
		"-txindex=1",
		"-dustrelayfee=0",
		"-mempoolreplacement=1",
		"-keypool=20",
		"-rpcworkqueue=256",
		"-rpcthreads=8",
	}
	if n.opts.WalletNotify != "" {
		args = append(args, "-walletnotify="+n.opts.WalletNotify)
	}
	if n.opts.BlockNotify != "" {
		args = append(args, "-blocknotify="+n.opts.BlockNotify)
	}
	return append(args, n.opts.ExtraArgs...)
}

// start runs litecoind on n's ports and waits for RPC.
func (n *Node) start(ctx context.Context) error {
	began := time.Now()
	cmd := exec.Command(n.bin, n.args()...)
	cmd.Dir = n.Dir
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, stderr: &tailBuffer{max: logTailBytes}, exited: make(chan struct{})}
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("regtest: start litecoind: %w", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	n.logf("regtest: litecoind pid %d starting, datadir %s, rpc 127.0.0.1:%d", cmd.Process.Pid, n.Dir, n.RPCPort)

	if err := n.waitReady(ctx, p); err != nil {
		_ = p.kill()
		return err
	}
	n.logf("regtest: litecoind ready in %s", time.Since(began).Round(time.Millisecond))
	return nil
}

// waitReady polls getblockcount until it answers.
func (n *Node) waitReady(ctx context.Context, p *process) error {
	client, err := coind.New(coind.Config{URL: n.URL(""), Timeout: pollTimeout})
	if err != nil {
		return fmt.Errorf("regtest: %w", err)
	}
	defer client.Close()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		_, err := client.GetBlockCount(ctx)
		if err == nil {
			return nil
		}
		// Refused and -28 (warmup) mean not yet; 401 means another
		// process answers on our port while ours fails to bind and exits.
		if !errors.Is(err, coind.ErrUnavailable) && !errors.Is(err, coind.ErrUnauthorized) {
			return fmt.Errorf("regtest: waiting for rpc: %w", err)
		}
		select {
		case <-p.exited:
			why := n.exitReport(p)
			if strings.Contains(why, "Unable to bind") || strings.Contains(why, "Address already in use") {
				return fmt.Errorf("regtest: litecoind exited: %w: %s", errPortTaken, why)
			}
			return fmt.Errorf("regtest: litecoind exited before rpc was ready: %s", why)
		case <-ctx.Done():
			return fmt.Errorf("regtest: waiting for rpc: %w (last: %v)", ctx.Err(), err)
		case <-deadline.C:
			return fmt.Errorf("regtest: rpc not ready after %s (last: %v); debug.log ends:\n%s", readyTimeout, err, n.debugLogTail())
		case <-tick.C:
		}
	}
}

// exitReport describes why the process exited: its exit status, its
// output and the end of debug.log.
func (n *Node) exitReport(p *process) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v", p.waitErr)
	if out := strings.TrimSpace(p.stderr.String()); out != "" {
		fmt.Fprintf(&b, "; output: %s", out)
	}
	fmt.Fprintf(&b, "; %s ends:\n%s", n.DebugLog(), n.debugLogTail())
	return b.String()
}

// DebugLog returns the path of the node's debug.log.
func (n *Node) DebugLog() string { return filepath.Join(n.Dir, "regtest", "debug.log") }

// debugLogTail returns the last few KiB of debug.log.
func (n *Node) debugLogTail() string {
	f, err := os.Open(n.DebugLog())
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// logf writes one progress line to Options.Log.
func (n *Node) logf(format string, args ...any) {
	if n.opts.Log != nil {
		fmt.Fprintf(n.opts.Log, format+"\n", args...)
	}
}

// URL returns the RPC URL with credentials, for wallet ("" = the root URL,
// for non-wallet calls or a node with one wallet loaded).
func (n *Node) URL(wallet string) string {
	u := url.URL{
		Scheme: "http",
		User:   url.UserPassword(n.User, n.Password),
		Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(n.RPCPort)),
	}
	if wallet != "" {
		u.Path = "/wallet/" + wallet
	}
	return u.String()
}

// Client returns a client for wallet ("" = the root URL). Clients are
// cached per wallet and stay valid across Restart.
func (n *Node) Client(wallet string) *coind.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.clients[wallet]; ok {
		return c
	}
	c, err := coind.New(coind.Config{URL: n.URL(wallet), Timeout: rpcTimeout})
	if err != nil {
		// URL builds a valid URL from our own fields; this cannot happen.
		panic("regtest: " + err.Error())
	}
	n.clients[wallet] = c
	return c
}

// closeClients closes the idle connections of the cached clients.
func (n *Node) closeClients() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.clients {
		c.Close()
	}
}

// Stop asks the node to shut down (RPC "stop"), waits up to 15 s (or ctx)
// for the process to exit, then kills it and returns an error. Stopping a
// stopped node is a no-op.
//
// litecoind does not exit while an HTTP keep-alive connection is open (it
// waits for -rpcservertimeout, 30 s): Stop closes the idle connections of
// the clients from Node.Client; Close any other client first.
func (n *Node) Stop(ctx context.Context) error {
	p := n.process()
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	began := time.Now()
	stopErr := n.Client("").Call(ctx, "stop", nil, nil)
	// litecoind's shutdown waits for open HTTP connections (up to
	// -rpcservertimeout, 30 s): drop our idle keep-alive ones.
	n.closeClients()
	wait := time.NewTimer(stopTimeout)
	defer wait.Stop()
	select {
	case <-p.exited:
		n.logf("regtest: litecoind stopped in %s", time.Since(began).Round(time.Millisecond))
		return nil
	case <-wait.C:
	case <-ctx.Done():
	}
	if err := p.kill(); err != nil {
		return err
	}
	return fmt.Errorf("regtest: litecoind did not stop in time (stop rpc: %v); killed", stopErr)
}

// Kill kills the node process at once and waits for it to exit.
func (n *Node) Kill() error {
	p := n.process()
	if p == nil {
		return nil
	}
	return p.kill()
}

// kill sends SIGKILL and waits for exit.
func (p *process) kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("regtest: kill litecoind: %w", err)
	}
	<-p.exited
	return nil
}

// PID returns the process id of the running litecoind, 0 when it is not
// running.
func (n *Node) PID() int {
	p := n.process()
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	select {
	case <-p.exited:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// process returns the current process, nil before the first start.
func (n *Node) process() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Restart stops the node and starts it again on the same datadir and ports,
// keeping the chain. Only the default wallet is loaded after a restart: call
// LoadWallet for the others (or pass -wallet=NAME in Options.ExtraArgs).
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil {
		return err
	}
	return n.start(ctx)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

// Write appends p, dropping the oldest bytes beyond max.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

// String returns the kept bytes.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

package regtest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds Start plus Setup in StartT.
const startTimeout = 2 * time.Minute

// StartT starts a node for a test: Dir defaults to tb.TempDir(), Log to the
// test log; it runs Setup (wallets "miner" and "merchant", 101 blocks) and
// registers Stop with tb.Cleanup (printing the end of debug.log if the test
// failed). Any failure, including a missing litecoind, ends the test with
// tb.Fatalf; it never skips.
func StartT(tb testing.TB, opts Options) *Node {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	if opts.Log == nil {
		opts.Log = testLog{tb}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	n, err := Start(ctx, opts)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("%s ends:\n%s", n.DebugLog(), n.debugLogTail())
		}
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout+5*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			tb.Errorf("%v", err)
		}
	})
	if err := n.Setup(ctx); err != nil {
		tb.Fatalf("%v", err)
	}
	return n
}

// testLog writes Options.Log lines to the test log.
type testLog struct{ tb testing.TB }

// Write logs p as one test log entry.
func (l testLog) Write(p []byte) (int, error) {
	l.tb.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartShared starts a node for all the tests of a package, from TestMain:
// in a temporary directory, set up as StartT does. Call stop when the tests
// are done; it stops the node and removes the directory.
func StartShared() (n *Node, stop func(), err error) {
	dir, err := os.MkdirTemp("", "regtest-shared-")
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	n, err = Start(ctx, Options{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout+5*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
		os.RemoveAll(dir)
	}
	if err := n.Setup(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	return n, stop, nil
}

// Lazy is the node a test binary shares, started by StartShared when a
// test first asks for it: a binary whose tests need no node (fuzz
// processes, or a -run that picks such tests) starts none. The zero value
// is ready; call Stop when the tests are done (TestMain).
type Lazy struct {
	once sync.Once
	node *Node
	stop func()
	err  error
}

// Get returns the node, starting it on first use; a node that cannot
// start fails tb.
func (l *Lazy) Get(tb testing.TB) *Node {
	tb.Helper()
	l.once.Do(func() { l.node, l.stop, l.err = StartShared() })
	if l.err != nil {
		tb.Fatalf("regtest node: %v", l.err)
	}
	return l.node
}

// Stop stops the node if it was started.
func (l *Lazy) Stop() {
	if l.stop != nil {
		l.stop()
	}
}

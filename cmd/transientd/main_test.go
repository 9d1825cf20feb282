package main

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// This file holds the package's TestMain and the helpers its tests share:
// add tests beside it, not another TestMain.

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

var (
	nodeOnce sync.Once
	shared   *regtest.Node
	nodeErr  error
	nodeDir  string
)

func runTests(m *testing.M) int {
	code := pgtest.Run(m)
	if shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = shared.Stop(ctx)
		os.RemoveAll(nodeDir)
	}
	return code
}

// sharedNode returns the litecoind every test of the package that needs a
// node shares, started on first use. Tests make their own payments on it
// and their own databases, so they stay independent.
func sharedNode(t *testing.T) *regtest.Node {
	t.Helper()
	nodeOnce.Do(func() {
		nodeDir, nodeErr = os.MkdirTemp("", "transientd-cli-regtest-")
		if nodeErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared, nodeErr = regtest.Start(ctx, regtest.Options{Dir: nodeDir})
		if nodeErr == nil {
			nodeErr = shared.Setup(ctx)
		}
	})
	if nodeErr != nil {
		t.Fatalf("regtest node: %v", nodeErr)
	}
	return shared
}

// result is what one run of the command line gave.
type result struct {
	err            error
	stdout, stderr string
}

// code is the exit status main would use.
func (r result) code() int { return exitCode(r.err) }

// cli runs transientd with args in an environment of its own (env, and no
// .env file).
func cli(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return cliContext(context.Background(), t, env, args...)
}

func cliContext(ctx context.Context, t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == "TRANSIENT_ENV_FILE" {
			return "/nonexistent/.env"
		}
		return env[k]
	}
	err := run(ctx, args, getenv, &stdout, &stderr)
	return result{err: err, stdout: stdout.String(), stderr: stderr.String()}
}

// must fails the test unless the command succeeded, and returns its stdout.
func (r result) must(t *testing.T, what string) string {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", what, r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// dbEnv is the environment of the database commands on a fresh database.
func dbEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)}
}

// nodeEnv is the full configuration: a fresh database and coin LTC on the
// shared node's merchant wallet.
func nodeEnv(t *testing.T) map[string]string {
	t.Helper()
	node := sharedNode(t)
	return map[string]string{
		"DATABASE_URL":      pgtest.NewDatabase(t),
		"COINS":             "LTC",
		"LTC_RPC_URL":       node.URL(regtest.MerchantWallet),
		"LTC_CONFIRMATIONS": "1",
		"API_KEYS":          "cli-test-key-0123456789",
	}
}

// syncBuffer is a bytes.Buffer safe for a command's goroutine and the test.
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

// waitFor polls cond every 20 ms until it holds, or fails after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// must returns v, or panics (failing the test) on err: for setup steps that
// do not fail unless the machine is broken.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

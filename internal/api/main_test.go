package api

import (
	"os"
	"sync"
	"testing"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// The litecoind every test of this package that needs a node shares; each
// test makes its own database and its own payments, so they stay
// independent. It starts on first use: the fuzz targets, whose processes
// run many times, need none.
var (
	nodeOnce sync.Once
	shared   *regtest.Node
	stopNode func()
	nodeErr  error
)

// testNode returns the shared node, starting it on first use.
func testNode(tb testing.TB) *regtest.Node {
	tb.Helper()
	nodeOnce.Do(func() { shared, stopNode, nodeErr = regtest.StartShared() })
	if nodeErr != nil {
		tb.Fatalf("regtest node: %v", nodeErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer func() {
		if stopNode != nil {
			stopNode()
		}
	}()
	return pgtest.Run(m)
}

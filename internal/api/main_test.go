package api

import (
	"os"
	"testing"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// sharedNode is the litecoind every test of this package that needs a
// node shares; each test makes its own database and its own payments, so
// they stay independent. It starts on first use: the fuzz targets, whose
// processes run many times, need none.
var sharedNode regtest.Lazy

// testNode returns the shared node, starting it on first use.
func testNode(tb testing.TB) *regtest.Node {
	tb.Helper()
	return sharedNode.Get(tb)
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer sharedNode.Stop()
	return pgtest.Run(m)
}

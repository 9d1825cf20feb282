package api

import (
	"fmt"
	"os"
	"testing"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// node is the litecoind every test of this package shares; each test makes
// its own database and its own payments, so they stay independent.
var node *regtest.Node

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var (
		stop func()
		err  error
	)
	node, stop, err = regtest.StartShared()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	return pgtest.Run(m)
}

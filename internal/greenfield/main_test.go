package greenfield

import (
	"os"
	"testing"

	"github.com/transient-gateway/transient/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestBenchSmoke runs make bench's workloads with tiny counts against a
// stack of its own, so the benchmark keeps working: it checks that every
// row is there and measured, not the numbers.
func TestBenchSmoke(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../transientd", "../notify-tx", "../notify-block")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	report := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(report, []byte("# Benchmarks\n\n## Latest run\n\n| figure |\n|---|\n| an older row |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "-smoke", "-bin", bin, "-database-url", pgtest.ServerURL(), "-out", report},
		func(string) string { return "" }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench -smoke: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	table := stdout.String()
	for _, want := range []string{
		"| RSS idle after start | ",
		"| POST /payments, pool off, 16 conn. | ", "node getnewaddress: ",
		"| POST /payments, full pool, 16 conn. | ", "PostgreSQL INSERT: ",
		"- PostgreSQL alone doing a create's statements (", " of the INSERT (",
		"| GET /payments/{id}, 32 conn. | ", "PostgreSQL point SELECT of the payment and its outputs, 20 conn.: ",
		"- CPU per GET /payments/{id}: load generator ",
		"| notify-tx, spawn + POST, one at a time | ",
		"| hint burst: ", "node gettransaction, 16 conn.: ",
		"- CPU of the hint burst, first hint until every job worked off ", " + node ",
		"- hints alone: the ", "- bound: ",
		"| broadcast → PENDING webhook received, 20 tx/s", "| broadcast → PENDING webhook received, 100 tx/s",
		"- broadcast → PENDING webhook, 100 tx/s, by stage, p50/p90/p99 in ms over ",
		"| webhook delivery, ", "receiver's own rate",
		"| RSS 5 s after the loads | ",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the table has no %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "failed: ") {
		t.Errorf("a workload failed:\n%s", table)
	}
	doc, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	latest, previous := section(string(doc), latestHeading), section(string(doc), previousHeading)
	if !strings.Contains(latest, "- machine: ") || !strings.Contains(latest, "| hint burst: ") {
		t.Errorf("the report's latest run lacks the machine or the table:\n%s", doc)
	}
	if !strings.Contains(previous, "| an older row |") {
		t.Errorf("the report dropped the previous run's table:\n%s", doc)
	}
}

// TestBenchSet: -set adds a setting to transientd's environment after the
// bench's own, and refuses a malformed one or one the bench sets itself.
func TestBenchSet(t *testing.T) {
	for _, bad := range []string{"GOMAXPROCS", "=1", "ADDRESS_POOL_SIZE=0", "METRICS_ADDR=127.0.0.1:1"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"bench", "-smoke", "-set", bad}, func(string) string { return "" }, &stdout, &stderr)
		if err == nil || !strings.Contains(stderr.String(), "invalid value") {
			t.Errorf("-set %s: err %v, stderr %q; want it refused", bad, err, stderr.String())
		}
	}
	b := &benchRun{scale: smokeScale, settings: []string{"GOMAXPROCS=1", "LOG_LEVEL=debug"}}
	env := b.daemonEnv(40)
	if got := env[len(env)-2:]; got[0] != "GOMAXPROCS=1" || got[1] != "LOG_LEVEL=debug" {
		t.Errorf("daemonEnv ends with %q, want the -set settings last", got)
	}
	if env[0] != "ADDRESS_POOL_SIZE=40" {
		t.Errorf("daemonEnv starts with %q, want the bench's own settings kept", env[0])
	}
}

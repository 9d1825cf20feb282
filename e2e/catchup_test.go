package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// catchUpInterval is the CATCHUP_INTERVAL of the catch-up tests: long
// enough that a scan on start and a scan on the interval differ.
const catchUpInterval = 2 * time.Second

// timeToFind pays p while no process is told (no hooks), runs restart, and
// returns how long after the start of restart the payment was PENDING on d.
func timeToFind(t *testing.T, node *regtest.Node, d *daemon, p payment, restart func(), limit time.Duration) time.Duration {
	t.Helper()
	if _, err := node.Send(context.Background(), regtest.MinerWallet, p.Address, 10_000_000, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	restart()
	d.waitStatus(p.ID, "PENDING", limit+10*time.Second)
	took := time.Since(start)
	if took > limit {
		t.Errorf("payment found %s after the restart, want within %s", took.Round(time.Millisecond), limit)
	}
	return took
}

// TestCatchUpOnStart pays a payment while transientd is down and measures
// how soon after the restart it is found, with no hooks: after SIGKILL and
// after a clean stop, a restarted process scans the chain at once instead of
// waiting for the dead process's leadership of the job queue to lapse.
func TestCatchUpOnStart(t *testing.T) {
	node := startNode(t, "")
	env := append(coinEnv(node), fmt.Sprintf("CATCHUP_INTERVAL=%s", catchUpInterval))
	d := startDaemon(t, env...)

	p := d.create("LTC", "0.1")
	d.kill()
	killed := timeToFind(t, node, d, p, d.restart, catchUpInterval+5*time.Second)

	p = d.create("LTC", "0.1")
	d.stop()
	stopped := timeToFind(t, node, d, p, d.restart, 5*time.Second)
	t.Logf("CATCHUP_INTERVAL=%s: found %s after a restart from SIGKILL, %s after a restart from a clean stop",
		catchUpInterval, killed.Round(time.Millisecond), stopped.Round(time.Millisecond))
}

// TestCatchUpSurvivorNotDelayed runs two processes on one database, kills
// the one that started first (the job queue's leader), pays, and expects
// the survivor to find the payment on its own interval.
func TestCatchUpSurvivorNotDelayed(t *testing.T) {
	node := startNode(t, "")
	db := pgtest.NewDatabase(t)
	env := append(coinEnv(node), "DATABASE_URL="+db, fmt.Sprintf("CATCHUP_INTERVAL=%s", catchUpInterval))
	first := startDaemon(t, env...)
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var leaders int
	waitFor(t, 30*time.Second, func() bool {
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM river_leader`).Scan(&leaders)
		return leaders == 1
	}, func() string { return "the first process never became the job queue's leader" })
	second := startDaemon(t, env...)

	p := second.create("LTC", "0.1")
	took := timeToFind(t, node, second, p, first.kill, catchUpInterval+5*time.Second)
	t.Logf("CATCHUP_INTERVAL=%s: the survivor found the payment %s after the other process was killed",
		catchUpInterval, took.Round(time.Millisecond))
}

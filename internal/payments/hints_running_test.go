package payments

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestHintWhileItsJobRunsIsKept: a hint for a transaction whose job is
// running is not a duplicate: the running job may have read the node before
// what the hint announces (a confirmation, say). It is stored to run after
// it, once, through both the direct and the batched path.
func TestHintWhileItsJobRunsIsKept(t *testing.T) {
	pool, svc := hintService(t)
	ctx := context.Background()
	const txid = "69f1a9c8b0e0b0ab1a2c3a7e2a4a3c1f2a6bb2f2c8b3c9b0f1e2d3c4b5a69788"
	hints := func() (available, running int, after []int64) {
		rows, err := pool.Query(ctx, `SELECT state, coalesce((args->>'after')::bigint, 0) FROM river_job WHERE kind = 'tx_hint' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				state string
				a     int64
			)
			if err := rows.Scan(&state, &a); err != nil {
				t.Fatal(err)
			}
			switch state {
			case "available":
				available++
			case "running":
				running++
			}
			after = append(after, a)
		}
		return available, running, after
	}
	for _, path := range []struct {
		name string
		hint func() error
	}{
		{"direct", func() error { return svc.HintTx(ctx, "LTC", txid) }},
		{"batched", func() error {
			return svc.storeHints(ctx, []hintArgs{{TxHintArgs{Coin: "LTC", TxID: txid}, "tx LTC " + txid}})
		}},
	} {
		if _, err := pool.Exec(ctx, `DELETE FROM river_job`); err != nil {
			t.Fatal(err)
		}
		if err := path.hint(); err != nil {
			t.Fatal(err)
		}
		var first int64
		if err := pool.QueryRow(ctx, `UPDATE river_job SET state = 'running', attempted_at = now(), attempt = 1 WHERE kind = 'tx_hint' RETURNING id`).Scan(&first); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second is a duplicate of the follow-up
			if err := path.hint(); err != nil {
				t.Fatal(err)
			}
		}
		available, running, after := hints()
		if available != 1 || running != 1 || len(after) != 2 || after[1] != first {
			t.Fatalf("%s: %d available, %d running, after %v; want one follow-up after job %d", path.name, available, running, after, first)
		}
	}
}

// TestQueuedHintSkipsTheInsert: a hint whose job is stored and not yet
// started is answered by that job without writing its row (River's unique
// insert would lock and rewrite it); a hint whose job runs still gets its
// follow-up, and one whose job has completed a job of its own.
func TestQueuedHintSkipsTheInsert(t *testing.T) {
	pool, svc := hintService(t)
	ctx := context.Background()
	const txid = "79f1a9c8b0e0b0ab1a2c3a7e2a4a3c1f2a6bb2f2c8b3c9b0f1e2d3c4b5a69788"
	hint := func() {
		t.Helper()
		if err := svc.storeHints(ctx, []hintArgs{{TxHintArgs{Coin: "LTC", TxID: txid}, "tx LTC " + txid}}); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		id    int64
		state string
		after int64
		xmin  string
	}
	list := func() []row {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT id, state, coalesce((args->>'after')::bigint, 0), xmin::text FROM river_job WHERE kind = 'tx_hint' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.state, &r.after, &r.xmin); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}

	hint()
	first := list()
	if len(first) != 1 || first[0].state != "available" {
		t.Fatalf("after one hint: %+v, want one available job", first)
	}
	hint()
	hint()
	if got := list(); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("after two more hints: %+v, want the job untouched: %+v", got, first[0])
	}

	// Its job runs: the hint is kept, to run after it, and the running
	// job's row is not written.
	if _, err := pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempted_at = now(), attempt = 1 WHERE id = $1`, first[0].id); err != nil {
		t.Fatal(err)
	}
	running := list()[0]
	hint()
	hint()
	got := list()
	if len(got) != 2 || got[0] != running || got[1].after != first[0].id || got[1].state != "available" {
		t.Fatalf("hints while job %d runs: %+v, want it untouched and one follow-up after it", first[0].id, got)
	}

	// Both completed: the next hint runs again.
	if _, err := pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now()`); err != nil {
		t.Fatal(err)
	}
	hint()
	got = list()
	if len(got) != 3 || got[2].state != "available" || got[2].after != 0 {
		t.Fatalf("a hint after its jobs completed: %+v, want a new job", got)
	}
}

// hintService is a Service for LTC on a fresh database whose River client
// only inserts, so the hint jobs it stores stay where the test puts them.
func hintService(t *testing.T) (*pgxpool.Pool, *Service) {
	t.Helper()
	pool := pgtest.NewPool(t)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return pool, NewService(pool, Config{Coins: []Coin{{Code: "LTC"}}, Jobs: jobs})
}

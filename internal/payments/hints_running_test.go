package payments

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestHintWhileItsJobRunsIsKept: a hint for a transaction whose job is
// running is not a duplicate: the running job may have read the node before
// what the hint announces (a confirmation, say). It is stored to run after
// it, once, through both the direct and the batched path.
func TestHintWhileItsJobRunsIsKept(t *testing.T) {
	pool := pgtest.NewPool(t)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(pool, Config{Coins: []Coin{{Code: "LTC"}}, Jobs: jobs})
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

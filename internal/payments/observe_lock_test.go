package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestLockObservedUsesIndexes checks that lockObservedSQL finds the payments
// an observation touches (by address and by an output already stored, each
// once, in id order, of the observed coin only) through indexes: its plan,
// generic as a prepared statement's becomes, never reads the whole payments
// table, whose size grows with every payment ever created.
func TestLockObservedUsesIndexes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	const n = 5000
	if _, err := pool.Exec(ctx, `
		INSERT INTO payments (id, coin, amount, address, confirmations_required)
		SELECT gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'DOGE' ELSE 'LTC' END, 100000, 'addr' || i, 2
		FROM generate_series(1, $1) AS i`, n); err != nil {
		t.Fatal(err)
	}
	id := func(addr string) uuid.UUID {
		var v uuid.UUID
		if err := pool.QueryRow(ctx, `SELECT id FROM payments WHERE address = $1`, addr).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	txA, txB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	// addr7 and addr8 have outputs of txA; addr20 (DOGE) one of txB with
	// the same txid on another coin, which must not be locked.
	for _, o := range []struct {
		coin, txid, addr string
		vout             int
	}{{"LTC", txA, "addr7", 0}, {"LTC", txA, "addr8", 1}, {"DOGE", txA, "addr20", 0}, {"LTC", txB, "addr9", 0}} {
		if _, err := pool.Exec(ctx, `
			INSERT INTO payment_outputs (coin, txid, vout, payment_id, amount, confirmations, first_seen_at, observed_at, updated_at, received_at)
			VALUES ($1, $2, $3, $4, 100000, 0, now(), now(), now(), now())`, o.coin, o.txid, o.vout, id(o.addr)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE payments; ANALYZE payment_outputs`); err != nil {
		t.Fatal(err)
	}

	// addr7 both by address and through txA: once. addr30 is DOGE.
	addrs := []string{"addr3", "addr7", "addr30", "no-such-address"}
	want := []uuid.UUID{id("addr3"), id("addr7"), id("addr8")}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockObservedSQL, "LTC", addrs, []string{txA})
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (uuid.UUID, error) {
			var (
				v    uuid.UUID
				addr string
			)
			err := r.Scan(&v, &addr)
			return v, err
		})
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("locked %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The plan a prepared statement settles on after a few runs.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `PREPARE lock_observed(text, text[], text[]) AS `+lockObservedSQL); err != nil {
			return err
		}
		var plan []byte
		if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE lock_observed('LTC', '{addr3,addr7}', '{`+txA+`}')`).
			Scan(&plan); err != nil {
			return err
		}
		var doc []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(plan, &doc); err != nil {
			return err
		}
		return checkPlan(doc[0].Plan, n)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// planNode is the part of an EXPLAIN (FORMAT JSON) node the test reads.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Removed  float64    `json:"Rows Removed by Filter"`
	Actual   float64    `json:"Actual Rows"`
	Plans    []planNode `json:"Plans"`
}

// checkPlan fails when a node of p scans payments sequentially or reads a
// sizeable part of a table of n rows to find the few it returns.
func checkPlan(p planNode, n int) error {
	if p.Relation == "payments" && p.NodeType == "Seq Scan" {
		return fmt.Errorf("payments read by a sequential scan")
	}
	if p.Removed+p.Actual > float64(n)/10 {
		return fmt.Errorf("%s on %q went through %.0f rows", p.NodeType, p.Relation, p.Removed+p.Actual)
	}
	for _, c := range p.Plans {
		if err := checkPlan(c, n); err != nil {
			return err
		}
	}
	return nil
}

package payments

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestDecodeGetRowMatchesScan: Store.Get's decoding of GetSQL's raw
// values gives the very payment rows.Scan gives, for payments with and
// without outputs, NULLs, odd text and metadata, and times at the edges;
// where it declines a value (an infinite or far time) the read answers
// what Scan answers.
func TestDecodeGetRowMatchesScan(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	insert := func(t *testing.T, cols, values string) uuid.UUID {
		t.Helper()
		id := uuid.New()
		sql := `INSERT INTO payments (id, coin, amount, confirmations_required, address` + cols + `)
			VALUES ($1, 'LTC', 150000000, 6, $2` + values + `)`
		if _, err := pool.Exec(ctx, sql, id, "rltc1q"+strings.ReplaceAll(id.String(), "-", "")); err != nil {
			t.Fatal(err)
		}
		return id
	}
	output := func(t *testing.T, id uuid.UUID, vout int, extra string) {
		t.Helper()
		txid := strings.Repeat(string("0123456789abcdef"[vout%16]), 64)
		if _, err := pool.Exec(ctx, `INSERT INTO payment_outputs (coin, txid, vout, payment_id, amount, confirmations,
			conflicted, replaceable, block_hash, block_height, first_seen_at, observed_at, updated_at, received_at)
			VALUES ('LTC', $1, $2, $3, 1000 + $2, 3 - $2, $2 = 1, $2 = 2, `+extra+`)`, txid, vout, id); err != nil {
			t.Fatal(err)
		}
	}
	plain := insert(t, "", "")
	full := insert(t, `, label, status, amount_received, amount_confirmed, overpaid, paid_late, tolerance_bp,
		expires_at, pending_since, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
		settle_confirmations, monitoring_window_seconds`,
		`, 'shop "ü" <&>', 'PENDING', 160000000, 150000000, true, true, 250,
		'2026-11-30 01:02:03.456789+00', '1969-07-20 20:17:40.000001+00', 'o-1 ✓', '{"cart": [1, 2.50], "n": null, "s": "\u00e9\n"}',
		'0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999+00', 'https://shop.example/cb', 'https://shop.example/back',
		2, 7200`)
	for vout := range 3 {
		extra := `'00ab', 100 + $2, now(), now(), '2026-11-29 04:00:00.5+00', '2000-01-01 00:00:00+00'`
		if vout == 2 {
			extra = `NULL, NULL, '1999-12-31 23:59:59.999999+00', now(), now(), now()`
		}
		output(t, full, vout, extra)
	}
	far := insert(t, `, created_at`, `, '12000-01-01 00:00:00+00'`)
	infinite := insert(t, `, expires_at`, `, 'infinity'`)

	read := func(t *testing.T, id uuid.UUID, raw bool) (*Payment, bool, error) {
		t.Helper()
		rows, err := pool.Query(ctx, GetSQL, [16]byte(id))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if raw && !rawGetColumns(rows.FieldDescriptions()) {
			t.Fatalf("GetSQL's columns are not the ones decodeGetRow reads: %v", rows.FieldDescriptions())
		}
		return readGet(rows, raw)
	}
	for name, id := range map[string]uuid.UUID{"plain": plain, "full with outputs": full, "year 12000": far,
		"infinite expiry": infinite, "missing": uuid.New()} {
		t.Run(name, func(t *testing.T) {
			want, wantFound, wantErr := read(t, id, false)
			got, gotFound, gotErr := read(t, id, true)
			if gotFound != wantFound || (gotErr == nil) != (wantErr == nil) ||
				(gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("decoded: found %v, %v; scanned: found %v, %v", gotFound, gotErr, wantFound, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded:\n%+v\nscanned:\n%+v", got, want)
			}
		})
	}
	if p, _, _ := read(t, full, true); len(p.Outputs) != 3 || p.Metadata == nil || p.MonitoringWindow == 0 || p.PendingSince.IsZero() {
		t.Errorf("the full payment is not read whole: %+v", p)
	}
	for id, want := range map[uuid.UUID]bool{plain: true, full: true, far: false, infinite: false} {
		rows, err := pool.Query(ctx, GetSQL, [16]byte(id))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row getRow
			if got := decodeGetRow(rows.RawValues(), &row); got != want {
				t.Errorf("decodeGetRow of a row of %s: %v, want %v", id, got, want)
			}
		}
		rows.Close()
	}
	if _, _, err := read(t, infinite, true); err == nil {
		t.Error("an infinite expiry reads without error; Scan refuses it")
	}

	// Through Store.Get, as the API reads.
	store := NewStore(pool)
	if _, err := store.Get(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing payment: %v, want ErrNotFound", err)
	}
	p, err := store.Get(ctx, full)
	if err != nil || p.ID != full || len(p.Outputs) != 3 {
		t.Fatalf("Get: %+v, %v", p, err)
	}
}

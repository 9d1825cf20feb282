package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// e2eTiming is one transaction of the end-to-end load: when the load
// generator broadcast it and when the receiver got its payment's PENDING
// webhook.
type e2eTiming struct {
	payment        uuid.UUID
	txid           string
	sent, received time.Time
}

// e2eStageNames name the stages the time from broadcast to webhook is split
// into, in order; they add up to the whole.
var e2eStageNames = []string{
	"broadcast → hint stored",                // the node, walletnotify, notify-tx, POST /notify/tx
	"hint stored → its job started",          // River's detection queue
	"job started → PENDING recorded",         // the node read and the status change, up to the delivery's row
	"PENDING recorded → webhook job started", // the rest of that transaction, its commit, the webhook queue
	"webhook job started → received",         // loading, claiming and sending the delivery
}

// e2eStagesSQL reads, for each payment $1[i] paid by transaction $2[i], when
// its first tx hint was stored and started, when its PENDING delivery was
// recorded (transientd's clock, inside the status change's transaction)
// and when that delivery's job started, among the jobs and deliveries
// created since $3. River's jobs stay in river_job after they complete.
// Each table is read once and joined by hash: a lookup per transaction
// through the GIN index on args went through its pending list, thousands
// of entries after the hint burst, each time (seconds for 200
// transactions, between two loads).
const e2eStagesSQL = `
	WITH hints AS (
		SELECT args ->> 'txid' AS txid, min(created_at) AS stored, min(attempted_at) AS started
		FROM river_job WHERE kind = 'tx_hint' AND created_at >= $3
		GROUP BY 1),
	deliveries AS (
		SELECT d.payment_id, d.created_at AS recorded, j.attempted_at AS started
		FROM webhook_deliveries d
		JOIN river_job j ON j.kind = 'webhook_delivery' AND j.created_at >= $3 AND j.args ->> 'delivery_id' = d.id::text
		WHERE d.created_at >= $3 AND convert_from(d.body, 'UTF8')::jsonb ->> 'status' = 'PENDING')
	SELECT t.payment_id, h.stored, h.started, d.recorded, d.started
	FROM unnest($1::uuid[], $2::text[]) AS t (payment_id, txid)
	JOIN hints h ON h.txid = t.txid
	JOIN deliveries d ON d.payment_id = t.payment_id
	WHERE h.started IS NOT NULL AND d.started IS NOT NULL`

// e2eStageNote splits the end-to-end time of ts into e2eStageNames from
// the timestamps transientd left in the database, and returns a note line
// with each stage's p50, p90 and p99.
func (b *benchRun) e2eStageNote(ctx context.Context, what string, ts []e2eTiming) (string, error) {
	ids := make([]uuid.UUID, len(ts))
	txids := make([]string, len(ts))
	byID := make(map[uuid.UUID]e2eTiming, len(ts))
	var since time.Time
	for i, t := range ts {
		ids[i], txids[i] = t.payment, t.txid
		byID[t.payment] = t
		if since.IsZero() || t.sent.Before(since) {
			since = t.sent
		}
	}
	// A minute of margin: the database's clock may lag the generator's.
	rows, err := b.db.Query(ctx, e2eStagesSQL, ids, txids, since.Add(-time.Minute))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	stages := make([][]time.Duration, len(e2eStageNames))
	seen := make(map[uuid.UUID]bool, len(ts))
	for rows.Next() {
		var (
			id    uuid.UUID
			marks [4]time.Time
		)
		if err := rows.Scan(&id, &marks[0], &marks[1], &marks[2], &marks[3]); err != nil {
			return "", err
		}
		t, ok := byID[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		for i, d := range stageDurations(t, marks) {
			stages[i] = append(stages[i], d)
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return formatStages(what, len(seen), stages), nil
}

// stageDurations splits t's time from broadcast to webhook at marks: hint
// stored, its job started, PENDING recorded, the webhook job started.
func stageDurations(t e2eTiming, marks [4]time.Time) []time.Duration {
	points := append(append([]time.Time{t.sent}, marks[:]...), t.received)
	out := make([]time.Duration, len(points)-1)
	for i := range out {
		out[i] = points[i+1].Sub(points[i])
	}
	return out
}

// formatStages is the note line for stages (one list per e2eStageNames,
// in any order) measured over n transactions.
func formatStages(what string, n int, stages [][]time.Duration) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		s = slices.Clone(s)
		slices.Sort(s)
		parts[i] = fmt.Sprintf("%s %s/%s/%s", e2eStageNames[i], msTenths(percentile(s, 50)),
			msTenths(percentile(s, 90)), msTenths(percentile(s, 99)))
	}
	return fmt.Sprintf("%s, by stage, p50/p90/p99 in ms over %d tx (transientd's timestamps): %s",
		what, n, strings.Join(parts, "; "))
}

// msTenths is d in milliseconds with one decimal, without the unit.
func msTenths(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

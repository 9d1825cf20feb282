package main

import (
	"strings"
	"testing"
	"time"
)

// TestStagesAddUpToTheWhole checks that the stages of one transaction
// cover its time from broadcast to webhook, in order, and that the note
// gives each stage's percentiles under its name.
func TestStagesAddUpToTheWhole(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	tx := e2eTiming{sent: t0, received: at(40)}
	d := stageDurations(tx, [4]time.Time{at(5), at(12.5), at(20), at(30)})
	want := []time.Duration{5 * time.Millisecond, 7500 * time.Microsecond, 7500 * time.Microsecond, 10 * time.Millisecond, 10 * time.Millisecond}
	if len(d) != len(e2eStageNames) {
		t.Fatalf("%d stages, want %d", len(d), len(e2eStageNames))
	}
	var sum time.Duration
	for i := range d {
		if d[i] != want[i] {
			t.Errorf("stage %q: %s, want %s", e2eStageNames[i], d[i], want[i])
		}
		sum += d[i]
	}
	if sum != tx.received.Sub(tx.sent) {
		t.Errorf("stages add up to %s, want %s", sum, tx.received.Sub(tx.sent))
	}

	stages := make([][]time.Duration, len(e2eStageNames))
	for i := range stages {
		for ms := 100; ms >= 1; ms-- { // unsorted: formatStages sorts
			stages[i] = append(stages[i], time.Duration(ms*(i+1))*time.Millisecond)
		}
	}
	line := formatStages("broadcast → PENDING webhook, 100 tx/s", 100, stages)
	for _, part := range []string{
		"broadcast → PENDING webhook, 100 tx/s, by stage, p50/p90/p99 in ms over 100 tx",
		"broadcast → hint stored 50.0/90.0/99.0;",
		"webhook job started → received 250.0/450.0/495.0",
	} {
		if !strings.Contains(line, part) {
			t.Errorf("the note has no %q: %s", part, line)
		}
	}
}

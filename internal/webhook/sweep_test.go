package webhook

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestSweep loses the jobs of pending deliveries, as River does when a
// worker fails 25 times (discarded) or its cleaner deletes the job, and
// expects the sweep to queue them again (and the queue to deliver them), or
// to end one that was tried and is past its maximum age; a delivery with a
// live job is left alone. The delivery log and Config.Swept say what
// happened.
func TestSweep(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		w.WriteHeader(http.StatusOK)
	})
	var (
		mu    sync.Mutex
		swept = map[string]int{}
	)
	cfg := Config{URL: rc.srv.URL, Backoff: fastBackoff, MaxAge: time.Hour, Swept: func(action string) {
		mu.Lock()
		swept[action]++
		mu.Unlock()
	}}
	p := newProcess(t, pool, cfg, false)
	discarded, deleted, aged, live := newMessage(), newMessage(), newMessage(), newMessage()
	for _, m := range []Message{discarded, deleted, aged, live} {
		enqueue(t, p.outbox, m)
	}
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	jobOf := `(SELECT id::text FROM webhook_deliveries WHERE event_id = $1)`
	exec(`UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE args->>'delivery_id' = `+jobOf, discarded.EventID)
	exec(`DELETE FROM river_job WHERE args->>'delivery_id' = `+jobOf, deleted.EventID)
	// Tried once, two hours ago, and lost its job: past the 1 h maximum age.
	exec(`DELETE FROM river_job WHERE args->>'delivery_id' = `+jobOf, aged.EventID)
	exec(`UPDATE webhook_deliveries SET created_at = now() - interval '2 hours', attempts = 1, last_error = 'HTTP 503'
		WHERE event_id = $1`, aged.EventID)
	exec(`INSERT INTO webhook_attempts (delivery_id, number, attempted_at, duration_ms, http_status, error)
		SELECT id, 1, now() - interval '2 hours', 5, 503, 'HTTP 503' FROM webhook_deliveries WHERE event_id = $1`, aged.EventID)

	res, err := p.outbox.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Swept{Requeued: 2, Dead: 1}) {
		t.Fatalf("sweep: got %+v, want 2 requeued and 1 dead", res)
	}
	if swept["requeued"] != 2 || swept["dead"] != 1 {
		t.Errorf("Config.Swept: got %v, want requeued 2, dead 1", swept)
	}
	for _, m := range []Message{discarded, deleted} {
		d := deliveries(t, p.outbox, m.EventID)[0]
		if d.State != StatePending || !strings.Contains(d.LastError, "job was lost: queued again") {
			t.Errorf("requeued delivery: got %s %q, want pending with the reason", d.State, d.LastError)
		}
	}
	d := deliveries(t, p.outbox, aged.EventID)[0]
	if d.State != StateDead || !strings.Contains(d.LastError, "maximum age has passed") ||
		!strings.Contains(d.LastError, "last attempt: HTTP 503") || d.CompletedAt == nil {
		t.Errorf("aged delivery: got %s %q, want dead with the reason and its last error", d.State, d.LastError)
	}
	if d := deliveries(t, p.outbox, live.EventID)[0]; d.LastError != "" {
		t.Errorf("delivery with a live job: got last error %q, want it untouched", d.LastError)
	}
	if res, err := p.outbox.Sweep(ctx); err != nil || res != (Swept{}) {
		t.Errorf("second sweep: got %+v, %v; want nothing to do", res, err)
	}

	p.start(t)
	for _, m := range []Message{discarded, deleted, live} {
		// The discarded job stays beside the new one, so wait on the log.
		waitFor(t, 15*time.Second, "delivery of event "+m.EventID.String(), func() bool {
			d := deliveries(t, p.outbox, m.EventID)[0]
			return d.State == StateDelivered && d.LastError == ""
		})
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3 (the aged delivery is not retried)", n)
	}
}

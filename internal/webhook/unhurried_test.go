package webhook

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// TestUnhurriedDeliveries: the jobs of an Unhurried message go through
// Config.UnhurriedJobs, the others through the outbox's own client, and
// both are delivered.
func TestUnhurriedDeliveries(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	var unhurriedInserts atomic.Int64
	unhurried, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: slog.New(slog.DiscardHandler),
		Middleware: []rivertype.Middleware{river.JobInsertMiddlewareFunc(
			func(ctx context.Context, params []*rivertype.JobInsertParams, inner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
				unhurriedInserts.Add(int64(len(params)))
				return inner(ctx)
			})},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Backoff: fastBackoff, UnhurriedJobs: unhurried}, true)

	urgent := newMessage()
	enqueue(t, p.outbox, urgent)
	if n := unhurriedInserts.Load(); n != 0 {
		t.Errorf("a message that is not Unhurried went through UnhurriedJobs (%d jobs)", n)
	}
	calm := newMessage()
	calm.Unhurried = true
	enqueue(t, p.outbox, calm)
	if n := unhurriedInserts.Load(); n != 1 {
		t.Errorf("jobs inserted through UnhurriedJobs for an Unhurried message: got %d, want 1", n)
	}
	for _, ev := range []Message{urgent, calm} {
		if ds := waitSettled(t, p.outbox, ev.EventID, 1, 15*time.Second); ds[0].State != StateDelivered {
			t.Errorf("event %s (unhurried %t): state %s, want %s", ev.EventID, ev.Unhurried, ds[0].State, StateDelivered)
		}
	}
}

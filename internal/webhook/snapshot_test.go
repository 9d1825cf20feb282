package webhook

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// afterQuery is a pgx tracer that calls fn once, in the reading goroutine,
// after the first query whose SQL contains match has been read to the end.
type afterQuery struct {
	match string
	once  sync.Once
	fn    func()
}

type afterQueryKey struct{}

func (q *afterQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, afterQueryKey{}, strings.Contains(data.SQL, q.match))
}

func (q *afterQuery) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if hit, _ := ctx.Value(afterQueryKey{}).(bool); hit {
		q.once.Do(q.fn)
	}
}

// TestDeliveriesOneSnapshot records an attempt's outcome at the worst moment
// for a reader of the delivery log: right after the reader has read the
// delivery row. The log must show the finished attempt with the delivery row
// it updated, or neither; never a finished 429 beside a next attempt that is
// due before it.
func TestDeliveriesOneSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	p := newProcess(t, pool, Config{URL: "http://127.0.0.1:1/", Backoff: fastBackoff}, false)
	msg := newMessage()
	enqueue(t, p.outbox, msg)
	id := deliveries(t, p.outbox, msg.EventID)[0].ID

	// Claim attempt 1, as a worker does before its request.
	claimedAt := time.Now()
	_, err := pool.Exec(ctx, `
		WITH claimed AS (UPDATE webhook_deliveries SET attempts = 1 WHERE id = $1 RETURNING id)
		INSERT INTO webhook_attempts (delivery_id, number, attempted_at) SELECT id, 1, $2 FROM claimed`,
		id, claimedAt)
	if err != nil {
		t.Fatalf("claim attempt: %v", err)
	}

	cfg := pool.Config().Copy()
	recorded := false
	cfg.ConnConfig.Tracer = &afterQuery{match: "webhook_deliveries", fn: func() {
		end := claimedAt.Add(20 * time.Millisecond)
		next := end.Add(2 * time.Second)
		res := result{outcome: outcomeRetry, status: 429, err: "HTTP 429", retryAfter: 2 * time.Second}
		if err := p.outbox.record(ctx, &deliveryRow{id: id}, 1, res, 20*time.Millisecond, StatePending, &next, end); err != nil {
			t.Errorf("record: %v", err)
		}
		recorded = true
	}}
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("traced pool: %v", err)
	}
	t.Cleanup(traced.Close)
	reader := NewOutbox(traced, p.client, Config{})

	ds := deliveries(t, reader, msg.EventID)
	if !recorded {
		t.Fatal("the attempt was never recorded during the read")
	}
	if len(ds) != 1 || len(ds[0].Attempts) != 1 {
		t.Fatalf("got %d deliveries, want 1 with 1 attempt: %+v", len(ds), ds)
	}
	d := ds[0]
	a := d.Attempts[0]
	if !a.Finished {
		return // the read saw the claim alone, before the outcome: consistent
	}
	if d.NextAttemptAt == nil || d.LastError == "" {
		t.Fatalf("attempt finished (%d) but the delivery shows next %v, last error %q: read from two snapshots",
			a.HTTPStatus, d.NextAttemptAt, d.LastError)
	}
	if wait := d.NextAttemptAt.Sub(a.At); wait < 2*time.Second {
		t.Fatalf("attempt finished with a 429 but next attempt due %s after it, want at least 2s", wait)
	}
}

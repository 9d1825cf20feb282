package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// fastBackoff replaces the real schedule so retries take milliseconds.
func fastBackoff(int) time.Duration { return 10 * time.Millisecond }

// testLogger sends log lines to the test's log when -v is given.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// process is one "transientd": a River client working Queue with an
// Outbox's workers.
type process struct {
	outbox *Outbox
	client *river.Client[pgx.Tx]
}

// newProcess builds a River client with the webhook workers of an Outbox
// configured by cfg, wired as AddWorkers documents. It is started unless
// start is false, and stopped when the test ends.
func newProcess(t *testing.T, pool *pgxpool.Pool, cfg Config, start bool) *process {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	workers := river.NewWorkers()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:            map[string]river.QueueConfig{Queue: {MaxWorkers: 8}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
		TestOnly:          true,
	})
	if err != nil {
		t.Fatalf("river client: %v", err)
	}
	o := NewOutbox(pool, client, cfg)
	AddWorkers(workers, o)
	client.PeriodicJobs().AddMany(PeriodicJobs(o))
	p := &process{outbox: o, client: client}
	if start {
		p.start(t)
	}
	return p
}

func (p *process) start(t *testing.T) {
	t.Helper()
	if err := p.client.Start(context.Background()); err != nil {
		t.Fatalf("start river client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.client.Stop(ctx); err != nil {
			t.Errorf("stop river client: %v", err)
		}
	})
}

// request is what a receiver saw of one request.
type request struct {
	at         time.Time
	path       string
	eventID    string
	deliveryID string
	attempt    int
	header     http.Header
	body       []byte
}

// receiver is an HTTP server on loopback that records every request and
// answers through respond (200 when respond is nil).
type receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []request
	respond func(w http.ResponseWriter, r *http.Request, req request)
}

func newReceiver(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, req request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: read body: %v", err)
		}
		attempt, _ := strconv.Atoi(r.Header.Get(AttemptHeader))
		req := request{
			at:         time.Now(),
			path:       r.URL.Path,
			eventID:    r.Header.Get(EventIDHeader),
			deliveryID: r.Header.Get(DeliveryIDHeader),
			attempt:    attempt,
			header:     r.Header.Clone(),
			body:       body,
		}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, req)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(w, r, req)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// enqueue commits msg through o in a transaction of its own.
func enqueue(t *testing.T, o *Outbox, msg Message) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), o.pool, func(tx pgx.Tx) error {
		return o.Enqueue(context.Background(), tx, msg)
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

// newMessage returns a message for a fresh event with a JSON body.
func newMessage() Message {
	ev, pay := uuid.New(), uuid.New()
	return Message{
		EventID:   ev,
		PaymentID: pay,
		Body:      []byte(`{"payment_id":"` + pay.String() + `","status":"PAID","event_id":"` + ev.String() + `"}`),
	}
}

// deliveries returns the delivery log of one event.
func deliveries(t *testing.T, o *Outbox, eventID uuid.UUID) []Delivery {
	t.Helper()
	m, err := o.Deliveries(context.Background(), []uuid.UUID{eventID})
	if err != nil {
		t.Fatalf("deliveries: %v", err)
	}
	return m[eventID]
}

// waitSettled waits until the event has want deliveries, none pending and
// every delivery job finished in River, and returns the deliveries.
func waitSettled(t *testing.T, o *Outbox, eventID uuid.UUID, want int, timeout time.Duration) []Delivery {
	t.Helper()
	var ds []Delivery
	waitFor(t, timeout, "deliveries of event "+eventID.String()+" to settle", func() bool {
		ds = deliveries(t, o, eventID)
		if len(ds) != want {
			return false
		}
		for _, d := range ds {
			if d.State == StatePending || jobState(t, o.pool, d.ID) != "completed" {
				return false
			}
		}
		return true
	})
	return ds
}

// jobState returns the River state of a delivery's job.
func jobState(t *testing.T, pool *pgxpool.Pool, deliveryID uuid.UUID) string {
	t.Helper()
	var state string
	err := pool.QueryRow(context.Background(), `
		SELECT state FROM river_job WHERE kind = 'webhook_delivery' AND args->>'delivery_id' = $1`,
		deliveryID.String()).Scan(&state)
	if err != nil {
		t.Fatalf("job of delivery %s: %v", deliveryID, err)
	}
	return state
}

// count runs a SELECT count(*) query.
func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

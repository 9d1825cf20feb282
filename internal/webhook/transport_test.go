package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// sink is a Transport that records what it is given and fails as told.
type sink struct {
	mu   sync.Mutex
	got  []Outgoing
	fail func(n int) error // the error of the n-th call (1-based); nil = delivered
	// schedule, when set, is reported through RetrySchedule.
	delays []int
}

func (s *sink) Send(_ context.Context, out Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, out)
	if s.fail != nil {
		return s.fail(len(s.got))
	}
	return nil
}

func (s *sink) sent() []Outgoing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Outgoing(nil), s.got...)
}

// scheduledSink is a sink with its own retry schedule.
type scheduledSink struct {
	sink
	calls []int
	mu2   sync.Mutex
}

func (s *scheduledSink) Backoff(attempt int) time.Duration {
	s.mu2.Lock()
	s.calls = append(s.calls, attempt)
	s.mu2.Unlock()
	return 5 * time.Millisecond
}

func TestTransportDeliversItsKind(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Backoff: fastBackoff}, false)
	s := &sink{}
	p.outbox.AddTransport("test_sink", s)
	p.start(t)

	msg := newMessage()
	msg.Extra = []Destination{{URL: "sink://here?topic=a", Kind: "test_sink"}}
	enqueue(t, p.outbox, msg)
	ds := waitSettled(t, p.outbox, msg.EventID, 2, 10*time.Second)

	got := s.sent()
	if len(got) != 1 {
		t.Fatalf("transport got %d deliveries, want 1", len(got))
	}
	out := got[0]
	if out.EventID != msg.EventID || out.PaymentID != msg.PaymentID || out.Destination != "sink://here?topic=a" ||
		string(out.Body) != string(msg.Body) || out.Attempt != 1 || out.CreatedAt.IsZero() {
		t.Errorf("transport got %+v, want event %s payment %s, the destination, the message body, attempt 1",
			out, msg.EventID, msg.PaymentID)
	}
	// The HTTP destination still got its POST, and only it.
	if n := len(rc.requests()); n != 1 {
		t.Errorf("HTTP receiver got %d requests, want 1", n)
	}
	kinds := map[string]State{}
	for _, d := range ds {
		kinds[d.Kind] = d.State
		if d.Kind == "test_sink" && (d.ID != out.DeliveryID || len(d.Attempts) != 1 || !d.Attempts[0].Finished) {
			t.Errorf("sink delivery in the log: %+v, want id %s with one finished attempt", d, out.DeliveryID)
		}
	}
	if kinds["test_sink"] != StateDelivered || kinds[KindWebhook] != StateDelivered {
		t.Errorf("states by kind: %v, want both delivered", kinds)
	}
}

func TestTransportErrorsRetriedOnItsSchedule(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	// Config.Backoff is an hour: only the transport's own schedule can make
	// the retries come within the test's deadline.
	p := newProcess(t, pool, Config{Backoff: func(int) time.Duration { return time.Hour }}, false)
	s := &scheduledSink{}
	s.fail = func(n int) error {
		if n < 3 {
			return fmt.Errorf("broker said no (%d)", n)
		}
		return nil
	}
	p.outbox.AddTransport("test_sink", s)
	p.start(t)

	msg := newMessage()
	msg.Extra = []Destination{{URL: "sink://x", Kind: "test_sink"}}
	enqueue(t, p.outbox, msg)
	ds := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)
	d := ds[0]
	if d.State != StateDelivered || len(d.Attempts) != 3 {
		t.Fatalf("delivery: state %s with %d attempts, want delivered after 3", d.State, len(d.Attempts))
	}
	if d.Attempts[0].Error != "broker said no (1)" || d.Attempts[1].Error != "broker said no (2)" || d.Attempts[2].Error != "" {
		t.Errorf("attempt errors: %q, %q, %q", d.Attempts[0].Error, d.Attempts[1].Error, d.Attempts[2].Error)
	}
	s.mu2.Lock()
	defer s.mu2.Unlock()
	if fmt.Sprint(s.calls) != "[1 2]" {
		t.Errorf("transport schedule asked for attempts %v, want [1 2]", s.calls)
	}
}

func TestTransportPermanentErrorFails(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	p := newProcess(t, pool, Config{Backoff: fastBackoff}, false)
	s := &sink{fail: func(int) error { return fmt.Errorf("no such exchange: %w", ErrPermanent) }}
	p.outbox.AddTransport("test_sink", s)
	p.start(t)

	msg := newMessage()
	msg.Extra = []Destination{{URL: "sink://x", Kind: "test_sink"}}
	enqueue(t, p.outbox, msg)
	d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]
	if d.State != StateFailed || len(s.sent()) != 1 || !strings.Contains(d.LastError, "no such exchange") {
		t.Fatalf("delivery: state %s after %d sends, last error %q; want failed after 1 naming the cause",
			d.State, len(s.sent()), d.LastError)
	}
}

// TestKindWithoutTransportWaits checks that a process lacking the transport
// of a kind retries its deliveries instead of failing them, so a process
// that has it delivers them later.
func TestKindWithoutTransportWaits(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	without := newProcess(t, pool, Config{Backoff: func(int) time.Duration { return 50 * time.Millisecond }}, true)

	msg := newMessage()
	msg.Extra = []Destination{{URL: "sink://x", Kind: "test_sink"}}
	enqueue(t, without.outbox, msg)
	waitFor(t, 10*time.Second, "a first attempt without transport", func() bool {
		ds := deliveries(t, without.outbox, msg.EventID)
		return len(ds) == 1 && len(ds[0].Attempts) >= 1 && ds[0].Attempts[0].Finished
	})
	d := deliveries(t, without.outbox, msg.EventID)[0]
	if d.State != StatePending || !strings.Contains(d.LastError, `no transport for deliveries of kind "test_sink"`) {
		t.Fatalf("delivery without transport: state %s, last error %q; want pending, saying why", d.State, d.LastError)
	}

	with := newProcess(t, pool, Config{Backoff: fastBackoff}, false)
	s := &sink{}
	with.outbox.AddTransport("test_sink", s)
	with.start(t)
	waitFor(t, 10*time.Second, "the delivery by the process with the transport", func() bool {
		ds := deliveries(t, with.outbox, msg.EventID)
		return ds[0].State == StateDelivered
	})
	if len(s.sent()) == 0 {
		t.Fatal("delivered without the transport being called")
	}
}

func TestTransportRedeliver(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	p := newProcess(t, pool, Config{Backoff: fastBackoff}, false)
	s := &sink{}
	p.outbox.AddTransport("test_sink", s)
	p.start(t)

	msg := newMessage()
	msg.Extra = []Destination{{URL: "sink://x", Body: []byte(`{"own":"body"}`), Kind: "test_sink"}}
	enqueue(t, p.outbox, msg)
	waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)
	ids, err := p.outbox.Redeliver(context.Background(), msg.EventID)
	if err != nil || len(ids) != 1 {
		t.Fatalf("redeliver: %v %v", ids, err)
	}
	waitSettled(t, p.outbox, msg.EventID, 2, 10*time.Second)
	got := s.sent()
	if len(got) != 2 || got[1].DeliveryID != ids[0] || got[1].EventID != msg.EventID || string(got[1].Body) != `{"own":"body"}` {
		t.Fatalf("redelivery through the transport: %+v", got)
	}
}

func TestAddTransportRefusesBadKinds(t *testing.T) {
	t.Parallel()
	o := &Outbox{transports: map[string]Transport{}}
	o.AddTransport("test_sink", &sink{})
	for _, kind := range []string{KindWebhook, KindBitPayIPN, "test_sink", "Upper", "", "1x", strings.Repeat("a", 33)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AddTransport(%q) did not panic", kind)
				}
			}()
			o.AddTransport(kind, &sink{})
		}()
	}
}

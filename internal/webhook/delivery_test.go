package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"

	"github.com/transient-gateway/transient/webhooksig"
)

func TestEnqueueRolledBackLeavesNothing(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Backoff: fastBackoff}, true)
	ctx := context.Background()

	msg := newMessage()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.outbox.Enqueue(ctx, tx, msg); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM webhook_deliveries`); n != 0 {
		t.Errorf("deliveries after rollback: got %d, want 0", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery'`); n != 0 {
		t.Errorf("delivery jobs after rollback: got %d, want 0", n)
	}

	// The same message committed is delivered.
	enqueue(t, p.outbox, msg)
	ds := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)
	if ds[0].State != StateDelivered {
		t.Fatalf("state: got %s, want %s", ds[0].State, StateDelivered)
	}
	if reqs := rc.requests(); len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
}

func TestDeliveredRequest(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	const secret = "whsec_test"
	p := newProcess(t, pool, Config{URL: rc.srv.URL + "/hook", Secret: secret, UserAgent: "Transient-Test/9"}, true)

	msg := newMessage()
	before := time.Now()
	enqueue(t, p.outbox, msg)
	ds := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)
	d := ds[0]

	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if !bytes.Equal(r.body, msg.Body) {
		t.Errorf("body: got %q, want %q", r.body, msg.Body)
	}
	for header, want := range map[string]string{
		"Content-Type":   "application/json",
		"User-Agent":     "Transient-Test/9",
		EventIDHeader:    msg.EventID.String(),
		DeliveryIDHeader: d.ID.String(),
		AttemptHeader:    "1",
	} {
		if got := r.header.Get(header); got != want {
			t.Errorf("%s: got %q, want %q", header, got, want)
		}
	}
	if r.path != "/hook" {
		t.Errorf("path: got %q, want /hook", r.path)
	}
	sig := r.header.Get(webhooksig.Header)
	if err := webhooksig.Verify([]byte(secret), sig, r.body, time.Now(), time.Minute); err != nil {
		t.Errorf("Verify(%q): %v", sig, err)
	}
	ts, _ := strconv.ParseInt(strings.TrimPrefix(strings.Split(sig, ",")[0], "t="), 10, 64)
	if ts < before.Unix() || ts > time.Now().Unix() {
		t.Errorf("signature timestamp %d not the time of the attempt (between %d and %d)", ts, before.Unix(), time.Now().Unix())
	}

	if d.EventID != msg.EventID || d.PaymentID != msg.PaymentID || d.URL != rc.srv.URL+"/hook" || d.Kind != KindWebhook {
		t.Errorf("delivery: got event %s payment %s url %s kind %s, want %s %s %s %s",
			d.EventID, d.PaymentID, d.URL, d.Kind, msg.EventID, msg.PaymentID, rc.srv.URL+"/hook", KindWebhook)
	}
	if d.State != StateDelivered || d.CompletedAt == nil || d.NextAttemptAt != nil || d.LastError != "" {
		t.Errorf("delivery: got state %s completed %v next %v last error %q, want delivered, set, nil, empty",
			d.State, d.CompletedAt, d.NextAttemptAt, d.LastError)
	}
	if len(d.Attempts) != 1 {
		t.Fatalf("attempts: got %d, want 1", len(d.Attempts))
	}
	a := d.Attempts[0]
	if a.Number != 1 || a.HTTPStatus != 200 || a.Error != "" || !a.Finished || a.At.Before(before.Add(-time.Second)) {
		t.Errorf("attempt: got %+v, want number 1, status 200, no error, finished, at after %s", a, before)
	}
}

func TestUnsignedWithoutSecret(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	p := newProcess(t, pool, Config{URL: rc.srv.URL}, true)
	msg := newMessage()
	enqueue(t, p.outbox, msg)
	waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)
	if got := rc.requests()[0].header.Values(webhooksig.Header); len(got) != 0 {
		t.Errorf("signature header without a secret: got %q, want none", got)
	}
}

func TestEnqueueDestinations(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	global := newReceiver(t, nil)
	callback := newReceiver(t, nil)
	ipn := newReceiver(t, nil)
	p := newProcess(t, pool, Config{URL: global.srv.URL, AllowPrivate: true, Backoff: fastBackoff}, true)

	msg := newMessage()
	msg.CallbackURL = callback.srv.URL
	ipnBody := []byte(`{"id":"invoice","status":"paid"}`)
	// Same length as the message's body, one byte different.
	otherBody := bytes.Replace(msg.Body, []byte(`"PAID"`), []byte(`"PAIX"`), 1)
	msg.Extra = []Destination{
		{URL: ipn.srv.URL, Body: ipnBody, Kind: KindBitPayIPN},
		{URL: global.srv.URL, Body: msg.Body},    // same URL and body as the global: once
		{URL: callback.srv.URL, Body: otherBody}, // same URL, other body: separate
		{URL: callback.srv.URL + "/empty-body"},  // no body: the message's
	}
	enqueue(t, p.outbox, msg)
	ds := waitSettled(t, p.outbox, msg.EventID, 5, 10*time.Second)

	type key struct{ url, kind, body string }
	got := map[key]State{}
	for _, d := range ds {
		var body []byte
		if err := pool.QueryRow(context.Background(), `SELECT body FROM webhook_deliveries WHERE id = $1`, d.ID).Scan(&body); err != nil {
			t.Fatal(err)
		}
		got[key{d.URL, d.Kind, string(body)}] = d.State
	}
	want := map[key]State{
		{global.srv.URL, KindWebhook, string(msg.Body)}:                   StateDelivered,
		{callback.srv.URL, KindWebhook, string(msg.Body)}:                 StateDelivered,
		{ipn.srv.URL, KindBitPayIPN, string(ipnBody)}:                     StateDelivered,
		{callback.srv.URL, KindWebhook, string(otherBody)}:                StateDelivered,
		{callback.srv.URL + "/empty-body", KindWebhook, string(msg.Body)}: StateDelivered,
	}
	for k, st := range want {
		if got[k] != st {
			t.Errorf("delivery %+v: got %q, want %q", k, got[k], st)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct deliveries, want %d: %v", len(got), len(want), got)
	}
	if n := len(global.requests()); n != 1 {
		t.Errorf("global receiver got %d requests, want 1 (duplicate destination not deduplicated)", n)
	}
	if reqs := ipn.requests(); len(reqs) != 1 || !bytes.Equal(reqs[0].body, ipnBody) {
		t.Errorf("IPN receiver: got %d requests, want 1 with the IPN body", len(reqs))
	}
}

func TestEnqueueWithoutDestinationIsNoop(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	p := newProcess(t, pool, Config{}, false)
	enqueue(t, p.outbox, newMessage())
	if n := count(t, pool, `SELECT count(*) FROM webhook_deliveries`); n != 0 {
		t.Errorf("deliveries: got %d, want 0", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery'`); n != 0 {
		t.Errorf("delivery jobs: got %d, want 0", n)
	}
}

func TestRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const failures = 3
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		if req.attempt <= failures {
			http.Error(w, "database is down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Backoff: fastBackoff}, true)
	msg := newMessage()
	enqueue(t, p.outbox, msg)
	d := waitSettled(t, p.outbox, msg.EventID, 1, 15*time.Second)[0]

	if d.State != StateDelivered {
		t.Fatalf("state: got %s, want %s", d.State, StateDelivered)
	}
	if len(d.Attempts) != failures+1 {
		t.Fatalf("attempts: got %d, want %d", len(d.Attempts), failures+1)
	}
	for i, a := range d.Attempts {
		wantStatus, wantErr := 500, "HTTP 500 Internal Server Error: database is down"
		if i == failures {
			wantStatus, wantErr = 204, ""
		}
		if a.Number != i+1 || a.HTTPStatus != wantStatus || a.Error != wantErr || !a.Finished {
			t.Errorf("attempt %d: got %+v, want number %d status %d error %q", i+1, a, i+1, wantStatus, wantErr)
		}
		if i > 0 && a.At.Before(d.Attempts[i-1].At) {
			t.Errorf("attempt %d at %s before attempt %d at %s", i+1, a.At, i, d.Attempts[i-1].At)
		}
	}
	reqs := rc.requests()
	if len(reqs) != failures+1 {
		t.Fatalf("receiver got %d requests, want %d", len(reqs), failures+1)
	}
	for i, r := range reqs {
		if r.attempt != i+1 || r.deliveryID != d.ID.String() || !bytes.Equal(r.body, msg.Body) {
			t.Errorf("request %d: attempt %d delivery %s, want attempt %d delivery %s, same body", i, r.attempt, r.deliveryID, i+1, d.ID)
		}
	}
}

func TestStatusHandling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		retried   bool
		wantState State
	}{
		{http.StatusRequestTimeout, true, StateDelivered},
		{http.StatusTooManyRequests, true, StateDelivered},
		{http.StatusInternalServerError, true, StateDelivered},
		{http.StatusBadGateway, true, StateDelivered},
		{http.StatusServiceUnavailable, true, StateDelivered},
		{http.StatusGone, false, StateFailed},
		{http.StatusNotFound, false, StateFailed},
		{http.StatusBadRequest, false, StateFailed},
		{http.StatusUnauthorized, false, StateFailed},
		{http.StatusFound, false, StateFailed},
		{http.StatusMovedPermanently, false, StateFailed},
	}
	pool := pgtest.NewPool(t)
	redirected := atomic.Int32{}
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		if r.URL.Path == "/elsewhere" {
			redirected.Add(1)
			return
		}
		status, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if req.attempt > 1 {
			return // 200
		}
		if status >= 300 && status < 400 {
			http.Redirect(w, r, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
		// A large body: the log keeps only the start.
		fmt.Fprint(w, "gone "+strings.Repeat("x", 100_000))
	})
	p := newProcess(t, pool, Config{Backoff: fastBackoff, AllowPrivate: true}, true)
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			msg := newMessage()
			msg.CallbackURL = rc.srv.URL + "/" + strconv.Itoa(tc.status)
			enqueue(t, p.outbox, msg)
			d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]
			if d.State != tc.wantState {
				t.Fatalf("state: got %s, want %s", d.State, tc.wantState)
			}
			wantAttempts := 1
			if tc.retried {
				wantAttempts = 2
			}
			if len(d.Attempts) != wantAttempts {
				t.Fatalf("attempts: got %d, want %d", len(d.Attempts), wantAttempts)
			}
			first := d.Attempts[0]
			if first.HTTPStatus != tc.status {
				t.Errorf("first attempt status: got %d, want %d", first.HTTPStatus, tc.status)
			}
			wantPrefix := fmt.Sprintf("HTTP %d %s", tc.status, http.StatusText(tc.status))
			if !strings.HasPrefix(first.Error, wantPrefix) || len(first.Error) > maxErrorLen {
				t.Errorf("first attempt error: got %q (%d bytes), want prefix %q and at most %d bytes",
					first.Error, len(first.Error), wantPrefix, maxErrorLen)
			}
			if tc.status >= 300 && tc.status < 400 && !strings.Contains(first.Error, "redirects are not followed; Location: /elsewhere") {
				t.Errorf("redirect error: got %q, want it to name the Location", first.Error)
			}
			if !tc.retried && d.LastError != first.Error {
				t.Errorf("last error: got %q, want %q", d.LastError, first.Error)
			}
		})
	}
	t.Cleanup(func() {
		if n := redirected.Load(); n != 0 {
			t.Errorf("redirect target got %d requests, want 0", n)
		}
	})
}

func TestTimeoutRetried(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const timeout = 300 * time.Millisecond
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		if req.attempt == 1 {
			select { // hang until the sender gives up
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Timeout: timeout, Backoff: fastBackoff}, true)
	if got := (&deliveryWorker{o: p.outbox}).Timeout(nil); got <= timeout {
		t.Errorf("worker timeout: got %s, want more than the attempt timeout %s", got, timeout)
	}
	msg := newMessage()
	enqueue(t, p.outbox, msg)
	d := waitSettled(t, p.outbox, msg.EventID, 1, 15*time.Second)[0]
	if d.State != StateDelivered || len(d.Attempts) != 2 {
		t.Fatalf("got state %s with %d attempts, want delivered with 2", d.State, len(d.Attempts))
	}
	a := d.Attempts[0]
	if a.HTTPStatus != 0 || !strings.Contains(a.Error, "timeout") || a.Duration < timeout || a.Duration > timeout+2*time.Second {
		t.Errorf("first attempt: got %+v, want no status, a timeout error and a duration of about %s", a, timeout)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		if req.attempt == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Backoff: fastBackoff}, true)
	msg := newMessage()
	enqueue(t, p.outbox, msg)

	// While it waits, the log says when the next attempt is due.
	waitFor(t, 10*time.Second, "first attempt to be recorded", func() bool {
		ds := deliveries(t, p.outbox, msg.EventID)
		if len(ds) != 1 || len(ds[0].Attempts) == 0 || !ds[0].Attempts[0].Finished {
			return false
		}
		d := ds[0]
		if len(d.Attempts) > 1 {
			t.Log("missed the 2 s between the attempts; the gaps below still check them")
			return true
		}
		if d.State != StatePending || d.NextAttemptAt == nil {
			t.Fatalf("after a 429: got state %s next %v, want pending with a next attempt", d.State, d.NextAttemptAt)
		}
		if wait := d.NextAttemptAt.Sub(d.Attempts[0].At); wait < 2*time.Second {
			t.Fatalf("next attempt due %s after the first, want at least 2s", wait)
		}
		return true
	})

	d := waitSettled(t, p.outbox, msg.EventID, 1, 15*time.Second)[0]
	if d.State != StateDelivered || len(d.Attempts) != 2 {
		t.Fatalf("got state %s with %d attempts, want delivered with 2", d.State, len(d.Attempts))
	}
	if gap := d.Attempts[1].At.Sub(d.Attempts[0].At); gap < 2*time.Second {
		t.Errorf("logged attempts %s apart, want at least 2s", gap)
	}
	reqs := rc.requests()
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 2*time.Second {
		t.Errorf("receiver saw attempts %s apart, want at least 2s", gap)
	}
}

func TestMaxAgeDead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		maxAge  time.Duration
		backoff time.Duration
		minimum int // attempts at least
		maximum int // attempts at most
	}{
		{"first retry too late", time.Second, 5 * time.Second, 1, 1},
		// How many attempts fit depends on scheduling latency; at least two.
		// MaxAge counts from the event, so it leaves room for a first
		// attempt that a busy machine starts a second or more late.
		{"several retries, then too late", 3 * time.Second, 50 * time.Millisecond, 2, 61},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			p := newProcess(t, pool, Config{
				URL: rc.srv.URL, MaxAge: tc.maxAge,
				Backoff: func(int) time.Duration { return tc.backoff },
			}, true)
			msg := newMessage()
			enqueue(t, p.outbox, msg)
			d := waitSettled(t, p.outbox, msg.EventID, 1, 15*time.Second)[0]
			if d.State != StateDead {
				t.Fatalf("state: got %s, want %s", d.State, StateDead)
			}
			if n := len(d.Attempts); n < tc.minimum || n > tc.maximum {
				t.Errorf("attempts: got %d, want %d to %d", n, tc.minimum, tc.maximum)
			}
			if n := len(rc.requests()); n != len(d.Attempts) {
				t.Errorf("receiver got %d requests, log has %d attempts", n, len(d.Attempts))
			}
			if d.CompletedAt == nil || d.NextAttemptAt != nil || d.LastError != "HTTP 503 Service Unavailable" {
				t.Errorf("got completed %v next %v last error %q, want completed, no next attempt, the 503",
					d.CompletedAt, d.NextAttemptAt, d.LastError)
			}
			// Dead was decided when the last attempt ended (completed_at):
			// the next attempt would have been after the maximum age. The
			// microsecond covers the database's timestamp precision.
			if d.CompletedAt != nil && !d.CompletedAt.Add(tc.backoff+time.Microsecond).After(d.CreatedAt.Add(tc.maxAge)) {
				t.Errorf("declared dead although the next attempt (%s) was within the maximum age (%s)",
					d.CompletedAt.Add(tc.backoff), d.CreatedAt.Add(tc.maxAge))
			}
		})
	}
}

func TestCallbackToPrivateAddress(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	port := rc.srv.URL[strings.LastIndex(rc.srv.URL, ":")+1:]
	for _, host := range []string{"127.0.0.1", "localhost"} {
		callback := "http://" + host + ":" + port + "/hook"
		t.Run(host+" refused", func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			p := newProcess(t, pool, Config{Backoff: fastBackoff}, true)
			msg := newMessage()
			msg.CallbackURL = callback
			enqueue(t, p.outbox, msg)
			d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]
			if d.State != StateFailed || len(d.Attempts) != 1 {
				t.Fatalf("got state %s with %d attempts, want failed after 1", d.State, len(d.Attempts))
			}
			a := d.Attempts[0]
			// Refused at connect time, after resolving the name: the error
			// names the address, not just the host.
			if !strings.Contains(a.Error, ErrAddressRefused.Error()) || !strings.Contains(a.Error, "127.0.0.1 is a loopback address") {
				t.Errorf("attempt error: got %q, want it to name the refused address 127.0.0.1", a.Error)
			}
			for _, r := range rc.requests() {
				if r.eventID == msg.EventID.String() {
					t.Errorf("receiver got a refused request: %+v", r)
				}
			}
		})
		t.Run(host+" allowed", func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			p := newProcess(t, pool, Config{Backoff: fastBackoff, AllowPrivate: true}, true)
			msg := newMessage()
			msg.CallbackURL = callback
			enqueue(t, p.outbox, msg)
			d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]
			if d.State != StateDelivered {
				t.Fatalf("state: got %s (%s), want %s", d.State, d.LastError, StateDelivered)
			}
		})
	}
	t.Run("global URL trusted", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.NewPool(t)
		p := newProcess(t, pool, Config{URL: rc.srv.URL, Backoff: fastBackoff}, true)
		msg := newMessage()
		enqueue(t, p.outbox, msg)
		if d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]; d.State != StateDelivered {
			t.Fatalf("state: got %s (%s), want %s", d.State, d.LastError, StateDelivered)
		}
	})
}

func TestInvalidCallbackFailsWithoutRollingBack(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	p := newProcess(t, pool, Config{Backoff: fastBackoff}, true)
	msg := newMessage()
	msg.CallbackURL = "ftp://shop.example/hook"
	enqueue(t, p.outbox, msg)
	d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]
	if d.State != StateFailed || len(d.Attempts) != 1 || !strings.Contains(d.LastError, ErrInvalidURL.Error()) {
		t.Fatalf("got state %s, %d attempts, error %q; want failed after 1 with %q", d.State, len(d.Attempts), d.LastError, ErrInvalidURL)
	}
}

func TestRedeliver(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	const secret = "s3cret"
	p := newProcess(t, pool, Config{URL: rc.srv.URL, Secret: secret, AllowPrivate: true}, true)
	ctx := context.Background()

	msg := newMessage()
	msg.CallbackURL = rc.srv.URL + "/callback"
	enqueue(t, p.outbox, msg)
	first := waitSettled(t, p.outbox, msg.EventID, 2, 10*time.Second)

	ids, err := p.outbox.Redeliver(ctx, msg.EventID)
	if err != nil {
		t.Fatalf("redeliver: %v", err)
	}
	if len(ids) != 2 {
		t.Fatalf("redeliver: got %d new deliveries, want 2", len(ids))
	}
	all := waitSettled(t, p.outbox, msg.EventID, 4, 10*time.Second)
	old := map[uuid.UUID]bool{first[0].ID: true, first[1].ID: true}
	for _, id := range ids {
		if old[id] {
			t.Errorf("redelivery reused delivery id %s", id)
		}
	}
	for _, d := range all {
		if d.State != StateDelivered {
			t.Errorf("delivery %s: got %s, want delivered", d.ID, d.State)
		}
	}
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(reqs))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.eventID != msg.EventID.String() || !bytes.Equal(r.body, msg.Body) || r.attempt != 1 {
			t.Errorf("request: event %s attempt %d body %q, want event %s attempt 1 the same body", r.eventID, r.attempt, r.body, msg.EventID)
		}
		if err := webhooksig.Verify([]byte(secret), r.header.Get(webhooksig.Header), r.body, time.Now(), time.Minute); err != nil {
			t.Errorf("redelivered signature: %v", err)
		}
		seen[r.deliveryID] = true
	}
	if len(seen) != 4 {
		t.Errorf("receiver saw %d distinct delivery ids, want 4", len(seen))
	}

	if _, err := p.outbox.Redeliver(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
		t.Errorf("redeliver of an unknown event: got %v, want %v", err, ErrNotFound)
	}
}

func TestDeliveriesOfSeveralEvents(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	p := newProcess(t, pool, Config{URL: rc.srv.URL}, true)
	a, b := newMessage(), newMessage()
	enqueue(t, p.outbox, a)
	enqueue(t, p.outbox, b)
	waitSettled(t, p.outbox, a.EventID, 1, 10*time.Second)
	waitSettled(t, p.outbox, b.EventID, 1, 10*time.Second)
	unknown := uuid.New()
	m, err := p.outbox.Deliveries(context.Background(), []uuid.UUID{a.EventID, b.EventID, unknown})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || len(m[a.EventID]) != 1 || len(m[b.EventID]) != 1 || m[a.EventID][0].EventID != a.EventID {
		t.Errorf("got %v, want one delivery for each known event and none for the unknown one", m)
	}
	if m, err := p.outbox.Deliveries(context.Background(), nil); err != nil || len(m) != 0 {
		t.Errorf("no events: got %v, %v; want an empty map", m, err)
	}
}

// TestTwoProcesses runs two River clients with their own pools (two
// transientd processes) on one database and queue.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	const events = 120
	dbURL := pgtest.NewDatabase(t)
	pools := make([]*pgxpool.Pool, 2)
	for i := range pools {
		var err error
		if pools[i], err = pgxpool.New(context.Background(), dbURL); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pools[i].Close)
	}

	var (
		mu   sync.Mutex
		seen = map[string]int{} // "delivery/attempt" -> times received
	)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		key := req.deliveryID + "/" + strconv.Itoa(req.attempt)
		mu.Lock()
		seen[key]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		// Every third delivery (by id) fails its first two attempts.
		id := uuid.MustParse(req.deliveryID)
		if id[15]%3 == 0 && req.attempt <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	cfg := Config{URL: rc.srv.URL, Backoff: fastBackoff}
	procs := []*process{newProcess(t, pools[0], cfg, true), newProcess(t, pools[1], cfg, true)}

	msgs := make([]Message, events)
	for i := range msgs {
		msgs[i] = newMessage()
		enqueue(t, procs[i%2].outbox, msgs[i])
	}
	var ds []Delivery
	waitFor(t, 60*time.Second, "all deliveries to be delivered", func() bool {
		ids := make([]uuid.UUID, len(msgs))
		for i, m := range msgs {
			ids[i] = m.EventID
		}
		byEvent, err := procs[0].outbox.Deliveries(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		ds = ds[:0]
		for _, list := range byEvent {
			for _, d := range list {
				if d.State != StateDelivered {
					return false
				}
				ds = append(ds, d)
			}
		}
		return len(ds) == events
	})

	totalAttempts, retried := 0, 0
	mu.Lock()
	defer mu.Unlock()
	for _, d := range ds {
		for i, a := range d.Attempts {
			if a.Number != i+1 {
				t.Errorf("delivery %s: attempt %d numbered %d", d.ID, i+1, a.Number)
			}
			if n := seen[d.ID.String()+"/"+strconv.Itoa(a.Number)]; n != 1 {
				t.Errorf("delivery %s attempt %d: receiver saw it %d times, want once", d.ID, a.Number, n)
			}
		}
		totalAttempts += len(d.Attempts)
		if len(d.Attempts) > 1 {
			retried++
		}
	}
	if len(seen) != totalAttempts {
		t.Errorf("receiver saw %d distinct (delivery, attempt) pairs, the log has %d attempts", len(seen), totalAttempts)
	}
	if retried == 0 {
		t.Errorf("no delivery was retried; the test should exercise retries")
	}
	var clients []string
	rows, err := pools[0].Query(context.Background(), `
		SELECT DISTINCT unnest(attempted_by) FROM river_job WHERE kind = 'webhook_delivery'`)
	if err != nil {
		t.Fatal(err)
	}
	if clients, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(clients) != 2 {
		t.Errorf("deliveries worked by %d River clients (%v), want both", len(clients), clients)
	}
}

// TestShutdownMidAttempt stops a process while a request is in flight: the
// attempt is recorded as interrupted and another process makes the next one.
func TestShutdownMidAttempt(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	inFlight := make(chan struct{}, 1)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		if req.attempt == 1 {
			inFlight <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	cfg := Config{URL: rc.srv.URL, Timeout: 20 * time.Second, Backoff: fastBackoff}
	first := newProcess(t, pool, cfg, true)
	msg := newMessage()
	enqueue(t, first.outbox, msg)
	select {
	case <-inFlight:
	case <-time.After(10 * time.Second):
		t.Fatal("first attempt never arrived")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.client.StopAndCancel(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}

	second := newProcess(t, pool, cfg, true)
	d := waitSettled(t, second.outbox, msg.EventID, 1, 15*time.Second)[0]
	if d.State != StateDelivered || len(d.Attempts) != 2 {
		t.Fatalf("got state %s with %d attempts, want delivered with 2", d.State, len(d.Attempts))
	}
	if a := d.Attempts[0]; !a.Finished || !strings.Contains(a.Error, "interrupted") || a.HTTPStatus != 0 {
		t.Errorf("first attempt: got %+v, want a finished attempt with an 'interrupted' error", a)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, req request) {
		if req.attempt == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	var clock atomic.Pointer[time.Time]
	setClock := func(t time.Time) { clock.Store(&t) }
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const retention = 30 * 24 * time.Hour
	// The prune that runs on start (and any later one) deletes nothing
	// until the clock reaches now.
	setClock(now.Add(-retention - time.Hour))
	p := newProcess(t, pool, Config{
		URL: rc.srv.URL, Backoff: fastBackoff, Retention: retention,
		Now: func() time.Time { return *clock.Load() },
	}, true)
	if jobs := PeriodicJobs(p.outbox); len(jobs) != 2 {
		t.Fatalf("periodic jobs: got %d, want 2 (prune, sweep)", len(jobs))
	}

	old, pending, recent := newMessage(), newMessage(), newMessage()
	enqueue(t, p.outbox, old)
	waitSettled(t, p.outbox, old.EventID, 1, 10*time.Second)
	enqueue(t, p.outbox, pending)
	waitSettled(t, p.outbox, pending.EventID, 1, 10*time.Second)
	// A delivery still pending long after its creation (its next attempt
	// far off) is never deleted; only its old attempts are.
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		UPDATE webhook_deliveries SET state = 'pending', completed_at = NULL, next_attempt_at = $2
		WHERE event_id = $1`, pending.EventID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	setClock(now.Add(-retention + time.Hour))
	enqueue(t, p.outbox, recent)
	waitSettled(t, p.outbox, recent.EventID, 1, 10*time.Second)

	// Prune through River, as the periodic job does.
	setClock(now)
	res, err := p.client.Insert(ctx, pruneArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the prune job to complete", func() bool {
		job, err := p.client.JobGet(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		return job.State == "completed"
	})

	if d := deliveries(t, p.outbox, old.EventID); len(d) != 0 {
		t.Errorf("old event: got %+v, want its finished delivery deleted", d)
	}
	if d := deliveries(t, p.outbox, pending.EventID); len(d) != 1 || len(d[0].Attempts) != 0 || d[0].State != StatePending {
		t.Errorf("old pending delivery: got %+v, want it kept, pending, without its old attempts", d)
	}
	if d := deliveries(t, p.outbox, recent.EventID); len(d) != 1 || len(d[0].Attempts) != 2 {
		t.Errorf("recent event: got %+v, want its delivery with both attempts", d)
	}
	if n := count(t, pool, `SELECT count(*) FROM webhook_attempts`); n != 2 {
		t.Errorf("%d attempts left, want the recent delivery's 2", n)
	}
	if n, err := p.outbox.Prune(ctx); err != nil || n != (Pruned{}) {
		t.Errorf("second prune: got %+v, %v; want nothing, nil", n, err)
	}
}

// TestRescueAfterProcessDied simulates a process that claimed a delivery's
// job and attempt 1 and then died: River's rescuer gives the job back, the
// next attempt is number 2, and the log shows attempt 1 without an outcome.
func TestRescueAfterProcessDied(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	cfg := Config{URL: rc.srv.URL, Backoff: fastBackoff}
	p := newProcess(t, pool, cfg, false)
	msg := newMessage()
	enqueue(t, p.outbox, msg)

	// What the dead process left behind, two hours ago.
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '2 hours',
			attempted_by = ARRAY['dead-process']
		WHERE kind = 'webhook_delivery'`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		WITH claimed AS (
			UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE event_id = $1 RETURNING id, attempts)
		INSERT INTO webhook_attempts (delivery_id, number, attempted_at)
		SELECT id, attempts, now() - interval '2 hours' FROM claimed`, msg.EventID)
	if err != nil {
		t.Fatal(err)
	}

	p.start(t)
	d := waitSettled(t, p.outbox, msg.EventID, 1, 30*time.Second)[0]
	if d.State != StateDelivered || len(d.Attempts) != 2 {
		t.Fatalf("got state %s with %d attempts, want delivered with 2", d.State, len(d.Attempts))
	}
	if a := d.Attempts[0]; a.Finished || a.HTTPStatus != 0 {
		t.Errorf("attempt of the dead process: got %+v, want one without an outcome", a)
	}
	if a := d.Attempts[1]; !a.Finished || a.HTTPStatus != 200 || a.Number != 2 {
		t.Errorf("attempt after the rescue: got %+v, want number 2 with status 200", a)
	}
	if reqs := rc.requests(); len(reqs) != 1 || reqs[0].attempt != 2 {
		t.Errorf("receiver: got %d requests (%+v), want one, attempt 2", len(reqs), reqs)
	}
}

// TestCallbackCredentialsHiddenInLog: a callback URL's user:pass@ reaches
// the shop's receiver, and the delivery log (API and CLI) shows it without
// the password.
func TestCallbackCredentialsHiddenInLog(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	rc := newReceiver(t, nil)
	p := newProcess(t, pool, Config{Backoff: fastBackoff, AllowPrivate: true}, true)
	msg := newMessage()
	msg.CallbackURL = strings.Replace(rc.srv.URL, "http://", "http://shop:s3cret-pw@", 1) + "/cb"
	enqueue(t, p.outbox, msg)
	d := waitSettled(t, p.outbox, msg.EventID, 1, 10*time.Second)[0]
	if d.State != StateDelivered {
		t.Fatalf("state %s (%s)", d.State, d.LastError)
	}
	if strings.Contains(d.URL, "s3cret-pw") || !strings.Contains(d.URL, "shop:xxxxx@") {
		t.Errorf("delivery log URL %q, want the password replaced", d.URL)
	}
	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].header.Get("Authorization") != "Basic c2hvcDpzM2NyZXQtcHc=" {
		t.Errorf("the receiver did not get the credentials: %v", reqs)
	}
}

func TestEnqueueToOnlyGivenDestinations(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	global := newReceiver(t, nil)
	own := newReceiver(t, nil)
	p := newProcess(t, pool, Config{URL: global.srv.URL, AllowPrivate: true, Backoff: fastBackoff}, true)

	eventID, paymentID := uuid.New(), uuid.New()
	body := []byte(`{"type":"InvoiceSettled"}`)
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return p.outbox.EnqueueTo(context.Background(), tx, eventID, paymentID, []Destination{
			{URL: own.srv.URL + "/hook?shop=1&x=%2F", Body: body, Kind: KindBitPayIPN},
			{URL: ""}, // skipped
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ds := waitSettled(t, p.outbox, eventID, 1, 10*time.Second)
	if ds[0].State != StateDelivered || ds[0].Kind != KindBitPayIPN || ds[0].PaymentID != paymentID {
		t.Errorf("delivery: got %+v", ds[0])
	}
	reqs := own.requests()
	if len(reqs) != 1 || !bytes.Equal(reqs[0].body, body) {
		t.Fatalf("receiver: got %d requests, want 1 with the body", len(reqs))
	}
	if n := len(global.requests()); n != 0 {
		t.Errorf("global receiver got %d requests, want 0: EnqueueTo must not add the global URL", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM webhook_deliveries WHERE url = $1`, own.srv.URL+"/hook?shop=1&x=%2F"); n != 1 {
		t.Errorf("deliveries to the URL as given: got %d, want 1", n)
	}
	if err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return p.outbox.EnqueueTo(context.Background(), tx, uuid.New(), paymentID, nil)
	}); err != nil {
		t.Errorf("no destinations: %v", err)
	}
}

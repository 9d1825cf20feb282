package checkout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
)

func TestWriteEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  Message
		want string
	}{
		{"payment", Message{Seq: 3, Data: []byte(`{"id":"x","status":"PAID"}`)}, "id: 3\ndata: {\"id\":\"x\",\"status\":\"PAID\"}\n\n"},
		{"before the first event", Message{Seq: 0, Data: []byte(`{}`)}, "id: 0\ndata: {}\n\n"},
		{"lines", Message{Seq: 12, Data: []byte("{\n\"a\": 1\r\n}")}, "id: 12\ndata: {\ndata: \"a\": 1\ndata: }\n\n"},
		{"empty", Message{Seq: 1}, "id: 1\ndata: \n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeEvent(&buf, tc.msg); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got %q, want %q", buf.String(), tc.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := writeComment(&buf, "ping"); err != nil || buf.String() != ": ping\n\n" {
		t.Errorf("comment = %q, %v; want %q", buf.String(), err, ": ping\n\n")
	}
}

func TestParseLastEventID(t *testing.T) {
	for in, want := range map[string]int64{"": -1, "0": 0, "7": 7, " 42 ": 42, "-1": -1, "x": -1, "3.5": -1, "99999999999999999999": -1} {
		if got := parseLastEventID(in); got != want {
			t.Errorf("parseLastEventID(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestEventPayment(t *testing.T) {
	got, err := eventPayment([]byte(`{"payment_id": "x", "payment": {"id": "x",` + "\n" + ` "amount": 1.25, "metadata": {"email": "ada@example.com"}, "order_id": "A-1"}, "sequence": 2}`))
	if err != nil || string(got) != `{"id":"x","amount":1.25}` {
		t.Errorf("got %s, %v; want the public payment object on one line", got, err)
	}
	for _, bad := range []string{`{}`, `{"payment": null}`, `{"payment": 3}`, `not json`} {
		if _, err := eventPayment([]byte(bad)); err == nil {
			t.Errorf("eventPayment(%s): no error", bad)
		}
	}
}

// sseEvent is one thing read from a stream: a message, a comment or a retry
// field.
type sseEvent struct {
	ID, Data, Comment, Retry string
}

// sseClient reads a Server-Sent Events stream the way a browser does.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	ended  chan struct{} // closed when the body ends
	cancel context.CancelFunc
}

func openStream(t *testing.T, url string, header http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	maps := req.Header
	for k, v := range header {
		maps[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 100), ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		return c
	}
	go func() {
		defer close(c.ended)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.ID != "" || data != nil || ev.Retry != "" {
					ev.Data = strings.Join(data, "\n")
					c.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				c.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "id":
					ev.ID = value
				case "data":
					data = append(data, value)
				case "retry":
					ev.Retry = value
				}
			}
		}
	}()
	return c
}

// next returns the next message (skipping comments and retry fields), or
// fails after timeout.
func (c *sseClient) next(timeout time.Duration) sseEvent {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-c.events:
			if ev.Comment == "" && ev.Retry == "" {
				return ev
			}
		case <-c.ended:
			c.t.Fatal("the stream ended while a message was expected")
		case <-deadline:
			c.t.Fatalf("no message within %s", timeout)
		}
	}
}

// quiet fails if a message arrives within d.
func (c *sseClient) quiet(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-c.events:
			if ev.Comment == "" && ev.Retry == "" {
				c.t.Fatalf("unexpected message id %s: %s", ev.ID, ev.Data)
			}
		case <-deadline:
			return
		}
	}
}

// waitEnd fails unless the stream ends within timeout.
func (c *sseClient) waitEnd(timeout time.Duration) {
	c.t.Helper()
	for {
		select {
		case <-c.events:
		case <-c.ended:
			return
		case <-time.After(timeout):
			c.t.Fatalf("the stream did not end within %s", timeout)
		}
	}
}

// status decodes the payment of a message and returns its status.
func status(t *testing.T, ev sseEvent) payments.Status {
	t.Helper()
	var p struct {
		Status payments.Status `json:"status"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
		t.Fatalf("message data is not a payment: %v: %q", err, ev.Data)
	}
	return p.Status
}

// streamEnv is a checkout server on a real HTTP server, over a fake source.
type streamEnv struct {
	src    *fakeSource
	hub    *Hub
	srv    *httptest.Server
	server *Server
	stop   func() // closes the server's Done channel
}

func newStreamEnv(t *testing.T, poll time.Duration, mod ...func(*Config)) *streamEnv {
	t.Helper()
	src := newFakeSource()
	hub := NewHub(HubConfig{Source: src, PollInterval: poll})
	done := make(chan struct{})
	cfg := Config{Source: src, Hub: hub, Done: done}
	for _, m := range mod {
		m(&cfg)
	}
	r := chi.NewRouter()
	server := New(cfg)
	server.Mount(r)
	srv := httptest.NewServer(r)
	var once sync.Once
	e := &streamEnv{src: src, hub: hub, srv: srv, server: server, stop: func() { once.Do(func() { close(done) }) }}
	t.Cleanup(func() {
		e.stop()
		hub.Close()
		srv.Close()
	})
	return e
}

func (e *streamEnv) url(id uuid.UUID) string {
	return e.srv.URL + "/payments/" + id.String() + "/stream"
}

func pending(p *payments.Payment) {
	p.Status, p.Received = payments.StatusPending, p.Amount
	p.Outputs = []payments.Output{{TxID: "aa", Amount: p.Amount}}
}

func partial(p *payments.Payment) {
	p.Status, p.Received = payments.StatusPartial, p.Amount/2
	p.Outputs = []payments.Output{{TxID: "bb", Amount: p.Amount / 2}}
}

func paid(p *payments.Payment) {
	p.Status, p.Confirmed = payments.StatusPaid, p.Received
	for i := range p.Outputs {
		p.Outputs[i].Confirmations = p.Confirmations
	}
}

// TestStreamSendsCurrentStateOnConnect: without Last-Event-ID a client gets
// the current state once, with the last event's sequence as its id, and the
// headers of an event stream.
func TestStreamSendsCurrentStateOnConnect(t *testing.T) {
	e := newStreamEnv(t, 20*time.Millisecond)
	p := e.src.add()
	e.src.change(t, p.ID, partial)
	e.src.change(t, p.ID, pending)

	c := openStream(t, e.url(p.ID), nil)
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", c.resp.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := c.resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	select {
	case ev := <-c.events:
		if ev.Retry != "2000" {
			t.Errorf("first field %+v, want retry: 2000", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	ev := c.next(5 * time.Second)
	if ev.ID != "2" || status(t, ev) != payments.StatusPending {
		t.Errorf("first message id %s status %s, want id 2 status PENDING", ev.ID, status(t, ev))
	}
	e.src.mu.Lock()
	want, _ := json.Marshal(e.src.payments[p.ID].JSON().Public())
	e.src.mu.Unlock()
	if ev.Data != string(want) {
		t.Errorf("data = %s\nwant the payment object %s", ev.Data, want)
	}
	// Polls that find nothing new send nothing.
	c.quiet(200 * time.Millisecond)
}

// TestStreamResumesAfterLastEventID: a client reconnecting with
// Last-Event-ID gets the events after it, in order, and nothing before.
func TestStreamResumesAfterLastEventID(t *testing.T) {
	e := newStreamEnv(t, time.Hour)
	p := e.src.add()
	e.src.change(t, p.ID, partial)
	e.src.change(t, p.ID, pending)
	e.src.change(t, p.ID, paid)

	for _, tc := range []struct {
		last   string
		header bool
		want   []string // id:status of the messages
	}{
		{"1", true, []string{"2:PENDING", "3:PAID"}},
		{"2", true, []string{"3:PAID"}},
		{"0", true, []string{"1:PARTIAL", "2:PENDING", "3:PAID"}},
		{"3", true, []string{"3:PAID"}}, // nothing new: the current state
		{"2", false, []string{"3:PAID"}},
	} {
		t.Run("after "+tc.last, func(t *testing.T) {
			url, h := e.url(p.ID), http.Header{}
			if tc.header {
				h.Set("Last-Event-ID", tc.last)
			} else {
				url += "?last_event_id=" + tc.last
			}
			c := openStream(t, url, h)
			var got []string
			for range tc.want {
				ev := c.next(5 * time.Second)
				got = append(got, fmt.Sprintf("%s:%s", ev.ID, status(t, ev)))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("messages %v, want %v", got, tc.want)
			}
			c.quiet(100 * time.Millisecond)
		})
	}
}

// TestStreamLiveOnNotify: a notification of EventsChannel reaches the
// stream at once, without waiting for the poll.
func TestStreamLiveOnNotify(t *testing.T) {
	e := newStreamEnv(t, time.Hour)
	p := e.src.add()
	c := openStream(t, e.url(p.ID), nil)
	if ev := c.next(5 * time.Second); ev.ID != "0" || status(t, ev) != payments.StatusUnpaid {
		t.Fatalf("first message id %s status %s, want 0 UNPAID", ev.ID, status(t, ev))
	}
	for i, mod := range []func(*payments.Payment){partial, pending, paid} {
		seq := e.src.change(t, p.ID, mod)
		e.hub.Notify(fmt.Sprintf("%s:%d", p.ID, seq))
		ev := c.next(2 * time.Second)
		if ev.ID != fmt.Sprint(i+1) {
			t.Errorf("message id %s, want %d", ev.ID, i+1)
		}
	}
	// Notifications of other payments, or malformed ones, change nothing.
	e.hub.Notify(uuid.NewString() + ":1")
	e.hub.Notify("garbage")
	c.quiet(100 * time.Millisecond)
}

// TestStreamPollsWithoutNotify: with no notification at all, the poll finds
// new events, and confirmations that change without an event.
func TestStreamPollsWithoutNotify(t *testing.T) {
	e := newStreamEnv(t, 30*time.Millisecond)
	p := e.src.add()
	c := openStream(t, e.url(p.ID), nil)
	c.next(5 * time.Second)
	e.src.change(t, p.ID, pending)
	if ev := c.next(5 * time.Second); ev.ID != "1" || status(t, ev) != payments.StatusPending {
		t.Fatalf("message id %s status %s, want 1 PENDING", ev.ID, status(t, ev))
	}
	e.src.change(t, p.ID, func(p *payments.Payment) { p.Outputs[0].Confirmations = 1 })
	ev := c.next(5 * time.Second)
	var got struct {
		Transactions []struct {
			Confirmations int64 `json:"confirmations"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &got); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "1" || len(got.Transactions) != 1 || got.Transactions[0].Confirmations != 1 {
		t.Errorf("message id %s transactions %+v, want id 1 with 1 confirmation", ev.ID, got.Transactions)
	}
}

// TestStreamHeartbeat: an idle stream sends comments.
func TestStreamHeartbeat(t *testing.T) {
	e := newStreamEnv(t, time.Hour, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	p := e.src.add()
	c := openStream(t, e.url(p.ID), nil)
	deadline := time.After(5 * time.Second)
	for pings := 0; pings < 2; {
		select {
		case ev := <-c.events:
			if ev.Comment == "ping" {
				pings++
			}
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}
}

// TestStreamEndsOnShutdown: open streams end promptly when the server's
// Done channel closes, new ones are refused, and closing the hub ends
// streams too.
func TestStreamEndsOnShutdown(t *testing.T) {
	e := newStreamEnv(t, time.Hour)
	p := e.src.add()
	c1 := openStream(t, e.url(p.ID), nil)
	c1.next(5 * time.Second)
	start := time.Now()
	e.stop()
	c1.waitEnd(2 * time.Second)
	t.Logf("stream ended %s after shutdown began", time.Since(start))
	if c := openStream(t, e.url(p.ID), nil); c.resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after shutdown: status %d, want 503", c.resp.StatusCode)
	}

	e2 := newStreamEnv(t, time.Hour)
	p2 := e2.src.add()
	c2 := openStream(t, e2.url(p2.ID), nil)
	c2.next(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e2.hub.Run(ctx) }()
	cancel() // the run loop's context: the daemon stops its parts
	if err := <-ran; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	c2.waitEnd(2 * time.Second)
	if _, err := e2.hub.Subscribe(p2.ID, -1); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Run ended: %v, want ErrClosed", err)
	}
}

// TestStreamEndsBeforeRequestDeadline: a stream ends cleanly before the
// deadline of its request context (the API's request timeout), and the
// browser reconnects.
func TestStreamEndsBeforeRequestDeadline(t *testing.T) {
	src := newFakeSource()
	p := src.add()
	hub := NewHub(HubConfig{Source: src, PollInterval: time.Hour})
	t.Cleanup(hub.Close)
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), deadlineMargin+500*time.Millisecond)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	})
	New(Config{Source: src, Hub: hub}).Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c := openStream(t, srv.URL+"/payments/"+p.ID.String()+"/stream", nil)
	c.next(5 * time.Second)
	start := time.Now()
	c.waitEnd(5 * time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the stream ended after %s", d)
	}
}

// TestStreamClientDisconnect: when the client goes away the handler ends
// and the hub stops watching the payment.
func TestStreamClientDisconnect(t *testing.T) {
	e := newStreamEnv(t, time.Hour)
	p := e.src.add()
	c1 := openStream(t, e.url(p.ID), nil)
	c2 := openStream(t, e.url(p.ID), nil)
	c1.next(5 * time.Second)
	c2.next(5 * time.Second)
	if n := e.hub.Watched(); n != 1 {
		t.Fatalf("watched %d payments, want 1 (two subscribers share one)", n)
	}
	c1.cancel()
	c2.cancel()
	deadline := time.Now().Add(5 * time.Second)
	for e.hub.Watched() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still watching %d payments after the clients left", e.hub.Watched())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamErrors: a malformed id is a 400 and an unknown payment a 404,
// both in the API's JSON error shape (EventSource does not reconnect after
// them).
func TestStreamErrors(t *testing.T) {
	e := newStreamEnv(t, time.Hour)
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/payments/nope/stream", 400, "invalid_id"},
		{"/payments/" + uuid.NewString() + "/stream", 404, "not_found"},
	} {
		resp, err := http.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			Success bool `json:"success"`
			Error   struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if resp.StatusCode != tc.status || json.Unmarshal(body, &got) != nil || got.Error.Code != tc.code || got.Success {
			t.Errorf("%s: %d %s, want %d with code %s", tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
	}
	if n := e.hub.Watched(); n != 0 {
		t.Errorf("watching %d payments after refused streams", n)
	}
}

// TestSlowSubscriberDropped: a subscriber that does not read is dropped
// with ErrSlow instead of holding up the others.
func TestSlowSubscriberDropped(t *testing.T) {
	src := newFakeSource()
	p := src.add()
	hub := NewHub(HubConfig{Source: src, PollInterval: time.Hour})
	t.Cleanup(hub.Close)
	slow, err := hub.Subscribe(p.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := hub.Subscribe(p.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	var got int
	for i := 0; i < 2*subscriberBuffer; i++ {
		src.change(t, p.ID, func(p *payments.Payment) { p.Received++ })
		hub.Notify(p.ID.String() + ":0")
		for more := true; more; {
			select {
			case <-fast.C():
				got++
			case <-time.After(20 * time.Millisecond):
				more = false
			}
		}
	}
	select {
	case <-slow.Done():
		if !errors.Is(slow.Err(), ErrSlow) {
			t.Errorf("slow subscriber ended with %v, want ErrSlow", slow.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
	if fast.Err() != nil || got < subscriberBuffer {
		t.Errorf("fast subscriber: err %v, %d messages; want it served", fast.Err(), got)
	}
}

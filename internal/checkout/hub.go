package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/payments"
)

// Source is where the checkout reads payments and their events.
// *payments.Service implements it.
type Source interface {
	// Get returns the payment, or an error wrapping payments.ErrNotFound.
	Get(ctx context.Context, id uuid.UUID) (*payments.Payment, error)
	// EventsSince returns the payment's events with a sequence above after,
	// in order.
	EventsSince(ctx context.Context, paymentID uuid.UUID, after int64) ([]payments.Event, error)
}

// Message is one update of a payment for a live stream: the payment object
// of the HTTP API and the sequence of the last event it includes.
type Message struct {
	// Seq is the sequence of the payment's last event at the time of Data,
	// 0 before the first event. It is the SSE id.
	Seq int64
	// Data is the payment object as JSON, without newlines.
	Data []byte
}

// Errors that end a subscription.
var (
	// ErrClosed means the hub has stopped (the daemon is shutting down).
	ErrClosed = errors.New("checkout: hub closed")
	// ErrSlow means the subscriber did not take its messages fast enough
	// and was dropped; it may subscribe again from the last id it got.
	ErrSlow = errors.New("checkout: subscriber too slow")
)

// Hub defaults.
const (
	DefaultPollInterval = 3 * time.Second
	subscriberBuffer    = 32
	refreshTimeout      = 10 * time.Second
	maxReconnectDelay   = 30 * time.Second
)

// HubConfig configures a Hub.
type HubConfig struct {
	// Source reads payments and events. Required.
	Source Source
	// Connect opens the dedicated connection the hub LISTENs on for
	// payments.EventsChannel. Nil means no listener: updates then come from
	// the poll alone.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// PollInterval is how often every watched payment is read again, so
	// that nothing is missed while the listener is down and confirmation
	// counts (which change without an event) stay current. Default
	// DefaultPollInterval.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Hub fans the events of payments out to live subscribers. Every process
// runs one: it LISTENs on payments.EventsChannel over one dedicated
// connection (reconnecting when it is lost) and also polls each watched
// payment, so a change committed by any process reaches every subscriber.
// The work per payment is shared by all of its subscribers.
type Hub struct {
	src     Source
	connect func(ctx context.Context) (*pgx.Conn, error)
	poll    time.Duration
	log     *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	topics map[uuid.UUID]*topic
	closed bool

	// listenPID is the backend PID of the live LISTEN connection, 0 while
	// there is none.
	listenPID atomic.Uint32
}

// topic is one watched payment: its subscribers and the goroutine that
// refreshes it.
type topic struct {
	id   uuid.UUID
	kick chan struct{} // buffered 1: a refresh is wanted
	stop chan struct{} // closed when the last subscriber leaves
	subs map[*Subscription]struct{}
}

// Subscription receives the updates of one payment. Read C until Done is
// closed, then Close it.
type Subscription struct {
	c     chan Message
	done  chan struct{}
	once  sync.Once
	err   error
	hub   *Hub
	topic *topic

	// after is the sequence of the last event sent, -1 before the first
	// refresh of a subscriber that asked for the current state only;
	// lastData the last payment sent. Both belong to the topic goroutine.
	after    int64
	lastData []byte
}

// NewHub returns a hub; Run starts its listener. Subscriptions work (by
// polling) before Run is called.
func NewHub(cfg HubConfig) *Hub {
	h := &Hub{
		src:     cfg.Source,
		connect: cfg.Connect,
		poll:    cfg.PollInterval,
		log:     cfg.Logger,
		topics:  make(map[uuid.UUID]*topic),
	}
	if h.poll <= 0 {
		h.poll = DefaultPollInterval
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// C delivers the subscription's messages in order.
func (s *Subscription) C() <-chan Message { return s.c }

// Done is closed when the subscription ends on the hub's side; Err says
// why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns ErrClosed or ErrSlow once Done is closed, nil before.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// end closes Done with err, once.
func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.unsubscribe(s)
	s.end(ErrClosed)
}

// Subscribe watches payment id. With after < 0 the subscriber first gets the
// payment's current state (with the sequence of its last event); with after
// ≥ 0 it first gets every event with a sequence above after, then the
// current state. Later changes follow as they happen. It fails with
// ErrClosed once the hub has stopped.
func (h *Hub) Subscribe(id uuid.UUID, after int64) (*Subscription, error) {
	if after < 0 {
		after = -1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	t := h.topics[id]
	if t == nil {
		t = &topic{id: id, kick: make(chan struct{}, 1), stop: make(chan struct{}), subs: make(map[*Subscription]struct{})}
		h.topics[id] = t
		h.wg.Go(func() { h.runTopic(t) })
	}
	s := &Subscription{c: make(chan Message, subscriberBuffer), done: make(chan struct{}), hub: h, topic: t, after: after}
	t.subs[s] = struct{}{}
	t.wake()
	return s, nil
}

func (h *Hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := s.topic
	if _, ok := t.subs[s]; !ok {
		return
	}
	delete(t.subs, s)
	if len(t.subs) == 0 && h.topics[t.id] == t {
		delete(h.topics, t.id)
		close(t.stop)
	}
}

// wake asks for a refresh without blocking; one pending request is enough.
func (t *topic) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Watched returns the number of payments with at least one subscriber.
func (h *Hub) Watched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.topics)
}

// Listening reports whether the hub's LISTEN connection is up.
func (h *Hub) Listening() bool { return h.listenPID.Load() != 0 }

// Notify handles one notification payload of payments.EventsChannel,
// "<payment id>:<sequence>": a watched payment is refreshed at once.
// Malformed payloads are ignored.
func (h *Hub) Notify(payload string) {
	idText, _, _ := strings.Cut(payload, ":")
	id, err := uuid.Parse(idText)
	if err != nil {
		h.log.Debug("checkout: ignoring a malformed event notification", "payload", payload)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[id]; t != nil {
		t.wake()
	}
}

// wakeAll refreshes every watched payment (after the listener
// reconnected: notifications sent while it was down are lost).
func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.topics {
		t.wake()
	}
}

// Run listens for event notifications until ctx is done, reconnecting with
// a growing delay whenever the connection is lost, then closes the hub:
// every subscription ends with ErrClosed. Without Connect it only waits for
// ctx. It returns nil.
func (h *Hub) Run(ctx context.Context) error {
	defer h.Close()
	if h.connect == nil {
		select {
		case <-ctx.Done():
		case <-h.ctx.Done():
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(h.ctx, cancel)
	delay := 250 * time.Millisecond
	for {
		listened, err := h.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			delay = 250 * time.Millisecond
		}
		h.log.Warn("checkout: event listener lost its database connection; live pages fall back to polling until it is back",
			"err", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, maxReconnectDelay)
	}
}

// listen opens the connection, LISTENs and hands every notification to
// Notify until the connection fails or ctx is done. listened reports
// whether LISTEN succeeded.
func (h *Hub) listen(ctx context.Context) (listened bool, err error) {
	conn, err := h.connect(ctx)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		h.listenPID.Store(0)
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{payments.EventsChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	h.listenPID.Store(conn.PgConn().PID())
	h.log.Debug("checkout: listening for payment events", "channel", payments.EventsChannel)
	h.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		h.Notify(n.Payload)
	}
}

// Close stops the hub: every subscription ends with ErrClosed and new ones
// are refused. It waits for the hub's goroutines and is safe to call more
// than once.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var subs []*Subscription
	for id, t := range h.topics {
		for s := range t.subs {
			subs = append(subs, s)
		}
		delete(h.topics, id)
		close(t.stop)
	}
	h.mu.Unlock()
	h.cancel()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	h.wg.Wait()
}

// runTopic refreshes t when kicked and on every poll tick until its last
// subscriber leaves or the hub closes.
func (h *Hub) runTopic(t *topic) {
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-h.ctx.Done():
			return
		case <-t.kick:
		case <-tick.C:
		}
		h.refresh(t)
	}
}

// subscribers returns t's current subscribers.
func (h *Hub) subscribers(t *topic) []*Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Subscription, 0, len(t.subs))
	for s := range t.subs {
		out = append(out, s)
	}
	return out
}

// refresh reads t's new events and current state and sends each subscriber
// what it has not had yet: the events after its last sequence (unless it
// asked for the current state only), then the current state when it differs
// from the last payment sent. The events are read before the state, so the
// state is never older than the last event sent.
func (h *Hub) refresh(t *topic) {
	subs := h.subscribers(t)
	if len(subs) == 0 {
		return
	}
	after := subs[0].after
	for _, s := range subs[1:] {
		after = min(after, s.after)
	}
	ctx, cancel := context.WithTimeout(h.ctx, refreshTimeout)
	defer cancel()
	events, err := h.src.EventsSince(ctx, t.id, max(after, 0))
	if err != nil {
		h.logRefreshError(t.id, err)
		return
	}
	p, err := h.src.Get(ctx, t.id)
	if err != nil {
		h.logRefreshError(t.id, err)
		return
	}
	// The stream needs no key: it carries the public view.
	state, err := json.Marshal(p.JSON().Public())
	if err != nil {
		h.log.Error("checkout: encode payment", "payment_id", t.id, "err", err)
		return
	}
	msgs := make([]Message, 0, len(events))
	for _, ev := range events {
		data, err := eventPayment(ev.Payload)
		if err != nil {
			h.log.Error("checkout: event without a payment", "payment_id", t.id, "sequence", ev.Sequence, "err", err)
			continue
		}
		msgs = append(msgs, Message{Seq: ev.Sequence, Data: data})
	}
	for _, s := range subs {
		if s.after < 0 {
			// A new subscriber without Last-Event-ID: the state alone,
			// with the sequence of the last event.
			s.after = 0
			if len(events) > 0 {
				s.after = events[len(events)-1].Sequence
			}
		}
		for _, m := range msgs {
			if m.Seq > s.after && !h.send(s, m) {
				break
			}
		}
		if !bytes.Equal(s.lastData, state) {
			h.send(s, Message{Seq: s.after, Data: state})
		}
	}
}

// send hands m to s without blocking and records it as sent; a subscriber
// whose buffer is full is dropped with ErrSlow.
func (h *Hub) send(s *Subscription, m Message) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.c <- m:
		s.after, s.lastData = m.Seq, m.Data
		return true
	default:
		h.log.Debug("checkout: dropping a slow stream subscriber", "payment_id", s.topic.id)
		h.unsubscribe(s)
		s.end(ErrSlow)
		return false
	}
}

func (h *Hub) logRefreshError(id uuid.UUID, err error) {
	if h.ctx.Err() != nil {
		return
	}
	if errors.Is(err, payments.ErrNotFound) {
		h.log.Debug("checkout: watched payment not found", "payment_id", id)
		return
	}
	h.log.Warn("checkout: refresh of a watched payment failed; retrying at the next poll", "payment_id", id, "err", err)
}

// eventPayment returns the payment object of an event's webhook body,
// compacted onto one line.
func eventPayment(payload []byte) ([]byte, error) {
	var body struct {
		Payment json.RawMessage `json:"payment"`
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		return nil, err
	}
	if len(body.Payment) == 0 || body.Payment[0] != '{' {
		return nil, errors.New("no payment object")
	}
	// The event's payment is the whole one (webhooks carry it); the
	// stream shows only the public view, which has no newlines.
	return payments.PublicJSON(body.Payment)
}

// parseLastEventID reads a Last-Event-ID value: a sequence, or -1 when it is
// missing or not one.
func parseLastEventID(v string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

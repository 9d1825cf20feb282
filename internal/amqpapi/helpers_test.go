package amqpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

// sharedNode is the litecoind every test of this package that needs a
// node shares (each test makes its own database, exchange and queues),
// started on first use: the fuzz target needs none.
var sharedNode regtest.Lazy

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	defer sharedNode.Stop()
	return pgtest.Run(m)
}

// brokerURL is the RabbitMQ the tests use: TEST_AMQP_URL, else the
// machine's broker with the guest account (make test starts one when none
// answers).
func brokerURL() string {
	if v := os.Getenv("TEST_AMQP_URL"); v != "" {
		return v
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// brokerAddr is host:port of brokerURL.
func brokerAddr(t *testing.T) string {
	t.Helper()
	u, err := amqp.ParseURI(brokerURL())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", u.Host, u.Port)
}

// admin opens the test's own connection to the broker, closed when the
// test ends. It fails, never skips, when no broker answers.
func admin(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Fatalf("no RabbitMQ at %s (%v): run make test (it starts one), or start rabbitmq-server, or set TEST_AMQP_URL",
			brokerAddr(t), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "." + hex.EncodeToString(b)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// counts records the Client's observations, for the metrics.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

// world is one test's transientd: a database, a payment service whose
// events go through the outbox, River working the delivery queue, and a
// Client on the test's own exchange and command queue.
type world struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	svc      *payments.Service
	outbox   *webhook.Outbox
	client   *Client
	exchange string
	queue    string
	logs     *syncBuffer
	counts   *counts
	admin    *amqp.Channel
	runDone  chan struct{}
	stopRun  context.CancelFunc
}

type worldOption func(*Config)

// viaURL makes the Client connect to url instead of the broker.
func viaURL(url string) worldOption { return func(c *Config) { c.URL = url } }

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, pool: pgtest.NewPool(t), logs: &syncBuffer{}, counts: &counts{},
		exchange: randomName("transient.test.events"), queue: randomName("transient.test.commands")}
	w.admin = admin(t)
	t.Cleanup(func() {
		ch := admin(t)
		_, _ = ch.QueueDelete(w.queue, false, false, false)
		_ = ch.ExchangeDelete(w.exchange, false, false)
	})
	workers := river.NewWorkers()
	jobs, err := river.NewClient(riverpgxv5.New(w.pool), &river.Config{
		Queues:            map[string]river.QueueConfig{webhook.Queue: {MaxWorkers: 8}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.outbox = webhook.NewOutbox(w.pool, jobs, webhook.Config{Logger: log})
	webhook.AddWorkers(workers, w.outbox)
	w.svc = payments.NewService(w.pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: sharedNode.Get(t).Client(regtest.MerchantWallet), Confirmations: 2,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet}},
		NodeTimeout: 5 * time.Second,
		Jobs:        jobs,
		Outbox:      w.outbox,
		Logger:      log,
	})
	cfg := Config{
		URL: brokerURL(), Exchange: w.exchange, CommandQueue: w.queue, Commands: true, Payments: w.svc, Logger: log,
		OnMessage: func(kind, result string) { w.counts.add(kind + ":" + result) },
		OnCommand: func(typ, outcome string) { w.counts.add(typ + ":" + outcome) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	w.client, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.outbox.AddTransport(Kind, w.client)
	w.svc.AddEventHook(w.client)
	if err := jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		_ = jobs.Stop(sctx)
	})
	w.start()
	t.Cleanup(func() {
		w.stop()
		if t.Failed() {
			t.Logf("log:\n%s", w.logs.String())
		}
	})
	return w
}

// start runs the Client until stop.
func (w *world) start() {
	runCtx, stop := context.WithCancel(context.Background())
	w.stopRun, w.runDone = stop, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := w.client.Run(runCtx); err != nil {
			w.t.Errorf("Run: %v", err)
		}
	}(w.runDone)
}

// stop ends Run and waits for it.
func (w *world) stop() {
	if w.stopRun == nil {
		return
	}
	w.stopRun()
	select {
	case <-w.runDone:
	case <-time.After(20 * time.Second):
		w.t.Error("Run did not return within 20s of its context ending")
	}
	w.stopRun = nil
}

// waitConnected waits until the Client reports a connection.
func (w *world) waitConnected() {
	w.t.Helper()
	waitFor(w.t, 20*time.Second, "the client to connect", func() bool {
		_, err := w.client.Check(w.ctx)
		return err == nil
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inbox is a queue of the test bound to an exchange, collecting what
// arrives.
type inbox struct {
	mu   sync.Mutex
	msgs []amqp.Delivery
}

// bind declares an exclusive queue bound to exchange with pattern and
// collects its messages.
func (w *world) bind(pattern string) *inbox {
	w.t.Helper()
	ch := admin(w.t)
	if err := ch.ExchangeDeclare(w.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		w.t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, pattern, w.exchange, false, nil); err != nil {
		w.t.Fatal(err)
	}
	return collect(w.t, ch, q.Name)
}

func collect(t *testing.T, ch *amqp.Channel, queue string) *inbox {
	t.Helper()
	msgs, err := ch.Consume(queue, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox{}
	go func() {
		for m := range msgs {
			in.mu.Lock()
			in.msgs = append(in.msgs, m)
			in.mu.Unlock()
		}
	}()
	return in
}

func (in *inbox) all() []amqp.Delivery {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]amqp.Delivery(nil), in.msgs...)
}

// byMessageID returns the first message with each message_id.
func (in *inbox) byMessageID() map[string]amqp.Delivery {
	out := map[string]amqp.Delivery{}
	for _, m := range in.all() {
		if _, ok := out[m.MessageId]; !ok {
			out[m.MessageId] = m
		}
	}
	return out
}

// commander sends commands to the world's queue and collects the replies
// on a queue of its own.
type commander struct {
	w       *world
	ch      *amqp.Channel
	replyTo string
	replies *inbox
}

func (w *world) commander() *commander {
	w.t.Helper()
	ch := admin(w.t)
	if _, err := ch.QueueDeclare(w.queue, true, false, false, false, nil); err != nil {
		w.t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return &commander{w: w, ch: ch, replyTo: q.Name, replies: collect(w.t, ch, q.Name)}
}

// send publishes a command and returns its correlation id.
func (c *commander) send(typ, messageID, body string, mod ...func(*amqp.Publishing)) string {
	c.w.t.Helper()
	corr := randomName("corr")
	msg := amqp.Publishing{ContentType: "application/json", Type: typ, MessageId: messageID, CorrelationId: corr,
		ReplyTo: c.replyTo, Body: []byte(body)}
	for _, m := range mod {
		m(&msg)
	}
	if err := c.ch.PublishWithContext(c.w.ctx, "", c.w.queue, false, false, msg); err != nil {
		c.w.t.Fatal(err)
	}
	return corr
}

// reply waits for the reply with correlation id corr.
func (c *commander) reply(corr string, timeout time.Duration) amqp.Delivery {
	c.w.t.Helper()
	var got amqp.Delivery
	waitFor(c.w.t, timeout, "the reply to "+corr, func() bool {
		for _, m := range c.replies.all() {
			if m.CorrelationId == corr {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// status returns a reply's status header.
func status(t *testing.T, m amqp.Delivery) int {
	t.Helper()
	v, ok := m.Headers[StatusHeader].(int32)
	if !ok {
		t.Fatalf("reply without an integer status header: %v", m.Headers)
	}
	return int(v)
}

// eventPayloads returns every event of the database: id → payload.
func (w *world) eventPayloads() map[string][]byte {
	w.t.Helper()
	rows, err := w.pool.Query(w.ctx, `SELECT id::text, payload FROM payment_events`)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string][]byte{}
	var (
		id      string
		payload []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &payload}, func() error {
		out[id] = append([]byte(nil), payload...)
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// proxy is a TCP proxy to the broker that the test can cut off: open
// connections are closed and new ones refused until it is restored.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

// url is brokerURL with the proxy's address.
func (p *proxy) url(t *testing.T) string {
	return strings.Replace(brokerURL(), brokerAddr(t), p.ln.Addr().String(), 1)
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// brokerURL is the RabbitMQ of the AMQP tests (see internal/amqpapi).
func brokerURL() string {
	if v := os.Getenv("TEST_AMQP_URL"); v != "" {
		return v
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// amqpQueue is a test queue bound to an exchange with "#", counting the
// messages of each message_id.
type amqpQueue struct {
	mu   sync.Mutex
	seen map[string]int
	keys map[string]string // message_id → routing key
}

func (q *amqpQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.seen)
}

func (q *amqpQueue) missing(ids []string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, id := range ids {
		if q.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// bindAMQP declares the exchange and a queue of the test bound to it, and
// deletes both when the test ends.
func bindAMQP(t *testing.T, exchange string) *amqpQueue {
	t.Helper()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Fatalf("no RabbitMQ (%v): run make test, which starts one, or set TEST_AMQP_URL", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	onBroker(t, func(ch *amqp.Channel) { _ = ch.ExchangeDelete(exchange, false, false) })
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &amqpQueue{seen: map[string]int{}, keys: map[string]string{}}
	go func() {
		for m := range msgs {
			out.mu.Lock()
			out.seen[m.MessageId]++
			out.keys[m.MessageId] = m.RoutingKey
			out.mu.Unlock()
		}
	}()
	return out
}

// deleteQueue deletes the queue when the test ends.
func deleteQueue(t *testing.T, name string) {
	onBroker(t, func(ch *amqp.Channel) { _, _ = ch.QueueDelete(name, false, false, false) })
}

// onBroker runs clean on a channel of its own when the test ends.
func onBroker(t *testing.T, clean func(*amqp.Channel)) {
	t.Cleanup(func() {
		c, err := amqp.Dial(brokerURL())
		if err != nil {
			return
		}
		defer c.Close()
		if ch, err := c.Channel(); err == nil {
			clean(ch)
		}
	})
}

func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "." + hex.EncodeToString(b)
}

// TestAMQPEventsSurviveSIGKILL kills transientd with SIGKILL while it
// publishes a stream of payment events to RabbitMQ, starts it again and
// expects every event on the exchange at least once, every delivery
// delivered, the broker in /readyz and the AMQP metrics counting.
func TestAMQPEventsSurviveSIGKILL(t *testing.T) {
	node := startNode(t, "")
	exchange, queue := uniqueName("transient.e2e.events"), uniqueName("transient.e2e.commands")
	deleteQueue(t, queue)
	inbox := bindAMQP(t, exchange)
	db := pgtest.NewDatabase(t)
	d := startDaemon(t, append(coinEnv(node), "DATABASE_URL="+db, "CATCHUP_INTERVAL=300ms", "JOB_RESCUE_AFTER=5s",
		"AMQP_URL="+brokerURL(), "AMQP_EXCHANGE="+exchange, "AMQP_COMMAND_QUEUE="+queue)...)
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	ps := make([]payment, 20)
	for i := range ps {
		ps[i] = d.create("LTC", "0.01")
	}
	payAll(t, node, ps, 1_000_000)
	waitFor(t, 60*time.Second, func() bool { return inbox.count() >= 3 },
		func() string { return fmt.Sprintf("%d events published", inbox.count()) })
	d.kill()
	before := inbox.count()
	d.restart()
	if _, err := node.Mine(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		d.waitStatus(p.ID, "PAID", 2*time.Minute)
	}
	var pending int
	waitFor(t, 2*time.Minute, func() bool {
		if err := pool.QueryRow(context.Background(),
			`SELECT count(*) FROM webhook_deliveries WHERE kind = 'amqp' AND state <> 'delivered'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0 && len(inbox.missing(eventIDs(t, pool))) == 0
	}, func() string {
		return fmt.Sprintf("%d amqp deliveries not delivered, %d events not received", pending, len(inbox.missing(eventIDs(t, pool))))
	})
	all := eventIDs(t, pool)
	// Each payment was created and moved at least once (UNPAID→PENDING→PAID,
	// or straight to PAID when found only after the blocks).
	if len(all) < 2*len(ps) {
		t.Fatalf("%d events for %d payments paid and confirmed, want at least %d", len(all), len(ps), 2*len(ps))
	}
	var deliveries int
	if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT event_id) FROM webhook_deliveries WHERE kind = 'amqp'`).
		Scan(&deliveries); err != nil || deliveries != len(all) {
		t.Fatalf("%d events with an amqp delivery (%v), want all %d", deliveries, err, len(all))
	}
	inbox.mu.Lock()
	for id, key := range inbox.keys {
		if !strings.HasPrefix(key, "payment.status_changed.ltc.") && !strings.HasPrefix(key, "payment.settled.ltc.") &&
			key != "payment.created.ltc.unpaid" {
			t.Errorf("event %s routed as %q", id, key)
		}
	}
	inbox.mu.Unlock()
	t.Logf("%d events: %d received before SIGKILL, all received after the restart", len(all), before)

	// The delivery log shows the broker beside any webhook.
	var events struct {
		Events []struct {
			Deliveries []struct {
				Kind, URL, State string
			} `json:"deliveries"`
		} `json:"events"`
	}
	if code := d.call("GET", "/payments/"+ps[0].ID+"/events", "", &events); code != 200 || len(events.Events) == 0 {
		t.Fatalf("events: %d", code)
	}
	dl := events.Events[0].Deliveries
	if len(dl) != 1 || dl[0].Kind != "amqp" || dl[0].State != "delivered" || strings.Contains(dl[0].URL, "guest") ||
		!strings.Contains(dl[0].URL, "exchange="+exchange) {
		t.Errorf("delivery log of the first event: %+v", dl)
	}

	// /readyz reports the broker; /metrics counts the messages.
	var ready struct {
		Checks []struct {
			Name     string `json:"name"`
			OK       bool   `json:"ok"`
			Optional bool   `json:"optional"`
		} `json:"checks"`
	}
	waitFor(t, 10*time.Second, func() bool {
		d.call("GET", "/readyz", "", &ready)
		for _, c := range ready.Checks {
			if c.Name == "amqp" {
				return c.OK && c.Optional
			}
		}
		return false
	}, func() string { return fmt.Sprintf("readyz checks %+v, want amqp ok and optional", ready.Checks) })
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`transient_amqp_messages_total{kind="event",result="confirmed"}`, "transient_amqp_connected 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Commands resume after the crash too: a create through the queue makes
	// a payment the HTTP API serves.
	createOverAMQP(t, d, queue)
}

// createOverAMQP sends a payments.create command to queue and checks the
// reply against the payment the daemon serves over HTTP.
func createOverAMQP(t *testing.T, d *daemon, queue string) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	replyQ, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := ch.Consume(replyQ.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{
		ContentType: "application/json", Type: "payments.create", MessageId: uniqueName("order"),
		CorrelationId: "c-1", ReplyTo: replyQ.Name, Body: []byte(`{"currency":"LTC","amount":"0.5"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-replies:
		var body struct {
			Payment payment `json:"payment"`
		}
		if r.CorrelationId != "c-1" || r.Headers["status"] != int32(201) || json.Unmarshal(r.Body, &body) != nil {
			t.Fatalf("reply: %v %v %s", r.CorrelationId, r.Headers, r.Body)
		}
		if got := d.get(body.Payment.ID); got.Status != "UNPAID" || got.Address != body.Payment.Address {
			t.Fatalf("payment over HTTP: %+v, reply named %+v", got, body.Payment)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no reply to the create command within 60s")
	}
}

package amqpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/transient-gateway/transient/internal/api"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

// payAndConfirm takes p through a real payment on the regtest chain:
// paid (PENDING), then two blocks (PAID).
func (w *world) payAndConfirm(p *payments.Payment) {
	w.t.Helper()
	txid, err := sharedNode.Get(w.t).Send(w.ctx, regtest.MinerWallet, p.Address, int64(p.Amount), false)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.svc.ProcessTx(w.ctx, "LTC", txid); err != nil {
		w.t.Fatal(err)
	}
	if _, err := sharedNode.Get(w.t).Mine(w.ctx, 2); err != nil {
		w.t.Fatal(err)
	}
	if err := w.svc.ProcessTx(w.ctx, "LTC", txid); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) create(amount string) *payments.Payment {
	w.t.Helper()
	a, err := payments.ParseAmount(amount)
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := w.svc.Create(w.ctx, payments.CreateRequest{Coin: "LTC", Amount: a})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// TestEventsPublished pays a real regtest payment and expects every status
// change on the exchange with its routing key, the webhook body byte for
// byte, and the documented properties; consumers bound with the README's
// patterns each get their share; the delivery log shows the publications.
func TestEventsPublished(t *testing.T) {
	w := newWorld(t)
	all, paid, ltc := w.bind("payment.#"), w.bind("#.paid"), w.bind("*.*.ltc.*")
	w.waitConnected()
	p := w.create("0.75")
	w.payAndConfirm(p)
	got, err := w.svc.Get(w.ctx, p.ID)
	if err != nil || got.Status != payments.StatusPaid {
		t.Fatalf("payment after paying and mining: %v %v, want PAID", got, err)
	}

	events, err := w.svc.Events(w.ctx, p.ID)
	if err != nil || len(events) < 2 {
		t.Fatalf("events: %d %v, want at least UNPAID>PENDING and PENDING>PAID", len(events), err)
	}
	waitFor(t, 30*time.Second, "every event on the exchange", func() bool { return len(all.byMessageID()) == len(events) })
	msgs := all.byMessageID()
	for _, ev := range events {
		m, ok := msgs[ev.ID.String()]
		if !ok {
			t.Fatalf("event %s (%s %s>%s) not published", ev.ID, ev.Type, ev.PreviousStatus, ev.Status)
		}
		wantKey := strings.ToLower(ev.Type + ".ltc." + string(ev.Status))
		if m.RoutingKey != wantKey {
			t.Errorf("event %s: routing key %q, want %q", ev.ID, m.RoutingKey, wantKey)
		}
		if !bytes.Equal(m.Body, ev.Payload) {
			t.Errorf("event %s: body %s, want the webhook body %s", ev.ID, m.Body, ev.Payload)
		}
		if m.ContentType != "application/json" || m.DeliveryMode != amqp.Persistent || m.Type != ev.Type ||
			m.AppId != "transient" || !m.Timestamp.Equal(ev.OccurredAt.Truncate(time.Second)) || m.Exchange != w.exchange {
			t.Errorf("event %s: properties content_type %q delivery_mode %d type %q app_id %q timestamp %s exchange %q; "+
				"want application/json, 2, %q, transient, %s, %q", ev.ID, m.ContentType, m.DeliveryMode, m.Type, m.AppId,
				m.Timestamp, m.Exchange, ev.Type, ev.OccurredAt.Truncate(time.Second), w.exchange)
		}
	}
	keys := func(in *inbox) []string {
		var out []string
		for _, m := range in.all() {
			out = append(out, m.RoutingKey)
		}
		return out
	}
	waitFor(t, 10*time.Second, "the #.paid and *.*.ltc.* consumers", func() bool {
		return len(paid.all()) >= 1 && len(ltc.all()) >= len(events)
	})
	for _, k := range keys(paid) {
		if !strings.HasSuffix(k, ".paid") {
			t.Errorf("#.paid consumer got %q", k)
		}
	}
	if !strings.Contains(strings.Join(keys(all), " "), "payment.status_changed.ltc.pending") ||
		!strings.Contains(strings.Join(keys(all), " "), "payment.status_changed.ltc.paid") {
		t.Errorf("routing keys %v lack the pending and paid status changes", keys(all))
	}

	// The delivery log shows each publication as a delivered amqp delivery.
	ids := make([]uuid.UUID, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	waitFor(t, 10*time.Second, "the delivery log to show the publications delivered", func() bool {
		logs, err := w.outbox.Deliveries(w.ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			ds := logs[id]
			if len(ds) != 1 || ds[0].Kind != Kind || ds[0].State != webhook.StateDelivered || ds[0].URL != w.client.Destination() {
				return false
			}
		}
		return true
	})
	if !strings.Contains(w.client.Destination(), "exchange="+w.exchange) || strings.Contains(w.client.Destination(), "guest") {
		t.Errorf("destination %q: want the broker and exchange, without credentials", w.client.Destination())
	}
	if n := w.counts.get("event:confirmed"); n < len(events) {
		t.Errorf("%d events counted confirmed, want at least %d", n, len(events))
	}
}

// TestUnroutableEventCountsReturned publishes with no queue bound: the
// broker returns the message, it is counted, and the delivery is not
// retried for ever.
func TestUnroutableEventCountsReturned(t *testing.T) {
	w := newWorld(t)
	w.waitConnected()
	p := w.create("0.1")
	w.payAndConfirm(p)
	events, err := w.svc.Events(w.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every event returned as unroutable", func() bool {
		return w.counts.get("event:returned") >= len(events)
	})
	// The attempt is recorded once the confirmation, which follows the
	// return, has come.
	var d []webhook.Delivery
	waitFor(t, 10*time.Second, "the unroutable event's delivery to be recorded", func() bool {
		logs, err := w.outbox.Deliveries(w.ctx, []uuid.UUID{events[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		d = logs[events[0].ID]
		return len(d) == 1 && d[0].State != webhook.StatePending
	})
	if d[0].State != webhook.StateDelivered || len(d[0].Attempts) != 1 {
		t.Fatalf("unroutable event's delivery: %+v, want delivered at the first attempt", d)
	}
}

// httpAnswer makes a request to a real HTTP API on the same service and
// returns the status and body.
func httpAnswer(t *testing.T, svc *payments.Service, method, path string) (int, []byte) {
	t.Helper()
	srv := httptest.NewServer(api.New(api.Config{Payments: svc, AllowUnauthenticated: true}))
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestCommands creates and reads a payment over the command queue: the
// replies carry the correlation id, the HTTP status and the HTTP API's body
// byte for byte.
func TestCommands(t *testing.T) {
	w := newWorld(t)
	cmd := w.commander()
	w.waitConnected()

	corr := cmd.send(CommandCreate, uuid.NewString(), `{"currency":"LTC","amount":"1.5","order_id":"o-7","metadata":{"k":"v"}}`)
	r := cmd.reply(corr, 20*time.Second)
	if status(t, r) != http.StatusCreated || r.ContentType != "application/json" || r.CorrelationId != corr {
		t.Fatalf("create reply: status %d, content type %q, correlation %q: %s", status(t, r), r.ContentType, r.CorrelationId, r.Body)
	}
	var created struct {
		Success bool `json:"success"`
		Payment struct {
			ID     string `json:"id"`
			Amount json.Number
		} `json:"payment"`
	}
	if err := json.Unmarshal(r.Body, &created); err != nil || !created.Success || created.Payment.ID == "" {
		t.Fatalf("create reply body %s: %v", r.Body, err)
	}
	// The reply is what GET /payments/{id} answers for the payment just
	// made, byte for byte.
	code, body := httpAnswer(t, w.svc, "GET", "/payments/"+created.Payment.ID)
	if code != http.StatusOK || !bytes.Equal(body, r.Body) {
		t.Errorf("create reply differs from the HTTP API's answer:\namqp: %s\nhttp: %s", r.Body, body)
	}

	corr = cmd.send(CommandGet, "", `{"id":"`+created.Payment.ID+`"}`)
	r = cmd.reply(corr, 20*time.Second)
	if status(t, r) != http.StatusOK || !bytes.Equal(r.Body, body) {
		t.Errorf("get reply: status %d body %s, want 200 and %s", status(t, r), r.Body, body)
	}

	for _, tc := range []struct{ name, id, path string }{
		{"unknown id", uuid.NewString(), ""},
		{"malformed id", "not-a-uuid", "/payments/not-a-uuid"},
	} {
		corr := cmd.send(CommandGet, "", `{"id":"`+tc.id+`"}`)
		r := cmd.reply(corr, 20*time.Second)
		path := tc.path
		if path == "" {
			path = "/payments/" + tc.id
		}
		code, body := httpAnswer(t, w.svc, "GET", path)
		if status(t, r) != code || !bytes.Equal(r.Body, body) {
			t.Errorf("%s: reply %d %s, want the HTTP API's %d %s", tc.name, status(t, r), r.Body, code, body)
		}
	}
	// A command is counted once acknowledged, just after its reply.
	waitFor(t, 10*time.Second, "the commands to be counted", func() bool {
		return w.counts.get("payments.create:201") == 1 && w.counts.get("payments.get:200") == 1 &&
			w.counts.get("payments.get:404") == 1 && w.counts.get("payments.get:400") == 1
	})
}

// TestDuplicateCreateCommand delivers the same create twice (the same
// message_id): one payment, both replies name it; the same message_id with
// another body is refused.
func TestDuplicateCreateCommand(t *testing.T) {
	w := newWorld(t)
	cmd := w.commander()
	w.waitConnected()
	id := uuid.NewString()
	body := `{"currency":"LTC","amount":"0.3"}`
	first := cmd.reply(cmd.send(CommandCreate, id, body), 20*time.Second)
	second := cmd.reply(cmd.send(CommandCreate, id, body), 20*time.Second)
	if status(t, first) != 201 || status(t, second) != 201 {
		t.Fatalf("replies %d %s / %d %s, want 201 twice", status(t, first), first.Body, status(t, second), second.Body)
	}
	if !bytes.Equal(first.Body, second.Body) {
		t.Errorf("the two replies differ:\n%s\n%s", first.Body, second.Body)
	}
	if second.Headers[ReplayedHeader] != true || first.Headers[ReplayedHeader] != nil {
		t.Errorf("replayed header: first %v, second %v", first.Headers[ReplayedHeader], second.Headers[ReplayedHeader])
	}
	var n int
	if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d payments (%v), want 1", n, err)
	}
	other := cmd.reply(cmd.send(CommandCreate, id, `{"currency":"LTC","amount":"0.4"}`), 20*time.Second)
	if status(t, other) != http.StatusUnprocessableEntity || !strings.Contains(string(other.Body), "idempotency_key_reused") {
		t.Errorf("same message_id, other body: %d %s, want 422 idempotency_key_reused", status(t, other), other.Body)
	}
}

// TestMalformedCommands sends commands that cannot be run: each gets an
// error reply saying why, and each is acknowledged (the queue is empty
// once the client has let go of everything).
func TestMalformedCommands(t *testing.T) {
	w := newWorld(t)
	cmd := w.commander()
	w.waitConnected()
	for _, tc := range []struct {
		name, typ, messageID, body string
		mod                        func(*amqp.Publishing)
		status                     int
		code                       string
	}{
		{"not JSON", CommandCreate, "m1", `{"currency":`, nil, 400, "malformed_json"},
		{"unknown field", CommandCreate, "m2", `{"currency":"LTC","amount":"1","colour":"red"}`, nil, 400, "unknown_field"},
		{"bad amount", CommandCreate, "m3", `{"currency":"LTC","amount":"-1"}`, nil, 400, "invalid_amount"},
		{"no message_id", CommandCreate, "", `{"currency":"LTC","amount":"1"}`, nil, 400, "message_id_required"},
		{"unknown type", "payments.delete", "m4", `{}`, nil, 400, "unknown_command"},
		{"no type", "", "m5", `{}`, nil, 400, "unknown_command"},
		{"not JSON content type", CommandGet, "", `id=1`, func(p *amqp.Publishing) { p.ContentType = "text/plain" }, 415, "unsupported_media_type"},
		{"too large", CommandCreate, "m6", `{"currency":"LTC","amount":"1","account":"` + strings.Repeat("x", 70000) + `"}`, nil, 413, "body_too_large"},
	} {
		corr := cmd.send(tc.typ, tc.messageID, tc.body, func(p *amqp.Publishing) {
			if tc.mod != nil {
				tc.mod(p)
			}
		})
		r := cmd.reply(corr, 20*time.Second)
		var e struct {
			Success bool `json:"success"`
			Error   struct{ Code, Message string }
		}
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Success || e.Error.Code != tc.code || e.Error.Message == "" ||
			status(t, r) != tc.status {
			t.Errorf("%s: reply %d %s, want %d %s", tc.name, status(t, r), r.Body, tc.status, tc.code)
		}
	}
	// A malformed command without reply_to is acknowledged too.
	if err := cmd.ch.PublishWithContext(w.ctx, "", w.queue, false, false, amqp.Publishing{Type: CommandCreate, Body: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the command without reply_to to be handled", func() bool {
		return w.counts.get("payments.create:400") >= 5
	})
	// Once the client has closed its channel nothing it held unacknowledged
	// is left: the queue is empty.
	w.stop()
	q, err := cmd.ch.QueueDeclarePassive(w.queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 0 {
		t.Fatalf("%d commands left in the queue, want 0: malformed commands must be acknowledged", q.Messages)
	}
}

// TestBrokerCutOff cuts the connection between the client and the broker
// with a TCP proxy, makes status changes and sends commands while it is
// cut, and expects every event and every reply once the link is back, with
// the readiness check failing meanwhile.
func TestBrokerCutOff(t *testing.T) {
	px := startProxy(t, brokerAddr(t))
	w := newWorld(t, viaURL(px.url(t)))
	all := w.bind("#")
	cmd := w.commander()
	w.waitConnected()
	before := w.create("0.2")
	waitFor(t, 10*time.Second, "the client to be up", func() bool { _, err := w.client.Check(w.ctx); return err == nil })

	px.cut()
	waitFor(t, 20*time.Second, "the client to notice the cut", func() bool {
		_, err := w.client.Check(w.ctx)
		return err != nil
	})
	if _, err := w.client.Check(w.ctx); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("readiness during the cut: %v", err)
	}
	// Status changes and commands while the link is down.
	w.payAndConfirm(before)
	during := w.create("0.3")
	w.payAndConfirm(during)
	createID := uuid.NewString()
	corrCreate := cmd.send(CommandCreate, createID, `{"currency":"LTC","amount":"0.4"}`)
	corrGet := cmd.send(CommandGet, "", `{"id":"`+before.ID.String()+`"}`)
	// The publications fail and are retried meanwhile.
	waitFor(t, 20*time.Second, "a failed publication during the cut", func() bool {
		return w.counts.get("event:failed") > 0
	})

	px.restore()
	w.waitConnected()
	r := cmd.reply(corrCreate, 30*time.Second)
	if status(t, r) != http.StatusCreated {
		t.Errorf("create sent during the cut: %d %s", status(t, r), r.Body)
	}
	if r := cmd.reply(corrGet, 30*time.Second); status(t, r) != http.StatusOK || !strings.Contains(string(r.Body), before.ID.String()) {
		t.Errorf("get sent during the cut: %d %s", status(t, r), r.Body)
	}
	want := w.eventPayloads()
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d events after the cut", len(want)), func() bool {
		return len(all.byMessageID()) == len(want)
	})
	for id, m := range all.byMessageID() {
		if !bytes.Equal(m.Body, want[id]) {
			t.Errorf("event %s: body %s, want %s", id, m.Body, want[id])
		}
	}
}

// TestPasswordNeverShown connects with a wrong password and to a broker
// that is not there, then looks for the password in every log line, the
// readiness error and the delivery log.
func TestPasswordNeverShown(t *testing.T) {
	const secret = "s3cr3t/pa?ss#word"
	for _, tc := range []struct{ name, url string }{
		{"refused", "amqp://guest:s3cr3t%2Fpa%3Fss%23word@" + brokerAddr(t) + "/"},
		{"unreachable", "amqp://guest:s3cr3t%2Fpa%3Fss%23word@127.0.0.1:1/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, viaURL(tc.url))
			w.create("0.1") // an event to publish: its failures go to the delivery log
			p := w.create("0.1")
			w.payAndConfirm(p)
			var lastErrors string
			waitFor(t, 20*time.Second, "failed connection attempts and recorded publication errors", func() bool {
				if err := w.pool.QueryRow(w.ctx, `SELECT coalesce(string_agg(error, ' | '), '') FROM webhook_attempts`).
					Scan(&lastErrors); err != nil {
					t.Fatal(err)
				}
				return strings.Count(w.logs.String(), "cannot connect") >= 2 && lastErrors != ""
			})
			_, checkErr := w.client.Check(w.ctx)
			if checkErr == nil {
				t.Fatal("connected with a wrong password")
			}
			for what, text := range map[string]string{"log": w.logs.String(), "readiness": checkErr.Error(),
				"delivery log": lastErrors, "destination": w.client.Destination()} {
				for _, form := range []string{secret, "s3cr3t%2Fpa%3Fss%23word", "s3cr3t"} {
					if strings.Contains(text, form) {
						t.Errorf("the %s shows the password (%q):\n%s", what, form, text)
					}
				}
			}
			t.Logf("readiness: %v; attempt errors: %s", checkErr, lastErrors)
		})
	}
}

// TestScrubHandler checks the log wrapper on every kind of attribute, and
// that destinations and URL errors carry no password.
func TestScrubHandler(t *testing.T) {
	var buf bytes.Buffer
	c, err := New(Config{URL: "amqp://u:hunter2@127.0.0.1:5672/", Payments: &payments.Service{},
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c.log.With("url", "amqp://u:hunter2@h").WithGroup("g").Info("pw hunter2", "err", fmt.Errorf("x hunter2"),
		"s", "hunter2", slog.Group("inner", "v", "hunter2"), "n", 1)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "xxxxx") {
		t.Fatalf("log line: %s", buf.String())
	}
	for url, want := range map[string]string{
		"amqp://u:hunter2@h:5672/":    "amqp://h:5672/?exchange=transient.events",
		"amqp://u:hunter2@h:5672/%2F": "amqp://h:5672/%2F?exchange=transient.events",
		"amqps://u:hunter2@h/shop":    "amqps://h/shop?exchange=transient.events",
	} {
		c, err := New(Config{URL: url, Payments: &payments.Service{}})
		if err != nil {
			t.Fatalf("New(%s): %v", url, err)
		}
		if c.Destination() != want {
			t.Errorf("destination of %s: %q, want %q", url, c.Destination(), want)
		}
	}
	if _, err := New(Config{URL: "amqp://u:hunter2@/%zz", Payments: &payments.Service{}}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad URL error: %v", err)
	}

}

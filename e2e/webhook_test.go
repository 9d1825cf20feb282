package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/webhooksig"
)

const webhookSecret = "e2e-webhook-secret-0123456789"

// hookLog is a webhook receiver that records every request's event id,
// delivery id and attempt number, verifies its signature, and can be made
// slow so that a test can kill transientd in the middle of deliveries.
type hookLog struct {
	t     *testing.T
	url   string
	delay time.Duration

	mu       sync.Mutex
	events   map[string]int // event id → requests answered
	attempts map[string]int // "delivery/attempt" → requests
	badSig   int
	// hold, when set, is called for every request before it is answered;
	// it may block (a receiver stuck on one request).
	hold func(n int)
	n    int
	// down makes the receiver answer 503 to everything (refused counts
	// those answers); sequences holds each received event's sequence
	// number, read from its body.
	down      atomic.Bool
	refused   int
	sequences map[string]int64
}

func startHookLog(t *testing.T, delay time.Duration) *hookLog {
	t.Helper()
	h := &hookLog{t: t, delay: delay, events: map[string]int{}, attempts: map[string]int{}, sequences: map[string]int64{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + l.Addr().String() + "/hook"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(h.delay) // the receiver's own processing time
		h.mu.Lock()
		h.n++
		n, hold := h.n, h.hold
		h.mu.Unlock()
		if hold != nil {
			hold(n)
		}
		if r.Context().Err() != nil {
			return // the sender is gone: this request was never answered
		}
		if h.down.Load() {
			h.mu.Lock()
			h.refused++
			h.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev struct {
			Sequence int64 `json:"sequence"`
		}
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.sequences[r.Header.Get("X-Transient-Event-Id")] = ev.Sequence
		if webhooksig.Verify([]byte(webhookSecret), r.Header.Get(webhooksig.Header), body, time.Now(), time.Minute) != nil {
			h.badSig++
		}
		h.events[r.Header.Get("X-Transient-Event-Id")]++
		h.attempts[r.Header.Get("X-Transient-Delivery-Id")+"/"+r.Header.Get("X-Transient-Attempt")]++
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

// missing returns the ids of want not received yet.
func (h *hookLog) missing(want []string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, id := range want {
		if h.events[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// eventIDs returns every event id in the database.
func eventIDs(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id::text FROM payment_events ORDER BY occurred_at`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// payAll pays each payment its amount, several payments per transaction.
func payAll(t *testing.T, node *regtest.Node, ps []payment, amount int64) {
	t.Helper()
	payAllTx(t, node, ps, amount)
}

// TestWebhooksSurviveSIGKILL kills transientd with SIGKILL while webhooks
// are being delivered — one of them held open by the receiver — starts it
// again, and expects every event delivered, the interrupted delivery by a
// second attempt once its claim has expired.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	node := startNode(t, "")
	hooks := startHookLog(t, 50*time.Millisecond)
	stuck := make(chan struct{})
	release := make(chan struct{})
	hooks.hold = func(n int) {
		if n == 5 {
			close(stuck)
			<-release
		}
	}
	defer close(release)
	db := pgtest.NewDatabase(t)
	d := startDaemon(t, append(coinEnv(node), "DATABASE_URL="+db, "CATCHUP_INTERVAL=300ms",
		"PAYMENT_WEBHOOK_URL="+hooks.url, "PAYMENT_WEBHOOK_SECRET="+webhookSecret,
		"WEBHOOK_WORKERS=2", "JOB_RESCUE_AFTER=5s")...)
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
	select {
	case <-stuck:
	case <-time.After(30 * time.Second):
		t.Fatal("the fifth webhook never arrived")
	}
	d.kill()
	delivered := len(eventIDs(t, pool)) - len(hooks.missing(eventIDs(t, pool)))
	d.restart()
	if _, err := node.Mine(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	// The restarted process scans the chain at once.
	for _, p := range ps {
		d.waitStatus(p.ID, "PAID", time.Minute)
	}
	// River's rescuer hands the killed process's claims back once they are
	// older than JOB_RESCUE_AFTER; it runs every 30 s.
	var pending int
	waitFor(t, 2*time.Minute, func() bool {
		if err := pool.QueryRow(context.Background(),
			`SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	}, func() string { return fmt.Sprintf("%d deliveries not delivered", pending) })
	all := eventIDs(t, pool)
	if missing := hooks.missing(all); len(missing) > 0 {
		t.Fatalf("%d events delivered in the database but not received: %v", len(missing), missing)
	}
	var retried int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM webhook_deliveries WHERE attempts >= 2`).Scan(&retried); err != nil {
		t.Fatal(err)
	}
	if retried == 0 {
		t.Error("no delivery needed a second attempt: the interrupted one was not retried")
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if hooks.badSig != 0 {
		t.Errorf("%d webhooks with a bad signature", hooks.badSig)
	}
	t.Logf("%d events: %d answered before SIGKILL, %d deliveries retried after it", len(all), delivered, retried)
}

// TestTwoProcessesOneDatabase runs two transientd processes on one database
// and one node, both detecting and both delivering, under a stream of status
// changes: every event exists once, is delivered, and no attempt is made by
// both processes.
func TestTwoProcessesOneDatabase(t *testing.T) {
	node := startNode(t, "")
	hooks := startHookLog(t, 0)
	db := pgtest.NewDatabase(t)
	common := append(coinEnv(node), "DATABASE_URL="+db, "CATCHUP_INTERVAL=200ms",
		"PAYMENT_WEBHOOK_URL="+hooks.url, "PAYMENT_WEBHOOK_SECRET="+webhookSecret)
	a := startDaemon(t, common...)
	b := startDaemon(t, common...)
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	var ps []payment
	for round := range 3 {
		var batch []payment
		for i := range 10 {
			d := a
			if i%2 == 1 {
				d = b
			}
			batch = append(batch, d.create("LTC", "0.02"))
		}
		for _, txid := range payAllTx(t, node, batch, 2_000_000) {
			// Both processes are told about every transaction, as hooks
			// pointed at both would.
			a.hint("tx", txid)
			b.hint("tx", txid)
		}
		if round > 0 {
			if _, err := node.Mine(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
		}
		ps = append(ps, batch...)
	}
	if _, err := node.Mine(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		d := a
		if i%2 == 0 {
			d = b
		}
		d.waitStatus(p.ID, "PAID", 30*time.Second)
	}
	var missing []string
	waitFor(t, time.Minute, func() bool {
		missing = hooks.missing(eventIDs(t, pool))
		return len(missing) == 0
	}, func() string { return fmt.Sprintf("%d events not delivered", len(missing)) })

	// Each payment has its created event, then exactly one event per
	// status change.
	rows, err := pool.Query(context.Background(), `
		SELECT payment_id::text, string_agg(previous_status || '>' || status, ',' ORDER BY sequence)
		FROM payment_events GROUP BY payment_id`)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var v [2]string
		return v, r.Scan(&v[0], &v[1])
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != len(ps) {
		t.Errorf("%d payments have events, want %d", len(seqs), len(ps))
	}
	for _, s := range seqs {
		switch s[1] {
		case ">UNPAID,UNPAID>PENDING,PENDING>PAID", ">UNPAID,UNPAID>PAID":
		default:
			t.Errorf("payment %s events %s", s[0], s[1])
		}
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	for k, n := range hooks.attempts {
		if n != 1 {
			t.Errorf("delivery/attempt %s received %d times", k, n)
		}
	}
	if hooks.badSig != 0 {
		t.Errorf("%d webhooks with a bad signature", hooks.badSig)
	}
	// Both processes did the work: River records who ran each job.
	for _, kind := range []string{"tx_hint", "webhook_delivery"} {
		var workers int
		if err := pool.QueryRow(context.Background(), `
			SELECT count(DISTINCT attempted_by[1]) FROM river_job WHERE kind = $1`, kind).Scan(&workers); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s jobs ran on %d processes", kind, workers)
	}
}

// payAllTx is payAll returning the txids.
func payAllTx(t *testing.T, node *regtest.Node, ps []payment, amount int64) []string {
	t.Helper()
	var txids []string
	for i := 0; i < len(ps); i += 5 {
		outs := map[string]int64{}
		for _, p := range ps[i:min(i+5, len(ps))] {
			outs[p.Address] = amount
		}
		txid, err := node.SendMany(context.Background(), regtest.MinerWallet, outs)
		if err != nil {
			t.Fatal(err)
		}
		txids = append(txids, txid)
	}
	return txids
}

// hint posts a notification hint as the hook binaries do.
func (d *daemon) hint(kind, hash string) {
	d.t.Helper()
	req, err := http.NewRequest("POST", d.url+"/notify/"+kind,
		strings.NewReader(`{"coin":"LTC","hash":"`+hash+`"}`))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+notifyToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		d.t.Fatalf("hint %s %s: %d", kind, hash, resp.StatusCode)
	}
}

// TestRedeliverThroughAPI asks a running transientd to redeliver an event
// and expects the receiver to get the same event id again, in a new
// delivery.
func TestRedeliverThroughAPI(t *testing.T) {
	node := startNode(t, "")
	hooks := startHookLog(t, 0)
	d := startDaemon(t, append(coinEnv(node), "CATCHUP_INTERVAL=300ms",
		"PAYMENT_WEBHOOK_URL="+hooks.url, "PAYMENT_WEBHOOK_SECRET="+webhookSecret)...)
	p := d.create("LTC", "0.05")
	if _, err := node.Send(context.Background(), regtest.MinerWallet, p.Address, 5_000_000, false); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PENDING", 30*time.Second)
	var events struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	// The created event and UNPAID>PENDING; the second is redelivered.
	waitFor(t, 30*time.Second, func() bool {
		d.call("GET", "/payments/"+p.ID+"/events", "", &events)
		return len(events.Events) == 2 && len(hooks.missing([]string{events.Events[0].ID, events.Events[1].ID})) == 0
	}, func() string { return "the first deliveries did not arrive" })
	id := events.Events[1].ID
	var red struct {
		Deliveries []string `json:"deliveries"`
	}
	if code := d.call("POST", "/events/"+id+"/redeliver", "", &red); code != http.StatusAccepted || len(red.Deliveries) != 1 {
		t.Fatalf("redeliver: %d %+v", code, red)
	}
	waitFor(t, 30*time.Second, func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return hooks.events[id] == 2 && hooks.attempts[red.Deliveries[0]+"/1"] == 1
	}, func() string { return "the redelivery did not arrive with the same event id" })
}

// TestCreatedWebhookDefault runs transientd with WEBHOOK_CREATED_EVENTS
// at its default (false): a payment's created event is recorded, but
// neither PAYMENT_WEBHOOK_URL nor the payment's callback_url gets it; both
// get its first status change, which is the first webhook they receive.
func TestCreatedWebhookDefault(t *testing.T) {
	node := startNode(t, "")
	global, callback := startReceiver(t), startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "CATCHUP_INTERVAL=300ms", "WEBHOOK_ALLOW_PRIVATE=true",
		"PAYMENT_WEBHOOK_URL="+global.url, "WEBHOOK_CREATED_EVENTS=false")...)
	id, address := d.createWith(`{"currency":"LTC","amount":"0.05","callback_url":"` + callback.url + `"}`)
	var log struct {
		Events []struct {
			Type       string `json:"type"`
			Sequence   int    `json:"sequence"`
			Deliveries []any  `json:"deliveries"`
		} `json:"events"`
	}
	if code := d.call("GET", "/payments/"+id+"/events", "", &log); code != 200 || len(log.Events) != 1 ||
		log.Events[0].Type != "payment.created" || len(log.Events[0].Deliveries) != 0 {
		t.Fatalf("events of a new payment: %d %+v, want the created event with no delivery", code, log)
	}
	if _, err := node.Send(context.Background(), regtest.MinerWallet, address, 5_000_000, false); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(id, "PENDING", 30*time.Second)
	for name, r := range map[string]*receiver{"PAYMENT_WEBHOOK_URL": global, "callback_url": callback} {
		waitFor(t, 30*time.Second, func() bool { return len(r.transitions(id)) > 0 },
			func() string { return name + " got no webhook" })
		if got := r.transitions(id); len(got) != 1 || got[2] != "UNPAID>PENDING" {
			t.Errorf("%s got %v, want only the status change (sequence 2) UNPAID>PENDING", name, got)
		}
	}
}

package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
	"github.com/transient-gateway/transient/internal/xpub"
)

// createdHook records the events it is asked about and, for each, the note
// an Attach of the test stored for the payment in the same transaction
// ("" when there is none). fail, when set, fails the created events;
// dest, when set, is a destination the hook adds to every event.
type createdHook struct {
	mu   sync.Mutex
	seen []hookCall
	fail error
	dest string
}

type hookCall struct {
	paymentID uuid.UUID
	typ       string
	sequence  int64
	note      string
}

func (h *createdHook) EventDestinations(ctx context.Context, tx pgx.Tx, p *Payment, ev *Event) ([]webhook.Destination, error) {
	if h.fail != nil && ev.Type == EventCreated {
		return nil, h.fail
	}
	var note string
	err := tx.QueryRow(ctx, `SELECT note FROM test_attached WHERE payment_id = $1`, p.ID).Scan(&note)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	h.mu.Lock()
	h.seen = append(h.seen, hookCall{p.ID, ev.Type, ev.Sequence, note})
	h.mu.Unlock()
	if h.dest != "" {
		return []webhook.Destination{{URL: h.dest, Kind: "test_hook"}}, nil
	}
	return nil, nil
}

func (h *createdHook) calls(id uuid.UUID) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookCall
	for _, c := range h.seen {
		if c.paymentID == id {
			out = append(out, c)
		}
	}
	return out
}

// attachNote is an Attach that stores note for the payment, as an adapter
// stores its own row.
func attachNote(note string) func(context.Context, pgx.Tx, *Payment) error {
	return func(ctx context.Context, tx pgx.Tx, p *Payment) error {
		_, err := tx.Exec(ctx, `INSERT INTO test_attached (payment_id, note) VALUES ($1, $2)`, p.ID, note)
		return err
	}
}

// createdWorld is an env with a real outbox (a global webhook URL, so that
// every event has a delivery), a recording hook, a listener on the events
// channel, and a Service per address source, all on one database and node.
// Its services send created events to the global URL unless
// createdWebhooksOff is set.
type createdWorld struct {
	*env
	hook               *createdHook
	listen             *pgx.Conn
	jobs               *river.Client[pgx.Tx]
	outbox             *webhook.Outbox
	createdWebhooksOff bool
}

const createdHookURL = "http://127.0.0.1:9/created"

func newCreatedWorld(t *testing.T) *createdWorld {
	t.Helper()
	w := &createdWorld{env: newEnv(t), hook: &createdHook{}}
	if _, err := w.pool.Exec(w.ctx, `CREATE TABLE test_attached (payment_id uuid PRIMARY KEY REFERENCES payments (id), note text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.jobs, err = river.NewClient(riverpgxv5.New(w.pool), &river.Config{}); err != nil {
		t.Fatal(err)
	}
	w.outbox = webhook.NewOutbox(w.pool, w.jobs, webhook.Config{URL: createdHookURL})
	conn, err := w.pool.Acquire(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.listen = conn.Hijack()
	t.Cleanup(func() { _ = w.listen.Close(context.Background()) })
	if _, err := w.listen.Exec(w.ctx, "LISTEN "+pgx.Identifier{EventsChannel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return w
}

// service returns a Service on the world's database with cfg's coins and
// pool, the world's outbox, jobs and hook.
func (w *createdWorld) service(cfg Config) *Service {
	cfg.Outbox, cfg.Jobs, cfg.Now, cfg.MonitoringWindow = w.outbox, w.jobs, w.clock.Now, time.Hour
	cfg.CreatedWebhooks = !w.createdWebhooksOff
	svc := NewService(w.pool, cfg)
	svc.AddEventHook(w.hook)
	return svc
}

// expectCreated checks that p has exactly one event, its created event,
// with all that goes with it: sequence 1 in the row and the payment's
// counter, UNPAID after "", the webhook body, no NOTIFY (see EventsChannel),
// the delivery to the global URL, and the hook having seen it after Attach
// stored note.
func (w *createdWorld) expectCreated(p *Payment, note string) {
	w.t.Helper()
	events, err := w.svc.Events(w.ctx, p.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(events) != 1 {
		w.t.Fatalf("payment %s has %d events, want 1 (created): %+v", p.ID, len(events), events)
	}
	ev := events[0]
	if ev.Type != EventCreated || ev.Sequence != 1 || ev.Status != StatusUnpaid || ev.PreviousStatus != "" ||
		!ev.OccurredAt.Equal(p.CreatedAt) {
		w.t.Fatalf("created event = %s #%d %q>%s at %s, want %s #1 \"\">UNPAID at %s",
			ev.Type, ev.Sequence, ev.PreviousStatus, ev.Status, ev.OccurredAt, EventCreated, p.CreatedAt)
	}
	var body EventJSON
	if err := json.Unmarshal(ev.Payload, &body); err != nil {
		w.t.Fatalf("event body: %v: %s", err, ev.Payload)
	}
	if body.Type != EventCreated || body.Sequence != 1 || body.EventID != ev.ID.String() || body.PaymentID != p.ID.String() ||
		body.Status != StatusUnpaid || body.PreviousStatus != "" || body.Payment.PaymentAddress != p.Address ||
		body.Payment.ID != p.ID.String() || body.Payment.PaymentURI != p.URI {
		w.t.Fatalf("created event body = %s, want the payment %s (%s) UNPAID, type %s, sequence 1", ev.Payload, p.ID, p.Address, EventCreated)
	}
	var counter int64
	if err := w.pool.QueryRow(w.ctx, `SELECT event_sequence FROM payments WHERE id = $1`, p.ID).Scan(&counter); err != nil || counter != 1 {
		w.t.Fatalf("payments.event_sequence = %d (%v), want 1", counter, err)
	}
	w.expectNoNotification("the created event")
	var url, kind string
	err = w.pool.QueryRow(w.ctx, `SELECT url, kind FROM webhook_deliveries WHERE event_id = $1`, ev.ID).Scan(&url, &kind)
	if err != nil || url != createdHookURL || kind != webhook.KindWebhook {
		w.t.Fatalf("delivery of the created event: %s %s (%v), want one webhook to %s", url, kind, err, createdHookURL)
	}
	calls := w.hook.calls(p.ID)
	if len(calls) != 1 || calls[0].typ != EventCreated || calls[0].sequence != 1 || calls[0].note != note {
		w.t.Fatalf("hook calls for %s = %+v, want one %s #1 seeing note %q", p.ID, calls, EventCreated, note)
	}
}

// expectNothingStored checks that a failed creation left no payment, event,
// delivery or attached row behind, and announced nothing.
func (w *createdWorld) expectNothingStored() {
	w.t.Helper()
	var payments, events, deliveries, attached int
	err := w.pool.QueryRow(w.ctx, `SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM payment_events),
		(SELECT count(*) FROM webhook_deliveries), (SELECT count(*) FROM test_attached)`).Scan(&payments, &events, &deliveries, &attached)
	if err != nil {
		w.t.Fatal(err)
	}
	if payments+events+deliveries+attached != 0 {
		w.t.Fatalf("a failed creation left %d payments, %d events, %d deliveries, %d attached rows", payments, events, deliveries, attached)
	}
	w.expectNoNotification("a failed creation")
}

// expectNoNotification checks that nothing was announced on EventsChannel
// for a moment.
func (w *createdWorld) expectNoNotification(what string) {
	w.t.Helper()
	nctx, cancel := context.WithTimeout(w.ctx, 300*time.Millisecond)
	defer cancel()
	if n, err := w.listen.WaitForNotification(nctx); err == nil {
		w.t.Fatalf("%s was announced: %s", what, n.Payload)
	}
}

// TestCreatedEventOnEveryPath: every way a payment is stored (the node's
// getnewaddress, the address pool with and without a label or an Attach,
// addresses derived from an extended public key, CreateOnce) writes exactly
// one payment.created event in the creating transaction, after Attach, and
// the next event is number 2, announced on EventsChannel.
func TestCreatedEventOnEveryPath(t *testing.T) {
	w := newCreatedWorld(t)
	ltc := w.svc.coins["LTC"]
	node := w.service(Config{Coins: []Coin{ltc}})
	pooledCoin := ltc
	pooledCoin.Addresses = NodeWallet{Node: w.node.Client(regtest.MerchantWallet)}
	// Four addresses, one for each pooled path below; the derived path
	// then fills the (shared) LTC pool from the key.
	pooled := w.service(Config{Coins: []Coin{pooledCoin}, AddressPool: PoolConfig{Size: 4, LowWater: 1, Batch: 4}})
	if err := pooled.refill(w.ctx, pooled.coins["LTC"]); err != nil {
		t.Fatal(err)
	}

	if err := w.node.Client("").Call(w.ctx, "createwallet", []any{watchWallet, true, true}, nil); err != nil {
		t.Fatalf("create the watch-only wallet: %v", err)
	}
	k, err := xpub.Parse("LTC", testKey, xpub.P2WPKH)
	if err != nil {
		t.Fatal(err)
	}
	watch := w.node.Client(watchWallet)
	derivedSvc := w.service(Config{
		Coins: []Coin{{Code: "LTC", Node: watch, Confirmations: 2, URIScheme: "litecoin", Wallet: watchWallet,
			Derived: &XPub{Key: k, Node: watch}}},
		AddressPool: PoolConfig{Size: 2, LowWater: 1, Batch: 2},
	})
	firstDerived := derived(t, 0, 1)[0]

	req := func(mod ...func(*CreateRequest)) CreateRequest {
		r := CreateRequest{Coin: "LTC", Amount: amt("1")}
		for _, m := range mod {
			m(&r)
		}
		return r
	}
	label := func(r *CreateRequest) { r.Label = "order-7" }
	paths := []struct {
		name   string
		create func() (*Payment, error)
		note   string
		check  func(p *Payment)
	}{
		{name: "node", create: func() (*Payment, error) { return node.Create(w.ctx, req()) }},
		{name: "node with attach", note: "node", create: func() (*Payment, error) {
			return node.Create(w.ctx, req(func(r *CreateRequest) { r.Attach = attachNote("node") }))
		}},
		{name: "pool", create: func() (*Payment, error) { return pooled.Create(w.ctx, req()) }},
		{name: "pool with label", create: func() (*Payment, error) { return pooled.Create(w.ctx, req(label)) },
			check: func(p *Payment) {
				var n int
				if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM river_job WHERE kind = 'address_label' AND args->>'address' = $1`, p.Address).Scan(&n); err != nil || n != 1 {
					t.Fatalf("address_label jobs for %s: %d (%v), want 1", p.Address, n, err)
				}
			}},
		{name: "pool with attach", note: "pool", create: func() (*Payment, error) {
			return pooled.Create(w.ctx, req(label, func(r *CreateRequest) { r.Attach = attachNote("pool") }))
		}},
		{name: "create once", note: "once", create: func() (*Payment, error) {
			key := IdempotencyKey{Scope: ScopeHTTP, Key: "created-once"}
			r := req(func(r *CreateRequest) { r.Attach = attachNote("once") })
			p, created, err := pooled.CreateOnce(w.ctx, key, r)
			if err != nil || !created {
				return nil, fmt.Errorf("first CreateOnce: created %v, %w", created, err)
			}
			again, created, err := pooled.CreateOnce(w.ctx, key, r)
			if err != nil || created || again.ID != p.ID {
				return nil, fmt.Errorf("repeated CreateOnce: %v created %v (%w), want %s again", again, created, err, p.ID)
			}
			return p, nil
		}},
		{name: "derived", create: func() (*Payment, error) {
			if err := derivedSvc.refill(w.ctx, derivedSvc.coins["LTC"]); err != nil {
				return nil, err
			}
			return derivedSvc.Create(w.ctx, req())
		}, check: func(p *Payment) {
			if p.Address != firstDerived {
				t.Fatalf("derived payment's address %s, want /0/0 %s", p.Address, firstDerived)
			}
		}},
	}
	var first *Payment
	for _, path := range paths {
		p, err := path.create()
		if err != nil {
			t.Fatalf("%s: %v", path.name, err)
		}
		t.Logf("%s: payment %s at %s", path.name, p.ID, p.Address)
		w.expectCreated(p, path.note)
		if path.check != nil {
			path.check(p)
		}
		if first == nil {
			first = p
		}
	}

	// The first change after creation is event 2, announced.
	w.svc = node
	w.process(w.pay(first.Address, amt("1")))
	nctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	n, err := w.listen.WaitForNotification(nctx)
	if want := first.ID.String() + ":2"; err != nil || n.Payload != want {
		t.Fatalf("notification after the first change: %v %v, want %q", n, err, want)
	}
	events, err := node.Events(w.ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[1].Type != EventStatusChanged || events[1].Sequence != 2 ||
		events[1].PreviousStatus != StatusUnpaid || events[1].Status != StatusPending {
		t.Fatalf("events after a payment = %+v, want created then #2 UNPAID>PENDING", events)
	}
	w.expectTransitions(first.ID, "UNPAID>PENDING")
}

// TestCreatedEventRollsBack: when Attach or an event hook fails, the
// creation stores nothing at all, no event either, and a pooled address
// stays in the pool for the next payment.
func TestCreatedEventRollsBack(t *testing.T) {
	w := newCreatedWorld(t)
	ltc := w.svc.coins["LTC"]
	node := w.service(Config{Coins: []Coin{ltc}})
	pooledCoin := ltc
	pooledCoin.Addresses = NodeWallet{Node: w.node.Client(regtest.MerchantWallet)}
	pooled := w.service(Config{Coins: []Coin{pooledCoin}, AddressPool: PoolConfig{Size: 3, LowWater: 1, Batch: 3}})
	if err := pooled.refill(w.ctx, pooled.coins["LTC"]); err != nil {
		t.Fatal(err)
	}
	w.svc = pooled
	poolBefore := w.pooled()

	refused := errors.New("adapter refused")
	hookDown := errors.New("hook down")
	for _, svc := range []struct {
		name string
		s    *Service
	}{{"node", node}, {"pool", pooled}} {
		_, err := svc.s.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"),
			Attach: func(ctx context.Context, tx pgx.Tx, p *Payment) error {
				if err := attachNote("rolled back")(ctx, tx, p); err != nil {
					return err
				}
				return refused
			}})
		if !errors.Is(err, refused) {
			t.Fatalf("%s: create with a failing attach: %v, want %v", svc.name, err, refused)
		}
		w.expectNothingStored()

		w.hook.fail = hookDown
		_, err = svc.s.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"), Attach: attachNote("hook fails")})
		w.hook.fail = nil
		if !errors.Is(err, hookDown) {
			t.Fatalf("%s: create with a failing hook: %v, want %v", svc.name, err, hookDown)
		}
		w.expectNothingStored()

		_, _, err = svc.s.CreateOnce(w.ctx, IdempotencyKey{Scope: ScopeHTTP, Key: "rolled-back-" + svc.name},
			CreateRequest{Coin: "LTC", Amount: amt("1"), Attach: func(context.Context, pgx.Tx, *Payment) error { return refused }})
		if !errors.Is(err, refused) {
			t.Fatalf("%s: CreateOnce with a failing attach: %v, want %v", svc.name, err, refused)
		}
		w.expectNothingStored()
	}
	if got := w.pooled(); len(got) != len(poolBefore) || got[0] != poolBefore[0] {
		t.Fatalf("pool after the failed creations = %v, want %v untouched", got, poolBefore)
	}
	// The same address then goes to the next payment, with its event.
	p, err := pooled.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Address != poolBefore[0] {
		t.Fatalf("next payment's address %s, want the pool's oldest %s", p.Address, poolBefore[0])
	}
	w.expectCreated(p, "")
}

// TestCreatedDeliveriesAreUnhurried: the created event's deliveries are
// queued through the outbox's UnhurriedJobs client, so that create
// transactions do not wake the dispatcher with a NOTIFY each.
func TestCreatedDeliveriesAreUnhurried(t *testing.T) {
	w := newCreatedWorld(t)
	var inserts atomic.Int64
	unhurried, err := river.NewClient(riverpgxv5.New(w.pool), &river.Config{
		Middleware: []rivertype.Middleware{river.JobInsertMiddlewareFunc(
			func(ctx context.Context, params []*rivertype.JobInsertParams, inner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
				inserts.Add(int64(len(params)))
				return inner(ctx)
			})},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.outbox = webhook.NewOutbox(w.pool, w.jobs, webhook.Config{URL: createdHookURL, UnhurriedJobs: unhurried})
	svc := w.service(Config{Coins: []Coin{w.svc.coins["LTC"]}})
	p, err := svc.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if err != nil {
		t.Fatal(err)
	}
	if n := inserts.Load(); n != 1 {
		t.Errorf("delivery jobs queued through UnhurriedJobs for a created event: got %d, want 1", n)
	}
	var jobs int
	if err := w.pool.QueryRow(w.ctx, `
		SELECT count(*) FROM river_job j JOIN webhook_deliveries d ON j.args->>'delivery_id' = d.id::text
		WHERE d.payment_id = $1`, p.ID).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("delivery jobs stored for the created event: got %d (%v), want 1", jobs, err)
	}
}

// TestCreatedWebhooksOff: without Config.CreatedWebhooks (the default) a
// payment's created event is recorded and handed to the event hooks with
// their destinations, but neither the global URL nor the payment's callback
// URL gets a delivery of it; the payment's next event goes to both.
func TestCreatedWebhooksOff(t *testing.T) {
	w := newCreatedWorld(t)
	w.createdWebhooksOff = true
	w.hook.dest = "http://127.0.0.1:9/hook"
	const callback = "http://127.0.0.1:9/callback"
	svc := w.service(Config{Coins: []Coin{w.svc.coins["LTC"]}, AllowPrivateCallbacks: true})
	p, err := svc.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"), CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	deliveries := func(seq int64) []string {
		t.Helper()
		rows, err := w.pool.Query(w.ctx, `
			SELECT d.url FROM webhook_deliveries d JOIN payment_events e ON e.id = d.event_id
			WHERE e.payment_id = $1 AND e.sequence = $2 ORDER BY d.url`, p.ID, seq)
		if err != nil {
			t.Fatal(err)
		}
		urls, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return urls
	}
	got, err := svc.Get(w.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.API != APITransient {
		t.Fatalf("payment made through the service's own API: API %q, want %q", got.API, APITransient)
	}
	events, err := svc.Events(w.ctx, p.ID)
	if err != nil || len(events) != 1 || events[0].Type != EventCreated {
		t.Fatalf("events %+v (%v), want the created event alone", events, err)
	}
	if calls := w.hook.calls(p.ID); len(calls) != 1 || calls[0].typ != EventCreated {
		t.Fatalf("hook calls %+v, want the created event", calls)
	}
	if got := deliveries(1); !slices.Equal(got, []string{w.hook.dest}) {
		t.Fatalf("deliveries of the created event to %v, want only the hook's %s", got, w.hook.dest)
	}

	// The next event, a status change, goes everywhere.
	w.clock.Advance(2 * time.Hour)
	tx, err := w.pool.Begin(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(w.ctx)
	p.Status = StatusExpired
	if _, err := tx.Exec(w.ctx, `UPDATE payments SET status = $2, event_sequence = 2 WHERE id = $1`, p.ID, string(p.Status)); err != nil {
		t.Fatal(err)
	}
	if err := svc.record(w.ctx, tx, p, EventStatusChanged, StatusUnpaid, 2, w.clock.Now(), true); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(w.ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{createdHookURL, callback, w.hook.dest}
	slices.Sort(want)
	if got := deliveries(2); !slices.Equal(got, want) {
		t.Fatalf("deliveries of the status change to %v, want %v", got, want)
	}
}

// attachedHook is a createdHook that declares it adds destinations to a
// created event only for payments created with an Attach
// (AttachedCreatedHook), as the BitPay and Greenfield hooks do.
type attachedHook struct{ *createdHook }

func (attachedHook) CreatedOnlyWithAttach() {}

// TestCreateFromPoolInOneStatement: with created events not delivered to
// the webhook URL and every hook an AttachedCreatedHook, a payment created
// from the pool without Attach or label is stored with its created event
// in one statement (createFromPoolSQL): the same rows and the same body as
// the transaction stores, the oldest address taken once, no hook asked.
// With an Attach the hooks see the event as before; an address that is not
// letters and digits alone is given the usual way; and an event that
// cannot be stored leaves no payment and the address in the pool.
func TestCreateFromPoolInOneStatement(t *testing.T) {
	w := newCreatedWorld(t)
	hook := attachedHook{&createdHook{}}
	pooledCoin := w.svc.coins["LTC"]
	pooledCoin.Addresses = NodeWallet{Node: w.node.Client(regtest.MerchantWallet)}
	cfg := Config{Coins: []Coin{pooledCoin}, AddressPool: PoolConfig{Size: 3, LowWater: 1, Batch: 3},
		Outbox: w.outbox, Jobs: w.jobs, Now: w.clock.Now, MonitoringWindow: time.Hour}
	svc := NewService(w.pool, cfg)
	svc.AddEventHook(hook)
	if !svc.quietCreated() {
		t.Fatal("created events off and an AttachedCreatedHook: quietCreated is false")
	}
	if err := svc.refill(w.ctx, svc.coins["LTC"]); err != nil {
		t.Fatal(err)
	}
	pooled := w.pooled()
	if len(pooled) != 3 {
		t.Fatalf("pool %v, want 3 addresses", pooled)
	}

	// expectBody checks that p's one created event is stored as encoding
	// it with p's address gives, with its payment's counter at 1 and no
	// delivery.
	expectBody := func(p *Payment) {
		t.Helper()
		events, err := svc.Events(w.ctx, p.ID)
		if err != nil || len(events) != 1 {
			t.Fatalf("events of %s: %+v (%v), want the created event alone", p.ID, events, err)
		}
		ev := events[0]
		if ev.Type != EventCreated || ev.Sequence != 1 || ev.Status != StatusUnpaid || ev.PreviousStatus != "" ||
			!ev.OccurredAt.Equal(p.CreatedAt) {
			t.Fatalf("created event = %s #%d %q>%s at %s, want %s #1 \"\">UNPAID at %s",
				ev.Type, ev.Sequence, ev.PreviousStatus, ev.Status, ev.OccurredAt, EventCreated, p.CreatedAt)
		}
		want, err := json.Marshal(EventJSON{PaymentID: p.ID.String(), Status: StatusUnpaid, EventID: ev.ID.String(),
			Type: EventCreated, OccurredAt: p.CreatedAt.UTC(), Sequence: 1, Payment: p.JSON()})
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Payload) != string(want) {
			t.Fatalf("created event body\n%s\nwant\n%s", ev.Payload, want)
		}
		var counter, deliveries int
		if err := w.pool.QueryRow(w.ctx, `SELECT event_sequence, (SELECT count(*) FROM webhook_deliveries WHERE event_id = $2)
			FROM payments WHERE id = $1`, p.ID, ev.ID).Scan(&counter, &deliveries); err != nil || counter != 1 || deliveries != 0 {
			t.Fatalf("event_sequence %d, deliveries %d (%v), want 1 and none", counter, deliveries, err)
		}
	}

	p, err := svc.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"), OrderID: "o-1",
		Metadata: json.RawMessage(`{"note": "<a & b>", "n": 1}`), ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if p.Address != pooled[0] || p.URI != BIP21("litecoin", pooled[0], p.Amount) {
		t.Fatalf("payment got %s (%s), want the oldest pooled address %s", p.Address, p.URI, pooled[0])
	}
	if got := w.pooled(); !slices.Equal(got, pooled[1:]) {
		t.Fatalf("pool after a creation %v, want %v", got, pooled[1:])
	}
	stored, err := svc.Get(w.ctx, p.ID)
	if err != nil || stored.Address != p.Address || stored.OrderID != "o-1" || !stored.ExpiresAt.Equal(p.ExpiresAt) {
		t.Fatalf("stored payment %+v (%v), want %+v", stored, err, p)
	}
	expectBody(p)
	if calls := hook.calls(p.ID); len(calls) != 0 {
		t.Fatalf("hook asked about a payment created without Attach: %+v", calls)
	}
	w.expectNoNotification("the created event")

	// With an Attach, the transaction: the hook sees the event after it.
	p2, err := svc.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"), Attach: attachNote("pool")})
	if err != nil {
		t.Fatal(err)
	}
	if calls := hook.calls(p2.ID); p2.Address != pooled[1] || len(calls) != 1 || calls[0].typ != EventCreated || calls[0].note != "pool" {
		t.Fatalf("payment with Attach got %s, hook calls %+v; want %s and the created event seeing note \"pool\"", p2.Address, calls, pooled[1])
	}

	// An address with a character besides letters and digits: the usual
	// way, which asks the hook.
	if _, err := w.pool.Exec(w.ctx, `DELETE FROM address_pool; INSERT INTO address_pool (coin, address) VALUES ('LTC', 'not-plain')`); err != nil {
		t.Fatal(err)
	}
	p3, err := svc.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if err != nil {
		t.Fatal(err)
	}
	if calls := hook.calls(p3.ID); p3.Address != "not-plain" || len(calls) != 1 {
		t.Fatalf("payment got %s, hook calls %+v; want not-plain made the usual way", p3.Address, calls)
	}
	expectBody(p3)

	// An event the table refuses: nothing stored, the address kept.
	if _, err := w.pool.Exec(w.ctx, `
		ALTER TABLE payment_events ADD CONSTRAINT test_refuse CHECK (type <> 'payment.created') NOT VALID;
		INSERT INTO address_pool (coin, address) VALUES ('LTC', 'plain1')`); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")}); err == nil {
		t.Fatal("a creation whose event the table refuses succeeded")
	}
	var payments int
	if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM payments WHERE address = 'plain1'`).Scan(&payments); err != nil || payments != 0 {
		t.Fatalf("payments with the refused creation's address: %d (%v), want 0", payments, err)
	}
	if got := w.pooled(); !slices.Equal(got, []string{"plain1"}) {
		t.Fatalf("pool after a refused creation %v, want [plain1]", got)
	}
}

// sameAddress is a node that gives every payment one address.
type sameAddress struct{ Node }

func (sameAddress) GetNewAddress(context.Context, string) (string, error) {
	return "rltc1qsameaddress", nil
}

// TestCreateFromNodeInOneStatement: with the pool off, created events not
// delivered to the webhook URL and every hook an AttachedCreatedHook, a
// payment created without Attach is stored with its created event in one
// statement (createSQL), no hook asked, with the same rows and the same
// body as the transaction stores for the same request with an Attach; an
// address a payment has already fails with ErrAddressReused and stores
// nothing.
func TestCreateFromNodeInOneStatement(t *testing.T) {
	w := newCreatedWorld(t)
	hook := attachedHook{&createdHook{}}
	at := time.Now().UTC().Truncate(time.Microsecond)
	cfg := Config{Coins: []Coin{w.svc.coins["LTC"]}, Outbox: w.outbox, Jobs: w.jobs,
		Now: func() time.Time { return at }, MonitoringWindow: time.Hour}
	svc := NewService(w.pool, cfg)
	svc.AddEventHook(hook)
	if !svc.quietCreated() {
		t.Fatal("created events off and an AttachedCreatedHook: quietCreated is false")
	}

	req := CreateRequest{Coin: "LTC", Amount: amt("1.5"), Label: "order-9", OrderID: "o-1",
		Metadata: json.RawMessage(`{"note": "<a & b>", "n": 1}`), ExpiresIn: time.Hour,
		RedirectURL: "https://shop.example/thanks?o=1"}
	one, err := svc.Create(w.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if calls := hook.calls(one.ID); len(calls) != 0 {
		t.Fatalf("hook asked about a payment created without Attach: %+v (the transaction, not one statement)", calls)
	}
	req.Attach = attachNote("tx")
	two, err := svc.Create(w.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if calls := hook.calls(two.ID); len(calls) != 1 || calls[0].typ != EventCreated || calls[0].note != "tx" {
		t.Fatalf("hook calls for a payment created with Attach: %+v, want the created event seeing note \"tx\"", calls)
	}

	// The rows, but for the ids and the address, are the same both ways;
	// each body is what encoding the event with its payment gives.
	row := func(p *Payment) (payment, event string, ev Event) {
		t.Helper()
		if err := w.pool.QueryRow(w.ctx, `
			SELECT (SELECT (to_jsonb(p) - 'id' - 'address')::text FROM payments p WHERE id = $1),
				(SELECT (to_jsonb(e) - 'id' - 'payment_id' - 'payload')::text FROM payment_events e WHERE payment_id = $1)`,
			p.ID).Scan(&payment, &event); err != nil {
			t.Fatal(err)
		}
		events, err := svc.Events(w.ctx, p.ID)
		if err != nil || len(events) != 1 {
			t.Fatalf("events of %s: %+v (%v), want the created event alone", p.ID, events, err)
		}
		ev = events[0]
		want, err := json.Marshal(EventJSON{PaymentID: p.ID.String(), Status: StatusUnpaid, EventID: ev.ID.String(),
			Type: EventCreated, OccurredAt: p.CreatedAt.UTC(), Sequence: 1, Payment: p.JSON()})
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Payload) != string(want) {
			t.Fatalf("created event body\n%s\nwant\n%s", ev.Payload, want)
		}
		return payment, event, ev
	}
	p1, e1, ev1 := row(one)
	p2, e2, _ := row(two)
	if p1 != p2 || e1 != e2 {
		t.Fatalf("one statement stored\n%s\n%s\nthe transaction\n%s\n%s", p1, e1, p2, e2)
	}
	if !strings.Contains(string(ev1.Payload), one.Address) || one.Address == two.Address {
		t.Fatalf("payments got %s and %s; body %s", one.Address, two.Address, ev1.Payload)
	}
	w.expectNoNotification("the created events")

	same := cfg
	same.Coins = []Coin{{Code: "LTC", Node: sameAddress{}, Confirmations: 2, URIScheme: "litecoin"}}
	reuse := NewService(w.pool, same)
	reuse.AddEventHook(hook)
	first, err := reuse.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reuse.Create(w.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")}); !errors.Is(err, ErrAddressReused) {
		t.Fatalf("second payment on %s: %v, want ErrAddressReused", first.Address, err)
	}
	var payments, events int
	if err := w.pool.QueryRow(w.ctx, `SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM payment_events)`).
		Scan(&payments, &events); err != nil || payments != 3 || events != 3 {
		t.Fatalf("%d payments and %d events stored (%v), want 3 and 3: nothing for the refused payment", payments, events, err)
	}
}

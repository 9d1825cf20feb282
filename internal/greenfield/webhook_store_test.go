package greenfield

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

// hookEnv is a Greenfield service on real PostgreSQL and litecoind with an
// outbox whose River client works the webhook queue only when started.
type hookEnv struct {
	pool   *pgxpool.Pool
	pay    *payments.Service
	svc    *Service
	outbox *webhook.Outbox
	jobs   *river.Client[pgx.Tx]
}

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	workers := river.NewWorkers()
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
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
	outbox := webhook.NewOutbox(pool, jobs, webhook.Config{Backoff: func(int) time.Duration { return 50 * time.Millisecond }})
	webhook.AddWorkers(workers, outbox)
	pay := payments.NewService(pool, payments.Config{Outbox: outbox, Coins: []payments.Coin{{
		Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 2, URIScheme: "litecoin",
		Wallet: regtest.MerchantWallet}}})
	svc := New(Config{Pool: pool, Payments: pay, CompleteConfirmations: map[string]int64{"LTC": 2},
		AllowPrivateWebhooks: true})
	svc.AddWebhooks(pay, outbox)
	return &hookEnv{pool: pool, pay: pay, svc: svc, outbox: outbox, jobs: jobs}
}

// start works the webhook queue until the test ends.
func (e *hookEnv) start(t *testing.T) {
	t.Helper()
	if err := e.jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.jobs.Stop(ctx)
	})
}

func (e *hookEnv) store(t *testing.T, name string) *Store {
	t.Helper()
	st, err := e.svc.Stores().CreateStore(context.Background(), name, "LTC", nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *hookEnv) hook(t *testing.T, w *Webhook) *Webhook {
	t.Helper()
	if err := e.svc.createWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *hookEnv) invoice(t *testing.T, st *Store) *Invoice {
	t.Helper()
	inv, err := e.svc.CreateInvoice(context.Background(), st, InvoiceRequest{Amount: decimal.RequireFromString("1.5"),
		Currency: "LTC", Metadata: json.RawMessage(`{"orderId":"o-1","posData":"{\"k\":1}"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// gfDelivery is a row of greenfield_webhook_deliveries.
type gfDelivery struct {
	id, webhookID, typ, original string
	redelivery                   bool
	body                         []byte
}

func (e *hookEnv) deliveriesOf(t *testing.T, paymentID uuid.UUID) []gfDelivery {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT id, webhook_id, type, original_delivery_id, is_redelivery, body
		FROM greenfield_webhook_deliveries WHERE payment_id = $1 ORDER BY seq`, paymentID)
	if err != nil {
		t.Fatal(err)
	}
	var out []gfDelivery
	var d gfDelivery
	if _, err := pgx.ForEachRow(rows, []any{&d.id, &d.webhookID, &d.typ, &d.original, &d.redelivery, &d.body}, func() error {
		out = append(out, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDestinationsForSubscribedHooks runs payment events of an invoice
// through the hook inside a transaction, as payments does, and checks that
// only the enabled webhooks of the invoice's store that subscribed to each
// type get a delivery, in order, each with an outbox delivery of the same
// body to the URL exactly as stored.
func TestDestinationsForSubscribedHooks(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	a, b := e.store(t, "A"), e.store(t, "B")
	all := e.hook(t, &Webhook{StoreID: a.ID, URL: "http://127.0.0.1:1/all?shop=1&sig=a%2Fb", Enabled: true, Everything: true})
	settled := e.hook(t, &Webhook{StoreID: a.ID, URL: "http://127.0.0.1:1/settled", Enabled: true,
		SpecificEvents: []string{TypeInvoiceSettled}})
	e.hook(t, &Webhook{StoreID: a.ID, URL: "http://127.0.0.1:1/off", Enabled: false, Everything: true})
	e.hook(t, &Webhook{StoreID: b.ID, URL: "http://127.0.0.1:1/other-store", Enabled: true, Everything: true})

	inv := e.invoice(t, a)
	p := inv.Payment
	// payment.created: InvoiceCreated to the everything webhook only.
	before := len(e.deliveriesOf(t, p.ID))
	if d := e.deliveriesOf(t, p.ID); len(d) != 1 || d[0].webhookID != all.ID || d[0].typ != TypeInvoiceCreated {
		t.Fatalf("at creation: got %+v, want one InvoiceCreated to the everything webhook", d)
	}

	// First seen already confirmed: UNPAID → PAID.
	p.Status, p.Received, p.Confirmed = payments.StatusPaid, p.Amount, p.Amount
	p.Outputs = []payments.Output{{TxID: "ab", Vout: 1, Amount: p.Amount, Confirmations: 2,
		ReceivedAt: time.Now(), FirstSeenAt: time.Now()}}
	ev := &payments.Event{ID: uuid.New(), PaymentID: p.ID, Type: payments.EventStatusChanged,
		PreviousStatus: payments.StatusUnpaid, Status: payments.StatusPaid, OccurredAt: time.Now()}
	var dests []webhook.Destination
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var err error
		if dests, err = (webhookHook{e.svc}).EventDestinations(ctx, tx, p, ev); err != nil {
			return err
		}
		return e.outbox.EnqueueTo(ctx, tx, ev.ID, p.ID, dests)
	})
	if err != nil {
		t.Fatal(err)
	}

	got := e.deliveriesOf(t, p.ID)[before:]
	type row struct{ hook, typ string }
	var rows []row
	for _, d := range got {
		rows = append(rows, row{d.webhookID, d.typ})
	}
	want := []row{
		{all.ID, TypeInvoiceReceivedPayment},
		{all.ID, TypeInvoiceProcessing},
		{all.ID, TypeInvoicePaymentSettled},
		{all.ID, TypeInvoiceSettled},
		{settled.ID, TypeInvoiceSettled},
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("deliveries:\n got %v\nwant %v", rows, want)
	}
	if len(dests) != len(got) {
		t.Fatalf("destinations: got %d, want %d", len(dests), len(got))
	}
	for i, d := range got {
		if dests[i].Kind != WebhookKind || string(dests[i].Body) != string(d.body) {
			t.Errorf("destination %d: kind %q body %s, want %q and the recorded body", i, dests[i].Kind, dests[i].Body, WebhookKind)
		}
		var body webhookBody
		if err := json.Unmarshal(d.body, &body); err != nil {
			t.Fatal(err)
		}
		if body.DeliveryID != d.id || body.OriginalDeliveryID != d.id || body.WebhookID != d.webhookID ||
			body.StoreID != a.ID || body.InvoiceID != p.ID.String() || body.Type != d.typ || body.IsRedelivery {
			t.Errorf("delivery %d body %s does not match its row %+v", i, d.body, d)
		}
		if string(body.Metadata) != `{"orderId":"o-1","posData":"{\"k\":1}"}` {
			t.Errorf("metadata %s, want it as sent", body.Metadata)
		}
		var url string
		err := e.pool.QueryRow(ctx, `SELECT url FROM webhook_deliveries WHERE event_id = $1 AND kind = $2 AND body = $3`,
			ev.ID, WebhookKind, d.body).Scan(&url)
		if err != nil {
			t.Fatalf("outbox delivery of %s: %v", d.id, err)
		}
		wantURL := all.URL
		if d.webhookID == settled.ID {
			wantURL = settled.URL
		}
		if url != wantURL {
			t.Errorf("outbox URL %q, want %q exactly", url, wantURL)
		}
	}

	// A payment that is no Greenfield invoice gets nothing.
	other := &payments.Payment{ID: uuid.New(), Coin: "LTC", Status: payments.StatusPending}
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		ds, err := (webhookHook{e.svc}).EventDestinations(ctx, tx, other, &payments.Event{ID: uuid.New(),
			Type: payments.EventStatusChanged, PreviousStatus: payments.StatusUnpaid, Status: payments.StatusPending})
		if len(ds) != 0 {
			t.Errorf("plain payment: %d destinations, want 0", len(ds))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Marking goes to the webhooks subscribed to the marked type.
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { return e.svc.webhookMarked(ctx, tx, p, StatusInvalid) })
	if err != nil {
		t.Fatal(err)
	}
	marked := e.deliveriesOf(t, p.ID)[before+len(want):]
	if len(marked) != 1 || marked[0].webhookID != all.ID || marked[0].typ != TypeInvoiceInvalid {
		t.Fatalf("marked invalid: got %+v, want one InvoiceInvalid to the everything webhook", marked)
	}
	var mb map[string]any
	if err := json.Unmarshal(marked[0].body, &mb); err != nil || mb["manuallyMarked"] != true {
		t.Errorf("marked body %s: want manuallyMarked true", marked[0].body)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM webhook_deliveries WHERE kind = $1 AND body = $2`, WebhookKind, marked[0].body); n != 1 {
		t.Errorf("outbox deliveries of the mark: %d, want 1", n)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// hookReceiver records Greenfield webhook requests; fail says which
// request numbers (from 1) it answers 503.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []hookRequest
	fail func(n int) bool
}

type hookRequest struct {
	body []byte
	sig  string
	url  string
	code int
}

func newHookReceiver(t *testing.T, fail func(int) bool) *hookReceiver {
	rc := &hookReceiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs) + 1
		code := http.StatusOK
		if rc.fail != nil && rc.fail(n) {
			code = http.StatusServiceUnavailable
		}
		rc.reqs = append(rc.reqs, hookRequest{body: body, sig: r.Header.Get(SigHeader), url: r.URL.RequestURI(), code: code})
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// delivered returns the types of the bodies answered 200, in arrival order.
func (rc *hookReceiver) delivered() []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []hookRequest
	for _, r := range rc.reqs {
		if r.code == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

func typeOf(t *testing.T, body []byte) string {
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b.Type
}

// TestSenderOrderSignatureRetry queues three deliveries to one webhook
// for one invoice at once, with the receiver failing the first requests:
// it must get all three, signed with the webhook's secret, at the URL as
// stored (query string included), in order; and a redelivery after them.
func TestSenderOrderSignatureRetry(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	rc := newHookReceiver(t, func(n int) bool { return n <= 2 })
	st := e.store(t, "S")
	h := e.hook(t, &Webhook{StoreID: st.ID, URL: rc.srv.URL + "/wc-api/btcpaygf_default?x=1&y=%2F", Secret: "s3cr3t",
		Enabled: true, AutomaticRedelivery: true, Everything: true})
	inv := e.invoice(t, st)
	p := inv.Payment
	p.Status, p.Received, p.Confirmed = payments.StatusPaid, p.Amount, p.Amount
	p.Outputs = []payments.Output{{TxID: "cd", Vout: 0, Amount: p.Amount, Confirmations: 3, ReceivedAt: time.Now()}}
	ev := &payments.Event{ID: uuid.New(), PaymentID: p.ID, Type: payments.EventStatusChanged,
		PreviousStatus: payments.StatusPartial, Status: payments.StatusPaid, OccurredAt: time.Now()}
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		ds, err := (webhookHook{e.svc}).EventDestinations(ctx, tx, p, ev)
		if err != nil {
			return err
		}
		return e.outbox.EnqueueTo(ctx, tx, ev.ID, p.ID, ds)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.start(t)

	want := []string{TypeInvoiceCreated, TypeInvoiceReceivedPayment, TypeInvoiceProcessing, TypeInvoicePaymentSettled,
		TypeInvoiceSettled}
	deadline := time.Now().Add(30 * time.Second)
	for len(rc.delivered()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := rc.delivered()
	var types []string
	for _, r := range got {
		types = append(types, typeOf(t, r.body))
		if r.sig != Sign("s3cr3t", r.body) {
			t.Errorf("%s: BTCPay-Sig %q does not sign the body with the webhook's secret", typeOf(t, r.body), r.sig)
		}
		if r.url != "/wc-api/btcpaygf_default?x=1&y=%2F" {
			t.Errorf("request URI %q, want the stored one exactly", r.url)
		}
	}
	if !slices.Equal(types, want) {
		t.Fatalf("delivered in order %v, want %v", types, want)
	}

	// Redeliver the first: a new delivery with the same content.
	list, err := e.svc.deliveries(ctx, h.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	var first *Delivery
	for _, d := range list {
		if d.typ == TypeInvoiceReceivedPayment {
			first = d
		}
	}
	if first == nil {
		t.Fatalf("no InvoiceReceivedPayment among %d deliveries", len(list))
	}
	if first.State != webhook.StateDelivered {
		t.Errorf("first delivery state %q, want delivered", first.State)
	}
	newID, err := e.svc.redeliver(ctx, h, first)
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for len(rc.delivered()) < len(want)+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got = rc.delivered()
	if len(got) != len(want)+1 {
		t.Fatalf("after redeliver: %d delivered, want %d", len(got), len(want)+1)
	}
	var re, orig map[string]any
	if err := json.Unmarshal(got[len(want)].body, &re); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(first.Body, &orig); err != nil {
		t.Fatal(err)
	}
	if re["deliveryId"] != newID || re["originalDeliveryId"] != orig["deliveryId"] || re["isRedelivery"] != true ||
		re["type"] != orig["type"] || re["invoiceId"] != orig["invoiceId"] {
		t.Errorf("redelivery body %v, first %v", re, orig)
	}
	if got[len(want)].sig != Sign("s3cr3t", got[len(want)].body) {
		t.Errorf("redelivery not signed")
	}
}

// TestWebhookRoutes drives the webhook routes over HTTP: permissions,
// validation, defaults, the secret shown on create only and kept by an
// update without one, the not-found codes, delete.
func TestWebhookRoutes(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	router := chi.NewRouter()
	e.svc.Mount(router)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	st, other := e.store(t, "S"), e.store(t, "Other")
	newKey := func(storeID string, perms ...string) string {
		_, key, err := e.svc.Stores().CreateKey(ctx, storeID, "test", perms)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	key := newKey(st.ID, PermModifyWebhooks)
	do := func(method, path, key, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/api/v1/stores/"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "token "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	wantCode := func(status int, b []byte, wantStatus int, code string) {
		t.Helper()
		var m struct{ Code, Message string }
		if status != wantStatus || json.Unmarshal(b, &m) != nil || m.Code != code || m.Message == "" {
			t.Errorf("got %d %s, want %d %s", status, b, wantStatus, code)
		}
	}
	wantField := func(status int, b []byte, path string) {
		t.Helper()
		var v []FieldError
		if status != 422 || json.Unmarshal(b, &v) != nil || len(v) == 0 || v[0].Path != path || v[0].Message == "" {
			t.Errorf("got %d %s, want 422 naming %s", status, b, path)
		}
	}

	// Permissions: the webhook permission, for this store.
	code, b := do("GET", st.ID+"/webhooks", newKey(st.ID, PermViewInvoices, PermCreateInvoice, PermModifyInvoices), "")
	wantCode(code, b, 403, CodeMissingPermission)
	code, b = do("GET", other.ID+"/webhooks", key, "")
	wantCode(code, b, 403, CodeMissingPermission)

	// Validation.
	for _, c := range []struct{ body, path string }{
		{`{}`, "url"},
		{`{"url":null}`, "url"},
		{`{"url":"ftp://shop.example/hook"}`, "url"},
		{`{"url":" https://shop.example/hook"}`, "url"},
		{`{"url":12}`, "url"},
		{`{"url":"https://shop.example/hook","enabled":"yes"}`, "enabled"},
		{`{"url":"https://shop.example/hook","authorizedEvents":{"everything":false,"specificEvents":["InvoicePaid"]}}`, "authorizedEvents.specificEvents"},
		{`{"url":"https://shop.example/hook","authorizedEvents":[]}`, "authorizedEvents"},
		{`{"url":"https://shop.example/hook","secret":7}`, "secret"},
		{`{"url":"https://shop.example/hook","secret":"` + strings.Repeat("s", 257) + `"}`, "secret"},
	} {
		code, b := do("POST", st.ID+"/webhooks", key, c.body)
		wantField(code, b, c.path)
	}
	code, b = do("POST", st.ID+"/webhooks", key, `{"url":"https://shop.example/hook"} {}`)
	wantCode(code, b, 400, CodeInvalidRequest)

	// Defaults, and the secret on create only. Unknown members are ignored.
	code, b = do("POST", st.ID+"/webhooks", key, `{"url":"https://shop.example/hook?a=1","id":"ignored","unknown":[1]}`)
	var created webhookJSON
	if code != 200 || json.Unmarshal(b, &created) != nil {
		t.Fatalf("create: %d %s", code, b)
	}
	if !created.Enabled || !created.AutomaticRedelivery || !created.AuthorizedEvents.Everything ||
		created.AuthorizedEvents.SpecificEvents == nil || created.Secret == nil || len(*created.Secret) != 32 ||
		!validToken(created.ID) || created.URL != "https://shop.example/hook?a=1" {
		t.Errorf("created %s", b)
	}
	for _, path := range []string{st.ID + "/webhooks", st.ID + "/webhooks/" + created.ID} {
		if code, b := do("GET", path, key, ""); code != 200 || strings.Contains(string(b), "secret") {
			t.Errorf("GET %s: %d %s, want no secret", path, code, b)
		}
	}

	// An update without a secret keeps it; with one, replaces it.
	secretOf := func() string {
		var s string
		if err := e.pool.QueryRow(ctx, `SELECT secret FROM greenfield_webhooks WHERE id = $1`, created.ID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	code, b = do("PUT", st.ID+"/webhooks/"+created.ID, key,
		`{"url":"https://shop.example/other","enabled":false,"authorizedEvents":{"everything":false,"specificEvents":["InvoiceSettled","InvoiceSettled"]},"secret":""}`)
	var updated webhookJSON
	if code != 200 || json.Unmarshal(b, &updated) != nil || updated.Secret != nil || updated.Enabled ||
		updated.URL != "https://shop.example/other" || updated.AuthorizedEvents.Everything ||
		!slices.Equal(updated.AuthorizedEvents.SpecificEvents, []string{TypeInvoiceSettled}) {
		t.Errorf("update: %d %s", code, b)
	}
	if got := secretOf(); got != *created.Secret {
		t.Errorf("secret after an update without one: %q, want %q", got, *created.Secret)
	}
	if code, b := do("PUT", st.ID+"/webhooks/"+created.ID, key, `{"url":"https://shop.example/other","secret":"new one"}`); code != 200 {
		t.Errorf("update with a secret: %d %s", code, b)
	}
	if got := secretOf(); got != "new one" {
		t.Errorf("secret %q, want the new one", got)
	}

	// Not found.
	code, b = do("GET", st.ID+"/webhooks/aaaaaaaaaaaaaaaaaaaaaaaa", key, "")
	wantCode(code, b, 404, CodeWebhookNotFound)
	code, b = do("GET", st.ID+"/webhooks/not-an-id", key, "")
	wantCode(code, b, 404, CodeWebhookNotFound)
	code, b = do("GET", st.ID+"/webhooks/"+created.ID+"/deliveries/aaaaaaaaaaaaaaaaaaaaaaaa", key, "")
	wantCode(code, b, 404, codeDeliveryAbsent)
	code, b = do("POST", st.ID+"/webhooks/"+created.ID+"/deliveries/aaaaaaaaaaaaaaaaaaaaaaaa/redeliver", key, "")
	wantCode(code, b, 404, codeDeliveryAbsent)
	code, b = do("GET", st.ID+"/webhooks/"+created.ID+"/deliveries?count=0", key, "")
	wantField(code, b, "count")
	if code, b := do("GET", st.ID+"/webhooks/"+created.ID+"/deliveries", key, ""); code != 200 || string(b) != "[]\n" {
		t.Errorf("deliveries: %d %q, want an empty array", code, b)
	}

	// Delete: 200 with no body, then 404.
	if code, b := do("DELETE", st.ID+"/webhooks/"+created.ID, key, ""); code != 200 || len(b) != 0 {
		t.Errorf("delete: %d %q", code, b)
	}
	code, b = do("DELETE", st.ID+"/webhooks/"+created.ID, key, "")
	wantCode(code, b, 404, CodeWebhookNotFound)
}

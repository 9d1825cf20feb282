package metrics

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// value returns the value of the series name{labels}, or -1 when there is
// none.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return metricValue(m)
		}
	}
	return -1
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// TestNames pins the queue and job names the database collector reads to
// the ones packages payments and webhook use.
func TestNames(t *testing.T) {
	if hintQueue != payments.QueueHints || webhookQueue != webhook.Queue {
		t.Errorf("queues %q, %q; packages use %q, %q", hintQueue, webhookQueue, payments.QueueHints, webhook.Queue)
	}
	if txHintKind != (payments.TxHintArgs{}).Kind() || blockHintKind != (payments.BlockHintArgs{}).Kind() {
		t.Errorf("hint kinds %q, %q", txHintKind, blockHintKind)
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	var m *Metrics
	m.HTTPRequest("GET", "/", 200, time.Millisecond)
	m.HintReceived("tx", "LTC")
	m.WebhookAttempt("webhook", "delivered", time.Millisecond)
	m.WatchDatabase(nil, DatabaseOptions{})
	m.WatchStreams(func() int { return 1 })
	m.AddressPoolReady("LTC", 1)
	m.LoopRun("catch_up", nil, time.Millisecond)
	m.WebhookSwept("dead")
	if m.NodeObserver("LTC") != nil {
		t.Error("a nil Metrics gives a node observer")
	}
	err := m.WorkerMiddleware().Work(context.Background(), &rivertype.JobRow{Kind: "x"}, func(context.Context) error { return nil })
	if err != nil {
		t.Error(err)
	}
}

func TestLoopRunAndSwept(t *testing.T) {
	m := New()
	m.LoopRun(payments.LoopCatchUp, nil, time.Millisecond)
	m.LoopRun(payments.LoopCatchUp, errors.New("node down"), time.Millisecond)
	m.LoopRun(payments.LoopDeadlines, nil, time.Millisecond)
	m.WebhookSwept("requeued")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"transient_jobs_total", map[string]string{"kind": "catch_up", "result": "ok"}, 1},
		{"transient_jobs_total", map[string]string{"kind": "catch_up", "result": "error"}, 1},
		{"transient_jobs_total", map[string]string{"kind": "deadlines", "result": "ok"}, 1},
		{"transient_job_duration_seconds", map[string]string{"kind": "catch_up"}, 2},
		{"transient_webhook_swept_total", map[string]string{"action": "requeued"}, 1},
	} {
		if got := value(t, m.Registry(), c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestWatchStreams(t *testing.T) {
	m := New()
	open := 7
	m.WatchStreams(func() int { return open })
	if got := value(t, m.Registry(), "transient_checkout_streams_open", nil); got != 7 {
		t.Errorf("gauge %v, want 7", got)
	}
	open = 0
	if got := value(t, m.Registry(), "transient_checkout_streams_open", nil); got != 0 {
		t.Errorf("gauge %v after the streams closed, want 0", got)
	}
}

func TestAddressPoolReady(t *testing.T) {
	m := New()
	if got := value(t, m.Registry(), "transient_address_pool_ready", map[string]string{"coin": "LTC"}); got != -1 {
		t.Fatalf("before any count: %v, want no series (the pool may be off)", got)
	}
	m.AddressPoolReady("LTC", 7)
	m.AddressPoolReady("LTC", 5)
	if got := value(t, m.Registry(), "transient_address_pool_ready", map[string]string{"coin": "LTC"}); got != 5 {
		t.Errorf("transient_address_pool_ready{coin=LTC} = %v, want the last count, 5", got)
	}
}

func TestNodeObserver(t *testing.T) {
	node := regtest.StartT(t, regtest.Options{})
	m := New()
	ctx := context.Background()
	c, err := coind.New(coind.Config{URL: node.URL(""), Observe: m.NodeObserver("LTC")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed, err := freeport.Addr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	dead, err := coind.New(coind.Config{URL: "http://u:p@" + closed, Observe: m.NodeObserver("DOGE")})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.GetBlockCount(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Call(ctx, "nosuchmethod", nil, nil); err == nil {
		t.Fatal("an unknown method succeeded")
	}
	if _, err := dead.GetBlockCount(ctx); err == nil {
		t.Fatal("a dead node answered")
	}
	reg := m.Registry()
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"transient_node_rpc_duration_seconds", map[string]string{"coin": "LTC", "method": "getblockcount"}, 3},
		{"transient_node_rpc_duration_seconds", map[string]string{"coin": "LTC", "method": "nosuchmethod"}, 1},
		{"transient_node_rpc_errors_total", map[string]string{"coin": "LTC", "method": "nosuchmethod", "error": "rpc"}, 1},
		{"transient_node_rpc_errors_total", map[string]string{"coin": "DOGE", "method": "getblockcount", "error": "unavailable"}, 1},
		{"transient_node_rpc_errors_total", map[string]string{"coin": "LTC", "method": "getblockcount"}, -1},
	} {
		if got := value(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

// TestDatabaseAndJobs runs a real flow, a payment paid and hints worked by
// River, and reads the counters, the job metrics and the database metrics.
func TestDatabaseAndJobs(t *testing.T) {
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	m := New()
	m.WatchDatabase(pool, DatabaseOptions{Coins: []string{"LTC"}, Cache: -1})
	reg := m.Registry()
	if got := value(t, reg, "transient_payments_created_total", map[string]string{"coin": "LTC"}); got != 0 {
		t.Errorf("payments created on an empty database = %v, want 0", got)
	}

	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	outbox := webhook.NewOutbox(pool, jobs, webhook.Config{URL: "http://127.0.0.1:9/hook"})
	svc := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 1,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet}},
		Jobs: jobs, Outbox: outbox,
	})
	var ps []*payments.Payment
	for range 3 {
		amt, _ := payments.ParseAmount("0.1")
		p, err := svc.Create(ctx, payments.CreateRequest{Coin: "LTC", Amount: amt})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	txid, err := node.Send(ctx, regtest.MinerWallet, ps[0].Address, 10_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	// Two hints wait, unworked: the backlog.
	if err := svc.HintTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	if err := svc.HintBlock(ctx, "LTC", strings.Repeat("0", 64)); err != nil {
		t.Fatal(err)
	}
	if got := value(t, reg, "transient_hint_backlog", map[string]string{"kind": "tx"}); got != 1 {
		t.Errorf("tx hint backlog = %v, want 1", got)
	}
	if got := value(t, reg, "transient_hint_backlog_oldest_seconds", map[string]string{"kind": "tx"}); got <= 0 || got > 60 {
		t.Errorf("oldest tx hint age = %v, want a moment", got)
	}

	// Work the hints with River and this package's middleware.
	workers := river.NewWorkers()
	payments.AddWorkers(workers, svc)
	runner, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:        map[string]river.QueueConfig{payments.QueueHints: {MaxWorkers: 4}},
		Workers:       workers,
		FetchCooldown: 10 * time.Millisecond,
		Middleware:    []rivertype.Middleware{m.WorkerMiddleware()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = runner.Stop(stopCtx)
	})
	deadline := time.Now().Add(30 * time.Second)
	// River records a job as completed a moment after the worker returns.
	for value(t, reg, "transient_hints_processed_total", map[string]string{"kind": "tx", "coin": "LTC", "result": "ok"}) != 1 ||
		value(t, reg, "transient_hints_processed_total", map[string]string{"kind": "block", "coin": "LTC", "result": "ok"}) != 1 ||
		value(t, reg, "transient_hint_backlog", map[string]string{"kind": "tx"}) != 0 ||
		value(t, reg, "transient_hint_backlog", map[string]string{"kind": "block"}) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hints not processed after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"transient_jobs_total", map[string]string{"kind": "tx_hint", "result": "ok"}, 1},
		{"transient_job_duration_seconds", map[string]string{"kind": "block_hint"}, 1},
		{"transient_payments_created_total", map[string]string{"coin": "LTC"}, 3},
		{"transient_payments", map[string]string{"coin": "LTC", "status": "UNPAID"}, 2},
		{"transient_payments", map[string]string{"coin": "LTC", "status": "PENDING"}, 1},
		{"transient_payments", map[string]string{"coin": "LTC", "status": "PAID"}, 0},
		{"transient_payment_status_changes_total", map[string]string{"from": "UNPAID", "to": "PENDING"}, 1},
		{"transient_hint_backlog", map[string]string{"kind": "tx"}, 0},
		{"transient_hint_backlog_oldest_seconds", map[string]string{"kind": "tx"}, 0},
		// The status change queued one delivery, which no worker sends
		// here (created events are not POSTed to the webhook URL without
		// payments.Config.CreatedWebhooks).
		{"transient_webhook_backlog", nil, 1},
		{"transient_database_scrape_success", nil, 1},
	} {
		if got := value(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if got := value(t, reg, "transient_webhook_backlog_oldest_seconds", nil); got <= 0 {
		t.Errorf("oldest pending delivery age = %v, want above 0", got)
	}
}

// TestDatabaseDown checks that a dead database fails the scrape fast and
// says so, leaving the other metrics readable.
func TestDatabaseDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c // accepted, never answered
		}
	}()
	t.Cleanup(func() {
		l.Close()
		close(accepted)
	})
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+l.Addr().String()+"/x?sslmode=disable&connect_timeout=30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	m := New()
	m.WatchDatabase(pool, DatabaseOptions{Coins: []string{"LTC"}, Timeout: 500 * time.Millisecond})
	m.HTTPRequest("GET", "", 404, time.Millisecond)
	start := time.Now()
	reg := m.Registry()
	if got := value(t, reg, "transient_database_scrape_success", nil); got != 0 {
		t.Errorf("scrape success = %v, want 0", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("scrape took %s with a 500ms timeout", d)
	}
	if got := value(t, reg, "transient_payments_created_total", nil); got != -1 {
		t.Errorf("payments created reported (%v) without a database", got)
	}
	if got := value(t, reg, "transient_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}); got != 1 {
		t.Errorf("http requests = %v, want 1", got)
	}
}

func TestAMQPMetrics(t *testing.T) {
	m := New()
	reg := m.Registry()
	if v := value(t, reg, "transient_amqp_connected", nil); v != -1 {
		t.Errorf("amqp_connected exists before AMQP is used: %v", v)
	}
	m.AMQPMessage("event", "published")
	m.AMQPMessage("event", "confirmed")
	m.AMQPMessage("event", "published")
	m.AMQPCommand("payments.create", "201")
	m.AMQPConnected(true)
	m.AMQPConnected(false)
	m.AMQPConnected(true)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"transient_amqp_messages_total", map[string]string{"kind": "event", "result": "published"}, 2},
		{"transient_amqp_messages_total", map[string]string{"kind": "event", "result": "confirmed"}, 1},
		{"transient_amqp_commands_total", map[string]string{"type": "payments.create", "outcome": "201"}, 1},
		{"transient_amqp_connected", nil, 1},
	} {
		if got := value(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	var nilM *Metrics
	nilM.AMQPMessage("event", "failed")
	nilM.AMQPCommand("x", "y")
	nilM.AMQPConnected(true)
}

// TestHTTPRequestSeries: each request counts in the series of its own
// method, route and status, also once the series are cached, and counting
// a known series allocates nothing.
func TestHTTPRequestSeries(t *testing.T) {
	m := New()
	reg := m.Registry()
	for range 3 {
		m.HTTPRequest("GET", "/payments/{id}", 200, time.Millisecond)
	}
	m.HTTPRequest("GET", "/payments/{id}", 404, time.Millisecond)
	m.HTTPRequest("POST", "/payments/", 201, time.Millisecond)
	m.HTTPRequest("GET", "", 404, time.Millisecond)
	for _, c := range []struct {
		method, route, status string
		want                  float64
	}{{"GET", "/payments/{id}", "200", 3}, {"GET", "/payments/{id}", "404", 1}, {"POST", "/payments/", "201", 1},
		{"GET", "unmatched", "404", 1}, {"POST", "/payments/{id}", "200", -1}} {
		labels := map[string]string{"method": c.method, "route": c.route, "status": c.status}
		if got := value(t, reg, "transient_http_requests_total", labels); got != c.want {
			t.Errorf("requests %v = %v, want %v", labels, got, c.want)
		}
	}
	if got := value(t, reg, "transient_http_request_duration_seconds", map[string]string{"method": "GET", "route": "/payments/{id}"}); got != 4 {
		t.Errorf("GET /payments/{id} durations observed = %v, want 4", got)
	}
	if n := testing.AllocsPerRun(100, func() { m.HTTPRequest("GET", "/payments/{id}", 200, time.Millisecond) }); n != 0 {
		t.Errorf("counting a known request allocates %v times", n)
	}
}

// Package metrics owns transientd's Prometheus metrics: the counters and
// histograms the daemon updates as it works (HTTP requests, notification
// hints, node RPC calls, webhook attempts, background jobs) and a collector
// that reads, at scrape time, the numbers that live in PostgreSQL (payments
// by coin and status, status changes, the hint and webhook backlogs).
//
// Every metric is registered on the Metrics' own registry, never on the
// global one, and every method is safe on a nil *Metrics (it does nothing),
// so code paths without metrics need no checks.
//
// The in-process metrics count what this process did; the database metrics
// are the same on every process that shares the database. With several
// transientd processes, sum() the former and max() the latter.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/transient-gateway/transient/internal/coind"
)

// Namespace prefixes every metric name.
const Namespace = "transient"

// Latency buckets, in seconds: HTTP requests and node calls take
// milliseconds; webhook attempts may take up to their 10 s timeout.
var (
	fastBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	slowBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// Metrics holds transientd's metrics and the registry that exposes them.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	hintsReceived   *prometheus.CounterVec
	hintsProcessed  *prometheus.CounterVec
	jobs            *prometheus.CounterVec
	jobDuration     *prometheus.HistogramVec
	nodeDuration    *prometheus.HistogramVec
	nodeErrors      *prometheus.CounterVec
	webhookAttempts *prometheus.CounterVec
	webhookDuration *prometheus.HistogramVec
	webhookSwept    *prometheus.CounterVec
	amqpMessages    *prometheus.CounterVec
	amqpCommands    *prometheus.CounterVec
	amqpConnected   prometheus.Gauge
	amqpOnce        sync.Once
	poolReady       *prometheus.GaugeVec
	xpubGap         *prometheus.GaugeVec
	// httpSeries caches HTTPRequest's children of httpRequests and
	// httpDuration by httpKey: finding them by label values (hashing and
	// validating each value, formatting the status) costs every request.
	httpSeries sync.Map
}

// httpKey names the series one answered request counts in.
type httpKey struct {
	method, route string
	status        int
}

// httpSeriesOf is the counter and histogram of one httpKey.
type httpSeriesOf struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// New returns Metrics with the Go runtime and process collectors registered
// beside transientd's own metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by method and route pattern.", Buckets: fastBuckets,
		}, []string{"method", "route"}),
		hintsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "hints_received_total",
			Help: "Notification hints accepted by POST /notify/tx and /notify/block, by kind (tx, block) and coin.",
		}, []string{"kind", "coin"}),
		hintsProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "hints_processed_total",
			Help: "Hint jobs worked, by kind (tx, block), coin and result (ok, error).",
		}, []string{"kind", "coin", "result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "jobs_total",
			Help: "Background jobs worked by this process, by River job kind and result (ok, snoozed, error).",
		}, []string{"kind", "result"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "job_duration_seconds",
			Help: "Time to work one background job, by River job kind.", Buckets: slowBuckets,
		}, []string{"kind"}),
		nodeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "node_rpc_duration_seconds",
			Help: "Coin node JSON-RPC call latency, by coin and method, failed calls included.", Buckets: fastBuckets,
		}, []string{"coin", "method"}),
		nodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "node_rpc_errors_total",
			Help: "Failed coin node JSON-RPC calls, by coin, method and error class " +
				"(unavailable, unauthorized, rpc, canceled, other).",
		}, []string{"coin", "method", "error"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_attempts_total",
			Help: "Webhook delivery attempts, by destination kind and result (delivered, retry, failed, dead, interrupted).",
		}, []string{"kind", "result"}),
		webhookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "webhook_attempt_duration_seconds",
			Help: "Time of one webhook delivery attempt, by destination kind.", Buckets: slowBuckets,
		}, []string{"kind"}),
		webhookSwept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_swept_total",
			Help: "Pending webhook deliveries found without a job by the sweep, by what it did (requeued, dead).",
		}, []string{"action"}),
		amqpMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "amqp_messages_total",
			Help: "AMQP messages, by kind (event, reply) and result: published (handed to the broker), then " +
				"confirmed or failed (refused or unconfirmed; retried), and returned (confirmed, but no queue is bound for it).",
		}, []string{"kind", "result"}),
		amqpCommands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "amqp_commands_total",
			Help: "AMQP commands consumed, by type (payments.create, payments.get, unknown) and outcome " +
				"(the reply's HTTP status, or requeued when the reply was not confirmed).",
		}, []string{"type", "outcome"}),
		amqpConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "amqp_connected",
			Help: "1 while connected to the AMQP broker, 0 otherwise (only registered with AMQP_URL set).",
		}),
		poolReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "address_pool_ready",
			Help: "Fresh addresses ready in the address pool, by coin, as last counted (every 250 ms while ADDRESS_POOL_SIZE > 0). " +
				"Shared by every process on the database: use max().",
		}, []string{"coin"}),
		xpubGap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "xpub_gap",
			Help: "Highest index of the extended public key handed out to a payment minus the highest index paid, by coin " +
				"(read every 30 s). The merchant's wallet finds payments past its gap limit only if the limit is at least this.",
		}, []string{"coin"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.hintsReceived, m.hintsProcessed, m.jobs, m.jobDuration,
		m.nodeDuration, m.nodeErrors, m.webhookAttempts, m.webhookDuration, m.webhookSwept, m.amqpMessages, m.amqpCommands,
		m.poolReady, m.xpubGap,
	)
	return m
}

// Registry returns the registry every metric is on, for registering more
// collectors (Register) or reading values in tests (Gather).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector (the database is down) must not hide the
		// other metrics.
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: false,
	})
}

// HTTPRequest counts one answered request. route is the route pattern
// ("/payments/{id}"), never the raw path, so the label set stays small;
// requests that matched no route are counted under "unmatched".
func (m *Metrics) HTTPRequest(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	key := httpKey{method, route, status}
	v, ok := m.httpSeries.Load(key)
	if !ok {
		v, _ = m.httpSeries.LoadOrStore(key, httpSeriesOf{
			requests: m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)),
			duration: m.httpDuration.WithLabelValues(method, route),
		})
	}
	series := v.(httpSeriesOf)
	series.requests.Inc()
	series.duration.Observe(d.Seconds())
}

// WatchStreams adds the gauge transient_checkout_streams_open, read from
// open at scrape time: the checkout page's live streams open on this
// process, which STREAM_MAX_OPEN caps.
func (m *Metrics) WatchStreams(open func() int) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "checkout_streams_open",
		Help: "Checkout event streams (GET /payments/{id}/stream) open on this process.",
	}, func() float64 { return float64(open()) }))
}

// HintReceived counts one accepted notification hint of kind ("tx" or
// "block") for coin.
func (m *Metrics) HintReceived(kind, coin string) {
	if m == nil {
		return
	}
	m.hintsReceived.WithLabelValues(kind, coin).Inc()
}

// AddressPoolReady sets the number of fresh addresses ready for coin; it
// has the signature of payments.PoolConfig.Observe.
func (m *Metrics) AddressPoolReady(coin string, ready int) {
	if m == nil {
		return
	}
	m.poolReady.WithLabelValues(coin).Set(float64(ready))
}

// XPubGap sets the gap of coin's extended public key; it is nil-safe.
func (m *Metrics) XPubGap(coin string, gap int64) {
	if m == nil {
		return
	}
	m.xpubGap.WithLabelValues(coin).Set(float64(gap))
}

// NodeObserver returns the function to set as coind.Config.Observe for the
// node of coin.
func (m *Metrics) NodeObserver(coin string) func(method string, d time.Duration, err error) {
	if m == nil {
		return nil
	}
	return func(method string, d time.Duration, err error) {
		m.nodeDuration.WithLabelValues(coin, method).Observe(d.Seconds())
		if err != nil {
			m.nodeErrors.WithLabelValues(coin, method, nodeErrorClass(err)).Inc()
		}
	}
}

// nodeErrorClass sorts a node error into the label value of
// node_rpc_errors_total.
func nodeErrorClass(err error) string {
	var rpcErr *coind.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, coind.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, coind.ErrUnauthorized):
		return "unauthorized"
	case errors.As(err, &rpcErr):
		return "rpc"
	default:
		return "other"
	}
}

// WebhookAttempt counts one webhook delivery attempt; it is the function to
// set as webhook.Config.Observe.
func (m *Metrics) WebhookAttempt(kind, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.webhookAttempts.WithLabelValues(kind, result).Inc()
	m.webhookDuration.WithLabelValues(kind).Observe(d.Seconds())
}

// WebhookSwept counts one delivery the sweep found without a job; it is the
// function to set as webhook.Config.Swept.
func (m *Metrics) WebhookSwept(action string) {
	if m == nil {
		return
	}
	m.webhookSwept.WithLabelValues(action).Inc()
}

// AMQPMessage counts one AMQP message result; it is the function to set as
// amqpapi.Config.OnMessage.
func (m *Metrics) AMQPMessage(kind, result string) {
	if m == nil {
		return
	}
	m.amqpMessages.WithLabelValues(kind, result).Inc()
}

// AMQPCommand counts one AMQP command; it is the function to set as
// amqpapi.Config.OnCommand.
func (m *Metrics) AMQPCommand(typ, outcome string) {
	if m == nil {
		return
	}
	m.amqpCommands.WithLabelValues(typ, outcome).Inc()
}

// AMQPConnected sets the connection gauge, registering it on first use so
// that it exists only where AMQP is configured; it is the function to set
// as amqpapi.Config.OnConnected.
func (m *Metrics) AMQPConnected(up bool) {
	if m == nil {
		return
	}
	m.amqpOnce.Do(func() { m.reg.MustRegister(m.amqpConnected) })
	v := 0.0
	if up {
		v = 1
	}
	m.amqpConnected.Set(v)
}

// Hint job kinds, as package payments registers them with River.
const (
	txHintKind    = "tx_hint"
	blockHintKind = "block_hint"
)

// WorkerMiddleware returns River middleware that counts and times every job
// this process works, and counts hint jobs as processed hints. Add it to
// river.Config.Middleware of the client that works jobs.
func (m *Metrics) WorkerMiddleware() rivertype.WorkerMiddleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
		start := time.Now()
		err := doInner(ctx)
		m.jobWorked(job, err, time.Since(start))
		return err
	})
}

// LoopRun counts and times one run of a loop that each process runs itself
// (the catch-up scan, the deadline check), as a job of that kind.
func (m *Metrics) LoopRun(kind string, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jobs.WithLabelValues(kind, result).Inc()
	m.jobDuration.WithLabelValues(kind).Observe(d.Seconds())
}

func (m *Metrics) jobWorked(job *rivertype.JobRow, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := "ok"
	var snooze *river.JobSnoozeError
	switch {
	case errors.As(err, &snooze):
		result = "snoozed"
	case err != nil:
		result = "error"
	}
	m.jobs.WithLabelValues(job.Kind, result).Inc()
	m.jobDuration.WithLabelValues(job.Kind).Observe(d.Seconds())
	if job.Kind == txHintKind || job.Kind == blockHintKind {
		var args struct {
			Coin string `json:"coin"`
		}
		_ = json.Unmarshal(job.EncodedArgs, &args)
		kind := "tx"
		if job.Kind == blockHintKind {
			kind = "block"
		}
		if result == "snoozed" {
			result = "ok"
		}
		m.hintsProcessed.WithLabelValues(kind, args.Coin, result).Inc()
	}
}

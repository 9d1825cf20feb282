package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Database collector defaults.
const (
	// DefaultScrapeTimeout bounds the database queries of one scrape.
	DefaultScrapeTimeout = 2 * time.Second
	// DefaultScrapeCache is how long one reading of the database is reused,
	// so frequent scrapes (or several Prometheus servers) query it at most
	// this often.
	DefaultScrapeCache = 5 * time.Second
)

// Queue names and job kinds read by the backlog queries: package payments
// queues hints on "detection", package webhook deliveries on "webhooks".
const (
	hintQueue    = "detection"
	webhookQueue = "webhooks"
)

// statuses lists the payment statuses, so every series exists (at 0) from
// the first scrape on.
var statuses = []string{"UNPAID", "PARTIAL", "PENDING", "PAID", "EXPIRED", "INVALID"}

// DatabaseOptions configures WatchDatabase.
type DatabaseOptions struct {
	// Coins are the configured coin codes: their series exist from the
	// first scrape on, even before any payment.
	Coins []string
	// Timeout bounds the queries of one scrape; default DefaultScrapeTimeout.
	Timeout time.Duration
	// Cache is how long a reading is reused; default DefaultScrapeCache,
	// negative for no reuse.
	Cache time.Duration
	// Logger receives a warning when a scrape's queries fail.
	Logger *slog.Logger
}

// WatchDatabase registers the collector of the numbers that live in
// PostgreSQL. Each scrape runs its queries in one round trip, bounded by
// opts.Timeout; when they fail, transient_database_scrape_success is 0 and
// the other database metrics are left out of that scrape.
func (m *Metrics) WatchDatabase(pool *pgxpool.Pool, opts DatabaseOptions) {
	if m == nil {
		return
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultScrapeTimeout
	}
	if opts.Cache == 0 {
		opts.Cache = DefaultScrapeCache
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m.reg.MustRegister(newDBCollector(pool, opts))
}

// dbCollector reads the database at scrape time.
type dbCollector struct {
	pool *pgxpool.Pool
	opts DatabaseOptions

	created, payments, changes    *prometheus.Desc
	hintBacklog, hintOldest       *prometheus.Desc
	webhookBacklog, webhookOldest *prometheus.Desc
	scrapeSuccess, scrapeDuration *prometheus.Desc

	mu      sync.Mutex
	readAt  time.Time
	reading *dbReading
}

// dbReading is one reading of the database.
type dbReading struct {
	byCoinStatus   map[[2]string]float64 // coin, status → payments
	changes        map[[2]string]float64 // from, to → events
	hintBacklog    map[string]float64    // kind → jobs
	hintOldest     map[string]float64    // kind → seconds
	webhookBacklog float64
	webhookOldest  float64
	err            error
	took           time.Duration
}

func newDBCollector(pool *pgxpool.Pool, opts DatabaseOptions) *dbCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &dbCollector{
		pool: pool,
		opts: opts,
		created: d("payments_created_total",
			"Payments ever created, by coin (read from the database: the same on every process).", "coin"),
		payments: d("payments",
			"Payments by coin and current status (read from the database).", "coin", "status"),
		changes: d("payment_status_changes_total",
			"Payment status changes, by previous and new status (read from the database).", "from", "to"),
		hintBacklog: d("hint_backlog",
			"Notification hint jobs not yet worked, by kind (tx, block), running ones included.", "kind"),
		hintOldest: d("hint_backlog_oldest_seconds",
			"Age of the oldest hint job not yet worked, by kind; 0 when there is none.", "kind"),
		webhookBacklog: d("webhook_backlog",
			"Webhook deliveries still pending (the outbox backlog), retries waiting for their time included."),
		webhookOldest: d("webhook_backlog_oldest_seconds",
			"Age of the oldest pending webhook delivery; 0 when there is none."),
		scrapeSuccess: d("database_scrape_success",
			"1 when the database metrics of this scrape could be read, 0 when the database failed or was too slow."),
		scrapeDuration: d("database_scrape_duration_seconds",
			"How long reading the database metrics took."),
	}
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.created, c.payments, c.changes, c.hintBacklog, c.hintOldest,
		c.webhookBacklog, c.webhookOldest, c.scrapeSuccess, c.scrapeDuration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.read()
	ch <- prometheus.MustNewConstMetric(c.scrapeDuration, prometheus.GaugeValue, r.took.Seconds())
	if r.err != nil {
		ch <- prometheus.MustNewConstMetric(c.scrapeSuccess, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeSuccess, prometheus.GaugeValue, 1)
	created := map[string]float64{}
	for _, coin := range c.opts.Coins {
		created[coin] = 0
	}
	for k, n := range r.byCoinStatus {
		created[k[0]] += n
	}
	for coin, n := range created {
		ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, n, coin)
		for _, st := range statuses {
			ch <- prometheus.MustNewConstMetric(c.payments, prometheus.GaugeValue, r.byCoinStatus[[2]string{coin, st}], coin, st)
		}
	}
	for k, n := range r.changes {
		ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, n, k[0], k[1])
	}
	for _, kind := range []string{"tx", "block"} {
		ch <- prometheus.MustNewConstMetric(c.hintBacklog, prometheus.GaugeValue, r.hintBacklog[kind], kind)
		ch <- prometheus.MustNewConstMetric(c.hintOldest, prometheus.GaugeValue, r.hintOldest[kind], kind)
	}
	ch <- prometheus.MustNewConstMetric(c.webhookBacklog, prometheus.GaugeValue, r.webhookBacklog)
	ch <- prometheus.MustNewConstMetric(c.webhookOldest, prometheus.GaugeValue, r.webhookOldest)
}

// read returns a reading no older than the cache period.
func (c *dbCollector) read() *dbReading {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading != nil && c.opts.Cache > 0 && time.Since(c.readAt) < c.opts.Cache {
		return c.reading
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	r := c.query(ctx)
	r.took = time.Since(start)
	if r.err != nil {
		c.opts.Logger.Warn("metrics: reading the database failed", "err", r.err, "duration", r.took)
	}
	c.reading, c.readAt = r, time.Now()
	return r
}

// The backlog counts every job not yet finished: available, waiting to be
// retried or scheduled (snoozed), and running.
const activeJobStates = `('available', 'pending', 'retryable', 'running', 'scheduled')`

// query runs every query in one batch (one round trip).
func (c *dbCollector) query(ctx context.Context) *dbReading {
	r := &dbReading{
		byCoinStatus: map[[2]string]float64{},
		changes:      map[[2]string]float64{},
		hintBacklog:  map[string]float64{},
		hintOldest:   map[string]float64{},
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT coin, status, count(*) FROM payments GROUP BY coin, status`).Query(func(rows pgx.Rows) error {
		var coin, status string
		var n int64
		_, err := pgx.ForEachRow(rows, []any{&coin, &status, &n}, func() error {
			r.byCoinStatus[[2]string{coin, status}] = float64(n)
			return nil
		})
		return err
	})
	b.Queue(`SELECT previous_status, status, count(*) FROM payment_events
		WHERE type = 'payment.status_changed' GROUP BY previous_status, status`).Query(func(rows pgx.Rows) error {
		var from, to string
		var n int64
		_, err := pgx.ForEachRow(rows, []any{&from, &to, &n}, func() error {
			r.changes[[2]string{from, to}] = float64(n)
			return nil
		})
		return err
	})
	b.Queue(`SELECT kind, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM river_job WHERE queue = $1 AND kind IN ('tx_hint', 'block_hint') AND state IN `+activeJobStates+`
		GROUP BY kind`, hintQueue).Query(func(rows pgx.Rows) error {
		var kind string
		var n int64
		var age float64
		_, err := pgx.ForEachRow(rows, []any{&kind, &n, &age}, func() error {
			k := "tx"
			if kind == blockHintKind {
				k = "block"
			}
			r.hintBacklog[k], r.hintOldest[k] = float64(n), max(age, 0)
			return nil
		})
		return err
	})
	b.Queue(`SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM river_job WHERE queue = $1 AND kind = 'webhook_delivery' AND state IN `+activeJobStates, webhookQueue).QueryRow(func(row pgx.Row) error {
		var n int64
		var age float64
		if err := row.Scan(&n, &age); err != nil {
			return err
		}
		r.webhookBacklog, r.webhookOldest = float64(n), max(age, 0)
		return nil
	})
	r.err = c.pool.SendBatch(ctx, b).Close()
	return r
}

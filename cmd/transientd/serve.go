package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/transient-gateway/transient/internal/api"
	"github.com/transient-gateway/transient/internal/apikeys"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/throttle"
	"github.com/transient-gateway/transient/internal/webhook"
	"github.com/transient-gateway/transient/migrations"
)

const serveAbout = `Runs the payment gateway: the HTTP API on LISTEN_ADDR, the background
workers (hints, catch-up, deadlines, webhooks, the address pool's refills)
and, with METRICS_ADDR, a second listener for /metrics and the Go profiler
(/debug/pprof/). Configuration comes from the environment and
.env (see .env.example); logs go to stderr.

On SIGTERM or Ctrl-C it stops accepting connections, lets in-flight
requests finish (HTTP_DRAIN_TIMEOUT), lets running jobs finish
(JOB_DRAIN_TIMEOUT; jobs still running are then cancelled and handed back
for a later retry, by this process or another), finishes the hint batches
already sent to the node, closes the node clients and the database pool,
and exits 0.`

// serve runs the gateway until ctx is cancelled, then shuts down in order:
// stop accepting and drain HTTP, stop the parts and the workers, stop the
// batchers, close the node clients, close the pool.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("serve", "[--json]", serveAbout, stdout, stderr)
	cmd.fs.Lookup("json").Usage = "write the log as JSON lines (the same as LOG_FORMAT=json)"
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	cfg, err := config.Load(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	if *cmd.json {
		cfg.LogFormat = "json"
	}
	log := withRequestIDs(newLogger(stderr, cfg.LogFormat, cfg.LogLevel))
	log.Info("starting transientd", "config", cfg.String())
	warnAboutConfig(log, cfg)
	sizeStreams(cfg, raiseOpenFileLimit(), log)
	m := metrics.New()

	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.MigrateOnStart {
		if err := migrations.Up(ctx, pool, log); err != nil {
			return err
		}
	}
	v, err := migrations.Check(ctx, pool)
	if err != nil {
		return err
	}
	if v.Behind() {
		return fmt.Errorf("the database schema is behind this binary (%s): run transientd migrate, or set MIGRATE_ON_START=true", v)
	}
	keys := apikeys.NewStore(pool, nil)
	if len(cfg.APIKeys) == 0 && !cfg.AllowUnauthenticated {
		has, err := keys.HasActive(ctx)
		if err != nil {
			return err
		}
		if !has {
			return config.ErrNoAPIKeys
		}
	}

	c, err := newCore(cfg, pool, log, m)
	if err != nil {
		return err
	}
	// Deferred after pool.Close, so it runs before it.
	defer c.closeNodes()
	svc := c.svc
	if err := checkKeys(ctx, cfg, c, log); err != nil {
		return err
	}

	// The parts read their own keys, from the environment and .env alike.
	partsEnv, err := config.WithEnvFile(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	sources := throttle.NewSources(cfg.TrustedProxies)
	authFailures := throttle.NewLimiter(cfg.AuthFailuresPerMinute, cfg.AuthFailuresPerMinute, nil)
	parts, err := features(ctx, deps{cfg: cfg, getenv: partsEnv, pool: pool, payments: svc, outbox: c.outbox, jobs: c.jobs, nodes: c.nodes,
		metrics: m, sources: sources, authFailures: authFailures, log: log})
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	payments.AddWorkers(workers, svc)
	webhook.AddWorkers(workers, c.outbox)
	periodic := webhook.PeriodicJobs(c.outbox)
	var (
		mounts []func(chi.Router)
		probes []health.Probe
	)
	for _, f := range parts {
		probes = append(probes, f.probes...)
		if f.workers != nil {
			f.workers(workers)
		}
		periodic = append(periodic, f.periodic...)
		if f.mount != nil {
			mounts = append(mounts, f.mount)
		}
	}
	runner, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues: map[string]river.QueueConfig{
			river.QueueDefault:  {MaxWorkers: 4},
			payments.QueueHints: {MaxWorkers: cfg.HintWorkers},
			webhook.Queue:       {MaxWorkers: cfg.WebhookWorkers},
		},
		Workers:              workers,
		PeriodicJobs:         periodic,
		RescueStuckJobsAfter: cfg.JobRescueAfter,
		JobTimeout:           min(cfg.JobRescueAfter-time.Second, time.Minute),
		FetchCooldown:        10 * time.Millisecond,
		Middleware:           []rivertype.Middleware{m.WorkerMiddleware()},
		Logger:               quietRiver(log),
	})
	if err != nil {
		return fmt.Errorf("job queue: %w", err)
	}

	probes = append(probes, keyProbes(svc)...)
	m.WatchDatabase(pool, metrics.DatabaseOptions{Coins: svc.Coins(), Logger: log})
	nodes := make(map[string]health.Node, len(c.nodes))
	for code, n := range c.nodes {
		nodes[code] = n
	}
	handler := api.New(api.Config{
		Payments:             svc,
		Keys:                 api.AnyKey{api.NewStaticKeys(cfg.APIKeys), keys},
		AllowUnauthenticated: cfg.AllowUnauthenticated,
		NotifyToken:          cfg.NotifyToken,
		Webhooks:             c.outbox,
		Mounts:               mounts,
		Ready:                health.NewChecker(health.Config{Pool: pool, Nodes: nodes, Probes: probes, Logger: log}),
		Metrics:              m,
		ServeMetrics:         cfg.MetricsAddr == "",
		Sources:              sources,
		AuthFailures:         authFailures,
		Logger:               log,
	})
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	srv := newHTTPServer(handler, log)
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mux.Handle("GET /healthz", handler)
		mux.Handle("GET /readyz", handler)
		// The Go profiler, on the operator's listener only: never on
		// LISTEN_ADDR, which shops and buyers reach.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		servers = append(servers, newHTTPServer(mux, log))
		listeners = append(listeners, mln)
	}

	// The job runner gets its own context: it must keep working while HTTP
	// drains, and stop only when told to.
	if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("job queue: start: %w", err)
	}
	// The service's batchers run until the HTTP server and the job workers,
	// which feed them, have stopped.
	batchCtx, stopBatchers := context.WithCancel(context.WithoutCancel(ctx))
	batchersDone := make(chan error, 1)
	go func() { batchersDone <- svc.Run(batchCtx) }()
	partsCtx, stopParts := context.WithCancel(context.WithoutCancel(ctx))
	var partsDone sync.WaitGroup
	partsDone.Go(func() { rewatchAtStart(partsCtx, svc, log) })
	// Every process scans the chain at once and on its interval, without
	// waiting for River's leader: a restarted gateway looks at once.
	partsDone.Go(func() {
		_ = svc.RunLoops(partsCtx, payments.LoopsConfig{
			CatchUp: cfg.CatchUpInterval, Deadlines: cfg.DeadlineInterval, Observe: m.LoopRun,
		})
	})
	for _, f := range parts {
		if f.run != nil {
			partsDone.Go(func() {
				if err := f.run(partsCtx); err != nil {
					log.Error("part stopped", "err", err)
				}
			})
		}
	}
	serveErr := make(chan error, len(servers))
	for i, s := range servers {
		go func() { serveErr <- s.Serve(listeners[i]) }()
	}
	attrs := []any{"listen", ln.Addr().String(), "coins", svc.Coins()}
	if len(listeners) > 1 {
		attrs = append(attrs, "metrics_listen", listeners[1].Addr().String())
	}
	log.Info("transientd ready", attrs...)

	select {
	case <-ctx.Done():
		log.Info("shutting down: no new connections; draining requests", "http_drain_timeout", cfg.HTTPDrainTimeout.String())
	case err = <-serveErr:
		log.Error("http server stopped", "err", err)
	}

	drainHTTP(servers, cfg.HTTPDrainTimeout, log)
	stopParts()
	partsDone.Wait()
	stopWorkers(runner, cfg.JobDrainTimeout, log)
	stopBatchers()
	<-batchersDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// newHTTPServer returns a server with transientd's timeouts.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// drainHTTP stops the servers from accepting connections and waits up to
// timeout for their requests to finish; connections still busy then are
// closed.
func drainHTTP(servers []*http.Server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.Shutdown(ctx); err != nil {
				log.Warn("http drain cut short: closing the connections still busy", "err", err)
				_ = s.Close()
			}
		})
	}
	wg.Wait()
}

// stopWorkers lets running jobs finish for drain, then cancels them; a
// cancelled job is retried later, by this process or another.
func stopWorkers(runner *river.Client[pgx.Tx], drain time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := runner.Stop(ctx); err == nil {
		return
	}
	log.Warn("jobs still running after the drain; cancelling them for a later retry")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := runner.StopAndCancel(ctx2); err != nil {
		log.Error("job queue did not stop cleanly", "err", err)
	}
}

// openPool connects to PostgreSQL and checks that it answers.
func openPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: not a valid PostgreSQL URL")
	}
	pcfg.MaxConns = cfg.DBMaxConns
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > 5*time.Second {
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s does not answer: %w", pcfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// warnAboutConfig logs, at every start, the settings that work but are
// unsafe or limited.
func warnAboutConfig(log *slog.Logger, cfg *config.Config) {
	if cfg.AllowUnauthenticated {
		log.Warn("ALLOW_UNAUTHENTICATED=true: requests without an API key may create and list payments; " +
			"anyone who reaches transientd can make the node hand out addresses")
	}
	if cfg.NotifyToken == "" {
		log.Warn("NOTIFY_TOKEN is not set: /notify hooks are refused and payments are found by polling alone",
			"catchup_interval", cfg.CatchUpInterval.String())
	}
	if cfg.WebhookURL != "" && cfg.WebhookSecret == "" {
		log.Warn("PAYMENT_WEBHOOK_SECRET is not set: webhooks are sent unsigned and receivers cannot verify them")
	}
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// quietRiver gives River the daemon's logger one level up: its routine
// messages are noise at info level.
func quietRiver(log *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{log.Handler(), slog.LevelWarn})
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}

func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}

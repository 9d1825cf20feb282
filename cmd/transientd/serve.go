package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/api"
	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
	"github.com/transient-gateway/transient/migrations"
)

// Shutdown bounds: in-flight requests get httpDrain to finish, running jobs
// jobDrain to complete before they are cancelled (and retried later).
const (
	httpDrain = 15 * time.Second
	jobDrain  = 10 * time.Second
)

// serve runs the gateway until ctx is cancelled, then shuts down in order:
// stop accepting and drain HTTP, stop the workers, close the node clients,
// close the pool.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments (got %q); configure it through the environment", args)
	}
	cfg, err := config.Load(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	log.Info("starting transientd", "config", cfg.String())
	warnAboutConfig(log, cfg)

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

	var coins []payments.Coin
	for _, c := range cfg.Coins {
		client, err := coind.New(coind.Config{URL: c.RPCURL, CookieFile: c.RPCCookieFile, Timeout: cfg.RPCTimeout})
		if err != nil {
			return fmt.Errorf("%s_RPC_URL: %w", c.Code, err)
		}
		defer client.Close()
		coins = append(coins, payments.Coin{Code: c.Code, Node: client, Confirmations: c.Confirmations,
			URIScheme: c.URIScheme, Wallet: client.Wallet()})
	}

	driver := riverpgxv5.New(pool)
	// An insert-only client: services queue jobs through it inside their own
	// transactions; the working client below runs them.
	jobs, err := river.NewClient(driver, &river.Config{Logger: quietRiver(log)})
	if err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	outbox := webhook.NewOutbox(pool, jobs, webhook.Config{
		URL:          cfg.WebhookURL,
		Secret:       cfg.WebhookSecret,
		MaxAge:       cfg.WebhookMaxAge,
		LogRetention: cfg.WebhookLogRetention,
		AllowPrivate: cfg.WebhookAllowPrivate,
		Logger:       log,
	})
	svc := payments.NewService(pool, payments.Config{
		Coins:                 coins,
		ToleranceBP:           cfg.ToleranceBP,
		DefaultExpiry:         cfg.PaymentExpiry,
		MonitoringWindow:      cfg.MonitoringWindow,
		NodeTimeout:           cfg.RPCTimeout,
		AllowPrivateCallbacks: cfg.WebhookAllowPrivate,
		Logger:                log,
		Jobs:                  jobs,
		Outbox:                outbox,
	})

	parts, err := features(ctx, deps{cfg: cfg, getenv: getenv, pool: pool, payments: svc, outbox: outbox, jobs: jobs, log: log})
	if err != nil {
		return err
	}
	workers := river.NewWorkers()
	payments.AddWorkers(workers, svc)
	webhook.AddWorkers(workers, outbox)
	periodic := append(payments.PeriodicJobs(svc, cfg.CatchUpInterval, cfg.DeadlineInterval), webhook.PeriodicJobs(outbox)...)
	var mounts []func(chi.Router)
	for _, f := range parts {
		if f.workers != nil {
			f.workers(workers)
		}
		periodic = append(periodic, f.periodic...)
		if f.mount != nil {
			mounts = append(mounts, f.mount)
		}
	}
	runner, err := river.NewClient(driver, &river.Config{
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
		Logger:               quietRiver(log),
	})
	if err != nil {
		return fmt.Errorf("job queue: %w", err)
	}

	handler := api.New(api.Config{
		Payments:    svc,
		Keys:        api.NewStaticKeys(cfg.APIKeys),
		NotifyToken: cfg.NotifyToken,
		Webhooks:    outbox,
		Mounts:      mounts,
		Logger:      log,
	})
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
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
	for _, f := range parts {
		if f.run != nil {
			partsDone.Go(func() {
				if err := f.run(partsCtx); err != nil {
					log.Error("part stopped", "err", err)
				}
			})
		}
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("transientd ready", "listen", ln.Addr().String(), "coins", svc.Coins())

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		log.Error("http server stopped", "err", err)
	}

	drainCtx, cancel := context.WithTimeout(context.Background(), httpDrain)
	defer cancel()
	if shutdownErr := srv.Shutdown(drainCtx); shutdownErr != nil {
		log.Warn("http drain cut short", "err", shutdownErr)
	}
	stopParts()
	partsDone.Wait()
	stopWorkers(runner, log)
	stopBatchers()
	<-batchersDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// stopWorkers lets running jobs finish for jobDrain, then cancels them; a
// cancelled job is retried later, by this process or another.
func stopWorkers(runner *river.Client[pgx.Tx], log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), jobDrain)
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
	if len(cfg.APIKeys) == 0 && cfg.AllowUnauthenticated {
		log.Warn("ALLOW_UNAUTHENTICATED=true and no API_KEYS: anyone who reaches transientd can create and list payments")
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

package main

import (
	"context"
	"log/slog"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
	"github.com/transient-gateway/transient/internal/webhook"
)

// deps is what the daemon's core hands to the parts wired beside it (the
// BitPay adapter, the checkout page): each reads its own settings through
// getenv (the environment, then .env) and returns what the core must run
// for it.
type deps struct {
	cfg      *config.Config
	getenv   func(string) string
	pool     *pgxpool.Pool
	payments *payments.Service
	outbox   *webhook.Outbox
	jobs     *river.Client[pgx.Tx]
	metrics  *metrics.Metrics
	// sources and authFailures are shared by every part, so that failed
	// authentication on any route counts against one limit per client.
	sources      *throttle.Sources
	authFailures *throttle.Limiter
	// nodes are the coin node clients, by coin code.
	nodes map[string]*coind.Client
	// rates prices invoices in fiat for the BitPay and Greenfield APIs;
	// features builds it once for both.
	rates *rates.Service
	log   *slog.Logger
}

// feature is what a part adds to the daemon.
type feature struct {
	// mount adds routes to the HTTP router.
	mount func(chi.Router)
	// workers registers River workers; periodic adds River periodic jobs.
	workers  func(*river.Workers)
	periodic []*river.PeriodicJob
	// run, when set, runs beside the server until ctx is done.
	run func(ctx context.Context) error
	// probes are the part's readiness checks.
	probes []health.Probe
}

// features wires every optional part, in a fixed order.
func features(ctx context.Context, d deps) ([]feature, error) {
	var out []feature
	// The rate settings are read with the BitPay settings (their keys
	// predate the Greenfield API); the one rate service serves both APIs.
	rcfg, err := loadBitPayConfig(d.getenv, d.payments.Coins())
	if err != nil {
		return nil, err
	}
	if d.rates, err = newRates(rcfg, d); err != nil {
		return nil, err
	}
	if rcfg.RatesURL != "" {
		out = append(out, feature{run: d.rates.Run})
	}
	for _, wire := range []func(context.Context, deps) (feature, error){wireBitPay, wireGreenfield, wireCheckout, wireAMQP} {
		f, err := wire(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

package main

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// core is what the daemon and the commands that talk to the coin nodes
// share: a client per node, an insert-only job client, the webhook outbox
// and the payment service.
type core struct {
	pool   *pgxpool.Pool
	nodes  map[string]*coind.Client
	jobs   *river.Client[pgx.Tx]
	outbox *webhook.Outbox
	svc    *payments.Service
}

// newCore builds the core on pool. m may be nil (no metrics). Call
// closeNodes when done.
func newCore(cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger, m *metrics.Metrics) (*core, error) {
	c := &core{pool: pool, nodes: make(map[string]*coind.Client, len(cfg.Coins))}
	var coins []payments.Coin
	for _, cc := range cfg.Coins {
		client, err := coind.New(coind.Config{URL: cc.RPCURL, CookieFile: cc.RPCCookieFile, Timeout: cfg.RPCTimeout,
			Observe: m.NodeObserver(cc.Code)})
		if err != nil {
			c.closeNodes()
			return nil, fmt.Errorf("%s_RPC_URL: %w", cc.Code, err)
		}
		c.nodes[cc.Code] = client
		coin := payments.Coin{Code: cc.Code, Node: client, Confirmations: cc.Confirmations, ZeroConf: cc.ZeroConf,
			URIScheme: cc.URIScheme, Wallet: client.Wallet(), Addresses: payments.NodeWallet{Node: client}, GapWarn: cc.GapWarn}
		if cc.XPub != nil {
			coin.Addresses, coin.Derived = nil, &payments.XPub{Key: cc.XPub, Node: client}
		}
		coins = append(coins, coin)
	}
	// An insert-only client: services queue jobs through it inside their
	// own transactions; the daemon's working client runs them, woken by the
	// LISTEN/NOTIFY message an insert sends. River sends at most one such
	// message per queue per FetchCooldown of the inserting client (100 ms
	// by default); a job whose message was held back waited for the
	// working client's next poll, up to a second, which was the long tail
	// between a transaction and its webhook. Every insert notifies now.
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quietRiver(log), FetchCooldown: river.FetchCooldownMin})
	if err != nil {
		c.closeNodes()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	c.jobs = jobs
	// A second insert-only client, with River's default FetchCooldown,
	// queues the deliveries of created events: at most one wake-up NOTIFY
	// per queue per 100 ms, so that creating payments does not make every
	// create transaction notify (PostgreSQL commits notifying transactions
	// one at a time). Those deliveries leave at the next wake-up or poll,
	// within about a second.
	unhurried, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quietRiver(log)})
	if err != nil {
		c.closeNodes()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	wcfg := webhook.Config{
		UnhurriedJobs: unhurried,
		URL:           cfg.WebhookURL,
		Secret:        cfg.WebhookSecret,
		MaxAge:        cfg.WebhookMaxAge,
		Retention:     cfg.WebhookRetention,
		AllowPrivate:  cfg.WebhookAllowPrivate,
		Logger:        log,
	}
	if len(cfg.WebhookRetrySchedule) > 0 {
		wcfg.Backoff = webhook.ScheduleBackoff(cfg.WebhookRetrySchedule)
	}
	if m != nil {
		wcfg.Observe = m.WebhookAttempt
		wcfg.Swept = m.WebhookSwept
	}
	c.outbox = webhook.NewOutbox(pool, jobs, wcfg)
	c.svc = payments.NewService(pool, payments.Config{
		Coins:                 coins,
		ToleranceBP:           cfg.ToleranceBP,
		DefaultExpiry:         cfg.PaymentExpiry,
		MonitoringWindow:      cfg.MonitoringWindow,
		NodeTimeout:           cfg.RPCTimeout,
		AllowPrivateCallbacks: cfg.WebhookAllowPrivate,
		CreatedWebhooks:       cfg.WebhookCreatedEvents,
		Logger:                log,
		Jobs:                  jobs,
		Outbox:                c.outbox,
		AddressPool: payments.PoolConfig{Size: cfg.AddressPoolSize, LowWater: cfg.AddressPoolLowWater,
			Observe: m.AddressPoolReady, ObserveGap: m.XPubGap},
	})
	return c, nil
}

// closeNodes releases the node clients' connections.
func (c *core) closeNodes() {
	for _, n := range c.nodes {
		n.Close()
	}
}

// offlineService is a payment service for the database commands: it reads
// payments and events and presents them as the API does, with the coins of
// COINS (when set) but no node.
func offlineService(cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) *payments.Service {
	var coins []payments.Coin
	for _, cc := range cfg.Coins {
		coin := payments.Coin{Code: cc.Code, Confirmations: cc.Confirmations, ZeroConf: cc.ZeroConf, URIScheme: cc.URIScheme, GapWarn: cc.GapWarn}
		if cc.XPub != nil {
			coin.Derived = &payments.XPub{Key: cc.XPub}
		}
		coins = append(coins, coin)
	}
	return payments.NewService(pool, payments.Config{Coins: coins, Logger: log})
}

package payments

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

// benchConns is the concurrency issue 13's creation target is set at.
const benchConns = 16

// BenchmarkCreate measures Service.Create from a full address pool with 16
// concurrent callers on 16 connections ("pool"), beside the limit issue 13
// compares it with: PostgreSQL's durable single-row INSERT of the same row
// into a copy of the payments table, same concurrency ("insert"). Compare
// the creates/s of the two (one run; the machine is shared).
// "pool-webhook" is "pool" with a global webhook URL that gets created
// events, as transientd runs with PAYMENT_WEBHOOK_URL and
// WEBHOOK_CREATED_EVENTS: each event also queues a delivery and its job.
//
//	go test -run '^$' -bench BenchmarkCreate -benchtime 2000x ./internal/payments/
func BenchmarkCreate(b *testing.B) {
	// One database and pool for both, made once: b.Run calls each function
	// again for every b.N it tries.
	pool := benchPool(b)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_payments (LIKE payments INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	svc := NewService(pool, Config{
		Coins:       []Coin{{Code: "LTC", Confirmations: 2, URIScheme: "litecoin", Addresses: noAddresses{}}},
		AddressPool: PoolConfig{Size: 10},
	})
	b.Run("insert", func(b *testing.B) {
		runCreates(b, func() error {
			_, err := pool.Exec(ctx, `
				INSERT INTO bench_payments (id, coin, amount, address, label, status, confirmations_required,
					tolerance_bp, expires_at, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
					settle_confirmations)
				VALUES ($1, 'LTC', 100000, $2, '', 'UNPAID', 2, 0, NULL, NULL, '{}', now(), now(), NULL, NULL, 2)`,
				uuid.New(), "bench-"+uuid.NewString())
			return err
		})
	})
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{FetchCooldown: river.FetchCooldownMin})
	if err != nil {
		b.Fatal(err)
	}
	// transientd's second insert-only client, for the created events'
	// deliveries (webhook.Message.Unhurried).
	unhurried, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		b.Fatal(err)
	}
	// As transientd runs with PAYMENT_WEBHOOK_URL and
	// WEBHOOK_CREATED_EVENTS set: every event is queued for delivery (no
	// worker sends it here).
	hooked := NewService(pool, Config{
		CreatedWebhooks: true,
		Coins:           []Coin{{Code: "LTC", Confirmations: 2, URIScheme: "litecoin", Addresses: noAddresses{}}},
		AddressPool:     PoolConfig{Size: 10},
		Jobs:            jobs,
		Outbox:          webhook.NewOutbox(pool, jobs, webhook.Config{URL: "http://127.0.0.1:9/hook", UnhurriedJobs: unhurried}),
	})
	for _, bc := range []struct {
		name string
		svc  *Service
	}{{"pool", svc}, {"pool-webhook", hooked}} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := pool.Exec(ctx, `
				INSERT INTO address_pool (coin, address)
				SELECT 'LTC', 'bench' || replace(gen_random_uuid()::text, '-', '') FROM generate_series(1, $1::int)`, b.N+benchConns); err != nil {
				b.Fatal(err)
			}
			runCreates(b, func() error {
				_, err := bc.svc.Create(ctx, CreateRequest{Coin: "LTC", Amount: 100000})
				return err
			})
		})
	}
}

// benchPool returns a pool on a fresh database with benchConns connections,
// all open.
func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = benchConns, benchConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// runCreates runs op b.N times from benchConns goroutines and reports the
// rate as creates/s (GOMAXPROCS must divide benchConns for exactly that
// many goroutines).
func runCreates(b *testing.B, op func() error) {
	b.Helper()
	b.SetParallelism(max(benchConns/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
}

// noAddresses is an address source that is never asked: the benchmark
// fills the pool itself.
type noAddresses struct{}

func (noAddresses) NewAddresses(context.Context, int) ([]string, error) {
	return nil, fmt.Errorf("the benchmark fills the pool itself")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/payments"
)

// floorSchema holds the tables the create floor writes to: copies of
// payments, address_pool and payment_events, so the gateway's own tables
// are not disturbed.
const floorSchema = "bench_create"

// createFloor measures what PostgreSQL alone can do of a POST /payments
// from a full pool at c connections: payments.Service.Create, run in this
// process without HTTP or transientd, on copies of the tables in a schema
// of its own (floorSchema; a connection sees no other schema, so a
// statement reaching for any other table would fail instead of touching
// the gateway's). It is the payments package's own code, configured as the
// bench's transientd is (created events not sent to the webhook URL, no
// adapter hooks, no label), so it sends exactly what a create sends: one
// statement taking the address from the pool and inserting the payment and
// its created event, or, for creates that arrive together, one statement
// for all of them (createBatcher), so the note measures the coalescing
// too, not what one create alone costs. It is bracketed by the bare
// INSERT, like the rows, and written as a note: if even this is at most
// half of the INSERT, no gateway code reaches issue 13's 0.5 with this
// data model.
//
// It runs the real code rather than a copy of its statements so that the
// note cannot drift from what transientd sends: any change to the
// statements of a create (their number, their shape, the event's payload)
// is measured here as it is in the rows. What it adds to PostgreSQL's work
// is the Go of Create in the load generator, which the note's CPU
// figures show.
func (b *benchRun) createFloor(ctx context.Context, c int, insert func(n, c int) loadResult) error {
	if _, err := b.db.Exec(ctx, `
		CREATE SCHEMA `+floorSchema+`;
		CREATE TABLE `+floorSchema+`.payments (LIKE public.payments INCLUDING ALL);
		CREATE TABLE `+floorSchema+`.address_pool (LIKE public.address_pool INCLUDING ALL);
		CREATE TABLE `+floorSchema+`.payment_events (LIKE public.payment_events INCLUDING ALL,
			FOREIGN KEY (payment_id) REFERENCES `+floorSchema+`.payments (id))`); err != nil {
		return fmt.Errorf("create floor: make the tables: %w", err)
	}
	n := b.scale.create
	warm := 2 * c
	if _, err := b.db.Exec(ctx, `
		INSERT INTO `+floorSchema+`.address_pool (coin, address)
		SELECT $1, 'bench' || replace(gen_random_uuid()::text, '-', '') FROM generate_series(1, $2::int)`, devCoin, 2*(n+warm)); err != nil {
		return fmt.Errorf("create floor: fill the pool: %w", err)
	}
	// The 64-connection levels leave up to 64 idle connections in the
	// bench's own pool; with transientd's and these c they would pass
	// PostgreSQL's default max_connections of 100 ("too many clients").
	b.db.Reset()
	cfg, err := pgxpool.ParseConfig(b.stack.dbURL)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = floorSchema
	cfg.MaxConns, cfg.MinConns = int32(c), int32(c)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: devCoin, Confirmations: devConfirms, URIScheme: "litecoin",
			Addresses: floorAddresses{}}},
		MonitoringWindow: 24 * time.Hour,
		AddressPool:      payments.PoolConfig{Size: n},
		Logger:           slog.New(slog.DiscardHandler),
	})
	create := func(n, c int) loadResult {
		return runLoad(ctx, n, c, func(ctx context.Context, i int) error {
			_, err := svc.Create(ctx, payments.CreateRequest{Coin: devCoin, Amount: payments.Amount(paymentAmount)})
			return err
		})
	}
	// Every connection prepares its statements once, as transientd's
	// have by now.
	if err := loadErr("create floor, warming up", create(warm, c)); err != nil {
		return err
	}
	var floorCPU, limCPU cpuPerOp
	res, lim, _, err := b.bracket(ctx, "create floor", "PostgreSQL INSERT",
		func() loadResult {
			start := b.cpuNow(ctx)
			res := create(n, c)
			floorCPU = b.cpuNow(ctx).since(start, res.n)
			return res
		},
		func() loadResult {
			start := b.cpuNow(ctx)
			res := insert(n, c)
			limCPU = b.cpuNow(ctx).since(start, res.n)
			return res
		})
	if err != nil {
		return err
	}
	b.note(fmt.Sprintf("PostgreSQL alone doing a create's statements (payments.Service.Create from a full pool in the load generator, "+
		"no HTTP, no transientd: take from the pool + payment + created event in one statement, concurrent creates sharing one), %d conn.: %s = %s of the INSERT (%s/s, same run); "+
		"CPU per create: %s; per INSERT: %s", c, perSec(res), ratio(res.rate(), lim), num(lim), floorCPU, limCPU))
	return nil
}

// floorAddresses is the create floor's address source: never asked, the
// floor fills its pool itself.
type floorAddresses struct{}

func (floorAddresses) NewAddresses(context.Context, int) ([]string, error) {
	return nil, errors.New("the create floor fills its pool itself")
}

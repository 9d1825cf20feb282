package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// advisoryLockKey serialises whole migration runs (goose's schema and River's
// tables) across processes; goose's own session lock covers only its part.
const advisoryLockKey = 0x7472616e7369656e // "transien"

// Version describes how far a database's schema is.
type Version struct {
	Current, Latest           int64 // goose versions of Transient's schema
	RiverCurrent, RiverLatest int   // River's job-table migrations
}

// Behind reports whether any migration is pending.
func (v Version) Behind() bool { return v.Current < v.Latest || v.RiverCurrent < v.RiverLatest }

// String describes the versions for an operator.
func (v Version) String() string {
	return fmt.Sprintf("schema %d of %d, job queue %d of %d", v.Current, v.Latest, v.RiverCurrent, v.RiverLatest)
}

// Up applies every pending migration. Concurrent calls from several processes
// are safe: they take turns under a PostgreSQL advisory lock, and the later
// ones find nothing to do.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(advisoryLockKey)); err != nil {
		return fmt.Errorf("migrations: lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(advisoryLockKey))
	}()

	riverMigrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet()})
	if err != nil {
		return fmt.Errorf("migrations: river: %w", err)
	}
	res, err := riverMigrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrations: job queue tables: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("job queue migration applied", "version", v.Version, "name", v.Name)
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db)
	if err != nil {
		return err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range results {
		log.Info("schema migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Check returns how far the database's schema is.
func Check(ctx context.Context, pool *pgxpool.Pool) (Version, error) {
	var v Version
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newProvider(db)
	if err != nil {
		return v, err
	}
	if v.Current, v.Latest, err = provider.GetVersions(ctx); err != nil {
		return v, fmt.Errorf("migrations: versions: %w", err)
	}
	riverMigrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet()})
	if err != nil {
		return v, fmt.Errorf("migrations: river: %w", err)
	}
	all := riverMigrator.AllVersions()
	if len(all) > 0 {
		v.RiverLatest = all[len(all)-1].Version
	}
	existing, err := riverMigrator.ExistingVersions(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		// Before River's first migration its version table does not exist.
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("migrations: job queue versions: %w", err)
	}
	if len(existing) > 0 {
		v.RiverCurrent = existing[len(existing)-1].Version
	}
	return v, nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Package pgtest gives each test package its own fresh PostgreSQL database
// with Transient's schema, on the server named by TEST_DATABASE_URL or
// DATABASE_URL, or else the local server at 127.0.0.1:5432.
//
// The schema is migrated once per test binary into a template database;
// every NewDatabase call then clones the template (CREATE DATABASE …
// TEMPLATE), which takes a few tens of milliseconds, and drops the clone when
// the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/migrations"
)

// DefaultURL is the server used when neither TEST_DATABASE_URL nor
// DATABASE_URL is set: the local PostgreSQL with trust authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the server tests use.
func ServerURL() string {
	for _, k := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return DefaultURL
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// NewDatabase creates a fresh, migrated database for tb and returns its URL.
// The database is dropped when tb ends. A server that cannot be reached
// fails the test with a message saying what to start; it never skips.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = makeTemplate(ctx) })
	if templateErr != nil {
		tb.Fatalf("pgtest: %v", templateErr)
	}
	name := "transient_test_" + randomSuffix()
	if err := adminExec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateName)); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			tb.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return databaseURL(name)
}

// NewPool creates a fresh database for tb and returns a pool on it, closed
// when tb ends.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(tb))
	if err != nil {
		tb.Fatalf("pgtest: pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// makeTemplate creates and migrates the template database of this test
// binary. Its name is unique per process, so parallel test binaries do not
// share (or drop) each other's templates; it is dropped again by the next
// run's sweep of templates older than an hour.
func makeTemplate(ctx context.Context) (string, error) {
	if err := sweepOldTemplates(ctx); err != nil {
		return "", err
	}
	name := fmt.Sprintf("transient_tmpl_%d_%s", time.Now().Unix(), randomSuffix())
	if err := adminExec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, databaseURL(name))
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if err := migrations.Up(ctx, pool, nil); err != nil {
		return "", err
	}
	return name, nil
}

// sweepOldTemplates drops templates and test databases left behind by test
// binaries that were killed before their cleanup ran.
func sweepOldTemplates(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return fmt.Errorf("cannot reach PostgreSQL at %s (%v): start the local server "+
			"(apt-get install -y postgresql; pg_ctlcluster 15 main start) or set TEST_DATABASE_URL", redact(ServerURL()), err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT datname FROM pg_database
		WHERE datname ~ '^transient_tmpl_[0-9]+_' AND split_part(datname, '_', 3)::bigint < $1`,
		time.Now().Add(-time.Hour).Unix())
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		_, _ = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+n+` WITH (FORCE)`)
	}
	return nil
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(ServerURL()), err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseURL returns the server URL with its database replaced by name.
func databaseURL(name string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		return ServerURL()
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run runs a package's tests and then drops its template database. Call it
// from TestMain: os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if templateName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = adminExec(ctx, `DROP DATABASE IF EXISTS `+templateName+` WITH (FORCE)`)
	}
	return code
}

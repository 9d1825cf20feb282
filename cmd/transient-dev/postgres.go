package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres is the server the stack uses, found or started by
// scripts/postgres.sh.
type postgres struct {
	script  string
	url     string // superuser URL
	kind    string // "local" or "throwaway"
	started bool   // this run started the throwaway cluster: stop it at the end
}

// startPostgres asks scripts/postgres.sh for a server: the local one if it
// answers, else a throwaway cluster, which the script starts if needed.
func startPostgres(ctx context.Context, script string, stderr io.Writer) (*postgres, error) {
	before, err := postgresStatus(ctx, script, stderr)
	if err != nil {
		return nil, err
	}
	out, err := runScript(ctx, script, stderr, "url")
	if err != nil {
		return nil, err
	}
	after, err := postgresStatus(ctx, script, stderr)
	if err != nil {
		return nil, err
	}
	return &postgres{
		script:  script,
		url:     out,
		kind:    after,
		started: before != "throwaway" && after == "throwaway",
	}, nil
}

// postgresStatus returns "local", "throwaway" or "none".
func postgresStatus(ctx context.Context, script string, stderr io.Writer) (string, error) {
	out, err := runScript(ctx, script, stderr, "status")
	kind, _, _ := strings.Cut(out, " ")
	return kind, err
}

// stop stops the throwaway cluster if this run started it.
func (p *postgres) stop(stderr io.Writer) {
	if !p.started {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := runScript(ctx, p.script, stderr, "stop"); err != nil {
		fmt.Fprintf(stderr, "transient-dev: %v\n", err)
	}
}

// runScript runs script with args and returns its trimmed standard output;
// its standard error goes to stderr.
func runScript(ctx context.Context, script string, stderr io.Writer, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Stdout = &out
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w", script, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), nil
}

// recreateDatabase drops database name if it exists, creates it empty and
// returns its URL (adminURL with the database replaced).
func recreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("postgres url %s: %w", redactURL(adminURL), err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", redactURL(adminURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{name}.Sanitize()
	for _, sql := range []string{`DROP DATABASE IF EXISTS ` + ident + ` WITH (FORCE)`, `CREATE DATABASE ` + ident} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("%s: %w", sql, err)
		}
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase drops database name if it exists.
func dropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

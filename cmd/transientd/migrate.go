package main

import (
	"context"
	"fmt"
	"io"

	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/migrations"
)

const migrateAbout = `up (the default) applies every pending migration of Transient's schema and
of the job queue's tables; status only shows how far the database is.
Several transientd processes may run migrate (or start with
MIGRATE_ON_START=true) at once: they take turns under a PostgreSQL lock.
Only DATABASE_URL is needed. status exits 1 when the schema is behind.`

// migrateStatus is what migrate prints.
type migrateStatus struct {
	Schema         int64 `json:"schema"`
	SchemaLatest   int64 `json:"schema_latest"`
	JobQueue       int   `json:"job_queue"`
	JobQueueLatest int   `json:"job_queue_latest"`
	UpToDate       bool  `json:"up_to_date"`
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("migrate", "[up | status] [--json]", migrateAbout, stdout, stderr)
	pos, done, err := cmd.parse(args, 0, 1)
	if done || err != nil {
		return err
	}
	sub := "up"
	if len(pos) == 1 {
		sub = pos[0]
	}
	if sub != "up" && sub != "status" {
		return cmd.usageError("unknown subcommand %q: use up or status", sub)
	}
	// migrate needs the database only: read DATABASE_URL without requiring
	// the rest of the daemon's configuration.
	cfg, err := config.LoadDatabase(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if sub == "up" {
		if err := migrations.Up(ctx, pool, log); err != nil {
			return err
		}
	}
	v, err := migrations.Check(ctx, pool)
	if err != nil {
		return err
	}
	st := migrateStatus{Schema: v.Current, SchemaLatest: v.Latest, JobQueue: v.RiverCurrent,
		JobQueueLatest: v.RiverLatest, UpToDate: !v.Behind()}
	err = cmd.output(st, func(w io.Writer) error {
		state := "up to date"
		if v.Behind() {
			state = "behind: run transientd migrate"
		}
		_, err := fmt.Fprintf(w, "%s (%s)\n", v, state)
		return err
	})
	if err == nil && v.Behind() {
		return fmt.Errorf("the database schema is behind this binary (%s)", v)
	}
	return err
}

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/migrations"
)

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	if sub != "up" && sub != "status" {
		fmt.Fprintf(stderr, "transientd migrate: unknown subcommand %q: use up or status\n", sub)
		return errUsage
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
	state := "up to date"
	if v.Behind() {
		state = "behind: run transientd migrate"
	}
	fmt.Fprintf(stdout, "%s (%s)\n", v, state)
	return nil
}

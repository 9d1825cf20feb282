package main

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/greenfield"
)

// addGreenfieldWebhooks gives the events a command causes (a rescan's
// status changes) the Greenfield webhook deliveries the daemon would give
// them: it registers a Greenfield service's event hook on c's payments
// service and outbox. The daemon's workers deliver them. With
// GREENFIELD_ENABLED=false it adds nothing.
func addGreenfieldWebhooks(getenv func(string) string, cfg *config.Config, pool *pgxpool.Pool, c *core) error {
	gcfg, err := loadGreenfieldConfig(getenv)
	if err != nil || !gcfg.Enabled {
		return err
	}
	greenfield.New(greenfield.Config{Pool: pool, Payments: c.svc, AllowPrivateWebhooks: cfg.WebhookAllowPrivate}).
		AddWebhooks(c.svc, c.outbox)
	return nil
}

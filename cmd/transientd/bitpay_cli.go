package main

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/bitpay"
	"github.com/transient-gateway/transient/internal/config"
)

// addBitPayIPNs gives the events a command causes (a rescan's status
// changes) the BitPay IPNs the daemon would give them: it registers a
// BitPay service's event hook on c's payments service, so an invoice paid
// while nothing watched the node still tells its notificationURL. The
// daemon's workers deliver them. With BITPAY_ENABLED=false it adds
// nothing.
func addBitPayIPNs(getenv func(string) string, cfg *config.Config, pool *pgxpool.Pool, c *core) error {
	bcfg, err := loadBitPayConfig(getenv, c.svc.Coins())
	if err != nil || !bcfg.Enabled {
		return err
	}
	c.svc.AddEventHook(bitpay.New(bitpay.Config{Pool: pool, Payments: c.svc, PublicURL: cfg.PublicURL,
		AllowPrivateCallbacks: cfg.WebhookAllowPrivate}))
	return nil
}

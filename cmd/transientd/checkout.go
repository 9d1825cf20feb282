package main

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/checkout"
)

// wireCheckout wires the hosted checkout page (GET /payments/{id}/checkout)
// and its live stream (GET /payments/{id}/stream). The stream's hub listens
// for payment events on a connection of its own, beside the pool, and runs
// until the daemon stops.
func wireCheckout(ctx context.Context, d deps) (feature, error) {
	connCfg := d.pool.Config().ConnConfig.Copy()
	if connCfg.RuntimeParams == nil {
		connCfg.RuntimeParams = map[string]string{}
	}
	connCfg.RuntimeParams["application_name"] = "transientd checkout listener"
	hub := checkout.NewHub(checkout.HubConfig{
		Source:  d.payments,
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, connCfg.Copy()) },
		Logger:  d.log,
	})
	srv := checkout.New(checkout.Config{
		Source: d.payments,
		Hub:    hub,
		// ctx is cancelled when shutdown begins, before the HTTP server
		// drains: open streams must end then, or the drain would wait for
		// them. The run loop's context ends only after the drain.
		Done:                 ctx.Done(),
		MaxStreams:           d.cfg.StreamMaxOpen,
		MaxStreamsPerPayment: d.cfg.StreamMaxPerPayment,
		FrameAncestors:       d.cfg.FrameAncestors,
		Logger:               d.log,
	})
	d.metrics.WatchStreams(srv.OpenStreams)
	return feature{mount: srv.Mount, run: hub.Run}, nil
}

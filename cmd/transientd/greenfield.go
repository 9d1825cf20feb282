package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transient-gateway/transient/internal/greenfield"
)

// greenfieldConfig is the configuration of the Greenfield API (BTCPay
// Server's v1 API for shop plugins).
type greenfieldConfig struct {
	Enabled       bool
	InvoiceExpiry time.Duration
}

// loadGreenfieldConfig reads GREENFIELD_ENABLED (default true) and
// GREENFIELD_INVOICE_EXPIRY (default 15m, for invoices whose checkout names
// no expirationMinutes).
func loadGreenfieldConfig(getenv func(string) string) (*greenfieldConfig, error) {
	c := &greenfieldConfig{Enabled: true, InvoiceExpiry: 15 * time.Minute}
	if v := strings.TrimSpace(getenv("GREENFIELD_ENABLED")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("config: GREENFIELD_ENABLED=%q: want true or false", v)
		}
		c.Enabled = b
	}
	if v := strings.TrimSpace(getenv("GREENFIELD_INVOICE_EXPIRY")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 365*24*time.Hour {
			return nil, fmt.Errorf("config: GREENFIELD_INVOICE_EXPIRY=%q: want a duration such as 15m or 1h, from 1m to 8760h", v)
		}
		c.InvoiceExpiry = d
	}
	return c, nil
}

// newGreenfield builds the Greenfield service of the daemon from d.
func newGreenfield(d deps, cfg *greenfieldConfig) *greenfield.Service {
	complete := make(map[string]int64, len(d.cfg.Coins))
	for _, c := range d.cfg.Coins {
		complete[c.Code] = c.Confirmations
	}
	nodes := make(map[string]greenfield.SyncReporter, len(d.nodes))
	for code, n := range d.nodes {
		nodes[code] = n
	}
	return greenfield.New(greenfield.Config{
		Pool:                  d.pool,
		Payments:              d.payments,
		Rates:                 d.rates,
		Nodes:                 nodes,
		PublicURL:             d.cfg.PublicURL,
		CompleteConfirmations: complete,
		InvoiceExpiry:         cfg.InvoiceExpiry,
		MonitoringWindow:      d.cfg.MonitoringWindow,
		AllowPrivateWebhooks:  d.cfg.WebhookAllowPrivate,
		Sources:               d.sources,
		AuthFailures:          d.authFailures,
		Logger:                d.log.With("part", "greenfield"),
	})
}

// wireGreenfield wires the Greenfield API: its routes under /api/v1 and
// /i/{id}, and its webhooks on the payments service and the outbox. With
// GREENFIELD_ENABLED=false it adds nothing.
func wireGreenfield(_ context.Context, d deps) (feature, error) {
	cfg, err := loadGreenfieldConfig(d.getenv)
	if err != nil {
		return feature{}, err
	}
	log := d.log.With("part", "greenfield")
	if !cfg.Enabled {
		log.Info("Greenfield API disabled (GREENFIELD_ENABLED=false)")
		return feature{}, nil
	}
	svc := newGreenfield(d, cfg)
	svc.AddWebhooks(d.payments, d.outbox)
	log.Info("Greenfield API enabled", "invoice_expiry", cfg.InvoiceExpiry.String())
	if d.cfg.PublicURL == "" {
		log.Warn("PUBLIC_URL is not set: Greenfield checkout links use each request's own host, which is wrong behind a proxy")
	}
	return feature{mount: svc.Mount}, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/transient-gateway/transient/internal/amqpapi"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/payments"
)

// amqpConfig is the configuration of the AMQP API. Every key is listed in
// loadAMQPConfig with its default.
type amqpConfig struct {
	URL          string
	Exchange     string
	CommandQueue string
	Commands     bool
	Prefetch     int
}

// loadAMQPConfig reads the AMQP settings. All problems are reported
// together, each naming its key; AMQP_URL is never echoed, since it holds a
// password.
func loadAMQPConfig(getenv func(string) string) (*amqpConfig, error) {
	var errs []error
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := &amqpConfig{
		URL:          get("AMQP_URL"),
		Exchange:     get("AMQP_EXCHANGE"),
		CommandQueue: get("AMQP_COMMAND_QUEUE"),
		Commands:     true,
		Prefetch:     amqpapi.DefaultPrefetch,
	}
	if c.Exchange == "" {
		c.Exchange = amqpapi.DefaultExchange
	}
	if c.CommandQueue == "" {
		c.CommandQueue = amqpapi.DefaultCommandQueue
	}
	if v := get("AMQP_COMMANDS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: AMQP_COMMANDS=%q: want true or false", v))
		}
		c.Commands = b
	}
	if v := get("AMQP_PREFETCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, fmt.Errorf("config: AMQP_PREFETCH=%q: want a whole number from 1 to 1000", v))
		}
		c.Prefetch = n
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			errs = append(errs, errors.New("config: AMQP_URL: want an amqp:// or amqps:// URL with a host, "+
				"e.g. amqp://transient:secret@127.0.0.1:5672/ (percent-encode reserved characters of the password)"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// String describes the settings for the log, without the URL's
// credentials.
func (c *amqpConfig) String() string {
	u, _ := url.Parse(c.URL)
	u.User = nil
	return fmt.Sprintf("amqp broker=%s exchange=%s command_queue=%s commands=%t prefetch=%d",
		u.Redacted(), c.Exchange, c.CommandQueue, c.Commands, c.Prefetch)
}

// wireAMQP wires the AMQP API when AMQP_URL is set: events of every payment
// go to the broker through the outbox (a transport of kind amqp and a
// destination on every event), commands are consumed beside the HTTP API,
// the connection is kept up by the part's run loop and reported by /readyz
// (without deciding readiness) and the metrics. Without AMQP_URL it adds
// nothing.
func wireAMQP(_ context.Context, d deps) (feature, error) {
	cfg, err := loadAMQPConfig(d.getenv)
	if err != nil {
		return feature{}, err
	}
	if cfg.URL == "" {
		return feature{}, nil
	}
	log := d.log.With("part", "amqp")
	client, err := amqpapi.New(amqpapi.Config{
		URL:          cfg.URL,
		Exchange:     cfg.Exchange,
		CommandQueue: cfg.CommandQueue,
		Commands:     cfg.Commands,
		Prefetch:     cfg.Prefetch,
		Payments:     d.payments,
		Logger:       log,
		OnMessage:    d.metrics.AMQPMessage,
		OnCommand:    d.metrics.AMQPCommand,
		OnConnected:  d.metrics.AMQPConnected,
	})
	if err != nil {
		return feature{}, fmt.Errorf("config: %w", err)
	}
	d.outbox.AddTransport(amqpapi.Kind, client)
	d.payments.AddEventHook(client)
	log.Info("AMQP API enabled", "config", cfg.String())
	return feature{
		run: client.Run,
		probes: []health.Probe{{Name: "amqp", Optional: true, Check: func(ctx context.Context) (string, error) {
			detail, err := client.Check(ctx)
			if err != nil {
				return "", &health.PublicError{Reason: "not connected to the AMQP broker; reconnecting (events wait in the outbox)", Err: err}
			}
			return detail, nil
		}}},
	}, nil
}

// addAMQPHook gives the events a command causes (a rescan's status
// changes) their AMQP delivery, as the daemon's events have: recorded with
// the event, published by the daemon, which has the transport. Without
// AMQP_URL (in the environment or .env) it does nothing.
func addAMQPHook(getenv func(string) string, svc *payments.Service) error {
	getenv, err := config.WithEnvFile(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	cfg, err := loadAMQPConfig(getenv)
	if err != nil || cfg.URL == "" {
		return err
	}
	client, err := amqpapi.New(amqpapi.Config{URL: cfg.URL, Exchange: cfg.Exchange, CommandQueue: cfg.CommandQueue, Payments: svc})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	svc.AddEventHook(client)
	return nil
}

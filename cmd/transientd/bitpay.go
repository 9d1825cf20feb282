package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/transient-gateway/transient/internal/bitpay"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/throttle"
)

// bitpayConfig is the configuration of the BitPay-compatible API and of
// the exchange rates it prices invoices with. Every key is listed in
// loadBitPayConfig with its default.
type bitpayConfig struct {
	Enabled          bool
	DefaultCoin      string
	TransactionSpeed string
	InvoiceExpiry    time.Duration
	ClientPairing    bool
	PairingPerSource int
	TokensPerMinute  int

	RatesStatic         rates.Table
	RatesURL            string
	RatesFormat         string
	RatesFallbackURL    string
	RatesFallbackFormat string
	RatesRefresh        time.Duration
	RatesMaxAge         time.Duration
	RatesTimeout        time.Duration
}

// loadBitPayConfig reads the BitPay and rate settings; coins are the
// configured coin codes. All problems are reported together, each naming
// its key.
func loadBitPayConfig(getenv func(string) string, coins []string) (*bitpayConfig, error) {
	var errs []error
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	failf := func(key, value, want string) {
		errs = append(errs, fmt.Errorf("config: %s=%q: want %s", key, value, want))
	}
	boolean := func(key string, def bool) bool {
		v := get(key)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			failf(key, v, "true or false")
			return def
		}
		return b
	}
	duration := func(key string, def, lo, hi time.Duration) time.Duration {
		v := get(key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			failf(key, v, fmt.Sprintf("a duration such as 30s, 5m or 1h, from %s to %s", lo, hi))
			return def
		}
		return d
	}
	integer := func(key string, def, lo, hi int) int {
		v := get(key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			failf(key, v, fmt.Sprintf("a whole number from %d to %d", lo, hi))
			return def
		}
		return n
	}
	oneOf := func(key, def string, allowed ...string) string {
		v := strings.ToLower(get(key))
		if v == "" {
			return def
		}
		if !slices.Contains(allowed, v) {
			failf(key, v, "one of "+strings.Join(allowed, ", "))
			return def
		}
		return v
	}
	feedURL := func(key string) string {
		v := get(key)
		if v == "" {
			return ""
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may carry an API key: never echo it.
			errs = append(errs, fmt.Errorf("config: %s: want an absolute http(s) URL of a rate feed", key))
		}
		return v
	}
	formats := make([]string, 0, len(rates.Formats))
	for name := range rates.Formats {
		formats = append(formats, name)
	}
	slices.Sort(formats)

	c := &bitpayConfig{
		Enabled:             boolean("BITPAY_ENABLED", true),
		TransactionSpeed:    oneOf("BITPAY_TRANSACTION_SPEED", bitpay.SpeedMedium, bitpay.SpeedHigh, bitpay.SpeedMedium, bitpay.SpeedLow),
		InvoiceExpiry:       duration("BITPAY_INVOICE_EXPIRY", 15*time.Minute, time.Minute, 365*24*time.Hour),
		ClientPairing:       boolean("BITPAY_CLIENT_PAIRING", false),
		PairingPerSource:    integer("BITPAY_PAIRING_PER_SOURCE", 3, 1, 100),
		TokensPerMinute:     integer("BITPAY_TOKENS_PER_MINUTE", 10, 0, 100000),
		RatesURL:            feedURL("RATES_URL"),
		RatesFormat:         oneOf("RATES_FORMAT", "transient", formats...),
		RatesFallbackURL:    feedURL("RATES_FALLBACK_URL"),
		RatesFallbackFormat: oneOf("RATES_FALLBACK_FORMAT", "transient", formats...),
		RatesRefresh:        duration("RATES_REFRESH_INTERVAL", rates.DefaultRefreshInterval, 100*time.Millisecond, 24*time.Hour),
		RatesMaxAge:         duration("RATES_MAX_AGE", rates.DefaultMaxAge, time.Second, 7*24*time.Hour),
		RatesTimeout:        duration("RATES_TIMEOUT", 10*time.Second, 100*time.Millisecond, time.Minute),
	}
	if v := get("RATES_STATIC"); v != "" {
		t, err := rates.ParseStatic(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: RATES_STATIC: %v", err))
		}
		c.RatesStatic = t
	}
	c.DefaultCoin = strings.ToUpper(get("BITPAY_DEFAULT_COIN"))
	switch {
	case c.DefaultCoin == "" && slices.Contains(coins, "DOGE"):
		c.DefaultCoin = "DOGE"
	case c.DefaultCoin == "" && len(coins) > 0:
		c.DefaultCoin = coins[0]
	case !slices.Contains(coins, c.DefaultCoin):
		failf("BITPAY_DEFAULT_COIN", c.DefaultCoin, "one of the coins in COINS ("+strings.Join(coins, ", ")+")")
	}
	if c.RatesFallbackURL != "" && c.RatesURL == "" {
		errs = append(errs, errors.New("config: RATES_FALLBACK_URL is set without RATES_URL: set the primary feed first"))
	}
	if c.RatesURL != "" && c.RatesMaxAge < c.RatesRefresh {
		errs = append(errs, fmt.Errorf("config: RATES_MAX_AGE (%s) must be at least RATES_REFRESH_INTERVAL (%s), "+
			"or every rate would go stale between two refreshes", c.RatesMaxAge, c.RatesRefresh))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// String describes the settings for the log; feed URLs lose their query
// and credentials, which may hold API keys.
func (c *bitpayConfig) String() string {
	if !c.Enabled {
		return "bitpay=disabled"
	}
	return fmt.Sprintf("bitpay default_coin=%s speed=%s invoice_expiry=%s client_pairing=%t rates_url=%s rates_fallback_url=%s "+
		"rates_static=%d pairs rates_refresh=%s rates_max_age=%s", c.DefaultCoin, c.TransactionSpeed, c.InvoiceExpiry,
		c.ClientPairing, redactFeed(c.RatesURL), redactFeed(c.RatesFallbackURL), len(c.RatesStatic), c.RatesRefresh, c.RatesMaxAge)
}

func redactFeed(raw string) string {
	if raw == "" {
		return "unset"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// newRates builds the rate service of cfg: the primary feed, its fallback
// and the static rates.
func newRates(cfg *bitpayConfig, d deps) (*rates.Service, error) {
	var sources []rates.Source
	for _, f := range []struct{ key, name, url, format string }{
		{"RATES_URL", "primary", cfg.RatesURL, cfg.RatesFormat},
		{"RATES_FALLBACK_URL", "fallback", cfg.RatesFallbackURL, cfg.RatesFallbackFormat},
	} {
		if f.url == "" {
			continue
		}
		src, err := rates.NewHTTPSource(f.name, f.url, f.format, cfg.RatesTimeout)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", f.key, err)
		}
		sources = append(sources, src)
	}
	return rates.New(rates.Config{
		Sources:         sources,
		Static:          cfg.RatesStatic,
		RefreshInterval: cfg.RatesRefresh,
		MaxAge:          cfg.RatesMaxAge,
		Logger:          d.log.With("part", "rates"),
	}), nil
}

// wireBitPay wires the BitPay-compatible invoice API: it reads its settings,
// builds the BitPay service on the shared rate service, registers the IPN hook on
// the payments service and returns the routes, the pairing-code prune job
// and the rate refresh loop. With BITPAY_ENABLED=false it adds nothing.
// Without rate settings it still serves invoices priced in the coin paid.
func wireBitPay(_ context.Context, d deps) (feature, error) {
	cfg, err := loadBitPayConfig(d.getenv, d.payments.Coins())
	if err != nil {
		return feature{}, err
	}
	log := d.log.With("part", "bitpay")
	if !cfg.Enabled {
		log.Info("BitPay API disabled (BITPAY_ENABLED=false)")
		return feature{}, nil
	}
	rateSvc := d.rates
	complete := make(map[string]int64, len(d.cfg.Coins))
	for _, c := range d.cfg.Coins {
		complete[c.Code] = c.Confirmations
	}
	svc := bitpay.New(bitpay.Config{
		Pool:                  d.pool,
		Payments:              d.payments,
		Rates:                 rateSvc,
		PublicURL:             d.cfg.PublicURL,
		DefaultCoin:           cfg.DefaultCoin,
		DefaultSpeed:          cfg.TransactionSpeed,
		CompleteConfirmations: complete,
		InvoiceExpiry:         cfg.InvoiceExpiry,
		AllowPrivateCallbacks: d.cfg.WebhookAllowPrivate,
		ClientPairing:         cfg.ClientPairing,
		PairingPerSource:      cfg.PairingPerSource,
		Sources:               d.sources,
		TokenRequests:         throttle.NewLimiter(cfg.TokensPerMinute, cfg.TokensPerMinute, nil),
		AuthFailures:          d.authFailures,
		Logger:                log,
	})
	d.payments.AddEventHook(svc)
	log.Info("BitPay API enabled", "config", cfg.String())
	warnAboutBitPay(log, cfg, d.cfg)

	return feature{
		mount:    svc.Mount,
		workers:  func(w *river.Workers) { bitpay.AddWorkers(w, svc) },
		periodic: bitpay.PeriodicJobs(),
	}, nil
}

// warnAboutBitPay logs the settings that work but limit the BitPay API.
func warnAboutBitPay(log *slog.Logger, cfg *bitpayConfig, core *config.Config) {
	if cfg.RatesURL == "" && len(cfg.RatesStatic) == 0 {
		log.Warn("no exchange rates configured (RATES_URL, RATES_STATIC): BitPay invoices must be priced in the coin paid")
	}
	if cfg.RatesURL != "" && len(cfg.RatesStatic) > 0 {
		log.Warn("RATES_STATIC is set beside RATES_URL: its rates are used whenever the feeds are stale, so invoices never fail for lack of a rate")
	}
	if core.PublicURL == "" {
		log.Warn("PUBLIC_URL is not set: BitPay signatures are checked against each request's own host, " +
			"which fails behind a proxy, and IPNs carry relative invoice urls")
	}
	if core.WebhookSecret == "" {
		log.Warn("PAYMENT_WEBHOOK_SECRET is not set: BitPay IPNs go out without X-Transient-Signature")
	}
}

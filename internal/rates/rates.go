// Package rates owns Transient's exchange rates: where they come from
// (pluggable sources: fixed rates from configuration, HTTP JSON feeds read by
// small format adapters), which of them is fresh enough to use, rates derived
// through a common currency (DOGE_EUR from DOGE_BTC and BTC_EUR), and the one
// conversion of a price into coin base units, rounded up once.
//
// Rates are decimals (shopspring/decimal) from the feed's JSON text to the
// stored invoice: they never pass through float64.
package rates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// Pair names an exchange rate: the price of one unit of Base in Quote, as
// in DOGE_USD = 0.08 (one dogecoin costs 0.08 US dollars).
type Pair struct {
	Base, Quote string
}

// String returns the pair as BASE_QUOTE.
func (p Pair) String() string { return p.Base + "_" + p.Quote }

var codeRE = regexp.MustCompile(`^[A-Z0-9]{2,10}$`)

// ValidCode reports whether code looks like a currency or coin code: 2 to
// 10 upper-case letters or digits.
func ValidCode(code string) bool { return codeRE.MatchString(code) }

// ParsePair parses BASE_QUOTE (case-insensitive) into a Pair of two valid,
// different codes.
func ParsePair(s string) (Pair, error) {
	base, quote, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "_")
	if !ok || !ValidCode(base) || !ValidCode(quote) || base == quote {
		return Pair{}, fmt.Errorf("rates: %q is not a currency pair such as DOGE_USD", s)
	}
	return Pair{Base: base, Quote: quote}, nil
}

// Table is a set of rates as one source gave them.
type Table map[Pair]decimal.Decimal

// Quote is a rate ready to use: its value, when its source gave it (the
// oldest of its parts for a derived rate) and where it came from.
type Quote struct {
	Pair   Pair
	Rate   decimal.Decimal
	At     time.Time
	Source string
	// num / den is Rate exactly, before the rounding of a division; zero
	// when Rate needed none.
	num, den decimal.Decimal
}

// Sentinel errors.
var (
	// ErrUnavailable means no fresh rate exists for a pair: no source has
	// given one within the maximum age, directly or through a common
	// currency. *UnavailableError wraps it.
	ErrUnavailable = errors.New("rates: rate unavailable")
)

// UnavailableError says which pair has no fresh rate.
type UnavailableError struct {
	Pair Pair
}

// Error returns "rate unavailable for DOGE_USD", the text shops see.
func (e *UnavailableError) Error() string { return "rate unavailable for " + e.Pair.String() }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Source gives a table of rates. Implementations must be safe for
// concurrent use.
type Source interface {
	// Name identifies the source in logs and quotes.
	Name() string
	// Fetch returns the source's current rates, or an error when it has
	// none to give (unreachable, malformed answer, no rate at all).
	Fetch(ctx context.Context) (Table, error)
}

// DatedSource is a Source whose answers say when their rates were taken
// (HTTPSource). Their freshness is judged from that time, not from the
// fetch: a proxy serving an hours-old cached price is stale.
type DatedSource interface {
	Source
	// FetchDated is Fetch plus the feed's own time of the rates (the zero
	// time when the answer does not say).
	FetchDated(ctx context.Context) (Table, time.Time, error)
}

// Config configures a Service. Zero fields take the documented defaults.
type Config struct {
	// Sources are asked in order at every refresh: the first is the
	// primary; each later one is a fallback, asked only when every source
	// before it failed in that refresh. For a pair, the first source (in
	// this order) whose last value is fresh wins.
	Sources []Source
	// Static rates are the last resort: used for a pair only when no source
	// has a fresh value for it. They never go stale.
	Static Table
	// RefreshInterval is how often Run refreshes. Default 1 minute.
	RefreshInterval time.Duration
	// MaxAge is how old a source's value may be and still be used. Default
	// 10 minutes.
	MaxAge time.Duration
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultRefreshInterval = time.Minute
	DefaultMaxAge          = 10 * time.Minute
)

// fetched is a source's last successful answer.
type fetched struct {
	table Table
	at    time.Time
}

// Service keeps the latest rates of its sources and answers with fresh
// ones. It is safe for concurrent use.
type Service struct {
	cfg Config

	mu   sync.RWMutex
	last []fetched // per source, same order as cfg.Sources
}

// New returns a Service; call Refresh or Run to fill it.
func New(cfg Config) *Service {
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, last: make([]fetched, len(cfg.Sources))}
}

// Configured reports whether the service has any source of rates at all.
// Without one, only prices in the coin itself can be converted.
func (s *Service) Configured() bool {
	return s != nil && (len(s.cfg.Sources) > 0 || len(s.cfg.Static) > 0)
}

// Refresh asks the primary source and, while sources fail, each fallback
// in turn, keeping every successful answer. It returns an error only when
// every source it asked failed; the error names each failure.
func (s *Service) Refresh(ctx context.Context) error {
	var errs []error
	for i, src := range s.cfg.Sources {
		var (
			table  Table
			feedAt time.Time
			err    error
		)
		if d, ok := src.(DatedSource); ok {
			table, feedAt, err = d.FetchDated(ctx)
		} else {
			table, err = src.Fetch(ctx)
		}
		if err == nil && len(table) == 0 {
			err = errors.New("no rates in the answer")
		}
		// A feed's time ahead of ours (clock skew) counts as now.
		at := s.cfg.Now()
		if !feedAt.IsZero() && feedAt.Before(at) {
			at = feedAt
		}
		if err == nil && s.cfg.Now().Sub(at) > s.cfg.MaxAge {
			err = fmt.Errorf("the answer's rates are from %s, older than %s", at.UTC().Format(time.RFC3339), s.cfg.MaxAge)
		}
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "rate source failed", "source", src.Name(), "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", src.Name(), err))
			continue
		}
		s.mu.Lock()
		s.last[i] = fetched{table: table, at: at}
		s.mu.Unlock()
		s.cfg.Logger.DebugContext(ctx, "rates refreshed", "source", src.Name(), "pairs", len(table))
		return nil
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("rates: every source failed: %w", errors.Join(errs...))
}

// Run refreshes at once and then every refresh interval until ctx is done.
// Failed refreshes are logged and retried at the next tick; Run returns nil
// when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if len(s.cfg.Sources) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		_ = s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// effective returns, for every pair some source knows, the value to use
// now: the first source in order with a fresh value, else the static rate.
func (s *Service) effective() map[Pair]Quote {
	now := s.cfg.Now()
	out := make(map[Pair]Quote)
	s.mu.RLock()
	for i, f := range s.last {
		if f.table == nil || now.Sub(f.at) > s.cfg.MaxAge {
			continue
		}
		name := s.cfg.Sources[i].Name()
		for p, r := range f.table {
			if _, ok := out[p]; !ok {
				out[p] = Quote{Pair: p, Rate: r, At: f.at, Source: name}
			}
		}
	}
	s.mu.RUnlock()
	for p, r := range s.cfg.Static {
		if _, ok := out[p]; !ok {
			out[p] = Quote{Pair: p, Rate: r, At: now, Source: "static"}
		}
	}
	return out
}

// Rate returns the fresh rate of base in quote: given by a source, the
// inverse of one, or derived through one common currency. A code equals
// itself at rate 1. With no fresh rate it returns an *UnavailableError.
func (s *Service) Rate(base, quote string) (Quote, error) {
	p := Pair{Base: strings.ToUpper(base), Quote: strings.ToUpper(quote)}
	if p.Base == p.Quote {
		return Quote{Pair: p, Rate: decimal.NewFromInt(1), At: s.now(), Source: "identity"}, nil
	}
	if s == nil {
		return Quote{}, &UnavailableError{Pair: p}
	}
	if q, ok := lookup(s.effective(), p); ok {
		return q, nil
	}
	return Quote{}, &UnavailableError{Pair: p}
}

// Rates returns the fresh rates of base in every other currency the
// sources know, sorted by quote currency.
func (s *Service) Rates(base string) []Quote {
	base = strings.ToUpper(base)
	if s == nil {
		return nil
	}
	eff := s.effective()
	codes := map[string]bool{}
	for p := range eff {
		codes[p.Base], codes[p.Quote] = true, true
	}
	delete(codes, base)
	var out []Quote
	for code := range codes {
		if q, ok := lookup(eff, Pair{Base: base, Quote: code}); ok {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b Quote) int { return strings.Compare(a.Pair.Quote, b.Pair.Quote) })
	return out
}

func (s *Service) now() time.Time {
	if s == nil {
		return time.Now()
	}
	return s.cfg.Now()
}

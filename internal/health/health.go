// Package health decides whether transientd is ready to serve: PostgreSQL
// answers, the schema is current, and every configured coin node answers and
// is not in initial block download. Each check has a short timeout, so a
// dead dependency gives a fast answer instead of a hanging probe.
//
// The report says per check whether it passed, how long it took and, when it
// failed, a short reason meant for a load balancer's or an operator's eyes.
// Reasons never carry raw driver errors (which may name internal hosts and
// users); the full error goes to the log.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/migrations"
)

// Defaults.
const (
	// DefaultTimeout bounds each check.
	DefaultTimeout = 2 * time.Second
	// DefaultCache is how long a report is reused: probes hammering
	// /readyz query the database and the nodes at most this often.
	DefaultCache = time.Second
)

// Node is what a readiness check needs from a coin node; *coind.Client
// implements it.
type Node interface {
	GetBlockchainInfo(ctx context.Context) (*coind.ChainInfo, error)
}

// Config configures a Checker.
type Config struct {
	// Pool is the database; its reachability and schema are checked.
	Pool *pgxpool.Pool
	// Nodes maps each configured coin to its node.
	Nodes map[string]Node
	// Timeout bounds each check; default DefaultTimeout.
	Timeout time.Duration
	// Cache is how long a report is reused; default DefaultCache. Negative
	// disables the cache.
	Cache time.Duration
	// Probes are the checks of the parts beside the core (the AMQP
	// broker), after the nodes in the report.
	Probes []Probe
	Logger *slog.Logger
}

// Probe is the readiness check of a part beside the core.
type Probe struct {
	// Name is the check's name in the report, e.g. "amqp".
	Name string
	// Optional checks are reported but do not make transientd unready:
	// the part's outage delays its work without stopping the API.
	Optional bool
	// Check returns a detail when the part is fine. Its error is logged;
	// the report shows the Reason of a *PublicError and a generic text
	// for any other error.
	Check func(ctx context.Context) (detail string, err error)
}

// PublicError is a probe's failure with a reason fit for the report: no
// hosts, users or driver details. Err is logged.
type PublicError struct {
	Reason string
	Err    error
}

// Error returns the reason and the cause.
func (e *PublicError) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PublicError) Unwrap() error { return e.Err }

// Checker runs the readiness checks. It is safe for concurrent use;
// concurrent callers share one run.
type Checker struct {
	cfg Config

	mu      sync.Mutex
	last    *Report
	lastAt  time.Time
	running chan struct{} // closed when the current run ends; nil when idle
}

// NewChecker returns a Checker for cfg.
func NewChecker(cfg Config) *Checker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Cache == 0 {
		cfg.Cache = DefaultCache
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{cfg: cfg}
}

// Report is the outcome of the readiness checks.
type Report struct {
	// Ready is true when every check passed.
	Ready bool `json:"ready"`
	// Checks are in a fixed order: database, schema, then the nodes by
	// coin code.
	Checks []Check `json:"checks"`
}

// Check is the outcome of one check.
type Check struct {
	// Name is "database", "schema" or "node:" and the coin code.
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// DurationMS is how long the check took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Error says why the check failed; empty when it passed.
	Error string `json:"error,omitempty"`
	// Detail describes what was found: the schema versions, or the node's
	// chain and height.
	Detail string `json:"detail,omitempty"`
	// Optional is true for a check whose failure does not make the report
	// unready.
	Optional bool `json:"optional,omitempty"`
}

// Ready runs the checks (or reuses a report younger than Config.Cache) and
// returns the report. Checks run concurrently, each bounded by
// Config.Timeout, so Ready returns within about that time whatever the
// dependencies do.
func (c *Checker) Ready(ctx context.Context) Report {
	c.mu.Lock()
	if c.last != nil && c.cfg.Cache > 0 && time.Since(c.lastAt) < c.cfg.Cache {
		r := *c.last
		c.mu.Unlock()
		return r
	}
	if wait := c.running; wait != nil {
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Report{Checks: []Check{{Name: "database", Error: "the probe gave up before the checks ended"}}}
		}
		c.mu.Lock()
		r := *c.last
		c.mu.Unlock()
		return r
	}
	done := make(chan struct{})
	c.running = done
	c.mu.Unlock()

	r := c.run(context.WithoutCancel(ctx))

	c.mu.Lock()
	c.last, c.lastAt, c.running = &r, time.Now(), nil
	c.mu.Unlock()
	close(done)
	return r
}

// run runs every check concurrently.
func (c *Checker) run(ctx context.Context) Report {
	codes := make([]string, 0, len(c.cfg.Nodes))
	for code := range c.cfg.Nodes {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	checks := make([]Check, 2+len(codes)+len(c.cfg.Probes))
	var wg sync.WaitGroup
	run := func(i int, name string, f func(context.Context) (string, error)) {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			start := time.Now()
			detail, err := f(cctx)
			ch := Check{Name: name, OK: err == nil, DurationMS: time.Since(start).Milliseconds(), Detail: detail}
			if err != nil {
				ch.Error = c.reason(cctx, err)
				c.cfg.Logger.Warn("readiness check failed", "check", name, "err", err)
			}
			checks[i] = ch
		})
	}
	run(0, "database", c.database)
	run(1, "schema", c.schema)
	for i, code := range codes {
		run(2+i, "node:"+code, func(ctx context.Context) (string, error) { return checkNode(ctx, c.cfg.Nodes[code]) })
	}
	for i, p := range c.cfg.Probes {
		run(2+len(codes)+i, p.Name, p.Check)
	}
	wg.Wait()
	r := Report{Ready: true, Checks: checks}
	for i, ch := range checks {
		if i >= 2+len(codes) && c.cfg.Probes[i-2-len(codes)].Optional {
			checks[i].Optional = true
			continue
		}
		r.Ready = r.Ready && ch.OK
	}
	return r
}

func (c *Checker) database(ctx context.Context) (string, error) {
	if c.cfg.Pool == nil {
		return "", errors.New("no database configured")
	}
	var one int
	if err := c.cfg.Pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return "", err
	}
	return "", nil
}

// errBehind is the failure of a schema that is not current.
var errBehind = errors.New("the schema is behind this binary: run transientd migrate")

func (c *Checker) schema(ctx context.Context) (string, error) {
	if c.cfg.Pool == nil {
		return "", errors.New("no database configured")
	}
	v, err := migrations.Check(ctx, c.cfg.Pool)
	if err != nil {
		return "", err
	}
	if v.Behind() {
		return v.String(), errBehind
	}
	return v.String(), nil
}

// errInitialDownload is the failure of a node still syncing.
var errInitialDownload = errors.New("the node is in initial block download: payments cannot be confirmed until it has synced")

func checkNode(ctx context.Context, n Node) (string, error) {
	info, err := n.GetBlockchainInfo(ctx)
	if err != nil {
		return "", err
	}
	detail := fmt.Sprintf("chain %s, height %d of %d headers", info.Chain, info.Blocks, info.Headers)
	if info.InitialBlockDownload {
		return detail, errInitialDownload
	}
	return detail, nil
}

// reason turns a check's error into a short message without hosts, users
// or driver details.
func (c *Checker) reason(ctx context.Context, err error) string {
	var (
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		netErr  net.Error
		rpcErr  *coind.Error
		pubErr  *PublicError
	)
	switch {
	case errors.As(err, &pubErr):
		return pubErr.Reason
	case errors.Is(err, errBehind), errors.Is(err, errInitialDownload):
		return err.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return fmt.Sprintf("no answer within %s", c.cfg.Timeout)
	case errors.Is(err, coind.ErrUnauthorized):
		return "the node refused the RPC credentials"
	case errors.Is(err, coind.ErrUnavailable):
		return "the node does not answer"
	case errors.As(err, &rpcErr):
		return fmt.Sprintf("the node answered RPC error %d", rpcErr.Code)
	case errors.As(err, &pgErr):
		return "the database refused the query (SQLSTATE " + pgErr.Code + ")"
	case errors.As(err, &connErr), errors.As(err, &netErr):
		return "cannot connect to the database"
	default:
		return "failed; see the log"
	}
}

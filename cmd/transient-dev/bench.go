package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
)

const benchUsage = `usage: transient-dev bench [-smoke] [-out FILE] [-bin DIR] [-database-url URL] [-set NAME=VALUE]...

Starts the local stack (the same code as make run: PostgreSQL, litecoind in
regtest, transientd, a webhook receiver), runs every workload beside the
limit of the part that bounds it, measured by the same load generator in the
same run, prints the table and writes it to docs/benchmarks.md, keeping the
previous run's table (make bench).
`

// benchScale is how much work each workload does.
type benchScale struct {
	create     int // payments created per concurrency level
	reads      int
	notifies   int // notify-tx spawns
	burstTxs   int // transactions of the hint burst, each paying two payments
	burstHints int
	e2eSeconds float64 // per rate
	webhooks   int
	poolSize   int
}

// times returns s with every count multiplied by f.
func (s benchScale) times(f float64) benchScale {
	m := func(n int) int { return max(int(float64(n)*f), 2) }
	return benchScale{create: m(s.create), reads: m(s.reads), notifies: m(s.notifies), burstTxs: m(s.burstTxs),
		burstHints: m(s.burstHints), e2eSeconds: s.e2eSeconds * f, webhooks: m(s.webhooks), poolSize: m(s.poolSize)}
}

var (
	fullScale  = benchScale{create: 1500, reads: 20000, notifies: 200, burstTxs: 500, burstHints: 5000, e2eSeconds: 10, webhooks: 2000, poolSize: 5000}
	smokeScale = benchScale{create: 8, reads: 40, notifies: 2, burstTxs: 5, burstHints: 50, e2eSeconds: 0.25, webhooks: 10, poolSize: 40}
)

// Load shapes, as the issue that asked for them and the README name them.
var (
	createConcurrency = []int{1, 16, 64}
	e2eRates          = []int{20, 100}
)

const (
	readConcurrency = 32
	// daemonDBConns is transientd's DATABASE_MAX_CONNS in the bench (its
	// default). The read's limit uses as many PostgreSQL connections, so
	// that both sides do the same work over the same connections.
	daemonDBConns   = 20
	hintConcurrency = 64
	nodeReadConc    = 16 // transientd reads transactions 16 at a time
	webhookWorkers  = 32 // WEBHOOK_WORKERS' default
	paymentAmount   = int64(100_000)
	payerWallet     = "payer"
	payerUTXO       = int64(500_000)
	payerFee        = int64(10_000)
	webhookWait     = 60 * time.Second
)

// bench runs the benchmark.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	smoke := fs.Bool("smoke", false, "tiny counts: checks that every workload runs, measures nothing")
	out := fs.String("out", "", "write the report here (default docs/benchmarks.md; none with -smoke)")
	binDir := fs.String("bin", "", "directory of transientd, notify-tx and notify-block (default bin/)")
	adminURL := fs.String("database-url", "", "PostgreSQL superuser URL (default: scripts/postgres.sh picks or starts a server)")
	only := fs.String("only", "", "run only these workloads, comma-separated: create, read, notify, burst, e2e, webhooks")
	name := fs.String("name", "bench", "the run's directory under .cache and database (transient_NAME), so two runs can share a machine")
	factor := fs.Float64("scale", 1, "multiply every count by this (below 1 for a quicker, noisier run on a busy machine)")
	profile := fs.String("profile", "", "write a CPU profile of transientd under each workload into this directory (served by pprof on METRICS_ADDR)")
	var settings []string
	fs.Func("set", "add NAME=VALUE to transientd's environment, to measure a setting (e.g. -set GOMAXPROCS=1); repeatable", func(s string) error {
		setting, err := daemonSetting(s)
		if err != nil {
			return err
		}
		settings = append(settings, setting)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return errReported
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	scale := fullScale
	files := devFiles(root)
	files.dir = filepath.Join(root, ".cache", *name)
	files.database = "transient_" + strings.ReplaceAll(*name, "-", "_")
	if *smoke {
		scale = smokeScale
		if files.dir, err = os.MkdirTemp("", "transient-bench-"); err != nil {
			return err
		}
		files.database = "transient_bench_" + strings.ToLower(rand.Text()[:8])
	} else if *out == "" && *only == "" {
		*out = filepath.Join(root, "docs", "benchmarks.md")
	}
	if *factor != 1 && *factor > 0 {
		scale = scale.times(*factor)
	}
	if *binDir != "" {
		// transientd runs in the stack's directory: the path must not be
		// relative.
		if files.binDir, err = filepath.Abs(*binDir); err != nil {
			return err
		}
	}
	addr, err := freeport.Addr()
	if err != nil {
		return err
	}
	b := &benchRun{scale: scale, smoke: *smoke, stdout: stdout, stderr: stderr, recv: newTimingReceiver(), profileDir: *profile, settings: settings}
	if *only != "" {
		b.only = map[string]bool{}
		for _, w := range strings.Split(*only, ",") {
			b.only[strings.TrimSpace(w)] = true
		}
	}
	if b.profileDir != "" {
		if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
			return err
		}
		if b.metricsAddr, err = freeport.Addr(); err != nil {
			return err
		}
	}
	b.stack, err = startStack(ctx, stackOptions{
		files: files, addr: addr, webhooks: b.recv, stdout: stdout, stderr: stderr, quiet: true,
		adminURL: *adminURL,
		env:      b.daemonEnv(0),
	})
	if b.stack != nil {
		defer func() {
			b.stack.stop()
			if *smoke {
				_ = dropDatabase(context.Background(), b.stack.pg.url, files.database)
				_ = os.RemoveAll(files.dir)
			}
		}()
	}
	if err != nil {
		return err
	}
	if err := b.run(ctx); err != nil {
		return err
	}
	b.print(stdout)
	if *out != "" {
		command := "make bench"
		if len(args) > 0 {
			command = "bin/transient-dev bench " + strings.Join(args, " ")
		}
		if err := writeBenchDoc(*out, b, command); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "transient-dev: wrote %s\n", *out)
	}
	if n := b.failed(); n > 0 {
		return fmt.Errorf("%d workloads failed (see the table)", n)
	}
	return nil
}

// failed counts the workloads that failed.
func (b *benchRun) failed() int {
	n := 0
	for _, r := range b.rows {
		if strings.HasPrefix(r.gateway, "failed: ") {
			n++
		}
	}
	return n
}

// benchRun is one run of the benchmark and its results.
type benchRun struct {
	scale   benchScale
	smoke   bool
	stdout  io.Writer
	stderr  io.Writer
	stack   *devStack
	recv    *timingReceiver
	rss     *rssSampler
	db      *pgxpool.Pool
	http    *http.Client
	node    *coind.Client // the merchant wallet, as transientd reaches it
	rows    []benchRow
	notes   []string // printed under the table: where the time of a row went
	hasPool bool
	began   time.Time

	payIDs []uuid.UUID // payments created, for the read workload

	only        map[string]bool // nil: every workload
	profileDir  string
	metricsAddr string   // transientd's METRICS_ADDR when profiling
	settings    []string // -set: NAME=VALUE added to transientd's environment
}

// wants reports whether workload w runs.
func (b *benchRun) wants(w string) bool { return b.only == nil || b.only[w] }

// profiled runs f while a CPU profile of transientd is taken for up to
// seconds, written to name.pprof in the profile directory (when set).
func (b *benchRun) profiled(ctx context.Context, name string, seconds int, f func() error) error {
	if b.profileDir == "" {
		return f()
	}
	done := make(chan error, 1)
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.metricsAddr, seconds)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(filepath.Join(b.profileDir, name+".pprof"), data, 0o644)
		}
		done <- err
	}()
	err := f()
	if perr := <-done; perr != nil {
		b.say("profile %s: %v", name, perr)
	}
	return err
}

// benchRow is one line of the table.
type benchRow struct {
	figure  string
	gateway string
	limit   string
	ratio   string
	target  string
	rss     string
}

func (b *benchRun) say(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// daemonEnv is transientd's environment for a pool of size addresses (0 =
// off). Polling is made rare, so every detection measured comes from the
// notification path.
func (b *benchRun) daemonEnv(poolSize int) []string {
	env := []string{
		"ADDRESS_POOL_SIZE=" + strconv.Itoa(poolSize),
		// Above the largest create level, so a level never empties the pool.
		"ADDRESS_POOL_LOW_WATER=" + strconv.Itoa(min(b.scale.create+1, poolSize)),
		"CATCHUP_INTERVAL=1h",
		"DATABASE_MAX_CONNS=" + strconv.Itoa(daemonDBConns),
		"METRICS_ADDR=" + b.metricsAddr,
	}
	return append(env, b.settings...)
}

// benchOwnSettings are the settings the bench gives transientd itself
// (daemonEnv): -set cannot change them without changing what is measured.
var benchOwnSettings = []string{"ADDRESS_POOL_SIZE", "ADDRESS_POOL_LOW_WATER", "CATCHUP_INTERVAL", "DATABASE_MAX_CONNS", "METRICS_ADDR"}

// daemonSetting checks a -set NAME=VALUE.
func daemonSetting(s string) (string, error) {
	name, _, ok := strings.Cut(s, "=")
	switch {
	case !ok || name == "":
		return "", fmt.Errorf("want NAME=VALUE, got %q", s)
	case slices.Contains(benchOwnSettings, name):
		return "", fmt.Errorf("%s is set by the bench itself (each workload needs its value)", name)
	}
	return s, nil
}

func (b *benchRun) run(ctx context.Context) error {
	b.began = time.Now()
	b.rss = startRSSSampler(50 * time.Millisecond)
	defer b.rss.close()
	b.rss.watch(b.stack.daemon.cmd.Process.Pid)
	pcfg, err := pgxpool.ParseConfig(b.stack.dbURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 64
	if b.db, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return err
	}
	defer b.db.Close()
	b.http = &http.Client{Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128}, Timeout: 30 * time.Second}
	b.node = b.stack.node.Client(regtest.MerchantWallet)

	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return err
	}
	idle := b.rss.nowMiB()
	b.add(benchRow{figure: "RSS idle after start", gateway: mib(idle), target: "< 64 MiB"})

	// A workload that fails leaves a row saying so, and the others still
	// run: on a loaded machine one timeout should not cost the whole table.
	try := func(name string, f func() error) bool {
		if err := f(); err != nil {
			if ctx.Err() != nil {
				return false
			}
			b.add(benchRow{figure: name, gateway: "failed: " + err.Error()})
			return false
		}
		return true
	}
	if b.wants("create") {
		try("create", func() error { return b.createWorkloads(ctx) })
	} else if err := b.stack.restartDaemon(ctx, b.daemonEnv(b.scale.poolSize)); err != nil {
		return err
	} else {
		b.rss.watch(b.stack.daemon.cmd.Process.Pid)
		if b.detectPool(ctx) == nil {
			if err := b.waitPool(ctx); err != nil {
				return err
			}
		}
	}
	if b.wants("read") {
		try("read", func() error { return b.readWorkload(ctx) })
	}
	if b.wants("notify") {
		try("notify-tx", func() error { return b.notifyWorkload(ctx) })
	}
	if b.wants("burst") || b.wants("e2e") {
		var chain *chainPayments
		if try("pre-signed transactions", func() (err error) { chain, err = b.preparePayments(ctx); return err }) {
			if b.wants("burst") {
				try("hint burst", func() error { return b.burstWorkload(ctx, chain) })
			}
			if b.wants("e2e") {
				try("broadcast → webhook", func() error { return b.e2eWorkload(ctx, chain) })
			}
		}
	}
	if b.wants("webhooks") {
		try("webhook delivery", func() error { return b.webhookWorkload(ctx) })
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sleepCtx(ctx, 5*time.Second); err != nil {
		return err
	}
	b.add(benchRow{figure: "RSS 5 s after the loads", gateway: mib(b.rss.nowMiB()), limit: "idle: " + mib(idle),
		ratio: fmt.Sprintf("%.2f", b.rss.nowMiB()/idle), target: "< 64 MiB, flat"})
	return nil
}

// note adds a line under the table and prints it.
func (b *benchRun) note(line string) {
	b.notes = append(b.notes, line)
	b.say("%s", line)
}

// add appends a row and prints it as it comes.
func (b *benchRun) add(r benchRow) {
	b.rows = append(b.rows, r)
	b.say("%s: %s | limit %s | ratio %s", r.figure, r.gateway, r.limit, r.ratio)
}

// measure runs f with the RSS peak reset before and reported after.
func (b *benchRun) measure(f func() error) (string, error) {
	b.rss.reset()
	err := f()
	return mib(b.rss.peakMiB()), err
}

// createWorkloads: POST /payments with the pool off (beside the node's
// getnewaddress) and from a full pool (beside PostgreSQL's durable
// single-row INSERT), at each concurrency, then what PostgreSQL alone does
// of a create from the pool (createFloor).
func (b *benchRun) createWorkloads(ctx context.Context) error {
	if _, err := b.db.Exec(ctx, `CREATE TABLE bench_payments (LIKE payments INCLUDING ALL)`); err != nil {
		return err
	}
	pgInsert := func(ctx context.Context, n, c int) loadResult {
		return runLoad(ctx, n, c, func(ctx context.Context, i int) error {
			_, err := b.db.Exec(ctx, `
				INSERT INTO bench_payments (id, coin, amount, address, label, status, confirmations_required,
					tolerance_bp, expires_at, order_id, metadata, created_at, updated_at, callback_url, redirect_url,
					settle_confirmations)
				VALUES ($1, 'LTC', 100000, $2, '', 'UNPAID', 2, 0, NULL, NULL, '{}', now(), now(), NULL, NULL, 2)`,
				uuid.New(), "bench-"+uuid.NewString())
			return err
		})
	}
	nodeNew := func(ctx context.Context, n, c int) loadResult {
		return runLoad(ctx, n, c, func(ctx context.Context, i int) error {
			_, err := b.node.GetNewAddress(ctx, "")
			return err
		})
	}
	if err := b.createRows(ctx, "pool off", "node getnewaddress", "≥ 0.9", func(n, c int) loadResult { return nodeNew(ctx, n/2, c) }); err != nil {
		return err
	}
	if err := b.stack.restartDaemon(ctx, b.daemonEnv(b.scale.poolSize)); err != nil {
		return err
	}
	b.rss.watch(b.stack.daemon.cmd.Process.Pid)
	if err := b.detectPool(ctx); err != nil {
		b.say("no address pool in this build (%v): the rows from a full pool are left out", err)
		return nil
	}
	if err := b.createRows(ctx, "full pool", "PostgreSQL INSERT", "≥ 0.5", func(n, c int) loadResult { return pgInsert(ctx, n, c) }); err != nil {
		return err
	}
	if err := b.createFloor(ctx, 16, func(n, c int) loadResult { return pgInsert(ctx, n, c) }); err != nil {
		return err
	}
	return b.waitPool(ctx)
}

// createRows measures POST /payments at each concurrency beside limit,
// run by bracket, and adds a row for each; target applies at 16
// connections. With the pool on, each level starts from a full pool.
func (b *benchRun) createRows(ctx context.Context, mode, limitName, target string, limit func(n, c int) loadResult) error {
	for _, c := range createConcurrency {
		n := b.countFor(c)
		if err := b.waitPool(ctx); err != nil {
			return err
		}
		var gwCPU, limCPU cpuPerOp
		res, lim, rss, err := b.bracket(ctx, "create, "+mode, limitName,
			func() (res loadResult) {
				name := fmt.Sprintf("create-%s-%d", strings.ReplaceAll(mode, " ", "-"), c)
				_ = b.profiled(ctx, name, 3, func() error {
					start := b.cpuNow(ctx)
					res = b.createLoad(ctx, n, c)
					gwCPU = b.cpuNow(ctx).since(start, res.n)
					return nil
				})
				return res
			},
			func() (res loadResult) {
				start := b.cpuNow(ctx)
				defer func() { limCPU = b.cpuNow(ctx).since(start, res.n) }()
				return limit(n, c)
			})
		if err != nil {
			// One level failing (a node timing out on a busy machine)
			// leaves its row and lets the others run.
			if ctx.Err() != nil {
				return err
			}
			b.add(benchRow{figure: fmt.Sprintf("POST /payments, %s, %d conn.", mode, c), gateway: "failed: " + err.Error()})
			continue
		}
		b.add(benchRow{
			figure:  fmt.Sprintf("POST /payments, %s, %d conn.", mode, c),
			gateway: perSec(res),
			limit:   limitName + ": " + num(lim) + "/s",
			ratio:   ratio(res.rate(), lim),
			target:  pick(c == 16, target, ""),
			rss:     rss,
		})
		if c == 16 {
			b.note(fmt.Sprintf("CPU per POST /payments, %s, %d conn.: %s; per %s: %s", mode, c, gwCPU, limitName, limCPU))
		}
	}
	return nil
}

// bracket measures the gateway between two runs of its limit, so that the
// load of a shared machine, which drifts, weighs on both alike; the limit
// is the mean of its two runs.
func (b *benchRun) bracket(ctx context.Context, what, limitWhat string, gateway, limit func() loadResult) (loadResult, float64, string, error) {
	before := limit()
	if err := loadErr(limitWhat, before); err != nil {
		return loadResult{}, 0, "", err
	}
	var res loadResult
	rss, err := b.measure(func() error {
		res = gateway()
		return loadErr(what, res)
	})
	if err != nil {
		return res, 0, rss, err
	}
	after := limit()
	if err := loadErr(limitWhat, after); err != nil {
		return res, 0, rss, err
	}
	return res, (before.rate() + after.rate()) / 2, rss, nil
}

// countFor is the number of creates at concurrency c: fewer one at a time.
func (b *benchRun) countFor(c int) int {
	if c == 1 {
		return max(b.scale.create/5, 4)
	}
	return b.scale.create
}

// createLoad creates n payments from c connections.
func (b *benchRun) createLoad(ctx context.Context, n, c int) loadResult {
	var mu sync.Mutex
	res := runLoad(ctx, n, c, func(ctx context.Context, i int) error {
		p, err := b.createPayment(ctx)
		if err == nil {
			mu.Lock()
			b.payIDs = append(b.payIDs, p.ID)
			mu.Unlock()
		}
		return err
	})
	return res
}

// createdPayment is what the bench reads of a created payment.
type createdPayment struct {
	ID      uuid.UUID `json:"id"`
	Address string    `json:"payment_address"`
}

func (b *benchRun) createPayment(ctx context.Context) (createdPayment, error) {
	var body struct {
		Payment createdPayment `json:"payment"`
	}
	err := b.do(ctx, http.MethodPost, "/payments", b.stack.apiKey, `{"currency":"LTC","amount":"0.001"}`, http.StatusCreated, &body)
	return body.Payment, err
}

// do sends one request to transientd and decodes the answer into v (nil:
// discard it).
func (b *benchRun) do(ctx context.Context, method, path, token, body string, want int, v any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.stack.base+path, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: http %d: %s", method, path, resp.StatusCode, msg)
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// poolReady reads transient_address_pool_ready for the coin from /metrics.
func (b *benchRun) poolReady(ctx context.Context) (int, error) {
	base := b.stack.base
	if b.metricsAddr != "" {
		base = "http://" + b.metricsAddr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := `transient_address_pool_ready{coin="` + devCoin + `"} `
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(rest, 64)
			return int(f), err
		}
	}
	return 0, errors.New("/metrics has no transient_address_pool_ready")
}

// nodeRequests reads from /metrics how many requests transientd has sent
// the coin's node, by method (a JSON-RPC batch counts once, as
// "batch:METHOD").
func (b *benchRun) nodeRequests(ctx context.Context) (map[string]int, error) {
	base := b.stack.base
	if b.metricsAddr != "" {
		base = "http://" + b.metricsAddr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := `transient_node_rpc_duration_seconds_count{coin="` + devCoin + `",method="`
	n := map[string]int{}
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		method, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(count, 64)
		if err != nil {
			return nil, err
		}
		n[method] = int(f)
	}
	return n, sc.Err()
}

// detectPool sets hasPool when transientd reports an address pool within
// 10 s of its start (its first count follows the start by moments).
func (b *benchRun) detectPool(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.poolReady(ctx)
		if err == nil || time.Now().After(deadline) {
			b.hasPool = err == nil
			return err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitPool waits until no refill runs: the pool is full, or holds at least
// its low-water mark (more than a create level takes) and its count stood
// still for 3 s. A refill competes with the other workloads for the
// node's wallet.
func (b *benchRun) waitPool(ctx context.Context) error {
	if !b.hasPool {
		return nil
	}
	low := min(b.scale.create+1, b.scale.poolSize)
	deadline := time.Now().Add(10 * time.Minute)
	last, since := -1, time.Now()
	for {
		got, err := b.poolReady(ctx)
		if err == nil && got != last {
			last, since = got, time.Now()
		}
		if err == nil && (got >= b.scale.poolSize || got >= low && time.Since(since) >= 3*time.Second) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("address pool: %d ready after 10 min, want a settled pool of at least %d (%v)", got, low, err)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// readWorkload: GET /payments/{id} beside PostgreSQL running the statement
// that serves it (payments.GetSQL: the payment and its outputs, by primary
// key) for the same rows, from as many clients over as many PostgreSQL
// connections as transientd has. It used to compare with SELECT * of the
// payment row alone over 32 connections, which is less work than the read
// does. Under the table it notes the CPU time per operation of each part.
func (b *benchRun) readWorkload(ctx context.Context) error {
	if len(b.payIDs) == 0 {
		if err := loadErr("create", b.createLoad(ctx, max(b.scale.create/5, 4), 16)); err != nil {
			return err
		}
	}
	ids := b.payIDs
	// The limit's clients share daemonDBConns connections, as transientd's
	// requests share its pool: a semaphore over the bench's own pool
	// (a second pool would hold connections beside the ones it already
	// has, past a server's max_connections in a full run).
	conns := make(chan struct{}, daemonDBConns)
	var gwCPU, limCPU cpuPerOp
	res, lim, rss, err := b.bracket(ctx, "GET /payments/{id}", "point SELECT",
		func() (res loadResult) {
			_ = b.profiled(ctx, "read", 5, func() error {
				start := b.cpuNow(ctx)
				res = runLoad(ctx, b.scale.reads, readConcurrency, func(ctx context.Context, i int) error {
					return b.do(ctx, http.MethodGet, "/payments/"+ids[i%len(ids)].String(), "", "", http.StatusOK, nil)
				})
				gwCPU = b.cpuNow(ctx).since(start, res.n)
				return nil
			})
			return res
		},
		func() (res loadResult) {
			start := b.cpuNow(ctx)
			defer func() { limCPU = b.cpuNow(ctx).since(start, res.n) }()
			return runLoad(ctx, b.scale.reads, readConcurrency, func(ctx context.Context, i int) error {
				select {
				case conns <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
				defer func() { <-conns }()
				rows, err := b.db.Query(ctx, payments.GetSQL, [16]byte(ids[i%len(ids)]))
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					if _, err := rows.Values(); err != nil {
						return err
					}
				}
				return rows.Err()
			})
		})
	if err != nil {
		return err
	}
	b.add(benchRow{
		figure:  fmt.Sprintf("GET /payments/{id}, %d conn.", readConcurrency),
		gateway: perSec(res),
		limit:   fmt.Sprintf("PostgreSQL point SELECT of the payment and its outputs, %d conn.: %s/s", daemonDBConns, num(lim)),
		ratio:   ratio(res.rate(), lim),
		target:  "≥ 0.5",
		rss:     rss,
	})
	b.note(fmt.Sprintf("CPU per GET /payments/{id}: %s; per point SELECT (its limit): %s; GET latency p50 %.2f ms, p99 %.2f ms",
		gwCPU, limCPU, msf(res.pct(50)), msf(res.pct(99))))
	return nil
}

// notifyWorkload: notify-tx (spawn and POST) one after another, beside
// curl posting the same hint.
func (b *benchRun) notifyWorkload(ctx context.Context) error {
	run := func(name string, args ...string) loadResult {
		return runLoad(ctx, b.scale.notifies, 1, func(ctx context.Context, i int) error {
			cmd := exec.CommandContext(ctx, name, args...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, out)
			}
			return nil
		})
	}
	txid := hex.EncodeToString(make([]byte, 32))
	var res loadResult
	rss, err := b.measure(func() error {
		res = run(b.stack.opts.files.bin("notify-tx"), "-config", b.stack.opts.files.notifyEnv(), devCoin, txid, regtest.MerchantWallet)
		return loadErr("notify-tx", res)
	})
	if err != nil {
		return err
	}
	row := benchRow{figure: "notify-tx, spawn + POST, one at a time", gateway: perOp(res), rss: rss}
	if curl, err := exec.LookPath("curl"); err == nil {
		body := fmt.Sprintf(`{"coin":%q,"hash":%q,"wallet":%q}`, devCoin, txid, regtest.MerchantWallet)
		lim := run(curl, "-sf", "-o", os.DevNull, "-X", "POST", "-H", "Authorization: Bearer "+b.stack.notifyToken,
			"-H", "Content-Type: application/json", "--data-binary", body, b.stack.base+"/notify/tx")
		if err := loadErr("curl", lim); err != nil {
			return err
		}
		row.limit = "curl posting the same hint: " + perOp(lim)
		row.ratio = ratio(res.rate(), lim.rate())
	} else {
		row.limit = "curl is not installed"
	}
	b.add(row)
	return nil
}

// chainPayments is the pre-signed money of the burst and end-to-end loads.
type chainPayments struct {
	burst []signedTx
	e2e   map[int][]signedTx // by rate
}

// signedTx is a transaction paying payments, signed but not yet broadcast.
type signedTx struct {
	hex      string
	txid     string
	payments []uuid.UUID
}

// preparePayments creates the payments the chain loads pay, funds a payer
// wallet with one coin per transaction, signs every transaction, and
// unloads the payer, so that broadcasting them later wakes only the
// merchant wallet: the payer is not what is measured.
func (b *benchRun) preparePayments(ctx context.Context) (*chainPayments, error) {
	nE2E := map[int]int{}
	total := b.scale.burstTxs
	for _, r := range e2eRates {
		nE2E[r] = max(int(float64(r)*b.scale.e2eSeconds), 2)
		total += nE2E[r]
	}
	b.say("preparing %d pre-signed transactions", total)
	node := b.stack.node
	if err := node.CreateWallet(ctx, payerWallet); err != nil {
		return nil, err
	}
	payer := node.Client(payerWallet)
	const perSend = 250
	addrs := make([]string, min(perSend, total))
	for i := range addrs {
		a, err := payer.GetNewAddress(ctx, "")
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	for left := total; left > 0; left -= perSend {
		outs := map[string]string{}
		for _, a := range addrs[:min(left, perSend)] {
			outs[a] = coind.FormatAmount(payerUTXO)
		}
		if err := node.Client(regtest.MinerWallet).Call(ctx, "sendmany", []any{"", outs}, nil); err != nil {
			return nil, fmt.Errorf("fund the payer: %w", err)
		}
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		return nil, err
	}
	var utxos []struct {
		TxID   string      `json:"txid"`
		Vout   uint32      `json:"vout"`
		Amount json.Number `json:"amount"`
	}
	if err := payer.Call(ctx, "listunspent", []any{1}, &utxos); err != nil {
		return nil, err
	}
	if len(utxos) < total {
		return nil, fmt.Errorf("payer has %d coins, want %d", len(utxos), total)
	}
	pays := make([]createdPayment, 0, 2*b.scale.burstTxs+total)
	need := 2*b.scale.burstTxs + total - b.scale.burstTxs
	for range need {
		p, err := b.createPayment(ctx)
		if err != nil {
			return nil, err
		}
		pays = append(pays, p)
	}
	sign := func(u int, ps []createdPayment) (signedTx, error) {
		in := []map[string]any{{"txid": utxos[u].TxID, "vout": utxos[u].Vout}}
		outs := map[string]string{addrs[0]: coind.FormatAmount(payerUTXO - payerFee - int64(len(ps))*paymentAmount)}
		tx := signedTx{}
		for _, p := range ps {
			outs[p.Address] = coind.FormatAmount(paymentAmount)
			tx.payments = append(tx.payments, p.ID)
		}
		var raw string
		if err := payer.Call(ctx, "createrawtransaction", []any{in, outs}, &raw); err != nil {
			return tx, err
		}
		var signed struct {
			Hex      string `json:"hex"`
			Complete bool   `json:"complete"`
		}
		if err := payer.Call(ctx, "signrawtransactionwithwallet", []any{raw}, &signed); err != nil {
			return tx, err
		}
		if !signed.Complete {
			return tx, errors.New("signrawtransactionwithwallet: incomplete")
		}
		var dec struct {
			TxID string `json:"txid"`
		}
		if err := payer.Call(ctx, "decoderawtransaction", []any{signed.Hex}, &dec); err != nil {
			return tx, err
		}
		tx.hex, tx.txid = signed.Hex, dec.TxID
		return tx, nil
	}
	chain := &chainPayments{e2e: map[int][]signedTx{}}
	u, pi := 0, 0
	for range b.scale.burstTxs {
		tx, err := sign(u, pays[pi:pi+2])
		if err != nil {
			return nil, err
		}
		chain.burst = append(chain.burst, tx)
		u, pi = u+1, pi+2
	}
	for _, r := range e2eRates {
		for range nE2E[r] {
			tx, err := sign(u, pays[pi:pi+1])
			if err != nil {
				return nil, err
			}
			chain.e2e[r] = append(chain.e2e[r], tx)
			u, pi = u+1, pi+1
		}
	}
	if err := node.Client("").Call(ctx, "unloadwallet", []any{payerWallet}, nil); err != nil {
		return nil, err
	}
	return chain, b.waitPool(ctx)
}

// burstWorkload: the burst's transactions reach the node while its
// notifications go elsewhere; then every hint arrives at once (each
// transaction hinted burstHints/burstTxs times), beside the node's own
// gettransaction rate on those transactions.
func (b *benchRun) burstWorkload(ctx context.Context, chain *chainPayments) error {
	sink, err := newHintSink()
	if err != nil {
		return err
	}
	defer sink.close()
	if err := b.stack.writeNotifyConfig(sink.url); err != nil {
		return err
	}
	send := runLoad(ctx, len(chain.burst), 8, func(ctx context.Context, i int) error {
		return b.node.Call(ctx, "sendrawtransaction", []any{chain.burst[i].hex}, nil)
	})
	if err := loadErr("sendrawtransaction", send); err != nil {
		return err
	}
	if err := b.stack.node.Sync(ctx); err != nil {
		return err
	}
	if err := sink.wait(ctx, len(chain.burst), 30*time.Second); err != nil {
		return err
	}
	if err := b.stack.writeNotifyConfig(b.stack.base); err != nil {
		return err
	}
	var ids []uuid.UUID
	for _, tx := range chain.burst {
		ids = append(ids, tx.payments...)
	}
	per := max(b.scale.burstHints/len(chain.burst), 1)
	nHints := len(chain.burst) * per
	var gw, accepted, drained time.Duration
	var burstCPU cpuPerOp // totals, from the first hint until every job is worked off
	callsBefore, err := b.nodeRequests(ctx)
	if err != nil {
		return err
	}
	rss, err := b.measure(func() error {
		return b.profiled(ctx, "burst", 5, func() error {
			cpuStart := b.cpuNow(ctx)
			began := time.Now()
			if err := b.postHints(ctx, chain, nHints); err != nil {
				return err
			}
			accepted = time.Since(began)
			if err := b.waitStatus(ctx, ids, "PENDING", time.Minute); err != nil {
				return err
			}
			gw = time.Since(began)
			// The hints that arrived after their transaction's job had
			// run queued more jobs, and every payment's webhook is
			// queued: the next workload starts once they are worked off,
			// or it would measure this one's tail.
			if err := b.waitQueuesIdle(ctx, time.Minute); err != nil {
				return err
			}
			drained = time.Since(began)
			burstCPU = b.cpuNow(ctx).since(cpuStart, 1)
			return nil
		})
	})
	if err != nil {
		return err
	}
	callsAfter, err := b.nodeRequests(ctx)
	if err != nil {
		return err
	}
	calls, total := []string{}, 0
	for m, n := range callsAfter {
		if d := n - callsBefore[m]; d > 0 {
			calls = append(calls, fmt.Sprintf("%s %d", m, d))
			total += d
		}
	}
	slices.Sort(calls)
	b.say("hint burst: %d node requests for %d transactions: %s", total, len(chain.burst), strings.Join(calls, ", "))
	lim := runLoad(ctx, len(chain.burst), nodeReadConc, func(ctx context.Context, i int) error {
		_, err := b.node.GetTransaction(ctx, chain.burst[i].txid)
		return err
	})
	if err := loadErr("gettransaction", lim); err != nil {
		return err
	}
	rate := float64(len(chain.burst)) / gw.Seconds()
	b.add(benchRow{
		figure: fmt.Sprintf("hint burst: %d hints, %d tx paying %d payments, until all PENDING",
			nHints, len(chain.burst), len(ids)),
		gateway: fmt.Sprintf("%s tx/s (%s; hints accepted in %s, every hint and webhook worked off in %s, %s node requests per tx)",
			num(rate), gw.Round(time.Millisecond), accepted.Round(time.Millisecond), drained.Round(time.Millisecond),
			num(float64(total)/float64(len(chain.burst)))),
		limit:  fmt.Sprintf("node gettransaction, %d conn.: %s", nodeReadConc, perSec(lim)),
		ratio:  ratio(rate, lim.rate()),
		target: "≥ 0.8",
		rss:    rss,
	})
	return b.burstCPUNotes(ctx, chain, nHints, burstCPU, drained, lim.rate())
}

// postHints posts n hints for the burst's transactions from
// hintConcurrency connections, spread over the transactions.
func (b *benchRun) postHints(ctx context.Context, chain *chainPayments, n int) error {
	hints := runLoad(ctx, n, hintConcurrency, func(ctx context.Context, i int) error {
		tx := chain.burst[(i*7919)%len(chain.burst)]
		body := fmt.Sprintf(`{"coin":%q,"hash":%q,"wallet":%q}`, devCoin, tx.txid, regtest.MerchantWallet)
		return b.do(ctx, http.MethodPost, "/notify/tx", b.stack.notifyToken, body, http.StatusAccepted, nil)
	})
	return loadErr("hints", hints)
}

// burstCPUNotes notes where the burst's CPU went, and measures acceptance
// apart from working: the same hints again, to the transactions the burst
// has just worked, with the detection queue paused, so that each hint is
// stored (a 202 after its commit) and nothing is worked; then the queue
// resumes and the stored jobs are worked off alone. On a machine whose
// cores are all busy, the burst cannot end sooner than its CPU over the
// cores, whatever the concurrency: that is its bound, beside the budget of
// the 0.8 target.
func (b *benchRun) burstCPUNotes(ctx context.Context, chain *chainPayments, nHints int, burst cpuPerOp, drained time.Duration, limRate float64) error {
	nTx := len(chain.burst)
	cores := runtime.NumCPU()
	budget := float64(nTx) / (0.8 * limRate)
	sec := func(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
	b.note(fmt.Sprintf("CPU of the hint burst, first hint until every job worked off (%s): %s; that is per hint: %s, or per tx: %s; "+
		"over %d cores at least %s, against the 0.8 target's budget of %.3f s (%d tx / (0.8 × %s gettransaction/s))",
		sec(drained), cpuSum(burst), burst.perN(nHints), burst.perN(nTx),
		cores, sec(burst.total()/time.Duration(cores)), budget, nTx, num(limRate)))

	jobs, err := river.NewClient(riverpgxv5.New(b.db), &river.Config{})
	if err != nil {
		return err
	}
	if err := jobs.QueuePause(ctx, payments.QueueHints, nil); err != nil {
		return fmt.Errorf("pause the detection queue: %w", err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = jobs.QueueResume(context.WithoutCancel(ctx), payments.QueueHints, nil)
		}
	}()
	// A paused queue reaches transientd's producer by NOTIFY within
	// milliseconds.
	if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	var took time.Duration
	var alone cpuPerOp
	if err := b.profiled(ctx, "burst-hints-alone", 2, func() error {
		start := b.cpuNow(ctx)
		began := time.Now()
		if err := b.postHints(ctx, chain, nHints); err != nil {
			return err
		}
		took = time.Since(began)
		alone = b.cpuNow(ctx).since(start, 1)
		return nil
	}); err != nil {
		return err
	}
	began := time.Now().Add(-took)
	var worked, queued int
	if err := b.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed' AND finalized_at >= $2),
			count(*) FILTER (WHERE state = 'available') FROM river_job WHERE queue = $1`,
		payments.QueueHints, began).Scan(&worked, &queued); err != nil {
		return err
	}
	start := b.cpuNow(ctx)
	began = time.Now()
	if err := jobs.QueueResume(ctx, payments.QueueHints, nil); err != nil {
		return fmt.Errorf("resume the detection queue: %w", err)
	}
	resumed = true
	if err := b.waitQueuesIdle(ctx, time.Minute); err != nil {
		return err
	}
	work := time.Since(began)
	workCPU := b.cpuNow(ctx).since(start, 1)
	b.note(fmt.Sprintf("hints alone: the %d hints again, to the worked transactions, detection queue paused: accepted in %s "+
		"(%s hints/s; %d jobs stored, %d worked meanwhile); CPU per hint: %s; then their %d jobs worked off alone in %s, CPU per tx: %s",
		nHints, took.Round(time.Millisecond), num(float64(nHints)/took.Seconds()), queued, worked, alone.perN(nHints),
		queued, work.Round(time.Millisecond), workCPU.perN(max(queued, 1))))
	// What the burst spent beyond accepting its hints is the working of
	// its transactions (and their webhooks).
	perHint := alone.perN(nHints)
	working := burst.minus(perHint.times(nHints))
	least := (perHint.times(nHints).total() + working.total()) / time.Duration(cores)
	b.note(fmt.Sprintf("bound: %d hints × %s (accepting alone) + %d tx × %s (the burst's CPU beyond accepting: working and webhooks) "+
		"over %d cores = at least %s for the burst, beside the 0.8 budget of %.3f s; accepting alone needs at least %s",
		nHints, us(perHint.total()), nTx, us(working.perN(nTx).total()), cores, sec(least), budget,
		sec(perHint.times(nHints).total()/time.Duration(cores))))
	return nil
}

// waitStatus polls the database until every payment of ids has status.
func (b *benchRun) waitStatus(ctx context.Context, ids []uuid.UUID, status string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM payments WHERE id = ANY($1) AND status = $2`, ids, status).Scan(&n); err != nil {
			return err
		}
		if n == len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d payments %s after %s", n, len(ids), status, limit)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitQueuesIdle polls the job table until transientd's detection and
// webhook queues have nothing left to run.
func (b *benchRun) waitQueuesIdle(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE queue = ANY($1) AND state IN ('available', 'running', 'retryable', 'pending')`,
			[]string{payments.QueueHints, webhook.Queue}).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d detection and webhook jobs still queued after %s", n, limit)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// broadcast sends a pre-signed transaction to the node. A node whose RPC
// work queue is full answers HTTP 500 "Work queue depth exceeded"
// (coind.ErrUnavailable) without looking at the request: on a machine
// where starting a process is slow, litecoind's walletnotify forks at 100
// transactions a second stalled it for long enough to fill its queue of
// 256. The send is then tried again until ctx ends; the time it waited
// stays in the transaction's latency, which starts before the first try.
// A retry answered "already in the mempool" (-27) means an earlier try
// got through.
func (b *benchRun) broadcast(ctx context.Context, hex string) error {
	for retry := false; ; retry = true {
		err := b.node.Call(ctx, "sendrawtransaction", []any{hex}, nil)
		var rpcErr *coind.Error
		if retry && errors.As(err, &rpcErr) && rpcErr.Code == rpcVerifyAlreadyInChain {
			return nil
		}
		if !errors.Is(err, coind.ErrUnavailable) {
			return err // nil too
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// rpcVerifyAlreadyInChain is the node's RPC_VERIFY_ALREADY_IN_CHAIN: the
// transaction is already in the mempool or a block.
const rpcVerifyAlreadyInChain = -27

// e2eWorkload: pre-signed transactions broadcast at a steady rate; each
// one's time from sendrawtransaction to its PENDING webhook at the
// receiver.
func (b *benchRun) e2eWorkload(ctx context.Context, chain *chainPayments) error {
	for _, r := range e2eRates {
		txs := chain.e2e[r]
		var lat []time.Duration
		var timings []e2eTiming
		seconds := max(int(b.scale.e2eSeconds), 1)
		rss, err := b.measure(func() error {
			return b.profiled(ctx, fmt.Sprintf("e2e-%d", r), seconds, func() error {
				sent := make([]time.Time, len(txs))
				var wg sync.WaitGroup
				var sendErr error
				var mu sync.Mutex
				start := time.Now()
				for i, tx := range txs {
					if err := sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*time.Second/time.Duration(r)))); err != nil {
						return err
					}
					wg.Go(func() {
						sent[i] = time.Now()
						if err := b.broadcast(ctx, tx.hex); err != nil {
							mu.Lock()
							sendErr = cmpErr(sendErr, err)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if sendErr != nil {
					return sendErr
				}
				for i, tx := range txs {
					at, err := b.recv.waitPending(ctx, tx.payments[0], webhookWait)
					if err != nil {
						return err
					}
					lat = append(lat, at.Sub(sent[i]))
					timings = append(timings, e2eTiming{payment: tx.payments[0], txid: tx.txid, sent: sent[i], received: at})
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		slices.Sort(lat)
		b.add(benchRow{
			figure: fmt.Sprintf("broadcast → PENDING webhook received, %d tx/s (%d tx)", r, len(txs)),
			gateway: fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", ms(percentile(lat, 50)), ms(percentile(lat, 90)),
				ms(percentile(lat, 99)), ms(lat[len(lat)-1])),
			target: pick(r == 20, "p99 < 250 ms", "p99 < 500 ms"),
			rss:    rss,
		})
		// Where the time went, for a tail that needs explaining.
		what := fmt.Sprintf("broadcast → PENDING webhook, %d tx/s", r)
		if line, err := b.e2eStageNote(ctx, what, timings); err != nil {
			b.say("%s: no stages: %v", what, err)
		} else {
			b.note(line)
		}
	}
	return nil
}

// webhookWorkload: deliveries queued through transientd's outbox tables in
// one transaction, until the receiver has them all, beside the receiver's
// own rate (the same body posted by the load generator from as many
// connections as transientd has webhook workers).
func (b *benchRun) webhookWorkload(ctx context.Context) error {
	n := b.scale.webhooks
	body := []byte(`{"type":"bench.delivery","payment_id":"00000000-0000-0000-0000-000000000000"}`)
	lim := runLoad(ctx, n, webhookWorkers, func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.stack.webhookURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.http.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("receiver: http %d", resp.StatusCode)
		}
		return nil
	})
	if err := loadErr("receiver", lim); err != nil {
		return err
	}
	var d time.Duration
	rss, err := b.measure(func() error {
		before := b.recv.deliveries()
		if err := enqueueDeliveries(ctx, b.db, b.stack.webhookURL, body, n); err != nil {
			return err
		}
		began := time.Now()
		deadline := time.Now().Add(2 * time.Minute)
		for b.recv.deliveries()-before < n {
			if time.Now().After(deadline) {
				return fmt.Errorf("webhooks: %d of %d delivered in 2 min", b.recv.deliveries()-before, n)
			}
			if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
				return err
			}
		}
		d = time.Since(began)
		return nil
	})
	if err != nil {
		return err
	}
	rate := float64(n) / d.Seconds()
	b.add(benchRow{
		figure:  fmt.Sprintf("webhook delivery, %d queued at once", n),
		gateway: num(rate) + "/s",
		limit:   fmt.Sprintf("receiver's own rate, %d conn.: %s", webhookWorkers, perSec(lim)),
		ratio:   ratio(rate, lim.rate()),
		rss:     rss,
	})
	return nil
}

// print writes the table to w.
func (b *benchRun) print(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprint(w, b.table())
}

// table is the result as a Markdown table.
func (b *benchRun) table() string {
	var sb strings.Builder
	sb.WriteString("| figure | gateway | its limit, same run | ratio | target | peak RSS |\n|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s |\n", r.figure, r.gateway, dash(r.limit), dash(r.ratio), dash(r.target), dash(r.rss))
	}
	if len(b.notes) > 0 {
		sb.WriteString("\n")
		for _, n := range b.notes {
			sb.WriteString("- " + n + "\n")
		}
	}
	return sb.String()
}

// timingReceiver is the bench's webhook endpoint: it answers 204 at once
// and notes when each payment's PENDING webhook arrived and how many
// bench deliveries came.
type timingReceiver struct {
	mu      sync.Mutex
	pending map[uuid.UUID]time.Time
	waiters map[uuid.UUID]chan struct{}
	count   int
}

func newTimingReceiver() *timingReceiver {
	return &timingReceiver{pending: map[uuid.UUID]time.Time{}, waiters: map[uuid.UUID]chan struct{}{}}
}

func (t *timingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var ev struct {
		Type      string    `json:"type"`
		PaymentID uuid.UUID `json:"payment_id"`
		Status    string    `json:"status"`
	}
	_ = json.Unmarshal(body, &ev)
	t.mu.Lock()
	switch {
	case ev.Type == "bench.delivery":
		t.count++
	case ev.Status == "PENDING":
		if _, seen := t.pending[ev.PaymentID]; !seen {
			t.pending[ev.PaymentID] = at
			if ch, ok := t.waiters[ev.PaymentID]; ok {
				close(ch)
				delete(t.waiters, ev.PaymentID)
			}
		}
	}
	t.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (t *timingReceiver) deliveries() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

// waitPending returns when payment id's PENDING webhook arrived.
func (t *timingReceiver) waitPending(ctx context.Context, id uuid.UUID, limit time.Duration) (time.Time, error) {
	t.mu.Lock()
	if at, ok := t.pending[id]; ok {
		t.mu.Unlock()
		return at, nil
	}
	ch, ok := t.waiters[id]
	if !ok {
		ch = make(chan struct{})
		t.waiters[id] = ch
	}
	t.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(limit):
		return time.Time{}, fmt.Errorf("no PENDING webhook for payment %s within %s", id, limit)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending[id], nil
}

// hintSink takes the node's notifications while the burst is broadcast, so
// they reach transientd only as the burst.
type hintSink struct {
	url string
	srv *http.Server
	mu  sync.Mutex
	n   int
}

func newHintSink() (*hintSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &hintSink{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/notify/tx" {
			s.mu.Lock()
			s.n++
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// wait waits until the sink has n tx hints.
func (s *hintSink) wait(ctx context.Context, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		s.mu.Lock()
		got := s.n
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the node sent %d of %d wallet notifications in %s", got, n, limit)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func (s *hintSink) close() { _ = s.srv.Close() }

// enqueueDeliveries queues n deliveries of body through transientd's
// outbox (a webhook_deliveries row and a River job each) in one
// transaction, so none can start before all are queued.
func enqueueDeliveries(ctx context.Context, db *pgxpool.Pool, url string, body []byte, n int) error {
	jobs, err := river.NewClient(riverpgxv5.New(db), &river.Config{FetchCooldown: time.Millisecond, FetchPollInterval: time.Millisecond})
	if err != nil {
		return err
	}
	outbox := webhook.NewOutbox(db, jobs, webhook.Config{URL: url})
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for range n {
			if err := outbox.Enqueue(ctx, tx, webhook.Message{EventID: uuid.New(), PaymentID: uuid.New(), Body: body}); err != nil {
				return err
			}
		}
		return nil
	})
}

func loadErr(what string, r loadResult) error {
	if r.errs > 0 {
		return fmt.Errorf("%s: %d of %d failed; first: %w", what, r.errs, r.errs+r.n, r.firstErr)
	}
	return nil
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func perSec(r loadResult) string { return num(r.rate()) + "/s" }

func perOp(r loadResult) string {
	return fmt.Sprintf("%.1f ms", float64(r.elapsed.Microseconds())/1000/float64(max(r.n, 1)))
}

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a/b) {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func num(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(math.Round(f), 'f', 0, 64)
	default:
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// msf is d in milliseconds, for latencies well under one.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(v float64) string { return fmt.Sprintf("%.1f MiB", v) }

func dash(s string) string { return pick(s == "", "—", s) }

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// machine describes this machine for the report.
func machine() string {
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				model = ", " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d cores%s, %s memory, %s", runtime.NumCPU(), model, mem, runtime.Version())
}

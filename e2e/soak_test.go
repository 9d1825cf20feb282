package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// The soak runs many clients against one transientd for a long while —
// creating payments, reading them, holding their event streams open and
// posting transaction hints — while a payer pays what they create and
// blocks are mined. No answer may be a 5xx except the stream caps' 503
// with Retry-After (a designed answer, counted apart); transientd's RSS
// must stay flat after warm-up, and it must go back to its idle goroutine
// and descriptor counts when the load stops. It ends with the chaos
// suite's invariant check. The short version (a few seconds, a few
// clients) runs with the package; CHAOS_LONG=1 (make chaos) runs 100
// clients for 10 minutes. SOAK_DURATION and SOAK_CLIENTS override either.

// soakSettings is one soak's size.
type soakSettings struct {
	duration time.Duration // how long the clients run
	clients  int           // concurrent clients
	warmup   time.Duration // the RSS after this long is the level the end is held to
	sample   time.Duration // how often RSS, goroutines and descriptors are read
	think    time.Duration // a client's pause between requests: up to this
	hold     [2]time.Duration
	mineIn   time.Duration // one block every mineIn
}

// The RSS bounds. After warm-up the process holds its working set: the
// connection pools, the stream hub, the HTTP server's per-connection
// buffers and a heap the GC lets grow to twice what is live. A leak of a
// few hundred bytes per request (the long run makes some 10^5) grows past
// half of that level; so does a leak per stream or per payment. The
// absolute cap applies without the race detector only: its shadow memory
// makes the figure several times larger and says nothing about ours.
const (
	soakRSSGrowth = 1.5
	soakRSSCap    = 64 << 20
	// The idle counts after the load may exceed those before it by what
	// stays open on purpose: the database pool keeps the connections it
	// opened under load (up to DATABASE_MAX_CONNS, 20, a descriptor each),
	// and the refresh of the outputs still tracked keeps 16 node calls in
	// flight every catch-up (payments.refreshConcurrency), so 16 node
	// connections stay in use (a descriptor and two goroutines each). A
	// leak per request or per stream (the long run opens thousands) is far
	// above these.
	soakFDSlack        = 20 + 16 + 8
	soakGoroutineSlack = 2*16 + 10
	// soakIdleWait bounds the wait for the idle counts after the load:
	// longer than the webhook client's idle connection timeout (90 s).
	soakIdleWait = 2 * time.Minute
	// soakDrainWait bounds the wait for the queued jobs after the load.
	soakDrainWait = 10 * time.Minute
)

func soakConfig(t *testing.T) soakSettings {
	t.Helper()
	s := soakSettings{duration: 5 * time.Second, clients: 6, think: 100 * time.Millisecond,
		hold: [2]time.Duration{300 * time.Millisecond, 1500 * time.Millisecond}, mineIn: time.Second}
	if chaosLong {
		s = soakSettings{duration: 10 * time.Minute, clients: 100, think: 200 * time.Millisecond,
			hold: [2]time.Duration{time.Second, 8 * time.Second}, mineIn: 3 * time.Second}
	}
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SOAK_DURATION=%q: want a positive duration such as 10m", v)
		}
		s.duration = d
	}
	if v := os.Getenv("SOAK_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SOAK_CLIENTS=%q: want a positive number", v)
		}
		s.clients = n
	}
	s.warmup = min(time.Minute, s.duration/5)
	s.sample = min(max(s.duration/120, 250*time.Millisecond), 5*time.Second)
	return s
}

// soakSample is one reading of the process.
type soakSample struct {
	at              time.Duration // since the load started
	rss             int64         // bytes
	goroutines, fds float64       // from /metrics; -1 when unread
}

// soak is one soak run's state.
type soak struct {
	t   *testing.T
	c   *chaos
	d   *daemon
	cfg soakSettings
	// ops is the daemon's METRICS_ADDR listener: /metrics and the
	// profiler, whose goroutine dump a failed leak check logs.
	ops string
	// idleDump is the goroutine dump before the load.
	idleDump string
	// drained is how long the queued jobs took to run out after the load.
	drained time.Duration
	// api makes the short requests; streams the event streams, which
	// end by their context.
	api, streams *http.Client

	mu      sync.Mutex
	ids     []string // payments created, oldest first
	txids   []string // transactions the payer sent
	counts  map[string]int
	fails   int
	capped  int // streams refused 503 too_many_streams with Retry-After
	paid    int
	batches int
	blocks  int

	messages atomic.Int64 // stream messages received
	checked  atomic.Int64 // answers checked against openapi/openapi.yaml
	toPay    chan soakPay
}

type soakPay struct {
	address string
	amount  int64
}

// TestSoak runs the soak described above.
func TestSoak(t *testing.T) {
	t.Parallel()
	cfg := soakConfig(t)
	ops := freeAddr(t)
	c := newChaos(t, 1, "", "DATABASE_MAX_CONNS=20", "STREAM_MAX_PER_PAYMENT=4", "METRICS_ADDR="+ops)
	s := &soak{t: t, c: c, d: c.daemons[0], cfg: cfg, ops: "http://" + ops, counts: map[string]int{}, toPay: make(chan soakPay, 4096)}
	tr := &http.Transport{MaxIdleConns: cfg.clients * 2, MaxIdleConnsPerHost: cfg.clients * 2, IdleConnTimeout: time.Minute}
	s.api = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	s.streams = &http.Client{Transport: tr}
	cmd, _ := s.d.proc()
	pid := cmd.Process.Pid

	// Idle before the load: the level the process must return to, read
	// once the job queue's maintenance services (started staggered after
	// the leader election, a dozen goroutines) have settled: the count
	// unchanged for 3 s.
	before := s.read(pid, 0)
	for settle, since := time.Now().Add(time.Minute), time.Now(); time.Now().Before(settle) && time.Since(since) < 3*time.Second; {
		time.Sleep(250 * time.Millisecond)
		if x := s.read(pid, 0); x.goroutines != before.goroutines || x.fds != before.fds {
			before, since = x, time.Now()
		}
	}
	s.idleDump = s.goroutineDump()
	load0 := loadAverage()

	ctx, stop := context.WithCancel(context.Background())
	var clients, helpers sync.WaitGroup
	start := time.Now()
	var samples []soakSample
	var samplesMu sync.Mutex
	helpers.Go(func() {
		tick := time.NewTicker(cfg.sample)
		defer tick.Stop()
		for {
			samplesMu.Lock()
			samples = append(samples, s.read(pid, time.Since(start)))
			samplesMu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	helpers.Go(func() { s.payer(ctx) })
	helpers.Go(func() { s.miner(ctx) })
	for i := range cfg.clients {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
		clients.Go(func() { s.client(ctx, rng) })
	}
	waitFor(t, cfg.duration+time.Minute, func() bool { return time.Since(start) >= cfg.duration || s.failures() > 20 },
		func() string { return "" })
	stop()
	clients.Wait()
	helpers.Wait()
	ran := time.Since(start)
	samplesMu.Lock()
	samples = append(samples, s.read(pid, ran))
	samplesMu.Unlock()
	load1 := loadAverage()

	// Settle what was paid, then the invariants.
	c.mine(2)
	inv := c.check(2 * time.Minute)

	// Idle after the load: once the queued jobs have run (the hints are
	// accepted at once and worked off by HINT_WORKERS, 32, each with a
	// node connection) and the client's connections are closed, the
	// counts must come back down when the daemon's own idle connections
	// time out (the webhook client keeps them 90 s, the node client 25 s).
	tr.CloseIdleConnections()
	drainStart := time.Now()
	queued := s.queued()
	for queued != 0 && time.Since(drainStart) < soakDrainWait {
		time.Sleep(250 * time.Millisecond)
		queued = s.queued()
	}
	s.drained = time.Since(drainStart)
	if queued != 0 {
		t.Errorf("%d jobs still queued or running %s after the load stopped", queued, soakDrainWait)
	}
	var after soakSample
	deadline := time.Now().Add(soakIdleWait)
	for {
		after = s.read(pid, time.Since(start))
		if after.goroutines <= before.goroutines+soakGoroutineSlack && after.fds <= before.fds+soakFDSlack ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}

	report := s.report(samples, before, after, ran, load0, load1, inv)
	for _, line := range report {
		t.Log(line)
		if chaosLong {
			fmt.Println("chaos " + line)
		}
	}
	s.assert(samples, before, after)
}

// queued returns how many jobs are waiting or running, -1 on error.
func (s *soak) queued() int {
	var n int
	err := s.c.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')`).Scan(&n)
	if err != nil {
		s.t.Logf("counting the queued jobs: %v", err)
		return -1
	}
	return n
}

// read samples the process: RSS from /proc, goroutines and descriptors
// from /metrics.
func (s *soak) read(pid int, at time.Duration) soakSample {
	out := soakSample{at: at, rss: -1, goroutines: -1, fds: -1}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				out.rss = kb << 10
			}
		}
	}
	client := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(s.ops + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			out.goroutines, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "process_open_fds "); ok {
			out.fds, _ = strconv.ParseFloat(v, 64)
		}
	}
	return out
}

// client is one client: a random mix of creates, reads, streams and hints
// with a short pause between them, until ctx ends.
func (s *soak) client(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		switch n := rng.IntN(100); {
		case n < 12:
			s.create(ctx, rng)
		case n < 55:
			s.readOne(rng)
		case n < 70:
			s.stream(ctx, rng)
		default:
			s.hint(rng)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rng.Int64N(int64(s.cfg.think)))):
		}
	}
}

// count records an answer; fail records a failure (at most 20 are shown).
func (s *soak) count(op string, code int) {
	s.mu.Lock()
	s.counts[op+" "+strconv.Itoa(code)]++
	s.mu.Unlock()
}

// failures returns how many failures were recorded.
func (s *soak) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails
}

func (s *soak) fail(format string, args ...any) {
	s.mu.Lock()
	s.fails++
	n := s.fails
	s.mu.Unlock()
	if n <= 20 {
		s.t.Errorf(format, args...)
	}
}

// do sends one request and returns the status and body. Every 20th answer
// is checked against openapi/openapi.yaml.
func (s *soak) do(rng *rand.Rand, op string, req *http.Request) (int, []byte, bool) {
	resp, err := s.api.Do(req)
	if err != nil {
		s.fail("%s %s %s: %v", op, req.Method, req.URL.Path, err)
		return 0, nil, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.fail("%s %s %s: reading the answer: %v", op, req.Method, req.URL.Path, err)
		return resp.StatusCode, nil, false
	}
	s.count(op, resp.StatusCode)
	if resp.StatusCode >= 500 {
		s.fail("%s %s %s: %d %s", op, req.Method, req.URL.Path, resp.StatusCode, body)
	}
	if rng.IntN(20) == 0 {
		s.checked.Add(1)
		if err := openapitest.Validate(req, resp.StatusCode, resp.Header, body); err != nil {
			s.fail("openapi: %s %s answered %d: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, body, true
}

func (s *soak) request(method, path, body, key string) *http.Request {
	req, err := http.NewRequest(method, s.d.url+path, strings.NewReader(body))
	if err != nil {
		panic(err) // the paths are built here
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return req
}

// create makes a payment, retrying a failed request with the same
// idempotency key so that the invariant check's count stays exact, and
// queues most of them for the payer: exactly, partly or twice over; the
// rest are left unpaid, some to expire.
func (s *soak) create(ctx context.Context, rng *rand.Rand) {
	kind := []string{"exact", "exact", "exact", "partial", "over", "expire", "unpaid"}[rng.IntN(7)]
	body := `{"currency":"LTC","amount":"0.01"}`
	if kind == "expire" {
		body = `{"currency":"LTC","amount":"0.01","expires_in":5}`
	}
	key := uuid.NewString()
	for attempt := 0; ; attempt++ {
		req := s.request("POST", "/payments", body, apiKey)
		req.Header.Set("Idempotency-Key", key)
		code, raw, ok := s.do(rng, "create", req)
		if ok && (code == http.StatusCreated || code == http.StatusOK) {
			var r struct {
				Payment payment `json:"payment"`
			}
			if err := jsonUnmarshal(raw, &r); err != nil || r.Payment.ID == "" {
				s.fail("create: %d %s: %v", code, raw, err)
				return
			}
			s.c.mu.Lock()
			s.c.created = append(s.c.created, r.Payment)
			s.c.plan[r.Payment.ID] = kind
			s.c.mu.Unlock()
			s.mu.Lock()
			s.ids = append(s.ids, r.Payment.ID)
			s.mu.Unlock()
			amount := map[string]int64{"exact": chaosPaymentAmount, "partial": chaosPaymentAmount / 2, "over": 2 * chaosPaymentAmount}[kind]
			if amount > 0 {
				select {
				case s.toPay <- soakPay{r.Payment.Address, amount}:
				default: // the payer is behind: left unpaid
				}
			}
			return
		}
		if ok {
			s.fail("create: %d %s, want 201", code, raw)
		}
		// Only a request that got no answer may have stored the payment.
		if ok || attempt >= 5 {
			if !ok {
				s.fail("create: no answer after %d attempts with idempotency key %s", attempt+1, key)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pick returns a payment id: among the newest n when n > 0, else any.
func (s *soak) pick(rng *rand.Rand, n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 {
		return ""
	}
	from := 0
	if n > 0 {
		from = max(0, len(s.ids)-n)
	}
	return s.ids[from+rng.IntN(len(s.ids)-from)]
}

// readOne reads a payment (public), its events or a page of the list
// (with the key), or an unknown payment, which must be a 404.
func (s *soak) readOne(rng *rand.Rand) {
	id := s.pick(rng, 0)
	n := rng.IntN(100)
	switch {
	case id == "" || n < 5:
		if code, raw, ok := s.do(rng, "read unknown", s.request("GET", "/payments/"+uuid.NewString(), "", "")); ok && code != http.StatusNotFound {
			s.fail("GET an unknown payment: %d %s, want 404", code, raw)
		}
	case n < 75:
		if code, raw, ok := s.do(rng, "read", s.request("GET", "/payments/"+id, "", "")); ok && code != http.StatusOK {
			s.fail("GET /payments/%s: %d %s, want 200", id, code, raw)
		}
	case n < 88:
		if code, raw, ok := s.do(rng, "events", s.request("GET", "/payments/"+id+"/events", "", apiKey)); ok && code != http.StatusOK {
			s.fail("GET /payments/%s/events: %d %s, want 200", id, code, raw)
		}
	default:
		if code, raw, ok := s.do(rng, "list", s.request("GET", "/payments?currency=LTC&limit=20", "", apiKey)); ok && code != http.StatusOK {
			s.fail("GET /payments: %d %s, want 200", code, raw)
		}
	}
}

// stream opens the event stream of one of the 20 newest payments (the
// ones being paid), reads it for a while and must have had a message by
// then. A 503 too_many_streams with Retry-After is the per-payment cap
// (STREAM_MAX_PER_PAYMENT=4) and is counted apart; any other 5xx fails.
func (s *soak) stream(ctx context.Context, rng *rand.Rand) {
	id := s.pick(rng, 20)
	if id == "" {
		return
	}
	hold := s.cfg.hold[0] + time.Duration(rng.Int64N(int64(s.cfg.hold[1]-s.cfg.hold[0])))
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, "GET", s.d.url+"/payments/"+id+"/stream", nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := s.streams.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.fail("stream %s: %v", id, err)
		}
		return
	}
	defer resp.Body.Close()
	s.count("stream", resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" &&
			bytes.Contains(raw, []byte(`"too_many_streams"`)) {
			s.mu.Lock()
			s.capped++
			s.mu.Unlock()
			return
		}
		s.fail("stream %s: %d %s, want 200 (or the caps' 503 with Retry-After)", id, resp.StatusCode, raw)
		return
	}
	var got atomic.Int64
	ended := make(chan error, 1)
	check := rng.IntN(20) == 0
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				if got.Add(1) == 1 && check {
					s.checked.Add(1)
					if err := openapitest.ValidateSchema("PublicPayment", []byte(data)); err != nil {
						s.fail("stream %s: first message: %v", id, err)
					}
				}
				s.messages.Add(1)
			}
		}
		ended <- sc.Err()
	}()
	// Read for hold, and until the first message, for at most 30 s.
	deadline := time.Now().Add(30 * time.Second)
	timer := time.NewTimer(hold)
	defer timer.Stop()
	for {
		select {
		case err := <-ended:
			if ctx.Err() == nil {
				s.fail("stream %s ended by the server after %d messages: %v", id, got.Load(), err)
			}
			return
		case <-ctx.Done():
			cancel()
			<-ended
			return
		case <-timer.C:
		}
		if got.Load() > 0 {
			cancel()
			<-ended
			return
		}
		if time.Now().After(deadline) {
			s.fail("stream %s: no message within 30s", id)
			cancel()
			<-ended
			return
		}
		timer.Reset(50 * time.Millisecond)
	}
}

// hint posts POST /notify/tx as walletnotify would: mostly a transaction
// the payer sent, sometimes one no wallet knows.
func (s *soak) hint(rng *rand.Rand) {
	txid := randomHex(32)
	s.mu.Lock()
	if n := len(s.txids); n > 0 && rng.IntN(5) > 0 {
		txid = s.txids[max(0, n-50)+rng.IntN(min(n, 50))]
	}
	s.mu.Unlock()
	s.postHint(rng, txid)
}

func (s *soak) postHint(rng *rand.Rand, txid string) {
	req := s.request("POST", "/notify/tx", `{"coin":"LTC","hash":"`+txid+`"}`, notifyToken)
	if code, raw, ok := s.do(rng, "hint", req); ok && code != http.StatusAccepted {
		s.fail("POST /notify/tx: %d %s, want 202", code, raw)
	}
}

// payer pays the queued payments in sendmany batches of up to 8 outputs,
// several times a second, and hints each transaction.
func (s *soak) payer(ctx context.Context) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 99))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
		outs := map[string]int64{}
	batch:
		for len(outs) < 8 {
			select {
			case p := <-s.toPay:
				outs[p.address] = p.amount
			default:
				break batch
			}
		}
		if len(outs) == 0 {
			continue
		}
		txid, err := s.c.node.SendMany(context.Background(), regtest.MinerWallet, outs)
		if err != nil {
			s.fail("sendmany of %d outputs: %v", len(outs), err)
			continue
		}
		s.mu.Lock()
		s.txids = append(s.txids, txid)
		s.paid += len(outs)
		s.batches++
		s.mu.Unlock()
		s.postHint(rng, txid)
	}
}

// miner mines a block every mineIn.
func (s *soak) miner(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.mineIn):
		}
		if _, err := s.c.node.Mine(context.Background(), 1); err != nil {
			s.fail("mine: %v", err)
			continue
		}
		s.mu.Lock()
		s.blocks++
		s.mu.Unlock()
	}
}

// levels picks the report's RSS figures out of the samples: the first,
// the one at warm-up, the peak and the last.
func (s *soak) levels(samples []soakSample) (first, warm, peak, last soakSample) {
	first, last = samples[0], samples[len(samples)-1]
	warm, peak = first, first
	for _, x := range samples {
		if x.at <= s.cfg.warmup {
			warm = x
		}
		if x.rss > peak.rss {
			peak = x
		}
	}
	return first, warm, peak, last
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// report is the soak's summary, one line per subject.
func (s *soak) report(samples []soakSample, before, after soakSample, ran time.Duration, load0, load1 string, inv invariantReport) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var counts []string
	total := 0
	for k, n := range s.counts {
		counts = append(counts, fmt.Sprintf("%s=%d", k, n))
		total += n
	}
	sort.Strings(counts)
	first, warm, peak, last := s.levels(samples)
	var peakG, peakF float64
	var series []string
	step := max(time.Minute, s.cfg.duration/10)
	next := time.Duration(0)
	for _, x := range samples {
		peakG, peakF = max(peakG, x.goroutines), max(peakF, x.fds)
		if x.at >= next {
			series = append(series, fmt.Sprintf("%s:%.1f", x.at.Round(time.Second), float64(x.rss)/(1<<20)))
			next += step
		}
	}
	return []string{
		fmt.Sprintf("soak: %d clients for %s against one transientd (race detector %v); load average %s at the start, %s at the end",
			s.cfg.clients, ran.Round(time.Second), raceEnabled, load0, load1),
		fmt.Sprintf("soak: %d answers (%.0f/s): %s; %d stream messages; %d answers checked against openapi.yaml",
			total, float64(total)/ran.Seconds(), strings.Join(counts, " "), s.messages.Load(), s.checked.Load()),
		fmt.Sprintf("soak: %d streams refused 503 too_many_streams with Retry-After (the per-payment cap of 4, a designed answer); %d failures (any other 5xx, transport error or unexpected status)",
			s.capped, s.fails),
		fmt.Sprintf("soak: %d payments created, %d paid in %d sendmany batches, %d blocks mined", len(s.ids), s.paid, s.batches, s.blocks),
		fmt.Sprintf("soak: RSS start %s, after warm-up (%s) %s, peak %s at %s, end %s; bound: end <= %.1fx warm-up%s%s",
			mib(first.rss), warm.at.Round(time.Second), mib(warm.rss), mib(peak.rss), peak.at.Round(time.Second), mib(last.rss),
			soakRSSGrowth, map[bool]string{false: " and < " + mib(soakRSSCap), true: " (no absolute cap under -race)"}[raceEnabled],
			map[bool]string{true: "", false: ", not held in a run under a minute (all warm-up)"}[s.cfg.duration >= time.Minute]),
		fmt.Sprintf("soak: RSS MiB over time: %s", strings.Join(series, " ")),
		fmt.Sprintf("soak: queued jobs (mostly hints) ran out %s after the load stopped; goroutines idle before %.0f, peak %.0f, idle after %.0f; open fds idle before %.0f, peak %.0f, idle after %.0f",
			s.drained.Round(time.Second), before.goroutines, peakG, after.goroutines, before.fds, peakF, after.fds),
		fmt.Sprintf("soak: invariants: %s", inv),
	}
}

// assert fails the test unless RSS stayed flat and the goroutines and
// descriptors went back to idle. RSS is held to its bound only when the
// run is long enough for a warm-up (a minute, or a fifth of the run) to
// mean anything: a few seconds are all warm-up.
func (s *soak) assert(samples []soakSample, before, after soakSample) {
	t := s.t
	_, warm, _, last := s.levels(samples)
	if warm.rss <= 0 || last.rss <= 0 || before.goroutines < 0 || after.goroutines < 0 || before.fds < 0 || after.fds < 0 {
		t.Errorf("could not read the process: RSS at warm-up %d, at the end %d; goroutines %v/%v, fds %v/%v",
			warm.rss, last.rss, before.goroutines, after.goroutines, before.fds, after.fds)
		return
	}
	if s.cfg.duration >= time.Minute {
		if float64(last.rss) > soakRSSGrowth*float64(warm.rss) {
			t.Errorf("RSS grew from %s after warm-up to %s at the end, more than %.1fx", mib(warm.rss), mib(last.rss), soakRSSGrowth)
		}
		if !raceEnabled && last.rss >= soakRSSCap {
			t.Errorf("RSS at the end is %s, want under %s", mib(last.rss), mib(soakRSSCap))
		}
	}
	leak := false
	if after.goroutines > before.goroutines+soakGoroutineSlack {
		leak = true
		t.Errorf("goroutines idle after the load: %.0f, before it %.0f; want at most %d more", after.goroutines, before.goroutines, soakGoroutineSlack)
	}
	if after.fds > before.fds+soakFDSlack {
		leak = true
		t.Errorf("open descriptors idle after the load: %.0f, before it %.0f; want at most %d more", after.fds, before.fds, soakFDSlack)
	}
	if leak {
		cmd, _ := s.d.proc()
		out, err := exec.Command("ss", "-tnpH").Output()
		var conns []string
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, fmt.Sprintf("pid=%d,", cmd.Process.Pid)) {
				conns = append(conns, strings.Join(strings.Fields(line)[2:5], " "))
			}
		}
		t.Logf("transientd's TCP connections (ss: %v; node RPC %s, webhook receiver %s, API %s):\n%s",
			err, strconv.Itoa(s.c.node.RPCPort), s.c.hooks.url, s.d.url, strings.Join(conns, "\n"))
		t.Logf("goroutines of transientd before the load:\n%s", s.idleDump)
		t.Logf("goroutines of transientd after the load:\n%s", s.goroutineDump())
	}
}

// goroutineDump returns the daemon's goroutines grouped by stack.
func (s *soak) goroutineDump() string {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(s.ops + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// loadAverage returns the machine's 1, 5 and 15 minute load averages.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// jsonUnmarshal decodes raw, saying what it was on failure.
func jsonUnmarshal(raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return errors.New("decoding " + string(raw) + ": " + err.Error())
	}
	return nil
}

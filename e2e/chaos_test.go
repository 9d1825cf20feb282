package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// The chaos suite runs real transientd processes against a real node and
// database, injects a fault (SIGKILL storms, a receiver that stays down,
// a PostgreSQL or node restart), and ends every scenario with the same
// invariant check (chaos.check). The short versions run with the rest of
// the package; CHAOS_LONG=1 (make chaos) runs the long ones and prints the
// invariant report. The scenarios run in parallel with each other (each has
// its own node, database and processes), after the package's other tests.

// chaosLong tells whether the long versions run.
var chaosLong = os.Getenv("CHAOS_LONG") != ""

// chaosPaymentAmount is what every chaos payment asks for: 0.01 LTC.
const chaosPaymentAmount = 1_000_000

// chaos is one scenario's world: a node, a database, a webhook receiver and
// several transientd processes on them.
type chaos struct {
	t       *testing.T
	node    *regtest.Node
	db      string
	pool    *pgxpool.Pool
	hooks   *hookLog
	daemons []*daemon
	rng     *rand.Rand

	mu      sync.Mutex
	created []payment
	plan    map[string]string // payment id → how it was paid
}

// newChaos starts n processes on one fresh database (db, when given, else a
// new one on the shared server) and a node. The node runs no hooks: its
// setup would fire some 200 of them at processes not started yet, which on
// a loaded machine outlasts the node's RPC timeout. The processes find
// payments by their catch-up scans (every second) and by the hints the
// scenarios post. env is added to every process's settings.
func newChaos(t *testing.T, n int, db string, env ...string) *chaos {
	t.Helper()
	c := &chaos{t: t, node: startNode(t, ""), hooks: startHookLog(t, 0),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)), plan: map[string]string{}}
	if db == "" {
		db = pgtest.NewDatabase(t)
	}
	c.db = db
	common := append(coinEnv(c.node), "DATABASE_URL="+db, "CATCHUP_INTERVAL=1s", "DEADLINE_INTERVAL=500ms",
		"JOB_RESCUE_AFTER=5s", "PAYMENT_WEBHOOK_URL="+c.hooks.url, "PAYMENT_WEBHOOK_SECRET="+webhookSecret,
		"LOG_LEVEL=info", "DATABASE_MAX_CONNS=8")
	common = append(common, env...)
	for range n {
		c.daemons = append(c.daemons, startDaemon(t, common...))
	}
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c.pool = pool
	return c
}

// apiCall makes one API request to d without failing the test, for the
// moments a process may be down, and decodes a 2xx answer into out. A
// non-empty idempotencyKey is sent as the Idempotency-Key header.
func apiCall(d *daemon, method, path, body, idempotencyKey string, out any) (int, error) {
	return apiRequest(d, method, path, body, idempotencyKey, out, false)
}

// apiRequest is apiCall that decodes every answer when always is set.
func apiRequest(d *daemon, method, path, body, idempotencyKey string, out any, always bool) (int, error) {
	req, err := http.NewRequest(method, d.url+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, err
	}
	if out != nil && (always || resp.StatusCode < 300) {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// create makes a payment on whichever process answers, trying them in
// turn for up to a minute with one idempotency key, as a careful shop
// would: a process killed after it stored the payment but before it
// answered must not make the retry a second payment.
func (c *chaos) create(expiresIn int) payment {
	c.t.Helper()
	body := `{"currency":"LTC","amount":"0.01"}`
	if expiresIn > 0 {
		body = fmt.Sprintf(`{"currency":"LTC","amount":"0.01","expires_in":%d}`, expiresIn)
	}
	key := uuid.NewString()
	deadline := time.Now().Add(time.Minute)
	for i := c.rng.IntN(len(c.daemons)); ; i++ {
		var r struct {
			Payment payment `json:"payment"`
		}
		code, err := apiCall(c.daemons[i%len(c.daemons)], "POST", "/payments", body, key, &r)
		if err == nil && (code == http.StatusCreated || code == http.StatusOK) {
			c.mu.Lock()
			c.created = append(c.created, r.Payment)
			c.mu.Unlock()
			return r.Payment
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no process created a payment for a minute: %d %v", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// payRound creates n payments and pays them with sendmany batches of up
// to 8 outputs: most exactly, some partly, some twice over, and some are
// left unpaid to expire.
func (c *chaos) payRound(n int) {
	c.t.Helper()
	outs := map[string]int64{}
	flush := func() {
		if len(outs) == 0 {
			return
		}
		txid, err := c.node.SendMany(context.Background(), regtest.MinerWallet, outs)
		if err != nil {
			c.t.Fatal(err)
		}
		c.hint(txid)
		outs = map[string]int64{}
	}
	for range n {
		kind := []string{"exact", "exact", "exact", "partial", "over", "expire"}[c.rng.IntN(6)]
		expiresIn := 0
		if kind == "expire" {
			expiresIn = 2
		}
		p := c.create(expiresIn)
		c.mu.Lock()
		c.plan[p.ID] = kind
		c.mu.Unlock()
		switch kind {
		case "exact":
			outs[p.Address] = chaosPaymentAmount
		case "partial":
			outs[p.Address] = chaosPaymentAmount / 2
		case "over":
			outs[p.Address] = chaosPaymentAmount * 2
		}
		if len(outs) == 8 {
			flush()
		}
	}
	flush()
}

// mine mines blocks on the node.
func (c *chaos) mine(n int) {
	c.t.Helper()
	if _, err := c.node.Mine(context.Background(), n); err != nil {
		c.t.Fatal(err)
	}
}

// storm kills a random running process with SIGKILL every 1–3 s and
// starts it again at once (in the background, so the next kill need not
// wait for the restart), until the function it returns is called; that
// waits for the restarts and returns how many kills were made. The test's
// cleanup calls it too, before the processes are torn down, so a test
// that fails midway leaves no restart behind to report after it ended.
func (c *chaos) storm() (halt func() int) {
	stop := make(chan struct{})
	out := make(chan int, 1)
	rng := rand.New(rand.NewPCG(c.rng.Uint64(), 2))
	go func() {
		var (
			restarts sync.WaitGroup
			mu       sync.Mutex
			down     = map[*daemon]bool{}
			kills    int
		)
		defer func() { restarts.Wait(); out <- kills }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))):
			}
			d := c.daemons[rng.IntN(len(c.daemons))]
			mu.Lock()
			busy := down[d]
			down[d] = true
			mu.Unlock()
			if busy {
				continue // still restarting from the last kill
			}
			d.kill()
			kills++
			restarts.Go(func() {
				if err := d.tryStart(); err != nil {
					c.t.Errorf("restart after SIGKILL: %v", err)
				}
				mu.Lock()
				delete(down, d)
				mu.Unlock()
			})
		}
	}()
	var (
		once  sync.Once
		kills int
	)
	halt = func() int {
		once.Do(func() { close(stop); kills = <-out })
		return kills
	}
	c.t.Cleanup(func() { halt() })
	return halt
}

// hint tells a random process about a transaction, as walletnotify would;
// a process that is down misses it, as it would.
func (c *chaos) hint(txid string) {
	d := c.daemons[c.rng.IntN(len(c.daemons))]
	req, err := http.NewRequest("POST", d.url+"/notify/tx", strings.NewReader(`{"coin":"LTC","hash":"`+txid+`"}`))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+notifyToken)
	client := http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// invariantReport is what chaos.check found.
type invariantReport struct {
	Payments, Outputs, Events, Deliveries int
	ByStatus                              map[string]int
	Violations                            []string
	SettledIn                             time.Duration
}

func (r invariantReport) String() string {
	var statuses []string
	for s, n := range r.ByStatus {
		statuses = append(statuses, fmt.Sprintf("%s=%d", s, n))
	}
	sort.Strings(statuses)
	return fmt.Sprintf("%d payments (%s), %d outputs, %d events, %d webhook deliveries; settled in %s; %d violations",
		r.Payments, strings.Join(statuses, " "), r.Outputs, r.Events, r.Deliveries,
		r.SettledIn.Round(time.Millisecond), len(r.Violations))
}

// check waits up to timeout for the system to agree with the node and then
// checks every invariant, failing the test on each violation:
//   - every payment's status is what payments.Decide gives for the outputs
//     the node reports now;
//   - each (coin, txid, vout) the node reports for a payment is recorded
//     once, for that payment, and nothing else is recorded;
//   - each payment's events have gap-free sequence numbers from 1, the
//     first its one payment.created event (UNPAID, from ""), each next
//     starting where the one before ended, and the last ends at the
//     payment's status: one event per status change;
//   - every event reached the receiver at least once (it dedupes on the
//     event id), with its sequence number;
//   - no delivery attempt number reached the receiver twice.
func (c *chaos) check(timeout time.Duration) invariantReport {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var r invariantReport
	for {
		r = c.inspect()
		if len(r.Violations) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.SettledIn = time.Since(start)
	for _, v := range r.Violations {
		c.t.Error(v)
	}
	if len(c.created) != r.Payments {
		c.t.Errorf("%d payments created, %d in the database", len(c.created), r.Payments)
	}
	return r
}

// dbPayment is what the checker reads of a payment.
type dbPayment struct {
	id           uuid.UUID
	address      string
	status       string
	amount       int64
	toleranceBP  int64
	confs        int64
	settleConfs  int64
	expiresAt    *time.Time
	pendingSince *time.Time
	sequence     int
}

// inspect runs every invariant once and returns what it found.
func (c *chaos) inspect() invariantReport {
	c.t.Helper()
	ctx := context.Background()
	r := invariantReport{ByStatus: map[string]int{}}
	bad := func(format string, args ...any) {
		if len(r.Violations) < 50 {
			r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
		}
	}
	rows, err := c.pool.Query(ctx, `
		SELECT id, address, status, amount, tolerance_bp, confirmations_required, settle_confirmations,
			expires_at, pending_since, event_sequence
		FROM payments`)
	if err != nil {
		c.t.Fatal(err)
	}
	byAddr := map[string]*dbPayment{}
	byID := map[uuid.UUID]*dbPayment{}
	var p dbPayment
	_, err = pgx.ForEachRow(rows, []any{&p.id, &p.address, &p.status, &p.amount, &p.toleranceBP, &p.confs,
		&p.settleConfs, &p.expiresAt, &p.pendingSince, &p.sequence}, func() error {
		q := p
		byAddr[q.address], byID[q.id] = &q, &q
		r.ByStatus[q.status]++
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	r.Payments = len(byID)

	// What the node reports now, per payment.
	list, err := c.node.Client(regtest.MerchantWallet).ListSinceBlock(ctx, "", 1)
	if err != nil {
		c.t.Fatalf("listsinceblock: %v", err)
	}
	nodeOutputs := map[uuid.UUID][]coind.ListEntry{}
	nodeKeys := map[string]uuid.UUID{}
	for _, e := range list.Transactions {
		q, ok := byAddr[e.Address]
		if !ok || e.Category != "receive" {
			continue
		}
		nodeOutputs[q.id] = append(nodeOutputs[q.id], e)
		nodeKeys[fmt.Sprintf("%s:%d", e.TxID, e.Vout)] = q.id
	}

	// Each output recorded once, for its payment.
	rows, err = c.pool.Query(ctx, `SELECT txid, vout, payment_id, count(*) OVER (PARTITION BY coin, txid, vout) FROM payment_outputs`)
	if err != nil {
		c.t.Fatal(err)
	}
	recorded := map[string]bool{}
	var (
		txid   string
		vout   int
		pid    uuid.UUID
		copies int
	)
	_, err = pgx.ForEachRow(rows, []any{&txid, &vout, &pid, &copies}, func() error {
		key := fmt.Sprintf("%s:%d", txid, vout)
		r.Outputs++
		if copies != 1 {
			bad("output %s recorded %d times", key, copies)
		}
		if want, ok := nodeKeys[key]; !ok {
			bad("output %s recorded for payment %s, but the node reports no such output", key, pid)
		} else if want != pid {
			bad("output %s recorded for payment %s, the node says it pays %s", key, pid, want)
		}
		recorded[key] = true
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	for key, id := range nodeKeys {
		if !recorded[key] {
			bad("output %s paying payment %s is not recorded", key, id)
		}
	}

	// Every status is Decide's for the node's outputs now.
	now := time.Now()
	for _, q := range byID {
		var facts []payments.OutputFact
		for _, e := range nodeOutputs[q.id] {
			facts = append(facts, payments.OutputFact{Amount: payments.Amount(e.Amount), Confirmations: e.Confirmations})
		}
		terms := payments.Terms{Amount: payments.Amount(q.amount), ToleranceBP: q.toleranceBP,
			Confirmations: q.confs, SettleConfirmations: q.settleConfs, MonitoringWindow: 24 * time.Hour}
		if q.expiresAt != nil {
			terms.ExpiresAt = *q.expiresAt
		}
		prev := payments.State{Status: payments.Status(q.status)}
		if q.pendingSince != nil {
			prev.PendingSince = *q.pendingSince
		}
		if want := payments.Decide(prev, terms, facts, now).Status; string(want) != q.status {
			bad("payment %s (%s) is %s, Decide gives %s for the node's %d outputs", q.id, c.planOf(q.id), q.status, want, len(facts))
		}
	}

	// The created event, then one event per status change, gap-free.
	rows, err = c.pool.Query(ctx, `
		SELECT id::text, payment_id, sequence, type, previous_status, status FROM payment_events ORDER BY payment_id, sequence`)
	if err != nil {
		c.t.Fatal(err)
	}
	var (
		evID, typ, prevStatus, status string
		seq                           int
		withEvents                    = map[uuid.UUID]bool{}
		lastPayment                   uuid.UUID
		lastSeq                       int
		lastStatus                    string
		eventIDs                      []string
	)
	c.hooks.mu.Lock()
	received := maps.Clone(c.hooks.sequences)
	c.hooks.mu.Unlock()
	_, err = pgx.ForEachRow(rows, []any{&evID, &pid, &seq, &typ, &prevStatus, &status}, func() error {
		r.Events++
		eventIDs = append(eventIDs, evID)
		if got, ok := received[evID]; ok && got != int64(seq) {
			bad("event %s reached the receiver with sequence %d, want %d", evID, got, seq)
		}
		if pid != lastPayment {
			lastPayment, lastSeq, lastStatus = pid, 0, ""
			withEvents[pid] = true
		}
		if (seq == 1) != (typ == "payment.created") || (seq == 1 && status != "UNPAID") {
			bad("payment %s: event %d is %s to %s; the first, and only the first, must be payment.created to UNPAID", pid, seq, typ, status)
		}
		if seq != lastSeq+1 {
			bad("payment %s: event sequence %d after %d", pid, seq, lastSeq)
		}
		if prevStatus != lastStatus {
			bad("payment %s: event %d starts at %s, the one before ended at %s", pid, seq, prevStatus, lastStatus)
		}
		lastSeq, lastStatus = seq, status
		if q := byID[pid]; q != nil && seq == q.sequence && status != q.status {
			bad("payment %s: last event ends at %s, the payment is %s", pid, status, q.status)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}

	for id := range byID {
		if !withEvents[id] {
			bad("payment %s has no event, not even payment.created", id)
		}
	}

	// Every event delivered; no attempt twice.
	if missing := c.hooks.missing(eventIDs); len(missing) > 0 {
		bad("%d of %d events never reached the receiver (first %s)", len(missing), len(eventIDs), missing[0])
	}
	c.hooks.mu.Lock()
	r.Deliveries = len(c.hooks.attempts)
	for k, n := range c.hooks.attempts {
		if n != 1 {
			bad("delivery/attempt %s reached the receiver %d times", k, n)
		}
	}
	if c.hooks.badSig != 0 {
		bad("%d webhooks with a bad signature", c.hooks.badSig)
	}
	c.hooks.mu.Unlock()
	return r
}

func (c *chaos) planOf(id uuid.UUID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plan[id.String()]
}

// TestChaosCrashStorm runs three processes on one database while payments
// are created and paid in sendmany batches (exact, partial, over, left to
// expire) and blocks are mined, killing a random process with SIGKILL every
// 1–3 s and starting it again; then the invariants.
func TestChaosCrashStorm(t *testing.T) {
	t.Parallel()
	// Short: rounds of 8 payments for at least 10 s; long: 1,000 payments.
	perRound, minRounds, minStorm := 8, 3, 10*time.Second
	if chaosLong {
		perRound, minRounds, minStorm = 40, 25, time.Minute
	}
	// The long storm runs on a cluster of its own: its three processes and
	// their restarts would otherwise take a large share of the shared
	// server's connections while other tests run.
	db := ""
	if chaosLong {
		db = startCluster(t).url()
	}
	c := newChaos(t, 3, db)
	halt := c.storm()
	start := time.Now()
	for i := 0; i < minRounds || time.Since(start) < minStorm; i++ {
		c.payRound(perRound)
		if i%2 == 1 {
			c.mine(1)
		}
	}
	c.mine(2)
	n := halt()
	r := c.check(time.Minute)
	t.Logf("crash storm: %d SIGKILLs over %s; %s", n, time.Since(start).Round(time.Second), r)
	if n == 0 {
		t.Error("the storm killed no process")
	}
	if chaosLong {
		fmt.Printf("chaos crash storm: %d SIGKILLs; %s\n", n, r)
	}
}

// TestChaosReceiverDown keeps the webhook receiver down (503) for what the
// retry schedule calls an hour, scaled down through WEBHOOK_RETRY_SCHEDULE
// (1/400: 25ms,150ms,750ms,4.5s,9s; 1/100 in the long run), while payments
// are paid and confirmed; after it comes back every event arrives, each
// with its sequence number, and the invariants hold.
func TestChaosReceiverDown(t *testing.T) {
	t.Parallel()
	schedule, hour, perRound := "25ms,150ms,750ms,4.5s,9s", 9*time.Second, 8
	if chaosLong {
		schedule, hour, perRound = "100ms,600ms,3s,18s,36s", 36*time.Second, 100
	}
	c := newChaos(t, 2, "", "WEBHOOK_RETRY_SCHEDULE="+schedule)
	c.hooks.down.Store(true)
	start := time.Now()
	c.payRound(perRound)
	c.mine(1)
	c.payRound(perRound)
	c.mine(2)
	waitFor(t, 2*hour, func() bool { return time.Since(start) >= hour }, func() string { return "" })
	c.hooks.mu.Lock()
	refused := c.hooks.refused
	c.hooks.mu.Unlock()
	var retried int
	if err := c.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM webhook_deliveries WHERE state = 'pending' AND attempts >= 3`).Scan(&retried); err != nil {
		t.Fatal(err)
	}
	if refused == 0 || retried == 0 {
		t.Fatalf("while the receiver was down: %d requests refused, %d deliveries tried 3 times or more; want both", refused, retried)
	}
	c.hooks.down.Store(false)
	back := time.Now()
	r := c.check(2 * hour)
	t.Logf("receiver down for %s (the schedule's hour): %d requests refused, %d deliveries tried 3+ times; all in %s after it came back; %s",
		hour, refused, retried, time.Since(back).Round(time.Millisecond), r)
	if chaosLong {
		fmt.Printf("chaos receiver down: %d refused; %s\n", refused, r)
	}
}

// TestChaosPostgresRestart crashes PostgreSQL (a throwaway cluster the test
// runs itself) in the middle of a stream of payments: while it is down
// the API answers a fast 503 JSON error and the notify hook exits
// non-zero; a payment made meanwhile is found once it is back, with no
// operator, and the invariants hold.
func TestChaosPostgresRestart(t *testing.T) {
	t.Parallel()
	downFor, perRound := 5*time.Second, 8
	if chaosLong {
		downFor, perRound = 30*time.Second, 100
	}
	pg := startCluster(t)
	c := newChaos(t, 2, pg.url())
	c.payRound(perRound)
	c.mine(1)
	first := c.created[0]

	took := pg.crash()
	crashed := time.Now()
	// Paid while the database is away; only the catch-up can find it.
	during := payment{}
	for _, p := range c.created {
		if c.planOf(uuid.MustParse(p.ID)) == "expire" {
			continue
		}
		during = p
	}
	for _, d := range c.daemons {
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/payments/" + first.ID, ""},
			{"POST", "/payments", `{"currency":"LTC","amount":"0.01"}`},
		} {
			start := time.Now()
			var e struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			code, err := apiCallRaw(d, req.method, req.path, req.body, &e)
			if elapsed := time.Since(start); err != nil || code != http.StatusServiceUnavailable || e.Error.Code == "" || elapsed > 3*time.Second {
				t.Errorf("%s %s with the database down: %d %+v %v in %s; want a fast 503 JSON error with a code",
					req.method, req.path, code, e, err, elapsed.Round(time.Millisecond))
			}
		}
	}
	txid, err := c.node.Send(context.Background(), regtest.MinerWallet, during.Address, chaosPaymentAmount, false)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runHook(t, c.daemons[0], "notify-tx", txid); code == 0 {
		t.Errorf("notify-tx with the database down exited 0: %s", out)
	}
	waitFor(t, time.Minute, func() bool { return time.Since(crashed) >= downFor }, func() string { return "" })
	pg.start()
	back := time.Now()

	c.payRound(perRound)
	c.mine(2)
	r := c.check(time.Minute)
	t.Logf("PostgreSQL crashed (immediate stop in %s) and down for %s; back to all invariants %s after it restarted; %s",
		took.Round(time.Millisecond), downFor, time.Since(back).Round(time.Millisecond), r)
	if chaosLong {
		fmt.Printf("chaos PostgreSQL restart: down %s; %s\n", downFor, r)
	}
}

// apiCallRaw is apiCall that decodes the body whatever the status.
func apiCallRaw(d *daemon, method, path, body string, out any) (int, error) {
	return apiRequest(d, method, path, body, "", out, true)
}

// runHook runs a hook binary (notify-tx or notify-block) at d as the node
// would, and returns its exit code and output.
func runHook(t *testing.T, d *daemon, name, hash string) (int, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "notify.env")
	if err := os.WriteFile(cfg, []byte("TRANSIENT_URL="+d.url+"\nNOTIFY_TOKEN="+notifyToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin(name), "-config", cfg, "LTC", hash).CombinedOutput()
	if err == nil {
		return 0, string(out)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("%s: %v", name, err)
	return 0, ""
}

// TestChaosNodeRestart stops the node in the middle of a stream of
// payments, keeps it down for a while (5 s; a minute in the long run) and
// starts it again: meanwhile reads still answer and creating a payment,
// which needs the node, answers a fast 503 JSON error; afterwards the
// processes resume with no operator and the invariants hold.
func TestChaosNodeRestart(t *testing.T) {
	t.Parallel()
	downFor, perRound := 5*time.Second, 8
	if chaosLong {
		downFor, perRound = time.Minute, 100
	}
	c := newChaos(t, 2, "")
	c.payRound(perRound)
	c.mine(1)
	ctx := context.Background()
	if err := c.node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for _, d := range c.daemons {
		var got struct {
			Payment payment `json:"payment"`
		}
		if code, err := apiCallRaw(d, "GET", "/payments/"+c.created[0].ID, "", &got); err != nil || code != http.StatusOK {
			t.Errorf("GET a payment with the node down: %d %v, want 200 from the database", code, err)
		}
		start := time.Now()
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		code, err := apiCallRaw(d, "POST", "/payments", `{"currency":"LTC","amount":"0.01"}`, &e)
		if elapsed := time.Since(start); err != nil || code != http.StatusServiceUnavailable || e.Error.Code == "" || elapsed > 3*time.Second {
			t.Errorf("POST /payments with the node down: %d %+v %v in %s; want a fast 503 JSON error with a code",
				code, e, err, elapsed.Round(time.Millisecond))
		}
	}
	waitFor(t, 2*time.Minute, func() bool { return time.Since(stopped) >= downFor }, func() string { return "" })
	if err := c.node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{regtest.MinerWallet, regtest.MerchantWallet} {
		if err := c.node.LoadWallet(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	back := time.Now()
	c.payRound(perRound)
	c.mine(2)
	r := c.check(time.Minute)
	t.Logf("node stopped for %s; back to all invariants %s after it restarted; %s",
		downFor, time.Since(back).Round(time.Millisecond), r)
	if chaosLong {
		fmt.Printf("chaos node restart: down %s; %s\n", downFor, r)
	}
}

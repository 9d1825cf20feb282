package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/openapi/openapitest"
)

// This file tests transientd as an operator runs it: its command line, its
// logs, /readyz and /metrics, and its shutdown on SIGTERM.

// cliRun is one run of the transientd binary as a command line tool.
type cliRun struct {
	stdout, stderr string
	code           int
}

// runCLI runs `transientd args...` with env and waits for it.
func runCLI(t *testing.T, env []string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("transientd"), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("transientd %v: %v", args, err)
	}
	return r
}

// apiDo sends a request to d with the given bearer token and returns the
// status and body; the answer is checked against the OpenAPI document.
func apiDo(t *testing.T, d *daemon, method, path, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	openapitest.Check(t, req, resp.StatusCode, resp.Header, raw)
	return resp.StatusCode, raw
}

// TestNoSecretsInLogs runs a full flow with every secret configured, the
// real hook binaries wired into litecoind, a webhook receiver that fails
// once, the command line tools, a node outage and a SIGTERM, with debug
// logging in JSON, and then scans every line transientd and its tools
// wrote for each secret.
func TestNoSecretsInLogs(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) { secretScan(t, format) })
	}
}

func secretScan(t *testing.T, format string) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	hookUser, hookPass := "hookuser", "hookpass-"+randomHex(8)
	var hooksSeen atomic.Int64
	hookSrv := startReceiver(t)
	hookSrv.status = func(n int) int {
		hooksSeen.Add(1)
		if n == 1 {
			return 500 // one failed attempt, so the retry path logs too
		}
		return 200
	}
	hookURL, _ := url.Parse(hookSrv.url)
	hookURL.User = url.UserPassword(hookUser, hookPass)
	webhookKey := "whsec-" + randomHex(16)

	// A database password: the local server trusts local connections, so
	// one made up here is simply not checked; a server that checks it has
	// one in its URL already.
	dbURL, _ := url.Parse(pgtest.NewDatabase(t))
	dbPassword, hasPassword := dbURL.User.Password()
	if !hasPassword {
		dbPassword = "dbpass-" + randomHex(8)
		dbURL.User = url.UserPassword(dbURL.User.Username(), dbPassword)
	}

	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "LOG_FORMAT="+format, "LOG_LEVEL=debug",
		"DATABASE_URL="+dbURL.String(), "PAYMENT_WEBHOOK_URL="+hookURL.String(), "PAYMENT_WEBHOOK_SECRET="+webhookKey,
		"CATCHUP_INTERVAL=1s")...)
	ctx := context.Background()

	var cliLogs []string
	cli := func(args ...string) cliRun {
		t.Helper()
		r := runCLI(t, d.env, args...)
		cliLogs = append(cliLogs, r.stderr)
		return r
	}
	created := cli("apikeys", "create", "--label", "secret scan", "--json")
	var stored struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(created.stdout), &stored); err != nil || created.code != 0 || stored.Key == "" {
		t.Fatalf("apikeys create: %d %s %s", created.code, created.stdout, created.stderr)
	}
	if r := cli("apikeys", "list"); r.code != 0 || strings.Contains(r.stdout, stored.Key) {
		t.Fatalf("apikeys list: %d, shows the key: %t", r.code, strings.Contains(r.stdout, stored.Key))
	}

	// Requests with every kind of credential, right and wrong, and a key
	// in the query string where none belongs.
	p := d.create("LTC", "0.7")
	status, body := apiDo(t, d, "POST", "/payments", stored.Key, `{"currency":"LTC","amount":"0.2","order_id":"scan"}`)
	if status != 201 {
		t.Fatalf("create with the stored key: %d %s", status, body)
	}
	for _, tok := range []string{apiKey + "x", stored.Key[:len(stored.Key)-2] + "zz", notifyToken} {
		if status, _ := apiDo(t, d, "GET", "/payments", tok, ""); status != 401 {
			t.Errorf("list with a wrong key: %d", status)
		}
	}
	if status, _ := apiDo(t, d, "GET", "/payments?api_key="+apiKey, apiKey, ""); status != 400 {
		t.Errorf("list with a key in the query: %d", status)
	}
	if status, _ := apiDo(t, d, "POST", "/notify/tx", apiKey, `{"coin":"LTC","hash":"`+randomHex(32)+`"}`); status != 401 {
		t.Errorf("hint with the API key: %d", status)
	}

	// Follow the payment with the command line while the hooks bring it to
	// PAID.
	watch := exec.Command(bin("transientd"), "payments", "watch", p.ID, "--json", "--timeout", "90s")
	watch.Env = d.env
	var watchOut, watchErr bytes.Buffer
	watch.Stdout, watch.Stderr = &watchOut, &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	txid, err := node.Send(ctx, regtest.MinerWallet, p.Address, 70_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PENDING", 30*time.Second)
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := watch.Wait(); err != nil {
		t.Fatalf("payments watch: %v\n%s\n%s", err, watchOut.String(), watchErr.String())
	}
	cliLogs = append(cliLogs, watchErr.String())
	if !strings.Contains(watchOut.String(), `"status":"PAID"`) {
		t.Errorf("watch output lacks PAID:\n%s", watchOut.String())
	}
	waitFor(t, 60*time.Second, func() bool { return len(hookSrv.events()) >= 2 },
		func() string { return fmt.Sprintf("%d webhooks received", len(hookSrv.events())) })

	for _, args := range [][]string{
		{"events", "list", p.ID}, {"payments", "get", p.ID, "--json"}, {"payments", "list"},
		{"rescan", "--coin", "LTC", "--from-height", "100"}, {"migrate", "status"},
	} {
		if r := cli(args...); r.code != 0 {
			t.Errorf("transientd %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}

	// The node goes away: the failures are logged, with their errors.
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	if status, _ := apiDo(t, d, "POST", "/payments", apiKey, `{"currency":"LTC","amount":"1"}`); status != 503 {
		t.Errorf("create with the node down: %d", status)
	}
	if status, _ := apiDo(t, d, "GET", "/readyz", "", ""); status != 503 {
		t.Errorf("readyz with the node down: %d", status)
	}
	if r := cli("payments", "create", "--currency", "LTC", "--amount", "1"); r.code != 1 {
		t.Errorf("payments create with the node down: exit %d", r.code)
	}
	d.stop()

	logs := d.logs.String()
	all := logs + strings.Join(cliLogs, "\n")
	// The scan looks at real output: request lines and payment fields, in
	// the configured format.
	lines := strings.Count(logs, "\n")
	if format == "json" {
		sc := bufio.NewScanner(strings.NewReader(logs))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("log line is not JSON (LOG_FORMAT=json): %s", sc.Text())
			}
		}
	}
	field := func(k, v string) string {
		if format == "json" {
			return `"` + k + `":"` + v + `"`
		}
		if strings.ContainsAny(v, " ;") {
			v = strconv.Quote(v)
		}
		return k + "=" + v
	}
	for _, want := range []string{field("msg", "request"), field("route", "/payments/{id}"), field("payment_id", p.ID),
		field("txid", txid), "request_id", field("msg", "webhook attempt failed; will retry"),
		field("msg", "readiness check failed"), field("msg", "stopped")} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	secrets := map[string]string{
		"API key (API_KEYS)":     apiKey,
		"API key (stored)":       stored.Key,
		"NOTIFY_TOKEN":           notifyToken,
		"RPC password":           node.Password,
		"webhook secret":         webhookKey,
		"webhook URL password":   hookPass,
		"database password":      dbPassword,
		"stored key (its tail)":  stored.Key[12:],
		"NOTIFY_TOKEN (its end)": notifyToken[len(notifyToken)-12:],
	}
	for name, secret := range secrets {
		if i := strings.Index(all, secret); i >= 0 {
			start := max(0, strings.LastIndexByte(all[:i], '\n'))
			end := i + strings.IndexByte(all[i:]+"\n", '\n')
			t.Errorf("the %s appears in a log line: %s", name, all[start:end])
		}
	}
	t.Logf("scanned %d %s log lines of transientd and %d runs of its tools for %d secrets", lines, format, len(cliLogs), len(secrets))
}

// slowRPC is a reverse proxy in front of the node's RPC port that can hold
// calls for a while, per method, so requests and jobs are in flight at
// shutdown.
type slowRPC struct {
	url    string
	mu     sync.Mutex
	delays map[string]time.Duration // by JSON-RPC method
}

func startSlowRPC(t *testing.T, node *regtest.Node, wallet string) *slowRPC {
	t.Helper()
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", node.RPCPort))
	proxy := httputil.NewSingleHostReverseProxy(target)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	proxy.Transport = transport
	proxy.ErrorLog = log.New(io.Discard, "", 0) // calls cut off by the shutdown
	s := &slowRPC{delays: map[string]time.Duration{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var call struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &call)
		s.mu.Lock()
		d := s.delays[call.Method]
		s.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	// Before the node stops: litecoind waits for open keep-alive connections.
	t.Cleanup(func() { _ = srv.Close(); transport.CloseIdleConnections() })
	u, _ := url.Parse(node.URL(wallet))
	u.Host = l.Addr().String()
	s.url = u.String()
	return s
}

// slow holds every call of method for d (0: no more).
func (s *slowRPC) slow(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[method] = d
}

// outcome classifies what a client saw of one request.
type outcome int

const (
	answered outcome = iota // a response came
	refused                 // the connection was refused: transientd was not listening
	dropped                 // reset or closed before any response (accepted by the kernel, never read)
	failed                  // anything else: a timeout, a half response
)

func classify(err error) outcome {
	switch {
	case err == nil:
		return answered
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return dropped
	default:
		return failed
	}
}

// TestGracefulShutdown sends SIGTERM to transientd while a stream of API
// requests and notification hints runs against it, with every node call
// slowed down so requests and jobs are in flight, and a job drain shorter
// than the node's delay so running jobs must hand their work back. After a
// restart nothing is lost: every request either completed or never reached
// transientd (and left no trace), every accepted hint was processed, and
// every event was delivered.
func TestGracefulShutdown(t *testing.T) {
	node := startNode(t, "")
	rpc := startSlowRPC(t, node, regtest.MerchantWallet)
	recv := startReceiver(t)
	d := startDaemon(t, "COINS=LTC", "LTC_RPC_URL="+rpc.url, "LTC_CONFIRMATIONS=2", "CATCHUP_INTERVAL=1h",
		"PAYMENT_WEBHOOK_URL="+recv.url, "JOB_DRAIN_TIMEOUT=1s", "HTTP_DRAIN_TIMEOUT=20s", "RPC_TIMEOUT=20s")
	ctx := context.Background()

	// Payments paid while no hint has been sent: the hints in the stream
	// are what finds them.
	const paid = 16
	var ps []payment
	var txids []string
	for range paid {
		p := d.create("LTC", "0.01")
		txid, err := node.Send(ctx, regtest.MinerWallet, p.Address, 1_000_000, false)
		if err != nil {
			t.Fatal(err)
		}
		ps, txids = append(ps, p), append(txids, txid)
	}
	// Creating a payment now takes a second, so requests are in flight at
	// SIGTERM; reading a transaction takes longer than the HTTP drain and
	// JOB_DRAIN_TIMEOUT together, so hint jobs running at SIGTERM must be
	// cancelled and handed back.
	rpc.slow("getnewaddress", time.Second)
	rpc.slow("gettransaction", 8*time.Second)

	type request struct {
		kind     string // "create" or "hint"
		key      string // order id or txid
		out      outcome
		status   int
		id       string // the payment id of a created payment
		started  time.Time
		finished time.Time
		err      error
	}
	var (
		mu       sync.Mutex
		requests []request
		stop     atomic.Bool
		seq      atomic.Int64
	)
	record := func(r request) {
		mu.Lock()
		requests = append(requests, r)
		mu.Unlock()
	}
	count := func(kind string, out outcome, after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range requests {
			if r.kind == kind && r.out == out && r.started.After(after) {
				n++
			}
		}
		return n
	}
	client := &http.Client{
		Transport: &openapitest.Transport{TB: t, Base: &http.Transport{DisableKeepAlives: true}},
		Timeout:   60 * time.Second,
	}
	send := func(kind, key, path, token, body string) request {
		r := request{kind: kind, key: key, started: time.Now()}
		req, _ := http.NewRequest("POST", d.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		r.finished, r.out, r.err = time.Now(), classify(err), err
		if err == nil {
			r.status = resp.StatusCode
			var created struct {
				Payment payment `json:"payment"`
			}
			if json.NewDecoder(resp.Body).Decode(&created) == nil {
				r.id = created.Payment.ID
			}
			resp.Body.Close()
		}
		return r
	}
	// Each sender is paced (a request every 10 ms at most), so a refused
	// connection does not turn into a busy loop.
	pace := func() func() {
		tick := time.NewTicker(10 * time.Millisecond)
		return func() { <-tick.C }
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			wait := pace()
			for ; !stop.Load(); wait() {
				order := fmt.Sprintf("stream-%d", seq.Add(1))
				record(send("create", order, "/payments", apiKey, `{"currency":"LTC","amount":"0.5","order_id":"`+order+`"}`))
			}
		})
	}
	for i := range 3 {
		wg.Go(func() {
			wait := pace()
			for n := i; !stop.Load(); n++ {
				wait()
				txid := txids[n%len(txids)]
				record(send("hint", txid, "/notify/tx", notifyToken, `{"coin":"LTC","hash":"`+txid+`"}`))
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()

	began := time.Now()
	waitFor(t, 60*time.Second, func() bool { return count("create", answered, began) >= 12 && count("hint", answered, began) >= 30 },
		func() string { return "the stream did not get going" })
	term := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(45 * time.Second):
		t.Fatalf("transientd did not exit within 45s of SIGTERM")
	}
	exited := time.Now()
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("transientd exited with %d after SIGTERM, want 0", code)
	}
	logs := d.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "shutting down") || strings.Contains(line, "after the drain") ||
			strings.Contains(line, "did not stop") || strings.Contains(line, "msg=stopped") {
			t.Logf("transientd: %s", line)
		}
	}
	for _, want := range []string{"shutting down", "jobs still running after the drain", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	// While it was down, connections were refused.
	waitFor(t, 20*time.Second, func() bool { return count("create", refused, exited) >= 3 },
		func() string { return "no connection refused after the exit" })
	rpc.slow("getnewaddress", 0)
	rpc.slow("gettransaction", 0)
	d.restart()
	restarted := time.Now()
	waitFor(t, 60*time.Second, func() bool { return count("create", answered, restarted) >= 5 },
		func() string { return "no payment created after the restart" })
	stop.Store(true)
	wg.Wait()

	// Every request either completed or never got in.
	mu.Lock()
	all := append([]request(nil), requests...)
	mu.Unlock()
	tally := map[string]int{}
	inFlightAtTerm := 0
	var accepted []string
	var notCreated []string
	for _, r := range all {
		tally[fmt.Sprintf("%s %v", r.kind, []string{"answered", "refused", "dropped", "failed"}[r.out])]++
		switch {
		case r.out == failed:
			t.Errorf("%s %s: %v (neither an answer nor a refused connection)", r.kind, r.key, r.err)
		case r.out == answered && r.kind == "create" && r.status != 201:
			t.Errorf("create %s answered %d", r.key, r.status)
		case r.out == answered && r.kind == "hint" && r.status != 202:
			t.Errorf("hint %s answered %d", r.key, r.status)
		case r.out == answered && r.kind == "hint":
			accepted = append(accepted, r.key)
		case r.out != answered && r.kind == "create":
			notCreated = append(notCreated, r.key)
		}
		if r.out == answered && r.started.Before(term) && r.finished.After(term) {
			inFlightAtTerm++
		}
	}
	t.Logf("requests: %v; %d answered after being in flight at SIGTERM; exit %s after SIGTERM",
		tally, inFlightAtTerm, exited.Sub(term).Round(time.Millisecond))
	if inFlightAtTerm == 0 {
		t.Errorf("no request was in flight at SIGTERM and answered: the drain was not exercised")
	}

	pool, err := pgxpool.New(ctx, envValue(d.env, "DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Every created payment is stored; no refused one is.
	for _, r := range all {
		if r.kind == "create" && r.out == answered && r.status == 201 {
			var order string
			if err := pool.QueryRow(ctx, `SELECT order_id FROM payments WHERE id = $1`, r.id).Scan(&order); err != nil || order != r.key {
				t.Errorf("payment %s (%s) answered 201 but is not stored: %v", r.id, r.key, err)
			}
		}
	}
	var leaked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE order_id = ANY($1)`, notCreated).Scan(&leaked); err != nil || leaked != 0 {
		t.Errorf("%d payments stored for requests that got no answer (%v)", leaked, err)
	}

	// Every accepted hint was processed: no hint job is left unfinished,
	// each accepted txid has a completed job, and its payment was found.
	waitFor(t, 90*time.Second, func() bool {
		var open int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'tx_hint' AND state <> 'completed'`).Scan(&open)
		return open == 0
	}, func() string {
		rows, _ := pool.Query(ctx, `SELECT state, count(*) FROM river_job WHERE kind = 'tx_hint' GROUP BY state`)
		var s []string
		for rows.Next() {
			var st string
			var n int
			_ = rows.Scan(&st, &n)
			s = append(s, fmt.Sprintf("%s=%d", st, n))
		}
		return "hint jobs not all completed: " + strings.Join(s, " ")
	})
	for _, txid := range uniq(accepted) {
		var done int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'tx_hint' AND args->>'txid' = $1 AND state = 'completed'`, txid).Scan(&done); err != nil || done == 0 {
			t.Errorf("accepted hint %s has no completed job (%v)", txid, err)
		}
	}
	for _, p := range ps {
		if got := d.get(p.ID); got.Status != "PENDING" || len(got.Transactions) != 1 {
			t.Errorf("paid payment %s: %s with %d outputs", p.ID, got.Status, len(got.Transactions))
		}
	}
	// River hands a job cut off by the shutdown back (available again,
	// its attempt not counted): the restarted process finished them.
	var handedBack int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'tx_hint' AND created_at < $1 AND finalized_at > $2`,
		term, exited).Scan(&handedBack); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d accepted hints for %d transactions; %d hint jobs running at SIGTERM were handed back and finished after the restart",
		len(accepted), len(uniq(accepted)), handedBack)
	if handedBack == 0 {
		t.Errorf("no hint job was handed back at shutdown: the job drain was not exercised")
	}

	// One created event per stored payment, one status change per paid
	// payment, nothing else; every event was delivered.
	var created, changed, others, stored int
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE type = 'payment.created'), count(*) FILTER (WHERE type = 'payment.status_changed'),
			count(*) FILTER (WHERE type NOT IN ('payment.created', 'payment.status_changed')), (SELECT count(*) FROM payments)
		FROM payment_events`).Scan(&created, &changed, &others, &stored); err != nil ||
		created != stored || changed != paid || others != 0 {
		t.Errorf("events: %d created, %d status changes, %d others; want %d created (one per stored payment), %d status changes (one per paid payment), 0 others (%v)",
			created, changed, others, stored, paid, err)
	}
	waitFor(t, 60*time.Second, func() bool {
		var undelivered int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM payment_events e WHERE NOT EXISTS (
			SELECT 1 FROM webhook_deliveries w WHERE w.event_id = e.id AND w.state = 'delivered')`).Scan(&undelivered)
		return undelivered == 0
	}, func() string { return "events not delivered" })
	got := map[string]bool{}
	for _, e := range recv.events() {
		got[fmt.Sprint(e["event_id"])] = true
	}
	rows, err := pool.Query(ctx, `SELECT id::text FROM payment_events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		if !got[id] {
			t.Errorf("event %s never reached the receiver", id)
		}
	}
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, key+"="); ok {
			v = rest // the last one wins, as for exec
		}
	}
	return v
}

// tcpProxy forwards connections to a target and can be cut off, to take a
// dependency away from a running transientd.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{addr: freeAddr(t), target: target, conns: map[net.Conn]bool{}}
	p.up(t)
	t.Cleanup(p.down)
	return p
}

// up starts listening (again) on the proxy's address.
func (p *tcpProxy) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	waitFor(t, 5*time.Second, func() bool { ln, err = net.Listen("tcp", p.addr); return err == nil },
		func() string { return fmt.Sprintf("proxy listen on %s: %v", p.addr, err) })
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// down stops listening and cuts every open connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// readiness is the body of /readyz.
type readiness struct {
	Ready  bool `json:"ready"`
	Checks []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

func (r readiness) failing() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Error)
		}
	}
	sort.Strings(out)
	return out
}

// TestReadiness takes the node and then PostgreSQL away from a running
// transientd and checks /readyz (503, naming the failing check, fast) and
// /healthz (still 200), and that both come back.
func TestReadiness(t *testing.T) {
	node := startNode(t, "")
	dbURL, _ := url.Parse(pgtest.NewDatabase(t))
	db := startTCPProxy(t, dbURL.Host)
	dbURL.Host = db.addr
	// The node is reached through a proxy too: cutting it is the node going
	// away, without hurting its chain (a killed litecoind may restart
	// without the blocks it had not flushed).
	rpcURL, _ := url.Parse(node.URL(regtest.MerchantWallet))
	rpc := startTCPProxy(t, rpcURL.Host)
	rpcURL.Host = rpc.addr
	d := startDaemon(t, "COINS=LTC", "LTC_RPC_URL="+rpcURL.String(), "DATABASE_URL="+dbURL.String(), "CATCHUP_INTERVAL=1h")

	ready := func() (int, readiness, time.Duration) {
		t.Helper()
		start := time.Now()
		var r readiness
		code := d.call("GET", "/readyz", "", &r)
		return code, r, time.Since(start)
	}
	waitReady := func(want int, failing string) readiness {
		t.Helper()
		var (
			code int
			r    readiness
			took time.Duration
		)
		waitFor(t, 60*time.Second, func() bool {
			code, r, took = ready()
			if took > 4*time.Second {
				t.Errorf("/readyz took %s", took)
			}
			return code == want && strings.Join(r.failing(), "|") == failing
		}, func() string {
			return fmt.Sprintf("/readyz %d %v, want %d failing %q", code, r.failing(), want, failing)
		})
		return r
	}
	if r := waitReady(200, ""); len(r.Checks) != 3 {
		t.Errorf("checks %+v", r.Checks)
	}

	// The node goes away.
	rpc.down()
	waitReady(503, "node:LTC: the node does not answer")
	if code := d.call("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("/healthz with the node down: %d", code)
	}
	rpc.up(t)
	waitReady(200, "")

	// PostgreSQL goes away.
	db.down()
	waitReady(503, "database: cannot connect to the database|schema: cannot connect to the database")
	if code := d.call("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("/healthz with the database down: %d", code)
	}
	db.up(t)
	waitReady(200, "")
}

// metricsText fetches a Prometheus text exposition and returns its series
// (name{labels} as printed) with their values.
func metricsText(t *testing.T, u string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

var seriesRE = regexp.MustCompile(`^[a-z_]+(\{.*\})?$`)

// deployHooks returns the walletnotify and blocknotify commands of
// deploy/nodes/<file>, pointed at the binaries built for the tests and at a
// notify.env for the daemon at url.
func deployHooks(t *testing.T, file, url string) (walletNotify, blockNotify string) {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join("..", "deploy", "nodes", file))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "notify.env")
	if err := os.WriteFile(cfg, []byte("TRANSIENT_URL="+url+"\nNOTIFY_TOKEN="+notifyToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	local := strings.NewReplacer("/usr/local/bin/", binDir+"/", "/etc/transient/notify.env", cfg)
	for _, line := range strings.Split(string(conf), "\n") {
		if v, ok := strings.CutPrefix(line, "walletnotify="); ok {
			walletNotify = local.Replace(v)
		}
		if v, ok := strings.CutPrefix(line, "blocknotify="); ok {
			blockNotify = local.Replace(v)
		}
	}
	if walletNotify == "" || blockNotify == "" {
		t.Fatalf("%s lacks walletnotify= or blocknotify=", file)
	}
	return walletNotify, blockNotify
}

// TestDeployFiles checks the deployment files: the hook lines of each
// node's configuration (TestMetricsAfterFlow runs litecoin.conf's for real)
// and the hardening of the systemd unit.
func TestDeployFiles(t *testing.T) {
	for file, coin := range map[string]string{"dogecoin.conf": "DOGE", "litecoin.conf": "LTC", "bitcoin.conf": "BTC"} {
		wallet, block := deployHooks(t, file, "http://127.0.0.1:1")
		walletArgs := " %s %w"
		if coin == "DOGE" {
			walletArgs = " %s" // Dogecoin Core 1.14 has no %w
		}
		if want := bin("notify-tx") + " -config "; !strings.HasPrefix(wallet, want) || !strings.HasSuffix(wallet, " "+coin+walletArgs) {
			t.Errorf("%s: walletnotify=%s, want %s... %s%s", file, wallet, want, coin, walletArgs)
		}
		if want := bin("notify-block") + " -config "; !strings.HasPrefix(block, want) || !strings.HasSuffix(block, " "+coin+" %s") {
			t.Errorf("%s: blocknotify=%s", file, block)
		}
	}
	unit, err := os.ReadFile(filepath.Join("..", "deploy", "systemd", "transientd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"ReadWritePaths=", "User=transient", "Restart=on-failure", "EnvironmentFile=/etc/transient/transientd.env",
		"ExecStart=/usr/local/bin/transientd serve", "KillSignal=SIGTERM", "TimeoutStopSec=90s", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("transientd.service lacks %q", want)
		}
	}
}

// TestMetricsAfterFlow runs a payment to PAID through the hooks of
// deploy/nodes/litecoin.conf with its webhooks delivered, then reads the
// counters from METRICS_ADDR.
func TestMetricsAfterFlow(t *testing.T) {
	addr := freeAddr(t)
	metricsAddr := freeAddr(t)
	walletNotify, blockNotify := deployHooks(t, "litecoin.conf", "http://"+addr)
	node := regtest.StartT(t, regtest.Options{WalletNotify: walletNotify, BlockNotify: blockNotify})
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "METRICS_ADDR="+metricsAddr, "CATCHUP_INTERVAL=1h",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()
	p := d.create("LTC", "0.3")
	if _, err := node.Send(ctx, regtest.MinerWallet, p.Address, 30_000_000, false); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PENDING", 30*time.Second)
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PAID", 30*time.Second)
	// The created event and the two status changes.
	waitFor(t, 30*time.Second, func() bool { return len(recv.events()) >= 3 },
		func() string { return fmt.Sprintf("%d webhooks", len(recv.events())) })

	// /metrics is on METRICS_ADDR only.
	if code := d.call("GET", "/metrics", "", nil); code != 404 {
		t.Errorf("GET /metrics on LISTEN_ADDR: %d, want 404", code)
	}
	exact := map[string]float64{
		`transient_payments_created_total{coin="LTC"}`:                                 1,
		`transient_payments{coin="LTC",status="PAID"}`:                                 1,
		`transient_payment_status_changes_total{from="UNPAID",to="PENDING"}`:           1,
		`transient_payment_status_changes_total{from="PENDING",to="PAID"}`:             1,
		`transient_http_requests_total{method="POST",route="/payments",status="201"}`:  1,
		`transient_node_rpc_duration_seconds_count{coin="LTC",method="getnewaddress"}`: 1,
		`transient_webhook_attempts_total{kind="webhook",result="delivered"}`:          3,
		`transient_webhook_backlog`:                                                    0,
		`transient_hint_backlog{kind="tx"}`:                                            0,
		`transient_hint_backlog{kind="block"}`:                                         0,
		`transient_database_scrape_success`:                                            1,
	}
	atLeast := map[string]float64{
		`transient_hints_received_total{coin="LTC",kind="tx"}`:                               1,
		`transient_hints_received_total{coin="LTC",kind="block"}`:                            2,
		`transient_hints_processed_total{coin="LTC",kind="tx",result="ok"}`:                  1,
		`transient_hints_processed_total{coin="LTC",kind="block",result="ok"}`:               2,
		`transient_node_rpc_duration_seconds_count{coin="LTC",method="gettransaction"}`:      1,
		`transient_webhook_attempt_duration_seconds_count{kind="webhook"}`:                   3,
		`transient_http_requests_total{method="POST",route="/notify/tx",status="202"}`:       1,
		`transient_jobs_total{kind="webhook_delivery",result="ok"}`:                          3,
		`transient_http_request_duration_seconds_count{method="GET",route="/payments/{id}"}`: 2,
	}
	var m map[string]float64
	waitFor(t, 30*time.Second, func() bool {
		m = metricsText(t, "http://"+metricsAddr+"/metrics")
		for k, v := range exact {
			if m[k] != v {
				return false
			}
		}
		for k, v := range atLeast {
			if m[k] < v {
				return false
			}
		}
		return true
	}, func() string {
		var diff []string
		for k, v := range exact {
			if got, ok := m[k]; !ok || got != v {
				diff = append(diff, fmt.Sprintf("%s = %v (present %t), want %v", k, got, ok, v))
			}
		}
		for k, v := range atLeast {
			if m[k] < v {
				diff = append(diff, fmt.Sprintf("%s = %v, want at least %v", k, m[k], v))
			}
		}
		sort.Strings(diff)
		return "metrics:\n" + strings.Join(diff, "\n")
	})
	for series := range m {
		if !seriesRE.MatchString(series) {
			t.Errorf("odd series %q", series)
		}
	}
	// Nothing failed on the way.
	for series, v := range m {
		if strings.HasPrefix(series, "transient_node_rpc_errors_total") && strings.Contains(series, `method="getnewaddress"`) && v > 0 {
			t.Errorf("%s = %v", series, v)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/api"
	"github.com/transient-gateway/transient/internal/apikeys"
	"github.com/transient-gateway/transient/internal/bitpay"
	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/webhook"
	"github.com/transient-gateway/transient/migrations"
)

// TestHelpAndUsageErrors checks that every command answers --help on
// stdout with exit 0, and that a wrong command line exits 2 with the usage
// on stderr. No database is needed for either.
func TestHelpAndUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"help"}, {"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"migrate", "status", "-h"},
		{"payments", "--help"}, {"payments", "create", "--help"}, {"payments", "get", "--help"},
		{"payments", "list", "--help"}, {"payments", "watch", "--help"},
		{"events", "help"}, {"events", "list", "--help"}, {"events", "redeliver", "--help"},
		{"apikeys", "--help"}, {"apikeys", "create", "--help"}, {"apikeys", "list", "--help"},
		{"apikeys", "revoke", "--help"}, {"rescan", "--help"}, {"xpub", "status", "--help"},
		{"stores", "--help"}, {"stores", "create", "--help"}, {"stores", "list", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cli(t, nil, args...)
			if r.code() != 0 || !strings.Contains(r.stdout, "usage: transientd") || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 with the usage on stdout", r.code(), r.stdout, r.stderr)
			}
			if len(args) > 1 && !strings.HasPrefix(args[1], "-") && args[1] != "help" && !strings.Contains(r.stdout, "-json") {
				t.Errorf("the usage of %s does not mention --json:\n%s", args, r.stdout)
			}
		})
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"payments"}, "usage: transientd payments"},
		{[]string{"payments", "pay"}, `unknown command "pay"`},
		{[]string{"payments", "get"}, "missing argument"},
		{[]string{"payments", "get", "a", "b"}, `unexpected argument "b"`},
		{[]string{"payments", "get", "not-a-uuid"}, "is not a payment id"},
		{[]string{"payments", "create", "--amount", "1"}, "--currency and --amount are required"},
		{[]string{"payments", "create", "--currency", "LTC", "--amount", "1e3"}, "--amount: amount must be a plain decimal"},
		{[]string{"payments", "list", "--created-after", "yesterday"}, "--created-after must be an RFC 3339 time"},
		{[]string{"payments", "watch", "x", "--timeout", "soon"}, "invalid value"},
		{[]string{"events", "redeliver", "nope"}, "is not an event id"},
		{[]string{"apikeys", "create"}, "--label is required"},
		{[]string{"apikeys", "revoke"}, "missing argument"},
		{[]string{"rescan", "--coin", "LTC"}, "--coin and --from-height are required"},
		{[]string{"migrate", "sideways"}, `unknown subcommand "sideways"`},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"--colour"}, "flag provided but not defined: -colour"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := cli(t, nil, tt.args...)
			if r.code() != 2 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q; want 2 with %q on stderr and nothing on stdout", r.code(), r.stderr, tt.want)
			}
		})
	}
}

// TestConfigErrors checks that a missing or bad setting fails (exit 1) with
// a message naming the key, never echoing a secret.
func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"apikeys", "list"}, nil, "DATABASE_URL: want a PostgreSQL URL"},
		{[]string{"payments", "list"}, map[string]string{"DATABASE_URL": "mysql://root:dbsecret@x/y"}, "DATABASE_URL: want a PostgreSQL URL starting with postgres://"},
		{[]string{"payments", "create", "--currency", "LTC", "--amount", "1"}, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/y"}, "COINS: want a comma-separated list"},
		{[]string{"migrate"}, map[string]string{"DATABASE_URL": "postgres://u:dbsecret@" + closedAddr(t) + "/y?connect_timeout=2"}, "does not answer"},
	} {
		r := cli(t, tt.env, tt.args...)
		if r.code() != 1 || r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%v: exit %d, err %v; want 1 with %q", tt.args, r.code(), r.err, tt.want)
		}
		if r.err != nil && strings.Contains(r.err.Error(), "dbsecret") {
			t.Errorf("%v: the error shows the password: %v", tt.args, r.err)
		}
	}
}

func closedAddr(t *testing.T) string {
	t.Helper()
	return must(freeport.Addr())
}

// emptyDatabase creates a database without any schema and returns its URL.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin := must(pgx.Connect(ctx, pgtest.ServerURL()))
	defer admin.Close(ctx)
	name := fmt.Sprintf("transientd_cli_empty_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), pgtest.ServerURL()); err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	u := must(url.Parse(pgtest.ServerURL()))
	u.Path = "/" + name
	return u.String()
}

// get answers the status of GET url.
func get(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// post sends a JSON body with an API key and answers the status.
func post(t *testing.T, url, key, body string) int {
	t.Helper()
	req := must(http.NewRequest("POST", url, strings.NewReader(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp := must(http.DefaultClient.Do(req))
	resp.Body.Close()
	return resp.StatusCode
}

// TestMigrate runs migrate on an empty database from several processes at
// once (they take turns under the advisory lock), then checks status.
func TestMigrate(t *testing.T) {
	env := map[string]string{"DATABASE_URL": emptyDatabase(t)}
	r := cli(t, env, "migrate", "status", "--json")
	var st migrateStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v: %s", err, r.stdout)
	}
	if r.code() != 1 || st.UpToDate || st.Schema != 0 || st.SchemaLatest < 5 {
		t.Fatalf("status on an empty database: exit %d, %+v; want exit 1, behind", r.code(), st)
	}

	const racers = 4
	results := make([]result, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { results[i] = cli(t, env, "migrate", "up") })
	}
	wg.Wait()
	for i, r := range results {
		if out := r.must(t, fmt.Sprintf("migrate %d", i)); !strings.Contains(out, "up to date") {
			t.Errorf("migrate %d printed %q", i, out)
		}
	}
	r = cli(t, env, "migrate", "status", "--json")
	if err := json.Unmarshal([]byte(r.must(t, "status")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.UpToDate || st.Schema != st.SchemaLatest || st.JobQueue != st.JobQueueLatest {
		t.Errorf("after migrate: %+v", st)
	}
	// Each migration ran once.
	pool := must(pgxpool.New(context.Background(), env["DATABASE_URL"]))
	defer pool.Close()
	var applied int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	// Versions need not be contiguous, so count the files.
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != int64(len(files)) {
		t.Errorf("goose recorded %d migrations, want %d (each once)", applied, len(files))
	}
	if out := cli(t, env, "migrate", "status").must(t, "status"); !strings.Contains(out, "up to date") {
		t.Errorf("status text = %q", out)
	}
}

// TestServeRefuses checks that serve stops at once, exit 1, on a schema
// that is behind when MIGRATE_ON_START=false, and when no API key exists
// at all.
func TestServeRefuses(t *testing.T) {
	base := map[string]string{
		"COINS": "LTC", "LTC_RPC_URL": "http://u:p@" + closedAddr(t), "API_KEYS": "serve-test-key-0123456789",
		"LISTEN_ADDR": closedAddr(t),
	}
	env := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	behind := env("DATABASE_URL", emptyDatabase(t), "MIGRATE_ON_START", "false")
	r := cliContext(ctx, t, behind, "serve")
	if r.code() != 1 || r.err == nil || !strings.Contains(r.err.Error(), "schema is behind") ||
		!strings.Contains(r.err.Error(), "transientd migrate") {
		t.Fatalf("serve on an empty schema: exit %d, %v", r.code(), r.err)
	}
	// Nothing was migrated behind the operator's back.
	if out := cli(t, behind, "migrate", "status"); out.code() != 1 || !strings.Contains(out.stdout, "schema 0 of") {
		t.Errorf("status after the refusal: %d %q", out.code(), out.stdout)
	}

	noKeys := env("DATABASE_URL", pgtest.NewDatabase(t), "API_KEYS", "")
	r = cliContext(ctx, t, noKeys, "serve")
	if r.code() != 1 || r.err == nil || !strings.Contains(r.err.Error(), "API_KEYS is empty and the database holds no API key") {
		t.Fatalf("serve without keys: exit %d, %v", r.code(), r.err)
	}
}

// TestServeStartsAndStops runs serve in-process with only a database key
// (API_KEYS empty), checks that it answers, and stops it with the context
// as SIGTERM would: it must return nil in time.
func TestServeStartsAndStops(t *testing.T) {
	node := sharedNode(t)
	env := nodeEnv(t)
	env["API_KEYS"] = ""
	env["LISTEN_ADDR"] = closedAddr(t)
	env["METRICS_ADDR"] = closedAddr(t)
	env["ADDRESS_POOL_SIZE"] = "5"
	key := strings.TrimSpace(cli(t, env, "apikeys", "create", "--label", "only key").must(t, "apikeys create"))

	stderr, cancel, done := serveInProcess(env)
	defer cancel()
	base := "http://" + env["LISTEN_ADDR"]
	waitFor(t, 30*time.Second, func() bool { return get(base+"/healthz") == 200 },
		func() string { return "serve did not answer /healthz:\n" + stderr.String() })

	// The address pool fills in the background and shows on /metrics.
	metricsBase := "http://" + env["METRICS_ADDR"]
	waitFor(t, 30*time.Second, func() bool {
		resp, err := http.Get(metricsBase + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `transient_address_pool_ready{coin="LTC"} 5`)
	}, func() string { return "the address pool did not reach 5 on /metrics:\n" + stderr.String() })
	if code := post(t, base+"/payments", key, `{"currency":"LTC","amount":"0.1"}`); code != 201 {
		t.Errorf("POST /payments with the database key: %d", code)
	}
	if code := post(t, base+"/payments", "not-"+key, `{"currency":"LTC","amount":"0.1"}`); code != 401 {
		t.Errorf("POST /payments with a wrong key: %d", code)
	}
	// METRICS_ADDR serves /metrics, /healthz, /readyz and the profiler;
	// LISTEN_ADDR then has no /metrics, and never a profiler.
	for url, want := range map[string]int{metricsBase + "/metrics": 200, metricsBase + "/healthz": 200,
		metricsBase + "/readyz": 200, base + "/readyz": 200, base + "/metrics": 404, metricsBase + "/payments": 404,
		metricsBase + "/debug/pprof/": 200, metricsBase + "/debug/pprof/goroutine?debug=1": 200,
		base + "/debug/pprof/": 404} {
		if code := get(url); code != want {
			t.Errorf("GET %s: %d, want %d", url, code, want)
		}
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after the stop", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not stop within 40s:\n%s", stderr.String())
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	logs := stderr.String()
	for _, want := range []string{`"msg":"transientd ready"`, `"msg":"shutting down`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, key) || strings.Contains(logs, node.Password) {
		t.Errorf("the log shows a secret:\n%s", logs)
	}
}

// serveInProcess runs serve --json with exactly env (no .env file) until
// cancel; done receives what it returned. Its log goes to stderr.
func serveInProcess(env map[string]string) (stderr *syncBuffer, cancel context.CancelFunc, done chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr, done = &syncBuffer{}, make(chan error, 1)
	getenv := func(k string) string {
		if k == "TRANSIENT_ENV_FILE" {
			return "/nonexistent/.env"
		}
		return env[k]
	}
	go func() { done <- run(ctx, []string{"serve", "--json"}, getenv, &syncBuffer{}, stderr) }()
	return stderr, cancel, done
}

// TestAPIKeys exercises apikeys create, list and revoke on a real database
// and checks the keys against the store the daemon uses.
func TestAPIKeys(t *testing.T) {
	env := dbEnv(t)
	var created keyOut
	r := cli(t, env, "apikeys", "create", "--label", "shop frontend", "--json")
	if err := json.Unmarshal([]byte(r.must(t, "create")), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Key, apikeys.Prefix) || len(created.Key) != 42 || created.Prefix != created.Key[:11] ||
		created.Label != "shop frontend" || created.LastUsedAt != nil {
		t.Fatalf("created %+v", created)
	}
	text := cli(t, env, "apikeys", "create", "--label", "accounting")
	second := strings.TrimSpace(text.must(t, "create"))
	if !strings.HasPrefix(second, apikeys.Prefix) || !strings.Contains(text.stderr, "not shown again") {
		t.Fatalf("text create: %q / %q", text.stdout, text.stderr)
	}

	pool := must(pgxpool.New(context.Background(), env["DATABASE_URL"]))
	defer pool.Close()
	store := apikeys.NewStore(pool, nil)
	ctx := context.Background()
	for _, k := range []string{created.Key, second} {
		if ok, err := store.CheckKey(ctx, k); !ok || err != nil {
			t.Errorf("CheckKey(created key) = %t, %v", ok, err)
		}
	}
	if ok, _ := store.CheckKey(ctx, created.Key[:41]+"x"); ok {
		t.Error("a key with one character changed is accepted")
	}

	var list []keyOut
	out := cli(t, env, "apikeys", "list", "--json").must(t, "list")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Label != "accounting" || list[1].ID != created.ID || list[1].LastUsedAt == nil || list[1].Key != "" {
		t.Fatalf("list = %s", out)
	}
	if strings.Contains(out, created.Key) || strings.Contains(out, second) {
		t.Fatalf("list shows a key: %s", out)
	}
	if txt := cli(t, env, "apikeys", "list").must(t, "list"); !strings.Contains(txt, created.Prefix) || !strings.Contains(txt, "active") {
		t.Errorf("text list:\n%s", txt)
	}

	// Revoke by prefix, then by id. This process trusted the key when it
	// checked it above; a revocation by another process (the CLI) is
	// refused once that trust lapses, within apikeys.TrustFor.
	var revoked keyOut
	if err := json.Unmarshal([]byte(cli(t, env, "apikeys", "revoke", created.Prefix, "--json").must(t, "revoke")), &revoked); err != nil {
		t.Fatal(err)
	}
	if revoked.ID != created.ID || revoked.RevokedAt == nil {
		t.Errorf("revoked %+v", revoked)
	}
	for deadline := time.Now().Add(apikeys.TrustFor + 2*time.Second); ; {
		ok, err := store.CheckKey(ctx, created.Key)
		if err != nil {
			t.Fatalf("revoked key: CheckKey: %v", err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted %s after the revocation (trust lasts %s)", apikeys.TrustFor+2*time.Second, apikeys.TrustFor)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ids []keyOut
	_ = json.Unmarshal([]byte(cli(t, env, "apikeys", "list", "--json").must(t, "list")), &ids)
	if txt := cli(t, env, "apikeys", "revoke", ids[0].ID).must(t, "revoke by id"); !strings.Contains(txt, "Revoked API key") {
		t.Errorf("revoke text %q", txt)
	}
	if has, err := store.HasActive(ctx); has || err != nil {
		t.Errorf("HasActive after revoking both = %t, %v", has, err)
	}
	for _, ref := range []string{"tk_zzzzzzzz", "7d444840-9dc0-11d1-b245-5ffdce74fad2", "garbage"} {
		if r := cli(t, env, "apikeys", "revoke", ref); r.code() != 1 || !strings.Contains(r.err.Error(), "no stored API key") {
			t.Errorf("revoke %s: exit %d, %v", ref, r.code(), r.err)
		}
	}
}

// testService is a payment service on the database of env, as the daemon
// builds it: the tests use it to process transactions the way the daemon's
// workers would.
func testService(t *testing.T, env map[string]string, webhookURL string) (*payments.Service, *pgxpool.Pool) {
	t.Helper()
	node := sharedNode(t)
	pool := must(pgxpool.New(context.Background(), env["DATABASE_URL"]))
	t.Cleanup(pool.Close)
	jobs := must(river.NewClient(riverpgxv5.New(pool), &river.Config{}))
	svc := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: node.Client(regtest.MerchantWallet), Confirmations: 1,
			URIScheme: "litecoin", Wallet: regtest.MerchantWallet}},
		Jobs:   jobs,
		Outbox: webhook.NewOutbox(pool, jobs, webhook.Config{URL: webhookURL}),
	})
	return svc, pool
}

// testPayment is the part of the payment object the tests read, amounts
// kept as their exact text.
type testPayment struct {
	ID                    string          `json:"id"`
	Currency              string          `json:"currency"`
	Status                string          `json:"status"`
	Amount                json.Number     `json:"amount"`
	AmountReceived        json.Number     `json:"amount_received"`
	PaymentAddress        string          `json:"payment_address"`
	PaymentURI            string          `json:"payment_uri"`
	ConfirmationsRequired int64           `json:"confirmations_required"`
	OrderID               *string         `json:"order_id"`
	ExpiresAt             *time.Time      `json:"expires_at"`
	Metadata              json.RawMessage `json:"metadata"`
	Transactions          []struct {
		TxID  string `json:"txid"`
		State string `json:"state"`
	} `json:"transactions"`
}

type testPaymentList struct {
	Payments   []testPayment `json:"payments"`
	NextCursor *string       `json:"next_cursor"`
}

// TestPaymentsCommands creates a payment through the node, then reads it
// back with get and list, in JSON and in text.
func TestPaymentsCommands(t *testing.T) {
	env := nodeEnv(t)
	var p testPayment
	out := cli(t, env, "payments", "create", "--currency", "ltc", "--amount", "0.25", "--order-id", "o-1",
		"--account", "cli", "--metadata", `{"cart":[1]}`, "--expires-in", "1h", "--confirmations", "2", "--json").must(t, "create")
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.Currency != "LTC" || p.Status != "UNPAID" || p.Amount != "0.25" || !strings.HasPrefix(p.PaymentAddress, "rltc1") ||
		p.ConfirmationsRequired != 2 || p.OrderID == nil || *p.OrderID != "o-1" || p.ExpiresAt == nil || string(compactJSON(p.Metadata)) != `{"cart":[1]}` ||
		p.PaymentURI != "litecoin:"+p.PaymentAddress+"?amount=0.25" {
		t.Fatalf("created %s", out)
	}
	// The node's wallet labelled the address.
	var info struct {
		Labels []string `json:"labels"`
	}
	if err := sharedNode(t).Client(regtest.MerchantWallet).Call(context.Background(), "getaddressinfo", []any{p.PaymentAddress}, &info); err != nil ||
		len(info.Labels) != 1 || info.Labels[0] != "cli" {
		t.Errorf("getaddressinfo labels %v, %v", info.Labels, err)
	}
	text := cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "1").must(t, "create text")
	if !strings.Contains(text, "UNPAID") || !strings.Contains(text, "litecoin:rltc1") {
		t.Errorf("text create:\n%s", text)
	}

	var got testPayment
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "get", p.ID, "--json").must(t, "get")), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID || got.PaymentAddress != p.PaymentAddress || got.PaymentURI != p.PaymentURI {
		t.Errorf("get = %+v, want %+v", got, p)
	}
	if txt := cli(t, env, "payments", "get", p.ID).must(t, "get text"); !strings.Contains(txt, p.PaymentAddress) || !strings.Contains(txt, "o-1") {
		t.Errorf("get text:\n%s", txt)
	}
	if r := cli(t, env, "payments", "get", "7d444840-9dc0-11d1-b245-5ffdce74fad2"); r.code() != 1 || !strings.Contains(r.err.Error(), "no payment has the id") {
		t.Errorf("get unknown: %d %v", r.code(), r.err)
	}

	var list testPaymentList
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "list", "--order-id", "o-1", "--json").must(t, "list")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Payments) != 1 || list.Payments[0].ID != p.ID || list.NextCursor != nil {
		t.Errorf("list --order-id = %+v", list)
	}
	page := cli(t, env, "payments", "list", "--limit", "1", "--json").must(t, "list page")
	if err := json.Unmarshal([]byte(page), &list); err != nil || len(list.Payments) != 1 || list.NextCursor == nil {
		t.Fatalf("first page %s", page)
	}
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "list", "--limit", "1", "--cursor", *list.NextCursor, "--json").must(t, "next page")), &list); err != nil ||
		len(list.Payments) != 1 || list.Payments[0].ID != p.ID {
		t.Errorf("second page = %+v", list)
	}
	r := cli(t, env, "payments", "list", "--limit", "1")
	if !strings.Contains(r.must(t, "list text"), "UNPAID") || !strings.Contains(r.stderr, "--cursor") {
		t.Errorf("list text: %q / %q", r.stdout, r.stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"payments", "create", "--currency", "XMR", "--amount", "1"}, "unsupported_currency (currency)"},
		{[]string{"payments", "create", "--currency", "LTC", "--amount", "1", "--confirmations", "5000"}, "invalid_confirmations"},
		{[]string{"payments", "list", "--status", "DONE"}, "invalid_filter (status)"},
	} {
		if r := cli(t, env, tt.args...); r.code() != 1 || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%v: exit %d, %v; want %q", tt.args, r.code(), r.err, tt.want)
		}
	}
	// The node down: create fails fast, stores nothing.
	down := map[string]string{}
	for k, v := range env {
		down[k] = v
	}
	down["LTC_RPC_URL"] = "http://u:p@" + closedAddr(t)
	if r := cli(t, down, "payments", "create", "--currency", "LTC", "--amount", "1"); r.code() != 1 || !strings.Contains(r.err.Error(), "LTC node unavailable") {
		t.Errorf("create with the node down: %d %v", r.code(), r.err)
	}
}

// TestPaymentsWatch follows a payment with payments watch while it is paid
// and confirmed, the events coming through PostgreSQL's LISTEN.
func TestPaymentsWatch(t *testing.T) {
	node := sharedNode(t)
	env := nodeEnv(t)
	svc, _ := testService(t, env, "http://127.0.0.1:9/hook")
	ctx := context.Background()
	var p testPayment
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "0.3", "--json").must(t, "create")), &p); err != nil {
		t.Fatal(err)
	}

	// Not final within the timeout: exit 1.
	if r := cli(t, env, "payments", "watch", p.ID, "--timeout", "300ms"); r.code() != 1 || !strings.Contains(r.err.Error(), "still UNPAID after 300ms") {
		t.Fatalf("watch --timeout: %d %v\n%s", r.code(), r.err, r.stdout)
	}

	out := &syncBuffer{}
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, []string{"payments", "watch", p.ID, "--json"}, getenv, out, &syncBuffer{})
	}()
	lines := func() []map[string]any {
		var ls []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				ls = append(ls, m)
			}
		}
		return ls
	}
	waitFor(t, 10*time.Second, func() bool { return len(lines()) == 1 }, func() string { return "no snapshot: " + out.String() })
	if l := lines()[0]; l["type"] != "snapshot" || l["status"] != "UNPAID" || l["payment_id"] != p.ID {
		t.Fatalf("snapshot %v", l)
	}

	txid := must(node.Send(ctx, regtest.MinerWallet, p.PaymentAddress, 30_000_000, false))
	if err := svc.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return len(lines()) == 2 }, func() string { return "no PENDING event: " + out.String() })
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := svc.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not end at PAID:\n%s", out.String())
	}
	ls := lines()
	if len(ls) != 3 {
		t.Fatalf("watch printed %d lines, want 3:\n%s", len(ls), out.String())
	}
	for i, want := range []string{"UNPAID>PENDING", "PENDING>PAID"} {
		l := ls[i+1]
		if got := fmt.Sprint(l["previous_status"], ">", l["status"]); got != want || l["type"] != payments.EventStatusChanged || l["payment_id"] != p.ID {
			t.Errorf("event %d = %v, want %s", i+1, l, want)
		}
	}
	// Watching a payment that is already final prints it and ends at once.
	r := cli(t, env, "payments", "watch", p.ID)
	if !strings.Contains(r.must(t, "watch paid"), "PAID: received 0.3 of 0.3 LTC") {
		t.Errorf("watch of a paid payment: %q", r.stdout)
	}
	// Watching ends quietly on Ctrl-C (the context).
	var q testPayment
	_ = json.Unmarshal([]byte(cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "1", "--json").must(t, "create")), &q)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if r := cliContext(cctx, t, env, "payments", "watch", q.ID); r.err != nil || !strings.Contains(r.stdout, "UNPAID") {
		t.Errorf("watch stopped by Ctrl-C: %v, %q", r.err, r.stdout)
	}
}

// TestPaymentsWatchEventBetweenReads commits the payment's last event
// between the snapshot's two reads, the moment that made a watch wait
// forever when the payment was read first: its snapshot held the old
// status with the new event's sequence, so no later event came. Read
// events first, the watch sees PAID and ends.
func TestPaymentsWatchEventBetweenReads(t *testing.T) {
	node := sharedNode(t)
	env := nodeEnv(t)
	svc, pool := testService(t, env, "http://127.0.0.1:9/hook")
	ctx := context.Background()
	var p testPayment
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "0.2", "--json").must(t, "create")), &p); err != nil {
		t.Fatal(err)
	}
	txid := must(node.Send(ctx, regtest.MinerWallet, p.PaymentAddress, 20_000_000, false))
	if err := svc.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	paid := false
	w := &watcher{svc: svc, pool: pool, id: uuid.MustParse(p.ID), json: true, out: out, timeout: 5 * time.Second,
		betweenReads: func(ctx context.Context) {
			if _, err := node.Mine(ctx, 1); err != nil {
				t.Error(err)
				return
			}
			if err := svc.ProcessTx(ctx, "LTC", txid); err != nil {
				t.Error(err)
				return
			}
			got, err := svc.Get(ctx, uuid.MustParse(p.ID))
			paid = err == nil && got.Status == payments.StatusPaid
		}}
	if err := w.run(ctx); err != nil {
		t.Fatalf("watch with PAID committed between its reads: %v\n%s", err, out.String())
	}
	if !paid {
		t.Fatalf("the payment was not PAID after the block; the test did not put the event between the reads")
	}
	var snap map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &snap); err != nil {
		t.Fatalf("watch printed %q, want one snapshot line: %v", out.String(), err)
	}
	if snap["type"] != "snapshot" || snap["status"] != "PAID" {
		t.Errorf("snapshot %v, want type snapshot and status PAID", snap)
	}
}

// TestEventsCommands lists a payment's events with their deliveries and
// redelivers one.
func TestEventsCommands(t *testing.T) {
	node := sharedNode(t)
	env := nodeEnv(t)
	svc, pool := testService(t, env, "https://shop.example/hook")
	ctx := context.Background()
	var p testPayment
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "0.2", "--json").must(t, "create")), &p); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, env, "events", "list", p.ID); r.err != nil || !strings.Contains(r.stdout, "#1  created, UNPAID") ||
		!strings.Contains(r.stdout, "no webhook destination") {
		t.Errorf("events of a new payment (its created event, with no destination configured): %v %q", r.err, r.stdout)
	}
	txid := must(node.Send(ctx, regtest.MinerWallet, p.PaymentAddress, 20_000_000, false))
	if err := svc.ProcessTx(ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	var events []api.EventJSON
	out := cli(t, env, "events", "list", p.ID, "--json").must(t, "events list")
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != "payment.created" || events[0].Sequence != 1 || events[0].Status != "UNPAID" ||
		len(events[0].Deliveries) != 0 {
		t.Fatalf("events = %s, want the created event (no destination) first", out)
	}
	changed := events[1]
	if changed.Status != "PENDING" || changed.PreviousStatus != "UNPAID" || changed.Sequence != 2 ||
		len(changed.Deliveries) != 1 || changed.Deliveries[0].URL != "https://shop.example/hook" || changed.Deliveries[0].State != "pending" {
		t.Fatalf("events = %s", out)
	}
	var payload struct {
		PaymentID string      `json:"payment_id"`
		EventID   string      `json:"event_id"`
		Payment   testPayment `json:"payment"`
	}
	if err := json.Unmarshal(changed.Payload, &payload); err != nil || payload.PaymentID != p.ID || payload.EventID != changed.ID ||
		payload.Payment.Status != "PENDING" {
		t.Errorf("payload %s", changed.Payload)
	}
	if txt := cli(t, env, "events", "list", p.ID).must(t, "events text"); !strings.Contains(txt, "UNPAID → PENDING") ||
		!strings.Contains(txt, "pending webhook https://shop.example/hook") {
		t.Errorf("events text:\n%s", txt)
	}

	var red redeliverOut
	if err := json.Unmarshal([]byte(cli(t, env, "events", "redeliver", changed.ID, "--json").must(t, "redeliver")), &red); err != nil {
		t.Fatal(err)
	}
	if red.EventID != changed.ID || len(red.Deliveries) != 1 {
		t.Fatalf("redeliver = %+v", red)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE event_id = $1`, changed.ID).Scan(&n); err != nil || n != 2 {
		t.Errorf("deliveries after redelivery = %d (%v), want 2", n, err)
	}
	var jobs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery' AND args->>'delivery_id' = $1`, red.Deliveries[0]).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("jobs queued for the redelivery = %d (%v), want 1", jobs, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "redeliver", "7d444840-9dc0-11d1-b245-5ffdce74fad2"}, "no event has the id"},
		{[]string{"events", "list", "7d444840-9dc0-11d1-b245-5ffdce74fad2"}, "no payment has the id"},
	} {
		if r := cli(t, env, tt.args...); r.code() != 1 || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%v: %d %v", tt.args, r.code(), r.err)
		}
	}
}

// payUnseenAndRescan pays amount (base units) to address while nothing
// watches the node, mines a block, and runs `transientd rescan --coin coin
// --json` from the height before the payment; it returns the command's
// answer and that height.
func payUnseenAndRescan(t *testing.T, env map[string]string, coin, address string, amount int64) (rescanOut, int64) {
	t.Helper()
	ctx := context.Background()
	node := sharedNode(t)
	height := must(node.Client("").GetBlockCount(ctx))
	if _, err := node.Send(ctx, regtest.MinerWallet, address, amount, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var out rescanOut
	if err := json.Unmarshal([]byte(cli(t, env, "rescan", "--coin", coin, "--from-height", fmt.Sprint(height), "--json").must(t, "rescan")), &out); err != nil {
		t.Fatal(err)
	}
	return out, height
}

// TestRescan pays a payment while nothing watches the node, then finds it
// with rescan from a height before the payment.
func TestRescan(t *testing.T) {
	env := nodeEnv(t)
	env["AMQP_URL"], env["AMQP_EXCHANGE"] = "amqp://guest:guest@127.0.0.1:5672/", "rescan.events"
	ctx := context.Background()
	var p testPayment
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "0.4", "--json").must(t, "create")), &p); err != nil {
		t.Fatal(err)
	}
	out, height := payUnseenAndRescan(t, env, "ltc", p.PaymentAddress, 40_000_000)
	if out.Coin != "LTC" || out.FromHeight != height || out.StatusChanges != 1 {
		t.Errorf("rescan = %+v, want one status change", out)
	}
	// With AMQP_URL set, the rescan's events get their AMQP delivery for
	// the daemon to publish, as the created event of payments create did.
	var created, changed int
	pool := must(pgxpool.New(ctx, env["DATABASE_URL"]))
	defer pool.Close()
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE e.type = 'payment.created'), count(*) FILTER (WHERE e.type = 'payment.status_changed')
		FROM webhook_deliveries d JOIN payment_events e ON e.id = d.event_id
		WHERE d.kind = 'amqp' AND d.url = $1`,
		"amqp://127.0.0.1:5672/?exchange=rescan.events").Scan(&created, &changed); err != nil || created != 1 || changed != 1 {
		t.Errorf("amqp deliveries: %d of the created event, %d of the rescan's status change (%v), want 1 and 1", created, changed, err)
	}
	var got testPayment
	_ = json.Unmarshal([]byte(cli(t, env, "payments", "get", p.ID, "--json").must(t, "get")), &got)
	if got.Status != "PAID" || len(got.Transactions) != 1 {
		t.Errorf("after rescan: %s with %d transactions, want PAID", got.Status, len(got.Transactions))
	}
	// A second rescan finds nothing new.
	if txt := cli(t, env, "rescan", "--coin", "LTC", "--from-height", "0").must(t, "rescan again"); !strings.Contains(txt, "0 payment status changes") {
		t.Errorf("second rescan: %q", txt)
	}
	if r := cli(t, env, "rescan", "--coin", "LTC", "--from-height", "99999"); r.code() != 1 || !strings.Contains(r.err.Error(), "from-height must be between 0 and the tip") {
		t.Errorf("rescan above the tip: %d %v", r.code(), r.err)
	}
	if r := cli(t, env, "rescan", "--coin", "DOGE", "--from-height", "1"); r.code() != 2 || !strings.Contains(r.stderr, `coin "DOGE" is not configured`) {
		t.Errorf("rescan of an unconfigured coin: %d %q", r.code(), r.stderr)
	}
}

// TestRescanSendsBitPayIPN: an invoice paid while nothing watched the node
// tells its notificationURL when rescan finds the payment, as the daemon
// would have.
func TestRescanSendsBitPayIPN(t *testing.T) {
	env := nodeEnv(t)
	env["PUBLIC_URL"] = "https://pay.example"
	ctx := context.Background()
	pool := must(pgxpool.New(ctx, env["DATABASE_URL"]))
	defer pool.Close()
	if err := migrations.Up(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	svc, _ := testService(t, env, "")
	pairings := bitpay.NewPairings(pool, time.Now)
	code := must(pairings.CreateCode(ctx, "rescan test"))
	issued := must(pairings.Claim(ctx, code.Code, bitpay.SIN(append([]byte{2}, make([]byte, 32)...)), ""))
	tok := must(pairings.Authenticate(ctx, issued.Token))
	const ipnURL = "https://shop.example/ipn"
	inv := must(bitpay.New(bitpay.Config{Pool: pool, Payments: svc, PublicURL: env["PUBLIC_URL"]}).
		CreateInvoice(ctx, tok, bitpay.InvoiceRequest{Price: decimal.RequireFromString("0.3"), Currency: "LTC",
			NotificationURL: ipnURL}))
	if out, _ := payUnseenAndRescan(t, env, "LTC", inv.Payment.Address, 30_000_000); out.StatusChanges != 1 {
		t.Fatalf("rescan = %+v, want one status change", out)
	}
	var body []byte
	if err := pool.QueryRow(ctx, `
		SELECT d.body FROM webhook_deliveries d JOIN payment_events e ON e.id = d.event_id
		WHERE e.payment_id = $1 AND e.type = 'payment.status_changed' AND d.kind = $2 AND d.url = $3`,
		inv.Payment.ID, webhook.KindBitPayIPN, ipnURL).Scan(&body); err != nil {
		t.Fatalf("the rescan's status change queued no IPN to %s: %v", ipnURL, err)
	}
	var ipn struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &ipn); err != nil || ipn.Status != "confirmed" {
		t.Errorf("IPN body %s (%v), want the invoice confirmed", body, err)
	}
}

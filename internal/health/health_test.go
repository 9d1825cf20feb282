package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/hangserver"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// find returns the check called name.
func find(t *testing.T, r Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r)
	return Check{}
}

func closedAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func client(t *testing.T, url string) *coind.Client {
	t.Helper()
	c, err := coind.New(coind.Config{URL: url, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// litecoind waits for open keep-alive connections before it stops.
	t.Cleanup(c.Close)
	return c
}

func TestReadyWithEverythingUp(t *testing.T) {
	node := regtest.StartT(t, regtest.Options{})
	pool := pgtest.NewPool(t)
	v, err := migrations.Check(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(Config{Pool: pool, Nodes: map[string]Node{"LTC": node.Client(regtest.MerchantWallet)}})
	r := c.Ready(context.Background())
	if !r.Ready {
		t.Fatalf("not ready: %+v", r)
	}
	var names []string
	for _, ch := range r.Checks {
		names = append(names, ch.Name)
		if !ch.OK || ch.Error != "" {
			t.Errorf("check %+v failed", ch)
		}
	}
	if got := strings.Join(names, ","); got != "database,schema,node:LTC" {
		t.Errorf("checks %s, want database,schema,node:LTC", got)
	}
	if d := find(t, r, "node:LTC").Detail; !strings.Contains(d, "chain regtest, height 101") {
		t.Errorf("node detail %q", d)
	}
	if d := find(t, r, "schema").Detail; d != v.String() || v.Behind() {
		t.Errorf("schema detail %q, want %q and current", d, v)
	}
}

// TestNotReady covers each dependency being down, slow or not ready. Every
// answer must come within about the check timeout.
func TestNotReady(t *testing.T) {
	upNode := regtest.StartT(t, regtest.Options{})
	// A node that has only its genesis block (from 2011) is in initial
	// block download.
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ibdNode, err := regtest.Start(ctx, regtest.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = ibdNode.Stop(ctx)
	})
	goodPool := pgtest.NewPool(t)
	deadPool, err := pgxpool.New(context.Background(), "postgres://postgres@"+closedAddr(t)+"/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	hungDB, _ := hangserver.Start(t)
	hungPool, err := pgxpool.New(context.Background(), "postgres://postgres@"+hungDB+"/x?sslmode=disable&connect_timeout=30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hungPool.Close)
	emptyPool := emptyDatabase(t)
	up := upNode.Client(regtest.MerchantWallet)
	hungNode, _ := hangserver.Start(t)

	tests := []struct {
		name   string
		pool   *pgxpool.Pool
		node   Node
		failed map[string]string // check name → error text it must contain
	}{
		{"node refuses connections", goodPool, client(t, "http://u:p@"+closedAddr(t)), map[string]string{"node:LTC": "does not answer"}},
		{"node hangs", goodPool, client(t, "http://u:p@"+hungNode), map[string]string{"node:LTC": "no answer within 1s"}},
		{"node wrong password", goodPool, client(t, "http://"+upNode.User+":wrong@127.0.0.1:"+fmt.Sprint(upNode.RPCPort)), map[string]string{"node:LTC": "refused the RPC credentials"}},
		{"node in initial block download", goodPool, ibdNode.Client(""), map[string]string{"node:LTC": "initial block download"}},
		{"database refuses connections", deadPool, up, map[string]string{"database": "cannot connect", "schema": "cannot connect"}},
		{"database hangs", hungPool, up, map[string]string{"database": "no answer within 1s", "schema": "no answer within 1s"}},
		{"schema behind", emptyPool, up, map[string]string{"schema": "behind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(Config{Pool: tt.pool, Nodes: map[string]Node{"LTC": tt.node}, Timeout: time.Second})
			start := time.Now()
			r := c.Ready(context.Background())
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Ready took %s, want about the 1s timeout at most", d)
			}
			if r.Ready {
				t.Fatalf("ready, want not: %+v", r)
			}
			for _, ch := range r.Checks {
				want, shouldFail := tt.failed[ch.Name]
				switch {
				case shouldFail && (ch.OK || !strings.Contains(ch.Error, want)):
					t.Errorf("%s: ok=%t error %q, want failed with %q", ch.Name, ch.OK, ch.Error, want)
				case !shouldFail && !ch.OK:
					t.Errorf("%s failed (%s), want ok", ch.Name, ch.Error)
				}
				for _, secret := range []string{"u:p", "wrong", "postgres@", "127.0.0.1"} {
					if strings.Contains(ch.Error, secret) {
						t.Errorf("%s: error %q shows %q", ch.Name, ch.Error, secret)
					}
				}
			}
		})
	}
}

func TestReadyReusesRecentReport(t *testing.T) {
	calls := 0
	c := NewChecker(Config{Pool: pgtest.NewPool(t), Nodes: map[string]Node{"LTC": nodeFunc(func() { calls++ })}, Cache: time.Hour})
	for range 3 {
		if r := c.Ready(context.Background()); !r.Ready {
			t.Fatalf("not ready: %+v", r)
		}
	}
	if calls != 1 {
		t.Errorf("node asked %d times, want 1 (the report is reused)", calls)
	}
	calls = 0
	c = NewChecker(Config{Pool: pgtest.NewPool(t), Nodes: map[string]Node{"LTC": nodeFunc(func() { calls++ })}, Cache: -1})
	c.Ready(context.Background())
	c.Ready(context.Background())
	if calls != 2 {
		t.Errorf("node asked %d times with the cache off, want 2", calls)
	}
}

// nodeFunc is a node that is synced, calling f on each check.
type nodeFunc func()

func (f nodeFunc) GetBlockchainInfo(context.Context) (*coind.ChainInfo, error) {
	f()
	return &coind.ChainInfo{Chain: "regtest", Blocks: 1, Headers: 1}, nil
}

// emptyDatabase creates a database without Transient's schema.
func emptyDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("transient_health_empty_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), pgtest.ServerURL())
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	cfg, err := pgxpool.ParseConfig(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestProbes checks the parts' probes: an optional one is reported but
// does not make the report unready, a required one does, and only a
// PublicError's reason is shown.
func TestProbes(t *testing.T) {
	pool := pgtest.NewPool(t)
	down := func(context.Context) (string, error) {
		return "", &PublicError{Reason: "not connected to the broker", Err: errors.New("dial tcp 10.0.0.7:5672: refused")}
	}
	secret := func(context.Context) (string, error) { return "", errors.New("dial tcp 10.0.0.7:5672: refused") }
	up := func(context.Context) (string, error) { return "connected", nil }

	r := NewChecker(Config{Pool: pool, Cache: -1, Probes: []Probe{{Name: "amqp", Optional: true, Check: down}, {Name: "up", Check: up}}}).
		Ready(context.Background())
	if !r.Ready {
		t.Fatalf("an optional probe failing made the report unready: %+v", r)
	}
	if ch := find(t, r, "amqp"); ch.OK || !ch.Optional || ch.Error != "not connected to the broker" {
		t.Errorf("optional probe: %+v", ch)
	}
	if ch := find(t, r, "up"); !ch.OK || ch.Optional || ch.Detail != "connected" {
		t.Errorf("probe that passed: %+v", ch)
	}
	r = NewChecker(Config{Pool: pool, Cache: -1, Probes: []Probe{{Name: "amqp", Check: secret}}}).Ready(context.Background())
	if ch := find(t, r, "amqp"); r.Ready || ch.OK || strings.Contains(ch.Error, "10.0.0.7") {
		t.Errorf("required probe failing: ready %v, %+v; want not ready without the host", r.Ready, ch)
	}
}

package payments

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/xpub"
)

// testKey is the regtest key of the Dogecoin fixtures (any tpub serves).
const testKey = "tpubDDZTsUpkdRpc6gKUKRySNhnzWBNqkfF8iCaaAy7gLTyAxXWfbWmFWV7oKZGKgTsgWrPDcXfgLftTb5Ba1NqeYgNMBk94zeayWqm8DoWv4kG"

// watchWallet is a wallet created with disable_private_keys: it can hold
// no key, so every address it knows it only watches.
const watchWallet = "watch"

// flakyWatcher fails imports while fail is set, counting them.
type flakyWatcher struct {
	Watcher
	fail    atomic.Bool
	imports atomic.Int32
}

func (f *flakyWatcher) ImportWatchOnly(ctx context.Context, addrs []string, since time.Time) error {
	f.imports.Add(1)
	if f.fail.Load() {
		return errors.New("node down")
	}
	return f.Watcher.ImportWatchOnly(ctx, addrs, since)
}

// newXPubEnv is newEnv with LTC's addresses derived from testKey (P2WPKH)
// through the pool, the node's wallet one without private keys.
func newXPubEnv(t *testing.T, size, lowWater int, opts ...envOption) (*env, *flakyWatcher) {
	t.Helper()
	e := newEnv(t)
	if err := e.node.Client("").Call(e.ctx, "createwallet", []any{watchWallet, true, true}, nil); err != nil {
		t.Fatalf("create the watch-only wallet: %v", err)
	}
	k, err := xpub.Parse("LTC", testKey, xpub.P2WPKH)
	if err != nil {
		t.Fatal(err)
	}
	client := e.node.Client(watchWallet)
	w := &flakyWatcher{Watcher: client}
	cfg := Config{
		Coins: []Coin{{Code: "LTC", Node: client, Confirmations: 2, URIScheme: "litecoin", Wallet: watchWallet,
			Derived: &XPub{Key: k, Node: w}}},
		MonitoringWindow: time.Hour,
		Now:              e.clock.Now,
		AddressPool:      PoolConfig{Size: size, LowWater: lowWater, Batch: 8},
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.svc = NewService(e.pool, cfg)
	return e, w
}

// derived returns /0/from … /0/to-1 of testKey as P2WPKH on regtest.
func derived(t *testing.T, from, to int) []string {
	t.Helper()
	k, err := xpub.Parse("LTC", testKey, xpub.P2WPKH)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := from; i < to; i++ {
		a, err := k.Address("regtest", uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// nextIndex reads the key's next index.
func (e *env) nextIndex() int64 {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(e.ctx, `SELECT next_index FROM xpub_keys WHERE coin = 'LTC'`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestXPubPoolPaysToDerivedWatchOnlyAddresses(t *testing.T) {
	e, _ := newXPubEnv(t, 6, 3)
	e.fill()
	want := derived(t, 0, 6)
	if got := e.pooled(); !slices.Equal(got, want) {
		t.Fatalf("pool = %v, want /0/0../0/5 = %v", got, want)
	}
	watched, err := e.node.Client(watchWallet).WatchesAll(e.ctx, want)
	if err != nil || slices.Contains(watched, false) {
		t.Fatalf("the node watches %v (%v), want all", watched, err)
	}
	p := e.create(amt("1.5"))
	if p.Address != want[0] {
		t.Fatalf("first payment's address %s, want /0/0 %s", p.Address, want[0])
	}
	txid := e.pay(p.Address, amt("1.5"))
	e.process(txid)
	e.expect(p.ID, StatusPending, amt("1.5"))
	e.mine(2)
	e.process(txid)
	e.expect(p.ID, StatusPaid, amt("1.5"))
}

func TestXPubImportFailureKeepsIndexes(t *testing.T) {
	e, w := newXPubEnv(t, 4, 2)
	w.fail.Store(true)
	if err := e.svc.refill(e.ctx, e.svc.coins["LTC"]); err == nil {
		t.Fatal("refill with the node refusing imports succeeded")
	}
	// Reserved and pooled, but not ready: nothing can be handed out.
	if n := e.nextIndex(); n != 2 {
		t.Fatalf("next index %d after one failed batch, want 2 (the first batch)", n)
	}
	_, err := e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if !errors.Is(err, ErrNoAddress) || !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("create with no ready address: %v, want ErrNoAddress (503), never the node's wallet", err)
	}
	// More failures reserve nothing more.
	for range 3 {
		_ = e.svc.refill(e.ctx, e.svc.coins["LTC"])
	}
	if n := e.nextIndex(); n != 2 {
		t.Fatalf("next index %d after failed retries, want still 2", n)
	}
	w.fail.Store(false)
	e.fill()
	if got, want := e.pooled(), derived(t, 0, 4); !slices.Equal(got, want) {
		t.Fatalf("pool = %v, want /0/0../0/3 = %v (the unready batch first, no index skipped)", got, want)
	}
	if p := e.create(amt("1")); p.Address != derived(t, 0, 1)[0] {
		t.Fatalf("address %s, want /0/0", p.Address)
	}
}

// TestXPubTwoProcessesNoDuplicates runs two services on one database, as
// two transientd processes, creating payments and refilling at once.
func TestXPubTwoProcessesNoDuplicates(t *testing.T) {
	e, w := newXPubEnv(t, 5, 3)
	other := NewService(e.pool, Config{
		Coins: []Coin{{Code: "LTC", Node: e.node.Client(watchWallet), Confirmations: 2, URIScheme: "litecoin",
			Wallet: watchWallet, Derived: e.svc.coins["LTC"].Derived}},
		AddressPool: PoolConfig{Size: 5, LowWater: 3, Batch: 4},
	})
	_ = w
	const perProcess = 15
	var (
		mu    sync.Mutex
		addrs []string
		wg    sync.WaitGroup
	)
	for _, s := range []*Service{e.svc, other} {
		wg.Go(func() {
			for made := 0; made < perProcess; {
				_ = s.refill(e.ctx, s.coins["LTC"])
				p, err := s.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
				if errors.Is(err, ErrNoAddress) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				addrs = append(addrs, p.Address)
				mu.Unlock()
				made++
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	// Every handed-out address is a derived one, and the derived ones
	// handed out or pooled are exactly /0/0 … /0/next-1: none skipped.
	next := int(e.nextIndex())
	all := derived(t, 0, next)
	pooled := e.pooled()
	rows, _ := e.pool.Query(e.ctx, `SELECT address FROM payments WHERE coin = 'LTC'`)
	paid, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	got := append(paid, pooled...)
	slices.Sort(got)
	slices.Sort(all)
	if !slices.Equal(got, all) {
		t.Fatalf("payments and pool hold %d addresses, want the %d derived /0/0../0/%d", len(got), len(all), next-1)
	}
	if len(addrs) != 2*perProcess {
		t.Fatalf("%d payments, want %d", len(addrs), 2*perProcess)
	}
}

func TestXPubGap(t *testing.T) {
	var (
		logs bytes.Buffer
		gaps sync.Map
	)
	e, _ := newXPubEnv(t, 4, 2, func(c *Config) {
		c.Coins[0].GapWarn = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.AddressPool.ObserveGap = func(coin string, gap int64) { gaps.Store(coin, gap) }
	})
	e.fill()
	st := e.keyStatus()
	if st.NextIndex != 4 || st.HighestHandedOut != -1 || st.HighestPaid != -1 || st.Gap != 0 || st.Ready != 4 {
		t.Fatalf("before any payment: %+v", st)
	}
	var ps []*Payment
	for range 5 {
		e.fill()
		ps = append(ps, e.create(amt("1")))
	}
	st = e.keyStatus()
	if st.HighestHandedOut != 4 || st.HighestPaid != -1 || st.Gap != 5 {
		t.Fatalf("5 unpaid: %+v, want handed out up to 4, none paid, gap 5", st)
	}
	e.process(e.pay(ps[1].Address, amt("0.5")))
	st = e.keyStatus()
	if st.HighestHandedOut != 4 || st.HighestPaid != 1 || st.Gap != 3 {
		t.Fatalf("/0/1 paid: %+v, want gap 4-1 = 3", st)
	}
	warned := map[string]time.Time{}
	e.svc.checkGaps(e.ctx, warned)
	if g, _ := gaps.Load("LTC"); g != int64(3) {
		t.Fatalf("gauge %v, want 3", g)
	}
	if !strings.Contains(logs.String(), "gap=3 gap_warn=2") {
		t.Fatalf("no warning past the gap warning in %q", logs.String())
	}
	logs.Reset()
	e.svc.checkGaps(e.ctx, warned)
	if logs.Len() != 0 {
		t.Fatalf("warned again within the hour: %q", logs.String())
	}
	e.process(e.pay(ps[4].Address, amt("0.5")))
	e.svc.checkGaps(e.ctx, warned)
	if g, _ := gaps.Load("LTC"); g != int64(0) || len(warned) != 0 {
		t.Fatalf("gauge %v after /0/4 paid, want 0 and the warning cleared", g)
	}
}

// keyStatus returns the LTC key's status.
func (e *env) keyStatus() KeyStatus {
	e.t.Helper()
	sts, err := e.svc.KeyStatuses(e.ctx)
	if err != nil || len(sts) != 1 {
		e.t.Fatalf("key statuses %v, %v", sts, err)
	}
	return sts[0]
}

// TestXPubLostWatchOnlyRecovery replaces the node's wallet with an empty
// one, as a new node or a wallet restored from an old backup would be, and
// pays an open payment meanwhile: the watch check notices, the addresses
// are imported again with a rescan, and both payments go on to PAID.
func TestXPubLostWatchOnlyRecovery(t *testing.T) {
	e, _ := newXPubEnv(t, 4, 2)
	e.fill()
	p1 := e.create(amt("1"))
	p2 := e.create(amt("2"))
	tx1 := e.pay(p1.Address, amt("1"))
	e.mine(1)
	e.process(tx1)
	e.expect(p1.ID, StatusPending, amt("1"))
	if detail, err := e.svc.CheckWatched(e.ctx, "LTC"); err != nil {
		t.Fatalf("watch check on a healthy node: %v", err)
	} else if detail == "" {
		t.Fatal("no detail")
	}

	// The wallet is replaced by an empty one of the same name.
	root := e.node.Client("")
	if err := root.Call(e.ctx, "unloadwallet", []any{watchWallet}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.node.Dir, "regtest", "wallets", watchWallet)); err != nil {
		t.Fatal(err)
	}
	if err := root.Call(e.ctx, "createwallet", []any{watchWallet, true, true}, nil); err != nil {
		t.Fatal(err)
	}
	tx2 := e.pay(p2.Address, amt("2")) // unseen: nothing watches it now
	e.mine(1)
	if tx, err := e.node.Client(watchWallet).GetTransaction(e.ctx, tx2); err == nil {
		t.Fatalf("the new wallet knows %s already: %+v", tx2, tx)
	}

	if _, err := e.svc.CheckWatched(e.ctx, "LTC"); !errors.Is(err, ErrWatchLost) {
		t.Fatalf("watch check after the wallet was replaced: %v, want ErrWatchLost", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := e.svc.CheckWatched(e.ctx, "LTC")
		if err == nil && !e.svc.rewatching["LTC"].Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node still does not watch the addresses: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The rescan found the payment made while nothing watched, and the
	// catch-up recorded it.
	e.expect(p2.ID, StatusPending, amt("2"))
	e.mine(1)
	e.process(tx1)
	e.process(tx2)
	e.expect(p1.ID, StatusPaid, amt("1"))
	e.expect(p2.ID, StatusPaid, amt("2"))
	// The pooled addresses are watched again too.
	watched, err := e.node.Client(watchWallet).WatchesAll(e.ctx, e.pooled())
	if err != nil || slices.Contains(watched, false) {
		t.Fatalf("pooled addresses watched %v (%v), want all", watched, err)
	}
}

// TestXPubDropsHotWalletAddresses switches a coin from the node's wallet to
// an extended public key: the addresses the node's wallet pooled (whose
// keys are on the server) are dropped before any payment can take one.
func TestXPubDropsHotWalletAddresses(t *testing.T) {
	e, _ := newXPubEnv(t, 4, 2)
	hot, err := e.node.Client(regtest.MerchantWallet).GetNewAddresses(e.ctx, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO address_pool (coin, address) SELECT 'LTC', unnest($1::text[])`, hot); err != nil {
		t.Fatal(err)
	}
	dropped, err := e.svc.DropForeignPooled(e.ctx)
	if err != nil || dropped["LTC"] != 3 {
		t.Fatalf("dropped %v (%v), want 3 LTC addresses", dropped, err)
	}
	e.fill()
	if p := e.create(amt("1")); p.Address != derived(t, 0, 1)[0] {
		t.Fatalf("address %s, want /0/0 of the key, never the node wallet's %v", p.Address, hot)
	}
	if dropped, _ := e.svc.DropForeignPooled(e.ctx); len(dropped) != 0 {
		t.Fatalf("dropped derived addresses: %v", dropped)
	}
}

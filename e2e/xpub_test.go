package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
	"github.com/transient-gateway/transient/internal/xpub"
)

// merchantKey is the account key of the merchant's own wallet in these
// tests (the regtest key of the Dogecoin fixtures); the node gets none of
// its private keys.
const merchantKey = "tpubDDZTsUpkdRpc6gKUKRySNhnzWBNqkfF8iCaaAy7gLTyAxXWfbWmFWV7oKZGKgTsgWrPDcXfgLftTb5Ba1NqeYgNMBk94zeayWqm8DoWv4kG"

// watchWallet is the node's wallet for the gateway: created with
// disable_private_keys, so it can hold no key at all.
const watchWallet = "watch"

// createWatchWallet creates (or, after a reset, creates again) the
// wallet without private keys and checks that it has none.
func createWatchWallet(t *testing.T, node *regtest.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Client("").Call(ctx, "createwallet", []any{watchWallet, true, true}, nil); err != nil {
		t.Fatalf("createwallet: %v", err)
	}
	var info struct {
		PrivateKeysEnabled bool `json:"private_keys_enabled"`
	}
	if err := node.Client(watchWallet).Call(ctx, "getwalletinfo", nil, &info); err != nil || info.PrivateKeysEnabled {
		t.Fatalf("the gateway's wallet can hold private keys (%+v, %v)", info, err)
	}
}

// xpubEnv configures LTC with addresses derived from merchantKey, watched
// by the node's wallet without keys.
func xpubEnv(node *regtest.Node) []string {
	return []string{"COINS=LTC", "LTC_RPC_URL=" + node.URL(watchWallet), "LTC_CONFIRMATIONS=2",
		"LTC_XPUB=" + merchantKey, "LTC_ADDRESS_TYPE=p2wpkh", "ADDRESS_POOL_SIZE=6", "ADDRESS_POOL_LOW_WATER=3"}
}

// derivedAddress returns /0/i of merchantKey, as the merchant's wallet
// shows it.
func derivedAddress(t *testing.T, i uint32) string {
	t.Helper()
	k, err := xpub.Parse("LTC", merchantKey, xpub.P2WPKH)
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Address("regtest", i)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// createWhenReady creates an LTC payment, waiting while the pool is still
// importing its first addresses (503).
func (d *daemon) createWhenReady(amount string) payment {
	d.t.Helper()
	var p payment
	waitFor(d.t, 30*time.Second, func() bool {
		var r struct {
			Payment payment `json:"payment"`
		}
		code := d.call("POST", "/payments", fmt.Sprintf(`{"currency":"LTC","amount":%q}`, amount), &r)
		if code != 201 && code != 503 {
			d.t.Fatalf("create: %d", code)
		}
		p = r.Payment
		return code == 201
	}, func() string { return "no derived address became ready" })
	return p
}

// TestXPubEndToEnd takes payments to addresses derived from the merchant's
// key, on a node wallet that holds no key, through PENDING, PAID, a reorg
// and a double spend, with the hook binaries and the webhooks firing.
func TestXPubEndToEnd(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	createWatchWallet(t, node)
	recv := startReceiver(t)
	d := startDaemon(t, append(xpubEnv(node), "LISTEN_ADDR="+addr, "CATCHUP_INTERVAL=1s",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()

	p1 := d.createWhenReady("1.25")
	if p1.Address != derivedAddress(t, 0) {
		t.Fatalf("first address %s, want /0/0 of the merchant's key %s", p1.Address, derivedAddress(t, 0))
	}
	tx1, err := node.Send(ctx, regtest.MinerWallet, p1.Address, 125_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p1.ID, "PENDING", 30*time.Second)
	blocks, err := node.Mine(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := d.waitStatus(p1.ID, "PAID", 30*time.Second)
	if len(got.Transactions) != 1 || got.Transactions[0].TxID != tx1 || got.Transactions[0].Confirmations != 2 {
		t.Fatalf("transactions = %+v", got.Transactions)
	}
	// A reorg takes the payment back to PENDING, and the chain that wins
	// confirms it again.
	if err := node.InvalidateBlock(ctx, blocks[0]); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p1.ID, "PENDING", 30*time.Second)
	// Mined to another address: in the same second as the invalidated
	// block, the same coinbase and transactions would make the same block,
	// which the node refuses as a duplicate.
	other, err := node.NewAddress(ctx, regtest.MinerWallet, "reorg")
	if err != nil {
		t.Fatal(err)
	}
	var replacing []string
	if err := node.Client("").Call(ctx, "generatetoaddress", []any{2, other}, &replacing); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p1.ID, "PAID", 30*time.Second)

	// A double spend takes a pending payment back to UNPAID.
	p2 := d.createWhenReady("0.5")
	if p2.Address != derivedAddress(t, 1) {
		t.Fatalf("second address %s, want /0/1 %s", p2.Address, derivedAddress(t, 1))
	}
	tx2, err := node.Send(ctx, regtest.MinerWallet, p2.Address, 50_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p2.ID, "PENDING", 30*time.Second)
	if _, err := node.DoubleSpend(ctx, regtest.MinerWallet, tx2); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p2.ID, "UNPAID", 30*time.Second)

	want := map[string]string{
		// The created event first (delivered long before any payment).
		p1.ID: ">UNPAID,UNPAID>PENDING,PENDING>PAID,PAID>PENDING,PENDING>PAID",
		p2.ID: ">UNPAID,UNPAID>PENDING,PENDING>UNPAID",
	}
	var seqs map[string]string
	waitFor(t, 30*time.Second, func() bool {
		seqs = map[string]string{}
		for _, e := range recv.events() {
			id := fmt.Sprint(e["payment_id"])
			seqs[id] = strings.TrimPrefix(seqs[id]+","+fmt.Sprint(e["previous_status"], ">", e["status"]), ",")
		}
		return seqs[p1.ID] == want[p1.ID] && seqs[p2.ID] == want[p2.ID]
	}, func() string { return fmt.Sprintf("webhooks %v, want %v", seqs, want) })
}

// TestXPubTwoProcesses runs two transientd processes on one database and
// one key, creating payments at once: no address twice, none skipped.
func TestXPubTwoProcesses(t *testing.T) {
	node := startNode(t, "")
	createWatchWallet(t, node)
	db := pgtest.NewDatabase(t)
	a := startDaemon(t, append(xpubEnv(node), "DATABASE_URL="+db)...)
	b := startDaemon(t, append(xpubEnv(node), "DATABASE_URL="+db)...)
	const each = 15
	var (
		mu    sync.Mutex
		addrs []string
		wg    sync.WaitGroup
	)
	for _, d := range []*daemon{a, b} {
		wg.Go(func() {
			for range each {
				p := d.createWhenReady("0.01")
				mu.Lock()
				addrs = append(addrs, p.Address)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(context.Background(), `
		SELECT x.derivation_index FROM payments p JOIN xpub_addresses x ON x.coin = p.coin AND x.address = p.address
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	idxs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	if len(idxs) != 2*each {
		t.Fatalf("%d payments with derived addresses, want %d", len(idxs), 2*each)
	}
	// Handed out oldest first from one pool: indexes 0 … 29, none skipped.
	for i, idx := range idxs {
		if idx != int64(i) {
			t.Fatalf("derivation indexes of the payments %v, want 0 … %d", idxs, 2*each-1)
		}
	}
	for i, want := range []uint32{0, uint32(2*each - 1)} {
		if !slices.Contains(addrs, derivedAddress(t, want)) {
			t.Fatalf("check %d: /0/%d %s was not handed out", i, want, derivedAddress(t, want))
		}
	}
}

// TestXPubLostWatchOnlyRecovery replaces the node's wallet with an empty
// one while transientd runs, and pays an open payment meanwhile: /readyz
// notices, transientd imports the addresses again with a rescan, and the
// payment is found without an operator.
func TestXPubLostWatchOnlyRecovery(t *testing.T) {
	node := startNode(t, "")
	createWatchWallet(t, node)
	d := startDaemon(t, append(xpubEnv(node), "CATCHUP_INTERVAL=1s")...)
	ctx := context.Background()
	p := d.createWhenReady("0.7")
	waitFor(t, 30*time.Second, func() bool { return d.call("GET", "/readyz", "", nil) == 200 },
		func() string { return "not ready on a healthy node" })

	replaceWatchWallet(t, node)
	if _, err := node.Send(ctx, regtest.MinerWallet, p.Address, 70_000_000, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	sawLost := false
	waitFor(t, 30*time.Second, func() bool {
		d.call("GET", "/readyz", "", &ready)
		for _, c := range ready.Checks {
			sawLost = sawLost || (c.Name == "watch:LTC" && !c.OK)
		}
		return sawLost
	}, func() string { return "/readyz never reported the lost watch-only addresses" })
	d.waitStatus(p.ID, "PENDING", time.Minute)
	waitFor(t, 30*time.Second, func() bool { return d.call("GET", "/readyz", "", nil) == 200 },
		func() string { return "not ready again after the re-import:\n" + d.logs.String() })
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PAID", 30*time.Second)
	if !strings.Contains(d.logs.String(), "importing them again") {
		t.Fatal("the log does not say the addresses were imported again")
	}
}

// replaceWatchWallet replaces the node's wallet without keys by an empty
// one of the same name, as a new node or a restored old backup would.
func replaceWatchWallet(t *testing.T, node *regtest.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Client("").Call(ctx, "unloadwallet", []any{watchWallet}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(node.Dir, "regtest", "wallets", watchWallet)); err != nil {
		t.Fatal(err)
	}
	createWatchWallet(t, node)
}

// TestXPubRewatchAtStart replaces the node's wallet while transientd is
// down and pays an open payment meanwhile: at start transientd imports the
// lost addresses again with a rescan and finds the payment.
func TestXPubRewatchAtStart(t *testing.T) {
	node := startNode(t, "")
	createWatchWallet(t, node)
	d := startDaemon(t, append(xpubEnv(node), "CATCHUP_INTERVAL=1s")...)
	ctx := context.Background()
	p := d.createWhenReady("0.4")
	d.stop()
	replaceWatchWallet(t, node)
	if _, err := node.Send(ctx, regtest.MinerWallet, p.Address, 40_000_000, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	d.restart()
	d.waitStatus(p.ID, "PAID", time.Minute)
	if !strings.Contains(d.logs.String(), "importing them again") {
		t.Fatalf("the log does not say the addresses were imported again:\n%s", d.logs.String())
	}
}

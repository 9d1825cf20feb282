package regtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/regtest"
)

// balance returns the wallet's trusted balance (getbalance) in base units.
func balance(t *testing.T, n *regtest.Node, wallet string) int64 {
	t.Helper()
	var v json.Number
	if err := n.Client(wallet).Call(t.Context(), "getbalance", nil, &v); err != nil {
		t.Fatalf("getbalance %s: %v", wallet, err)
	}
	amount, err := coind.ParseAmount(v.String())
	if err != nil {
		t.Fatal(err)
	}
	return amount
}

func TestStartAndSetup(t *testing.T) {
	t.Parallel()
	began := time.Now()
	n := regtest.StartT(t, regtest.Options{})
	t.Logf("start + setup took %s", time.Since(began))
	ctx := t.Context()

	if count, err := n.Client("").GetBlockCount(ctx); err != nil || count != 101 {
		t.Errorf("GetBlockCount = %d, %v; want 101", count, err)
	}
	var wallets []string
	if err := n.Client("").Call(ctx, "listwallets", nil, &wallets); err != nil {
		t.Fatal(err)
	}
	slices.Sort(wallets)
	if want := []string{regtest.MerchantWallet, regtest.MinerWallet}; !slices.Equal(wallets, want) {
		t.Errorf("wallets %v, want %v", wallets, want)
	}
	if got := balance(t, n, regtest.MinerWallet); got != 50*coind.CoinUnits {
		t.Errorf("miner balance %s, want 50 (one mature coinbase)", coind.FormatAmount(got))
	}
	if got := balance(t, n, regtest.MerchantWallet); got != 0 {
		t.Errorf("merchant balance %s, want 0", coind.FormatAmount(got))
	}
	if !strings.HasPrefix(n.URL("x"), "http://regtest:") || !strings.HasSuffix(n.URL("x"), "/wallet/x") || n.RPCPort == n.P2PPort {
		t.Errorf("URL(x) = %q, ports %d/%d", n.URL("x"), n.RPCPort, n.P2PPort)
	}
	// Nothing outside Dir: the node's files are all under it.
	if _, err := os.Stat(filepath.Join(n.Dir, "regtest", "debug.log")); err != nil {
		t.Errorf("debug.log not under Dir: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := regtest.Start(t.Context(), regtest.Options{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("Start without Dir: %v, want an error naming Dir", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := regtest.Start(t.Context(), regtest.Options{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y litecoind") || !strings.HasPrefix(err.Error(), "regtest: ") {
		t.Errorf("Start without litecoind in PATH: %v, want the apt-get hint", err)
	}
}

func TestNothingWrittenOutsideDir(t *testing.T) {
	// Debian's /usr/bin/litecoind wrapper would create ~/.litecoin.
	home := t.TempDir()
	t.Setenv("HOME", home)
	n, err := regtest.Start(t.Context(), regtest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(home); err != nil || len(entries) != 0 {
		t.Errorf("HOME holds %v (%v), want nothing", entries, err)
	}
}

func TestStartFailsFastWhenTheNodeExits(t *testing.T) {
	t.Parallel()
	began := time.Now()
	_, err := regtest.Start(t.Context(), regtest.Options{Dir: t.TempDir(), ExtraArgs: []string{"-no-such-option-xyz"}})
	if err == nil {
		t.Fatal("Start with an invalid option succeeded")
	}
	if elapsed := time.Since(began); elapsed > 10*time.Second {
		t.Errorf("failing took %s, want the exit to be noticed at once", elapsed)
	}
	if !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "no-such-option-xyz") {
		t.Errorf("error %q, want it to say the node exited and quote its complaint", err)
	}
}

func TestSendAndMine(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	merchant := n.Client(regtest.MerchantWallet)
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "invoice-1")
	if err != nil {
		t.Fatal(err)
	}
	txid, err := n.Send(ctx, regtest.MinerWallet, addr, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := merchant.GetTransaction(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Confirmations != 0 || tx.Amount != 1 || tx.Replaceable != "no" || len(tx.Details) != 1 || tx.Details[0].Label != "invoice-1" {
		t.Errorf("at 0 conf: %+v, want 0.00000001 labelled invoice-1, not replaceable", tx)
	}
	hashes, err := n.Mine(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tx, err = merchant.GetTransaction(ctx, txid); err != nil || tx.Confirmations != 2 || tx.BlockHash != hashes[0] {
		t.Errorf("after 2 blocks: %+v, %v; want 2 confirmations in %s", tx, err, hashes[0])
	}

	many := map[string]int64{}
	for _, label := range []string{"order-43", "order-44"} {
		a, err := n.NewAddress(ctx, regtest.MerchantWallet, label)
		if err != nil {
			t.Fatal(err)
		}
		many[a] = int64(len(many)+1) * 100_000_000
	}
	txid, err = n.SendMany(ctx, regtest.MinerWallet, many)
	if err != nil {
		t.Fatal(err)
	}
	tx, err = merchant.GetTransaction(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Amount != 300_000_000 || len(tx.Details) != 2 {
		t.Fatalf("sendmany: %+v, want 3 LTC in two details", tx)
	}
	for _, d := range tx.Details {
		if many[d.Address] != d.Amount {
			t.Errorf("detail %+v, want amount %d", d, many[d.Address])
		}
	}
}

func TestMineRefusesThePastMWEBHeight(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	_, err := n.Mine(t.Context(), regtest.MaxHeight-101+1)
	if err == nil || !strings.Contains(err.Error(), "MWEB") {
		t.Fatalf("Mine past height %d: %v, want an error about MWEB", regtest.MaxHeight, err)
	}
	if count, err := n.Client("").GetBlockCount(t.Context()); err != nil || count != 101 {
		t.Errorf("height after the refused Mine = %d, %v; want 101", count, err)
	}
	if _, err := n.Mine(t.Context(), regtest.MaxHeight-101); err != nil {
		t.Errorf("Mine up to height %d: %v", regtest.MaxHeight, err)
	}
}

func TestDoubleSpend(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	merchant, miner := n.Client(regtest.MerchantWallet), n.Client(regtest.MinerWallet)

	for _, tc := range []struct {
		confirmed, replaceable bool
		wantReplaceable        string
	}{
		{confirmed: true, replaceable: false, wantReplaceable: "unknown"},
		{confirmed: false, replaceable: true, wantReplaceable: "yes"}, // the tx itself signals BIP 125
	} {
		confirmed := tc.confirmed
		addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "doomed")
		if err != nil {
			t.Fatal(err)
		}
		txid, err := n.Send(ctx, regtest.MinerWallet, addr, 250_000_000, tc.replaceable)
		if err != nil {
			t.Fatal(err)
		}
		if confirmed {
			if _, err := n.Mine(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		conflict, err := n.DoubleSpend(ctx, regtest.MinerWallet, txid)
		if err != nil {
			t.Fatal(err)
		}
		if conflict == "" || conflict == txid {
			t.Fatalf("DoubleSpend returned %q", conflict)
		}
		tx, err := merchant.GetTransaction(ctx, txid)
		if err != nil {
			t.Fatal(err)
		}
		// §6: negative confirmations, no details, no conflicts on the receiver.
		if tx.Confirmations != -4 || len(tx.Details) != 0 || len(tx.WalletConflicts) != 0 || tx.Amount != 250_000_000 {
			t.Errorf("confirmed=%v: receiver sees %+v, want confirmations -4, empty details and walletconflicts", confirmed, tx)
		}
		if tx.Replaceable != tc.wantReplaceable || tx.Trusted == nil || *tx.Trusted || tx.BlockHash != "" {
			t.Errorf("confirmed=%v: receiver sees replaceable %q trusted %v block %q, want %q, false and none",
				confirmed, tx.Replaceable, tx.Trusted, tx.BlockHash, tc.wantReplaceable)
		}
		sent, err := miner.GetTransaction(ctx, txid)
		if err != nil {
			t.Fatal(err)
		}
		if sent.Confirmations != -4 || !slices.Contains(sent.WalletConflicts, conflict) {
			t.Errorf("confirmed=%v: sender sees %+v, want confirmations -4 and %s in walletconflicts", confirmed, sent, conflict)
		}
		if won, err := miner.GetTransaction(ctx, conflict); err != nil || won.Confirmations != 4 {
			t.Errorf("confirmed=%v: conflicting tx %+v, %v; want 4 confirmations", confirmed, won, err)
		}
		if in, err := miner.InMempool(ctx, txid); err != nil || in {
			t.Errorf("confirmed=%v: double-spent tx in mempool = %v, %v; want false", confirmed, in, err)
		}
	}
}

func TestBumpFee(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	merchant := n.Client(regtest.MerchantWallet)
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "rbf")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := n.Send(ctx, regtest.MinerWallet, addr, 100_000_000, true)
	if err != nil {
		t.Fatal(err)
	}
	if tx, err := merchant.GetTransaction(ctx, orig); err != nil || tx.Replaceable != "yes" {
		t.Fatalf("replaceable send: %+v, %v; want bip125-replaceable yes", tx, err)
	}
	bumped, err := n.BumpFee(ctx, regtest.MinerWallet, orig)
	if err != nil {
		t.Fatal(err)
	}
	if bumped == "" || bumped == orig {
		t.Fatalf("BumpFee returned %q for %s", bumped, orig)
	}
	// The receiver holds both, each in the other's walletconflicts.
	for _, pair := range [][2]string{{orig, bumped}, {bumped, orig}} {
		tx, err := merchant.GetTransaction(ctx, pair[0])
		if err != nil {
			t.Fatalf("receiver GetTransaction %s: %v", pair[0], err)
		}
		if !slices.Equal(tx.WalletConflicts, []string{pair[1]}) || tx.Confirmations != 0 || tx.Amount != 100_000_000 {
			t.Errorf("receiver sees %+v, want 0 conf with walletconflicts [%s]", tx, pair[1])
		}
	}
	if in, err := merchant.InMempool(ctx, orig); err != nil || in {
		t.Errorf("replaced tx in mempool = %v, %v; want false", in, err)
	}
	if in, err := merchant.InMempool(ctx, bumped); err != nil || !in {
		t.Errorf("replacement in mempool = %v, %v; want true", in, err)
	}
	sender, err := n.Client(regtest.MinerWallet).GetTransaction(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	if sender.ReplacedByTxID != bumped {
		t.Errorf("sender's replaced_by_txid %q, want %s", sender.ReplacedByTxID, bumped)
	}
}

func TestWalletNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "notify.log")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> '"+logFile+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := regtest.StartT(t, regtest.Options{
		WalletNotify: script + " wallet %s %w",
		BlockNotify:  script + " block %s",
	})
	ctx := t.Context()
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "notify")
	if err != nil {
		t.Fatal(err)
	}
	txid, err := n.Send(ctx, regtest.MinerWallet, addr, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	waitForLine(t, logFile, "wallet "+txid+" "+regtest.MerchantWallet)
	hashes, err := n.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitForLine(t, logFile, "block "+hashes[0])
}

// waitForLine polls path until it holds line, failing after 10 s.
func waitForLine(t *testing.T, path, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if slices.Contains(strings.Split(string(data), "\n"), line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no line %q after 10s; it holds:\n%s", path, line, data)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

func TestRestartKeepsTheChain(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "kept")
	if err != nil {
		t.Fatal(err)
	}
	txid, err := n.Send(ctx, regtest.MinerWallet, addr, 77, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	best, err := n.Client("").GetBestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port := n.RPCPort

	began := time.Now()
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %s", time.Since(began))
	if n.RPCPort != port {
		t.Errorf("RPC port changed from %d to %d", port, n.RPCPort)
	}
	if got, err := n.Client("").GetBestBlockHash(ctx); err != nil || got != best {
		t.Errorf("tip after restart %q, %v; want %s", got, err, best)
	}
	// Wallets other than "" are not loaded after a restart.
	if _, err := n.Client(regtest.MerchantWallet).GetTransaction(ctx, txid); !errors.Is(err, coind.ErrWalletNotFound) {
		t.Errorf("merchant before loadwallet: %v, want ErrWalletNotFound", err)
	}
	for _, w := range []string{regtest.MinerWallet, regtest.MerchantWallet} {
		if err := n.LoadWallet(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if tx, err := n.Client(regtest.MerchantWallet).GetTransaction(ctx, txid); err != nil || tx.Confirmations != 1 || tx.Amount != 77 {
		t.Errorf("merchant after restart: %+v, %v; want the confirmed 77-unit payment", tx, err)
	}
	if _, err := n.Mine(ctx, 1); err != nil {
		t.Errorf("mining after restart: %v", err)
	}
}

func TestStopAndKill(t *testing.T) {
	t.Parallel()
	n, err := regtest.Start(t.Context(), regtest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Errorf("Stop took %s, want a clean stop well before the 15 s kill", elapsed)
	}
	if err := n.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v, want nil", err)
	}
	if _, err := n.Client("").GetBlockCount(ctx); !errors.Is(err, coind.ErrUnavailable) {
		t.Errorf("stopped node: %v, want ErrUnavailable", err)
	}
	if err := n.Kill(); err != nil {
		t.Errorf("Kill after Stop: %v", err)
	}
}

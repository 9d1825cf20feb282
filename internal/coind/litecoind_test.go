package coind_test

// Integration tests against a real litecoind (Litecoin Core 0.21) in regtest,
// started per test by internal/regtest. They fail, never skip, when litecoind
// is missing (apt-get install -y litecoind).

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/regtest"
)

// setupHeight is the chain height after regtest's Setup.
const setupHeight = 101

func TestLitecoindPayment(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	merchant, miner := n.Client(regtest.MerchantWallet), n.Client(regtest.MinerWallet)

	info, err := merchant.NodeInfo(ctx)
	if err != nil {
		t.Fatalf("NodeInfo: %v", err)
	}
	if info.Dogecoin || !strings.HasPrefix(info.Subversion, "/LitecoinCore:") || info.Version < 210000 {
		t.Errorf("NodeInfo = %+v, want a Litecoin Core 0.21 node", info)
	}

	addr, err := merchant.GetNewAddress(ctx, "order-42")
	if err != nil {
		t.Fatalf("GetNewAddress: %v", err)
	}
	txid, err := miner.SendToAddress(ctx, addr, 1) // 0.00000001 LTC
	if err != nil {
		t.Fatalf("SendToAddress: %v", err)
	}
	syncWallets(t, n)

	tx, err := merchant.GetTransaction(ctx, txid)
	if err != nil {
		t.Fatalf("GetTransaction: %v", err)
	}
	wantDetails := []coind.Detail{{Address: addr, Category: "receive", Label: "order-42", Amount: 1, Vout: tx.Details[0].Vout}}
	if tx.TxID != txid || tx.Amount != 1 || tx.Confirmations != 0 || tx.BlockHash != "" || tx.BlockHeight != 0 ||
		tx.Trusted == nil || *tx.Trusted || tx.Replaceable == "" || !slices.Equal(tx.Details, wantDetails) {
		t.Errorf("receiver at 0 conf: %+v, want amount 1, 0 confirmations, trusted=false, details %+v", tx, wantDetails)
	}
	sent, err := miner.GetTransaction(ctx, txid)
	if err != nil {
		t.Fatalf("GetTransaction (sender): %v", err)
	}
	if sent.Amount != -1 || sent.Fee >= 0 || len(sent.Details) != 1 || sent.Details[0].Category != "send" || sent.Details[0].Amount != -1 {
		t.Errorf("sender at 0 conf: %+v, want amount -1, a negative fee and one send detail of -1", sent)
	}
	if in, err := merchant.InMempool(ctx, txid); err != nil || !in {
		t.Errorf("InMempool before mining = %v, %v; want true", in, err)
	}
	if in, err := merchant.InMempoolMany(ctx, []string{txid, strings.Repeat("ab", 32)}); err != nil || len(in) != 2 || !in[0] || in[1] {
		t.Errorf("InMempoolMany(sent, unknown) before mining = %v, %v; want [true false]", in, err)
	}

	hashes, err := n.Mine(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tx, err = merchant.GetTransaction(ctx, txid)
	if err != nil {
		t.Fatalf("GetTransaction: %v", err)
	}
	if tx.Confirmations != 1 || tx.BlockHash != hashes[0] || tx.BlockHeight != setupHeight+1 || tx.Trusted != nil || tx.Amount != 1 {
		t.Errorf("receiver at 1 conf: %+v, want 1 confirmation in block %s at height %d", tx, hashes[0], setupHeight+1)
	}
	if in, err := merchant.InMempool(ctx, txid); err != nil || in {
		t.Errorf("InMempool after mining = %v, %v; want false", in, err)
	}
	if in, err := merchant.InMempoolMany(ctx, []string{txid}); err != nil || len(in) != 1 || in[0] {
		t.Errorf("InMempoolMany after mining = %v, %v; want [false]", in, err)
	}

	// Amounts where float64 arithmetic goes wrong arrive exact.
	for _, amount := range []int64{29_000_000, 57_000_000, 115_000_000, 123_456_789} {
		txid, err := miner.SendToAddress(ctx, addr, amount)
		if err != nil {
			t.Fatalf("SendToAddress %s: %v", coind.FormatAmount(amount), err)
		}
		syncWallets(t, n)
		tx, err := merchant.GetTransaction(ctx, txid)
		if err != nil {
			t.Fatalf("GetTransaction: %v", err)
		}
		if tx.Amount != amount || tx.Details[0].Amount != amount {
			t.Errorf("sent %s, receiver sees %d / %d base units, want %d", coind.FormatAmount(amount), tx.Amount, tx.Details[0].Amount, amount)
		}
	}

	if _, err := merchant.GetTransaction(ctx, strings.Repeat("ab", 32)); !errors.Is(err, coind.ErrTxNotFound) {
		t.Errorf("unknown txid: got %v, want ErrTxNotFound", err)
	}
	if v, err := merchant.ValidateAddress(ctx, addr); err != nil || !v.IsValid || v.Address != addr {
		t.Errorf("ValidateAddress(own) = %+v, %v; want valid", v, err)
	}
	if v, err := merchant.ValidateAddress(ctx, "DFq66AjLeoJTtpHo47fg3rYrUydZxcANLN"); err != nil || v.IsValid {
		t.Errorf("ValidateAddress(dogecoin mainnet) = %+v, %v; want invalid", v, err)
	}
}

func TestLitecoindListSinceBlockRemoved(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	merchant := n.Client(regtest.MerchantWallet)

	cursor, err := merchant.GetBestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "order-7")
	if err != nil {
		t.Fatal(err)
	}
	txid, err := n.Send(ctx, regtest.MinerWallet, addr, 150_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}

	since, err := merchant.ListSinceBlock(ctx, cursor, 1)
	if err != nil {
		t.Fatalf("ListSinceBlock: %v", err)
	}
	if !since.RemovedSupported || len(since.Removed) != 0 {
		t.Errorf("RemovedSupported=%v Removed=%+v, want true and none", since.RemovedSupported, since.Removed)
	}
	row := findEntry(since.Transactions, txid)
	if row == nil || row.Amount != 150_000_000 || row.Confirmations != 1 || row.Label != "order-7" ||
		row.Address != addr || row.BlockHeight != setupHeight+1 || row.Category != "receive" {
		t.Errorf("listsinceblock row %+v, want the 1.5 LTC receive at height %d", row, setupHeight+1)
	}
	tip, err := merchant.GetBestBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if since.LastBlock != tip {
		t.Errorf("LastBlock %s, want the tip %s (target 1)", since.LastBlock, tip)
	}

	// A double spend mined elsewhere (the paying block is reorged out).
	if _, err := n.DoubleSpend(ctx, regtest.MinerWallet, txid); err != nil {
		t.Fatal(err)
	}
	// From the cursor the last call returned, now on the stale branch, the
	// conflicted receive comes back in "removed" only.
	staleCursor := since.LastBlock
	since, err = merchant.ListSinceBlock(ctx, staleCursor, 1)
	if err != nil {
		t.Fatalf("ListSinceBlock: %v", err)
	}
	if removed := findEntry(since.Removed, txid); removed == nil || removed.Confirmations != -4 || removed.Amount != 150_000_000 {
		t.Errorf("removed row %+v, want the 1.5 LTC receive with confirmations -4", removed)
	}
	if row := findEntry(since.Transactions, txid); row != nil {
		t.Errorf("conflicted receive still in transactions: %+v", row)
	}
	// From a cursor still on the active chain (before the fork) the
	// conflicted receive is in neither list: the node lists wallet
	// transactions only at depth >= 0 and "removed" only from stale blocks.
	since, err = merchant.ListSinceBlock(ctx, cursor, 1)
	if err != nil {
		t.Fatalf("ListSinceBlock: %v", err)
	}
	if row := findEntry(slices.Concat(since.Transactions, since.Removed), txid); row != nil {
		t.Errorf("conflicted receive listed from an active-chain cursor: %+v", row)
	}

	// An unknown cursor is an error on 0.21 (Dogecoin 1.14 would list everything).
	_, err = merchant.ListSinceBlock(ctx, strings.Repeat("0", 64), 1)
	if rpcErr, ok := errors.AsType[*coind.Error](err); !ok || rpcErr.Code != coind.CodeInvalidAddressOrKey {
		t.Errorf("ListSinceBlock(unknown hash): %v, want rpc error -5", err)
	}
}

// syncWallets waits until the merchant wallet has seen what the miner
// wallet of the same node just sent (wallets learn of mempool transactions
// asynchronously).
func syncWallets(t *testing.T, n *regtest.Node) {
	t.Helper()
	if err := n.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// findEntry returns the receive row of txid in rows, nil if absent.
func findEntry(rows []coind.ListEntry, txid string) *coind.ListEntry {
	for i := range rows {
		if rows[i].TxID == txid && rows[i].Category == "receive" {
			return &rows[i]
		}
	}
	return nil
}

func TestLitecoindBlocks(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	c := n.Client("")
	hashes, err := n.Mine(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}

	b, err := c.GetBlock(ctx, hashes[0])
	if err != nil {
		t.Fatalf("GetBlock: %v", err)
	}
	if b.Hash != hashes[0] || b.Height != setupHeight+1 || b.Confirmations != 2 || b.PreviousHash == "" || b.Time == 0 {
		t.Errorf("GetBlock = %+v, want height %d with 2 confirmations", b, setupHeight+1)
	}
	if h, err := c.GetBlockHash(ctx, setupHeight+1); err != nil || h != hashes[0] {
		t.Errorf("GetBlockHash(%d) = %q, %v; want %s", setupHeight+1, h, err, hashes[0])
	}
	if h, err := c.GetBlockHash(ctx, setupHeight+100); !errors.Is(err, coind.ErrBlockNotFound) {
		t.Errorf("GetBlockHash above the tip = %q, %v; want ErrBlockNotFound", h, err)
	}
	if _, err := c.GetBlock(ctx, strings.Repeat("0", 64)); !errors.Is(err, coind.ErrBlockNotFound) {
		t.Errorf("GetBlock(unknown) = %v, want ErrBlockNotFound", err)
	}
	info, err := c.GetBlockchainInfo(ctx)
	if err != nil {
		t.Fatalf("GetBlockchainInfo: %v", err)
	}
	if want := (coind.ChainInfo{Chain: "regtest", Blocks: setupHeight + 2, Headers: setupHeight + 2, BestBlockHash: hashes[1]}); *info != want {
		t.Errorf("GetBlockchainInfo = %+v, want %+v", *info, want)
	}

	if err := n.InvalidateBlock(ctx, hashes[0]); err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		if b, err := c.GetBlock(ctx, h); err != nil || b.Confirmations != -1 {
			t.Errorf("GetBlock(invalidated %s) = %+v, %v; want confirmations -1", h, b, err)
		}
	}
	if count, err := c.GetBlockCount(ctx); err != nil || count != setupHeight {
		t.Errorf("GetBlockCount after invalidateblock = %d, %v; want %d", count, err, setupHeight)
	}
	if err := n.ReconsiderBlock(ctx, hashes[0]); err != nil {
		t.Fatal(err)
	}
	if best, err := c.GetBestBlockHash(ctx); err != nil || best != hashes[1] {
		t.Errorf("GetBestBlockHash after reconsiderblock = %q, %v; want %s", best, err, hashes[1])
	}
	if b, err := c.GetBlock(ctx, hashes[0]); err != nil || b.Confirmations != 2 {
		t.Errorf("GetBlock after reconsiderblock = %+v, %v; want 2 confirmations", b, err)
	}
}

func TestLitecoindWalletRouting(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()

	for _, name := range []string{regtest.MinerWallet, regtest.MerchantWallet} {
		c := n.Client(name)
		if c.Wallet() != name {
			t.Errorf("Wallet() = %q, want %q", c.Wallet(), name)
		}
		var info struct {
			WalletName string `json:"walletname"`
		}
		if err := c.Call(ctx, "getwalletinfo", nil, &info); err != nil || info.WalletName != name {
			t.Errorf("getwalletinfo through %s = %q, %v; want %q", c, info.WalletName, err, name)
		}
	}

	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "routing")
	if err != nil {
		t.Fatal(err)
	}
	txid, err := n.Client(regtest.MinerWallet).SendToAddress(ctx, addr, 42)
	if err != nil {
		t.Fatal(err)
	}
	syncWallets(t, n)
	for wallet, want := range map[string]int64{regtest.MerchantWallet: 42, regtest.MinerWallet: -42} {
		if tx, err := n.Client(wallet).GetTransaction(ctx, txid); err != nil || tx.Amount != want {
			t.Errorf("GetTransaction in %s = %+v, %v; want amount %d", wallet, tx, err, want)
		}
	}

	// With two wallets loaded the root URL cannot reach a wallet.
	_, err = n.Client("").GetNewAddress(ctx, "")
	if rpcErr, ok := errors.AsType[*coind.Error](err); !ok || rpcErr.Code != coind.CodeWalletNotSpecified {
		t.Errorf("GetNewAddress on the root URL: %v, want rpc error -19", err)
	}
	_, err = n.Client("no-such-wallet").GetNewAddress(ctx, "")
	if !errors.Is(err, coind.ErrWalletNotFound) {
		t.Errorf("GetNewAddress in a missing wallet: %v, want ErrWalletNotFound", err)
	}

	// Wrong credentials and a dead node.
	bad, err := coind.New(coind.Config{URL: strings.Replace(n.URL(""), n.Password, "wrong-"+n.Password, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.GetBlockCount(ctx); !errors.Is(err, coind.ErrUnauthorized) || strings.Contains(err.Error(), n.Password) {
		t.Errorf("wrong password: %v, want ErrUnauthorized without the password", err)
	}
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := n.Client("").GetBlockCount(ctx); !errors.Is(err, coind.ErrUnavailable) {
		t.Errorf("killed node: %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(began); elapsed > time.Second {
		t.Errorf("killed node: failing took %s, want < 1s", elapsed)
	}
}

func TestLitecoindConcurrentGetTransaction(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	ctx := t.Context()
	merchant := n.Client(regtest.MerchantWallet)
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "concurrent")
	if err != nil {
		t.Fatal(err)
	}
	txid, err := n.Send(ctx, regtest.MinerWallet, addr, 123_456_789, false)
	if err != nil {
		t.Fatal(err)
	}

	const workers, calls = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range calls {
				tx, err := merchant.GetTransaction(ctx, txid)
				if err != nil {
					errs <- err
					return
				}
				if tx.Amount != 123_456_789 || len(tx.Details) != 1 || tx.Details[0].Label != "concurrent" {
					errs <- errors.New("wrong transaction: " + coind.FormatAmount(tx.Amount))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkGetTransaction measures gettransaction calls per second against
// a real litecoind with 16 concurrent callers (the client and the node share
// the machine). Run:
//
//	go test -run '^$' -bench BenchmarkGetTransaction -benchtime 20000x ./internal/coind/
func BenchmarkGetTransaction(b *testing.B) {
	n := regtest.StartT(b, regtest.Options{})
	ctx := context.Background()
	addr, err := n.NewAddress(ctx, regtest.MerchantWallet, "bench")
	if err != nil {
		b.Fatal(err)
	}
	txid, err := n.Send(ctx, regtest.MinerWallet, addr, 100_000_000, false)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := n.Mine(ctx, 1); err != nil {
		b.Fatal(err)
	}
	merchant := n.Client(regtest.MerchantWallet)
	const callers = 16
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tx, err := merchant.GetTransaction(ctx, txid)
			if err != nil {
				b.Error(err)
				return
			}
			if tx.Amount != 100_000_000 {
				b.Errorf("amount %d", tx.Amount)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkImportWatchOnly measures watch-only imports (importmulti without
// a rescan, in batches of 200) into a litecoind wallet created with
// disable_private_keys: the rate at which an extended public key's
// addresses can be made ready. Run:
//
//	go test -run '^$' -bench BenchmarkImportWatchOnly -benchtime 5x ./internal/coind/
func BenchmarkImportWatchOnly(b *testing.B) {
	n := regtest.StartT(b, regtest.Options{})
	ctx := context.Background()
	if err := n.Client("").Call(ctx, "createwallet", []any{"watch", true, true}, nil); err != nil {
		b.Fatal(err)
	}
	var info struct {
		Descriptor string `json:"descriptor"`
	}
	const key = "tpubDDZTsUpkdRpc6gKUKRySNhnzWBNqkfF8iCaaAy7gLTyAxXWfbWmFWV7oKZGKgTsgWrPDcXfgLftTb5Ba1NqeYgNMBk94zeayWqm8DoWv4kG"
	if err := n.Client("").Call(ctx, "getdescriptorinfo", []any{"wpkh(" + key + "/0/*)"}, &info); err != nil {
		b.Fatal(err)
	}
	const batch = 200
	batches := make([][]string, b.N)
	for i := range batches {
		if err := n.Client("").Call(ctx, "deriveaddresses", []any{info.Descriptor, []int{i * batch, (i+1)*batch - 1}}, &batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	watch := n.Client("watch")
	b.ResetTimer()
	for i := range b.N {
		if err := watch.ImportWatchOnly(ctx, batches[i], time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "addresses/s")
}

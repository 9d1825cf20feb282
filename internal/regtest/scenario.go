package regtest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
)

// Sync waits until the node has delivered its queued validation events
// (new mempool transactions, connected and disconnected blocks) to every
// wallet, through the hidden RPC syncwithvalidationinterfacequeue. Without
// it a wallet of the same node may not know a transaction yet right after
// sendtoaddress returns (gettransaction answers -5 for a moment). The
// helpers below that change wallets or the chain call it before returning.
func (n *Node) Sync(ctx context.Context) error {
	if err := n.Client("").Call(ctx, "syncwithvalidationinterfacequeue", nil, nil); err != nil {
		return fmt.Errorf("regtest: sync: %w", err)
	}
	return nil
}

// Setup creates the MinerWallet and MerchantWallet wallets and mines 101
// blocks to the miner, so it has 50 mature coins (coinbase maturity is 100).
func (n *Node) Setup(ctx context.Context) error {
	began := time.Now()
	for _, w := range []string{MinerWallet, MerchantWallet} {
		if err := n.CreateWallet(ctx, w); err != nil {
			return err
		}
	}
	if _, err := n.Mine(ctx, 101); err != nil {
		return err
	}
	n.logf("regtest: setup (2 wallets, 101 blocks) in %s", time.Since(began).Round(time.Millisecond))
	return nil
}

// CreateWallet creates and loads a legacy (BDB) wallet; the Debian build
// has no descriptor wallets.
func (n *Node) CreateWallet(ctx context.Context, name string) error {
	if err := n.Client("").Call(ctx, "createwallet", []any{name}, nil); err != nil {
		return fmt.Errorf("regtest: createwallet %q: %w", name, err)
	}
	return nil
}

// LoadWallet loads an existing wallet, as needed after Restart for every
// wallet but the default one.
func (n *Node) LoadWallet(ctx context.Context, name string) error {
	if err := n.Client("").Call(ctx, "loadwallet", []any{name}, nil); err != nil {
		return fmt.Errorf("regtest: loadwallet %q: %w", name, err)
	}
	return nil
}

// NewAddress returns a new address of wallet with label (the node's
// default type, bech32 "rltc1…").
func (n *Node) NewAddress(ctx context.Context, wallet, label string) (string, error) {
	addr, err := n.Client(wallet).GetNewAddress(ctx, label)
	if err != nil {
		return "", fmt.Errorf("regtest: new address in %q: %w", wallet, err)
	}
	return addr, nil
}

// minerAddress returns (once created, the same) mining address of
// MinerWallet.
func (n *Node) minerAddress(ctx context.Context) (string, error) {
	n.mu.Lock()
	addr := n.minerAddr
	n.mu.Unlock()
	if addr != "" {
		return addr, nil
	}
	addr, err := n.NewAddress(ctx, MinerWallet, "mining")
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.minerAddr == "" {
		n.minerAddr = addr
	}
	return n.minerAddr, nil
}

// checkHeight refuses to mine blocks that would pass MaxHeight.
func (n *Node) checkHeight(ctx context.Context, blocks int) error {
	height, err := n.Client("").GetBlockCount(ctx)
	if err != nil {
		return fmt.Errorf("regtest: mine: %w", err)
	}
	if height+int64(blocks) > MaxHeight {
		return fmt.Errorf("regtest: mine %d blocks at height %d: would pass height %d; MWEB activates at 432 and block 432 fails without an MWEB peg-in (coind-regtest.md §4)", blocks, height, MaxHeight)
	}
	return nil
}

// Mine mines blocks to the miner wallet (generatetoaddress) and returns
// their hashes. It refuses to go past height MaxHeight (430).
func (n *Node) Mine(ctx context.Context, blocks int) ([]string, error) {
	if blocks < 1 {
		return nil, fmt.Errorf("regtest: mine %d blocks: want at least 1", blocks)
	}
	if err := n.checkHeight(ctx, blocks); err != nil {
		return nil, err
	}
	addr, err := n.minerAddress(ctx)
	if err != nil {
		return nil, err
	}
	var hashes []string
	if err := n.Client("").Call(ctx, "generatetoaddress", []any{blocks, addr}, &hashes); err != nil {
		return nil, fmt.Errorf("regtest: mine %d blocks: %w", blocks, err)
	}
	return hashes, n.Sync(ctx)
}

// Send pays amount base units from fromWallet to address (sendtoaddress,
// amount as a decimal string) and returns the txid. replaceable signals
// BIP 125 so BumpFee can replace it.
func (n *Node) Send(ctx context.Context, fromWallet, address string, amount int64, replaceable bool) (string, error) {
	// address, amount, comment, comment_to, subtractfeefromamount, replaceable
	params := []any{address, coind.FormatAmount(amount), "", "", false, replaceable}
	var txid string
	if err := n.Client(fromWallet).Call(ctx, "sendtoaddress", params, &txid); err != nil {
		return "", fmt.Errorf("regtest: send %s from %q to %s: %w", coind.FormatAmount(amount), fromWallet, address, err)
	}
	return txid, n.Sync(ctx)
}

// SendMany pays several addresses in one transaction from fromWallet and
// returns the txid.
func (n *Node) SendMany(ctx context.Context, fromWallet string, amounts map[string]int64) (string, error) {
	outs := make(map[string]string, len(amounts))
	for addr, v := range amounts {
		outs[addr] = coind.FormatAmount(v)
	}
	var txid string
	if err := n.Client(fromWallet).Call(ctx, "sendmany", []any{"", outs}, &txid); err != nil {
		return "", fmt.Errorf("regtest: sendmany from %q: %w", fromWallet, err)
	}
	return txid, n.Sync(ctx)
}

// BumpFee replaces the wallet's unconfirmed, replaceable transaction txid
// with one paying a higher fee and returns the new txid.
func (n *Node) BumpFee(ctx context.Context, wallet, txid string) (string, error) {
	var r struct {
		TxID string `json:"txid"`
	}
	if err := n.Client(wallet).Call(ctx, "bumpfee", []any{txid}, &r); err != nil {
		return "", fmt.Errorf("regtest: bumpfee %s in %q: %w", txid, wallet, err)
	}
	return r.TxID, n.Sync(ctx)
}

// InvalidateBlock marks the block (and its descendants) invalid: their
// transactions go back to the mempool with 0 confirmations.
func (n *Node) InvalidateBlock(ctx context.Context, hash string) error {
	if err := n.Client("").Call(ctx, "invalidateblock", []any{hash}, nil); err != nil {
		return fmt.Errorf("regtest: invalidateblock %s: %w", hash, err)
	}
	return n.Sync(ctx)
}

// ReconsiderBlock undoes InvalidateBlock: the best chain containing the
// block becomes active again.
func (n *Node) ReconsiderBlock(ctx context.Context, hash string) error {
	if err := n.Client("").Call(ctx, "reconsiderblock", []any{hash}, nil); err != nil {
		return fmt.Errorf("regtest: reconsiderblock %s: %w", hash, err)
	}
	return n.Sync(ctx)
}

// DoubleSpend makes txid (a transaction of fromWallet) lose to a conflicting
// one, the recipe of coind-regtest.md §10: if txid is confirmed, its block is
// invalidated; a transaction spending the same inputs back to fromWallet is
// built (createrawtransaction + signrawtransactionwithwallet), mined with
// generateblock (bypassing the mempool, which holds txid), and 3 more blocks
// are mined. The receiver of txid then sees confirmations -4, empty details
// and "bip125-replaceable": "unknown". It returns the conflicting txid.
func (n *Node) DoubleSpend(ctx context.Context, fromWallet, txid string) (string, error) {
	wrap := func(err error) error {
		return fmt.Errorf("regtest: double-spend %s from %q: %w", txid, fromWallet, err)
	}
	if err := n.checkHeight(ctx, 4); err != nil {
		return "", err
	}
	wallet, root := n.Client(fromWallet), n.Client("")
	var orig struct {
		Confirmations int64  `json:"confirmations"`
		BlockHash     string `json:"blockhash"`
		Hex           string `json:"hex"`
	}
	if err := wallet.Call(ctx, "gettransaction", []any{txid}, &orig); err != nil {
		return "", wrap(err)
	}
	if orig.Confirmations < 0 {
		return "", wrap(fmt.Errorf("already conflicted (%d confirmations)", orig.Confirmations))
	}
	var decoded struct {
		Vin []struct {
			TxID string `json:"txid"`
			Vout uint32 `json:"vout"`
		} `json:"vin"`
	}
	if err := root.Call(ctx, "decoderawtransaction", []any{orig.Hex}, &decoded); err != nil {
		return "", wrap(err)
	}
	inputs := make([]map[string]any, 0, len(decoded.Vin))
	prevouts := make([]map[string]any, 0, len(decoded.Vin)) // so signing works while txid spends them
	var total int64
	for _, in := range decoded.Vin {
		out, err := n.output(ctx, in.TxID, in.Vout)
		if err != nil {
			return "", wrap(err)
		}
		total += out.value
		inputs = append(inputs, map[string]any{"txid": in.TxID, "vout": in.Vout})
		prevouts = append(prevouts, map[string]any{
			"txid": in.TxID, "vout": in.Vout, "scriptPubKey": out.script, "amount": coind.FormatAmount(out.value),
		})
	}
	if total <= doubleFee {
		return "", wrap(fmt.Errorf("inputs total %s, not enough for the fee", coind.FormatAmount(total)))
	}
	back, err := n.NewAddress(ctx, fromWallet, "double-spend")
	if err != nil {
		return "", wrap(err)
	}
	var raw string
	outputs := map[string]string{back: coind.FormatAmount(total - doubleFee)}
	if err := root.Call(ctx, "createrawtransaction", []any{inputs, outputs}, &raw); err != nil {
		return "", wrap(err)
	}
	var signed struct {
		Hex      string `json:"hex"`
		Complete bool   `json:"complete"`
	}
	if err := wallet.Call(ctx, "signrawtransactionwithwallet", []any{raw, prevouts}, &signed); err != nil {
		return "", wrap(err)
	}
	if !signed.Complete {
		return "", wrap(fmt.Errorf("signrawtransactionwithwallet: incomplete signature"))
	}
	var conflict struct {
		TxID string `json:"txid"`
	}
	if err := root.Call(ctx, "decoderawtransaction", []any{signed.Hex}, &conflict); err != nil {
		return "", wrap(err)
	}

	if orig.Confirmations > 0 {
		if err := n.InvalidateBlock(ctx, orig.BlockHash); err != nil {
			return "", wrap(err)
		}
	}
	addr, err := n.minerAddress(ctx)
	if err != nil {
		return "", wrap(err)
	}
	if err := root.Call(ctx, "generateblock", []any{addr, []string{signed.Hex}}, nil); err != nil {
		return "", wrap(err)
	}
	if _, err := n.Mine(ctx, 3); err != nil {
		return "", wrap(err)
	}
	return conflict.TxID, nil
}

// prevout is an output being spent.
type prevout struct {
	value  int64  // base units
	script string // scriptPubKey hex
}

// output returns output vout of txid (getrawtransaction; the node runs with
// -txindex=1 and also finds mempool transactions).
func (n *Node) output(ctx context.Context, txid string, vout uint32) (prevout, error) {
	var tx struct {
		Vout []struct {
			Value        json.Number `json:"value"`
			N            uint32      `json:"n"`
			ScriptPubKey struct {
				Hex string `json:"hex"`
			} `json:"scriptPubKey"`
		} `json:"vout"`
	}
	if err := n.Client("").Call(ctx, "getrawtransaction", []any{txid, true}, &tx); err != nil {
		return prevout{}, err
	}
	for _, o := range tx.Vout {
		if o.N == vout {
			v, err := coind.ParseAmount(o.Value.String())
			return prevout{value: v, script: o.ScriptPubKey.Hex}, err
		}
	}
	return prevout{}, fmt.Errorf("getrawtransaction %s: no output %d", txid, vout)
}

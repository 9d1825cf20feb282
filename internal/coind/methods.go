package coind

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// NodeInfo identifies the node software, from getnetworkinfo.
type NodeInfo struct {
	Version    int64  // e.g. 210201 (Litecoin Core 0.21.2.1), 1140900 (Dogecoin Core 1.14.9)
	Subversion string // user agent, e.g. "/LitecoinCore:0.21.2.1/", "/Shibetoshi:1.14.9/"
	// Dogecoin is true for Dogecoin Core ("/Shibetoshi:" user agent): the
	// account API (getnewaddress takes an account), no multiwallet, no
	// listsinceblock include_removed, no gettransaction blockheight.
	Dogecoin bool
}

// hasIncludeRemoved reports whether listsinceblock takes include_removed:
// Bitcoin Core 0.15 and its later forks do, Dogecoin Core 1.14 (whose
// version number is larger) does not.
func (i NodeInfo) hasIncludeRemoved() bool {
	return !i.Dogecoin && i.Version >= 150000
}

// Transaction is a wallet transaction from gettransaction. Amounts are base
// units.
type Transaction struct {
	TxID string
	// Amount is the net effect on the wallet: positive for a receive,
	// negative for a send (fee excluded).
	Amount int64
	// Fee is the fee paid, negative, on the sending side only; 0 otherwise.
	Fee int64
	// Confirmations is 0 in the mempool (or not broadcast) and negative when
	// a conflicting transaction is confirmed (a double spend).
	Confirmations int64
	BlockHash     string // "" when unconfirmed
	// BlockHeight is the block's height; 0 when absent (unconfirmed, and
	// always on Dogecoin Core 1.14, which does not report it).
	BlockHeight int64
	BlockTime   int64 // Unix seconds; 0 when unconfirmed
	Time        int64 // Unix seconds the wallet first saw the transaction
	// Trusted is set only when confirmations ≤ 0 (unconfirmed or
	// conflicted): whether the wallet counts the transaction as spendable
	// (false for a payment from another wallet). nil once confirmed.
	Trusted *bool
	// Replaceable is bip125-replaceable: "yes", "no", "unknown", or "" when
	// absent. A transaction that signals BIP 125 itself stays "yes" even
	// when conflicted; otherwise one outside the mempool and the chain is
	// "unknown".
	Replaceable string
	// WalletConflicts lists wallet transactions spending the same inputs.
	// After a double spend mined elsewhere the receiver's list is empty
	// (only the sender lists the conflicting txid).
	WalletConflicts []string
	// MempoolConflicts lists transactions in the node's mempool that spend
	// the same inputs, wallet transactions or not (Bitcoin Core 28+ only;
	// nil elsewhere). A receive replaced by a transaction paying someone
	// else (full RBF) shows it here while its walletconflicts stay empty.
	MempoolConflicts []string
	ReplacedByTxID   string // replaced_by_txid, sender side after bumpfee; never on Dogecoin
	ReplacesTxID     string // replaces_txid, sender side after bumpfee; never on Dogecoin
	// Details has one entry per output paying (or paid by) the wallet. It is
	// empty for a conflicted receive.
	Details []Detail
}

// Detail is one output of a wallet transaction (gettransaction details[]).
type Detail struct {
	Address  string
	Category string // "receive", "send", "generate", "immature", "orphan"
	Label    string // the label the address was created with
	Account  string // Dogecoin Core 1.14 only (the account API); "" elsewhere
	Amount   int64  // base units; negative for "send"
	Vout     uint32
	// Abandoned is the sender's abandontransaction flag (false when absent).
	Abandoned bool
}

// SinceBlock is the result of listsinceblock.
type SinceBlock struct {
	Transactions []ListEntry
	// Removed lists the wallet's transactions in blocks that left the
	// active chain between the given (now stale) block and the fork point,
	// conflicted ones with negative confirmations. Only filled when
	// RemovedSupported; see ListSinceBlock.
	Removed []ListEntry
	// LastBlock is the block at depth targetConfirmations: the cursor for
	// the next call.
	LastBlock string
	// RemovedSupported tells whether the node reported "removed" (Litecoin
	// and Bitcoin Core 0.15+). When false (Dogecoin Core 1.14), conflicted
	// transactions stay in Transactions with negative confirmations.
	RemovedSupported bool
}

// ListEntry is one output row of listsinceblock.
type ListEntry struct {
	TxID          string
	Address       string
	Category      string // "receive", "send", "generate", "immature", "orphan"
	Label         string
	Amount        int64 // base units; negative for "send"
	Vout          uint32
	Confirmations int64  // negative when conflicted
	BlockHash     string // "" when unconfirmed
	// BlockHeight is 0 when absent (unconfirmed, or Dogecoin Core 1.14).
	BlockHeight     int64
	Replaceable     string // bip125-replaceable; "" when absent
	WalletConflicts []string
	// MempoolConflicts is as in Transaction (Bitcoin Core 28+ only).
	MempoolConflicts []string
	Time             int64 // Unix seconds the wallet first saw the transaction
}

// Block is the header part of getblock (verbose).
type Block struct {
	Hash   string
	Height int64
	// Confirmations is ≥ 1 on the active chain and -1 when the block is not
	// on it (a stale fork or an invalidated block).
	Confirmations int64
	PreviousHash  string // "" for the genesis block
	Time          int64  // block timestamp, Unix seconds
}

// ChainInfo is part of getblockchaininfo.
type ChainInfo struct {
	Chain                string // "main", "test", "regtest"
	Blocks               int64  // height of the active chain tip
	Headers              int64  // height of the best known header
	BestBlockHash        string
	InitialBlockDownload bool
}

// AddressValidation is the result of validateaddress.
type AddressValidation struct {
	IsValid bool
	Address string // normalized address; "" when invalid
	// IsMine is reported by Dogecoin Core 1.14 (and Bitcoin-family nodes up
	// to 0.17). Newer nodes moved it to getaddressinfo; there it is false.
	IsMine bool
}

// amount decodes a JSON number (or numeric string) of coins into base units
// exactly.
type amount int64

// UnmarshalJSON parses the number's text with ParseAmount; null is 0.
func (a *amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = 0
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := parseAmount(b)
	if err != nil {
		return err
	}
	*a = amount(v)
	return nil
}

// NodeInfo returns the node's version and dialect from getnetworkinfo. The
// first successful answer is cached for the client's lifetime.
func (c *Client) NodeInfo(ctx context.Context) (NodeInfo, error) {
	if info := c.info.Load(); info != nil {
		return *info, nil
	}
	var r struct {
		Version    int64  `json:"version"`
		Subversion string `json:"subversion"`
	}
	if err := c.call(ctx, "getnetworkinfo", nil, &r); err != nil {
		return NodeInfo{}, err
	}
	info := NodeInfo{
		Version:    r.Version,
		Subversion: r.Subversion,
		Dogecoin:   strings.HasPrefix(r.Subversion, "/Shibetoshi:"),
	}
	c.info.Store(&info)
	return info, nil
}

// GetNewAddress returns a new receiving address of the wallet. label is
// passed as the single positional argument: a label on Litecoin/Bitcoin
// Core 0.21 and an account on Dogecoin Core 1.14 (which refuses a second
// argument and the named parameter "label"). The address type is the node's
// default.
func (c *Client) GetNewAddress(ctx context.Context, label string) (string, error) {
	var addr string
	if err := c.call(ctx, "getnewaddress", []any{label}, &addr); err != nil {
		return "", err
	}
	return addr, nil
}

// GetNewAddresses returns n new receiving addresses of the wallet, asked
// for in one HTTP request (a JSON-RPC batch of n getnewaddress calls, each
// with label as GetNewAddress passes it). On litecoind 0.21 batches of 200
// make about twice the addresses per second of calls one at a time. When
// some calls fail, it returns the addresses the others made, in order, with
// the first error: every address returned is new and the caller may use it.
func (c *Client) GetNewAddresses(ctx context.Context, n int, label string) ([]string, error) {
	out, errs, err := c.getNewAddressBatch(ctx, slices.Repeat([]string{label}, n))
	if err != nil {
		return nil, err
	}
	addrs := out[:0]
	var first error
	for i, e := range errs {
		switch {
		case e != nil:
			first = cmp.Or(first, e)
		case out[i] != "":
			addrs = append(addrs, out[i])
		}
	}
	return addrs, first
}

// GetNewAddressEach makes one new address for each of labels, in one HTTP
// request (a JSON-RPC batch: call i is GetNewAddress's call with
// labels[i]). It returns the addresses by call, with one error per call
// (nil where the call made its address), or a single error, and no
// address, when the request as a whole failed: the calls of a batch get
// the same transport errors as one call would.
func (c *Client) GetNewAddressEach(ctx context.Context, labels []string) ([]string, []error, error) {
	out, errs, err := c.getNewAddressBatch(ctx, labels)
	if err != nil {
		return nil, nil, err
	}
	for i, e := range errs {
		if e == nil && out[i] == "" {
			errs[i] = fmt.Errorf("coind: getnewaddress: the node answered no address")
		}
	}
	return out, errs, nil
}

// getNewAddressBatch sends one getnewaddress call per label in one JSON-RPC
// batch and returns what each call answered (an empty string for a call
// that made none) and its error, or the request's error.
func (c *Client) getNewAddressBatch(ctx context.Context, labels []string) ([]string, []error, error) {
	params := make([][]any, len(labels))
	out := make([]string, len(labels))
	results := make([]any, len(labels))
	for i, label := range labels {
		params[i] = []any{label}
		results[i] = &out[i]
	}
	errs, err := c.callBatch(ctx, "getnewaddress", params, results)
	return out, errs, err
}

// SetLabel sets the label of an address of the wallet: setlabel on
// Litecoin/Bitcoin Core, setaccount (the account API) on Dogecoin Core 1.14.
func (c *Client) SetLabel(ctx context.Context, address, label string) error {
	info, err := c.NodeInfo(ctx)
	if err != nil {
		return err
	}
	method := "setlabel"
	if info.Dogecoin {
		method = "setaccount"
	}
	return c.call(ctx, method, []any{address, label}, nil)
}

// txWire is gettransaction's result as the node sends it.
type txWire struct {
	TxID             string       `json:"txid"`
	Amount           amount       `json:"amount"`
	Fee              amount       `json:"fee"`
	Confirmations    int64        `json:"confirmations"`
	BlockHash        string       `json:"blockhash"`
	BlockHeight      int64        `json:"blockheight"`
	BlockTime        int64        `json:"blocktime"`
	Time             int64        `json:"time"`
	Trusted          *bool        `json:"trusted"`
	Replaceable      string       `json:"bip125-replaceable"`
	WalletConflicts  []string     `json:"walletconflicts"`
	MempoolConflicts []string     `json:"mempoolconflicts"`
	ReplacedByTxID   string       `json:"replaced_by_txid"`
	ReplacesTxID     string       `json:"replaces_txid"`
	Details          []detailWire `json:"details"`
}

// detailWire is one gettransaction details[] entry as the node sends it.
type detailWire struct {
	Address   string `json:"address"`
	Category  string `json:"category"`
	Label     string `json:"label"`
	Account   string `json:"account"`
	Amount    amount `json:"amount"`
	Vout      uint32 `json:"vout"`
	Abandoned bool   `json:"abandoned"`
}

// GetTransaction returns a wallet transaction. A txid the wallet does not
// know gives an error matching ErrTxNotFound (RPC -5).
func (c *Client) GetTransaction(ctx context.Context, txid string) (*Transaction, error) {
	var w txWire
	// include_watchonly: without it a payment to an address the wallet
	// only watches answers amount 0 with no details (recorded on Dogecoin
	// Core 1.14.9). Every node this client knows takes it.
	if err := c.call(ctx, "gettransaction", []any{txid, true}, &w); err != nil {
		return nil, asNotFound(err, ErrTxNotFound, CodeInvalidAddressOrKey)
	}
	tx := &Transaction{
		TxID:             w.TxID,
		Amount:           int64(w.Amount),
		Fee:              int64(w.Fee),
		Confirmations:    w.Confirmations,
		BlockHash:        w.BlockHash,
		BlockHeight:      w.BlockHeight,
		BlockTime:        w.BlockTime,
		Time:             w.Time,
		Trusted:          w.Trusted,
		Replaceable:      w.Replaceable,
		WalletConflicts:  w.WalletConflicts,
		MempoolConflicts: w.MempoolConflicts,
		ReplacedByTxID:   w.ReplacedByTxID,
		ReplacesTxID:     w.ReplacesTxID,
	}
	if len(w.Details) > 0 {
		tx.Details = make([]Detail, len(w.Details))
		for i, d := range w.Details {
			tx.Details[i] = Detail{
				Address:   d.Address,
				Category:  d.Category,
				Label:     d.Label,
				Account:   d.Account,
				Amount:    int64(d.Amount),
				Vout:      d.Vout,
				Abandoned: d.Abandoned,
			}
		}
	}
	return tx, nil
}

// InMempool reports whether txid is in the node's mempool (getmempoolentry;
// RPC -5 means it is not).
func (c *Client) InMempool(ctx context.Context, txid string) (bool, error) {
	err := c.call(ctx, "getmempoolentry", []any{txid}, nil)
	switch {
	case err == nil:
		return true, nil
	case isRPCCode(err, CodeInvalidAddressOrKey):
		return false, nil
	}
	return false, err
}

// InMempoolMany reports for each of txids whether it is in the node's
// mempool, asking in one JSON-RPC batch of getmempoolentry calls (one HTTP
// request, one slot of the node's RPC work queue, however many txids). It
// fails as a whole when any call fails other than with RPC -5 (not in the
// mempool).
func (c *Client) InMempoolMany(ctx context.Context, txids []string) ([]bool, error) {
	params := make([][]any, len(txids))
	for i, txid := range txids {
		params[i] = []any{txid}
	}
	errs, err := c.callBatch(ctx, "getmempoolentry", params, make([]any, len(txids)))
	if err != nil {
		return nil, err
	}
	in := make([]bool, len(txids))
	for i, e := range errs {
		switch {
		case e == nil:
			in[i] = true
		case isRPCCode(e, CodeInvalidAddressOrKey):
		default:
			return nil, e
		}
	}
	return in, nil
}

// entryWire is one listsinceblock row as the node sends it.
type entryWire struct {
	TxID             string   `json:"txid"`
	Address          string   `json:"address"`
	Category         string   `json:"category"`
	Label            string   `json:"label"`
	Amount           amount   `json:"amount"`
	Vout             uint32   `json:"vout"`
	Confirmations    int64    `json:"confirmations"`
	BlockHash        string   `json:"blockhash"`
	BlockHeight      int64    `json:"blockheight"`
	Replaceable      string   `json:"bip125-replaceable"`
	WalletConflicts  []string `json:"walletconflicts"`
	MempoolConflicts []string `json:"mempoolconflicts"`
	Time             int64    `json:"time"`
}

// ListSinceBlock lists the wallet's transactions in blocks after blockHash
// (all of them for "", from genesis) plus unconfirmed ones, and LastBlock,
// the block at depth targetConfirmations (values below 1 are sent as 1) to
// use as the next cursor.
//
// On nodes that support it (Bitcoin Core 0.15+ and forks of it such as
// Litecoin Core 0.21, not Dogecoin Core 1.14; see NodeInfo) it asks for
// include_removed. The node fills Removed only from blocks between a
// blockHash that is no longer on the active chain and the fork point. A
// receive that was double-spent (negative confirmations) while blockHash
// stayed on the active chain appears in neither list (measured on 0.21):
// re-check pending payments with GetTransaction.
//
// Litecoin/Bitcoin Core answer -5 for an unknown blockHash, but Dogecoin
// Core 1.14 silently lists from genesis: keep the cursor valid.
func (c *Client) ListSinceBlock(ctx context.Context, blockHash string, targetConfirmations int) (*SinceBlock, error) {
	info, err := c.NodeInfo(ctx)
	if err != nil {
		return nil, err
	}
	targetConfirmations = max(targetConfirmations, 1)
	// include_watchonly: without it the node lists no payment to an
	// address it only watches (recorded on Dogecoin Core 1.14.9).
	params := []any{blockHash, targetConfirmations, true}
	if info.hasIncludeRemoved() {
		params = append(params, true) // include_removed
	}
	var w struct {
		Transactions []entryWire `json:"transactions"`
		Removed      []entryWire `json:"removed"`
		LastBlock    string      `json:"lastblock"`
	}
	if err := c.call(ctx, "listsinceblock", params, &w); err != nil {
		return nil, err
	}
	return &SinceBlock{
		Transactions:     listEntries(w.Transactions),
		Removed:          listEntries(w.Removed),
		LastBlock:        w.LastBlock,
		RemovedSupported: w.Removed != nil, // the decoder makes [] a non-nil empty slice
	}, nil
}

// listEntries converts listsinceblock rows.
func listEntries(ws []entryWire) []ListEntry {
	if ws == nil {
		return nil
	}
	out := make([]ListEntry, len(ws))
	for i, w := range ws {
		out[i] = ListEntry{
			TxID:             w.TxID,
			Address:          w.Address,
			Category:         w.Category,
			Label:            w.Label,
			Amount:           int64(w.Amount),
			Vout:             w.Vout,
			Confirmations:    w.Confirmations,
			BlockHash:        w.BlockHash,
			BlockHeight:      w.BlockHeight,
			Replaceable:      w.Replaceable,
			WalletConflicts:  w.WalletConflicts,
			MempoolConflicts: w.MempoolConflicts,
			Time:             w.Time,
		}
	}
	return out
}

// GetBlock returns the block's header facts (getblock, verbose). An unknown
// hash gives an error matching ErrBlockNotFound (RPC -5).
func (c *Client) GetBlock(ctx context.Context, hash string) (*Block, error) {
	var w struct {
		Hash          string `json:"hash"`
		Height        int64  `json:"height"`
		Confirmations int64  `json:"confirmations"`
		PreviousHash  string `json:"previousblockhash"`
		Time          int64  `json:"time"`
	}
	if err := c.call(ctx, "getblock", []any{hash}, &w); err != nil {
		return nil, asNotFound(err, ErrBlockNotFound, CodeInvalidAddressOrKey)
	}
	return &Block{
		Hash:          w.Hash,
		Height:        w.Height,
		Confirmations: w.Confirmations,
		PreviousHash:  w.PreviousHash,
		Time:          w.Time,
	}, nil
}

// GetBlockHash returns the hash of the active chain's block at height. A
// height above the tip (RPC -8) gives an error matching ErrBlockNotFound.
func (c *Client) GetBlockHash(ctx context.Context, height int64) (string, error) {
	var hash string
	if err := c.call(ctx, "getblockhash", []any{height}, &hash); err != nil {
		return "", asNotFound(err, ErrBlockNotFound, CodeInvalidParameter)
	}
	return hash, nil
}

// GetBlockCount returns the height of the active chain tip.
func (c *Client) GetBlockCount(ctx context.Context) (int64, error) {
	var n int64
	if err := c.call(ctx, "getblockcount", nil, &n); err != nil {
		return 0, err
	}
	return n, nil
}

// GetBestBlockHash returns the hash of the active chain tip.
func (c *Client) GetBestBlockHash(ctx context.Context) (string, error) {
	var hash string
	if err := c.call(ctx, "getbestblockhash", nil, &hash); err != nil {
		return "", err
	}
	return hash, nil
}

// GetBlockchainInfo returns the chain name, heights, tip and whether the
// node is in initial block download.
func (c *Client) GetBlockchainInfo(ctx context.Context) (*ChainInfo, error) {
	var w struct {
		Chain                string `json:"chain"`
		Blocks               int64  `json:"blocks"`
		Headers              int64  `json:"headers"`
		BestBlockHash        string `json:"bestblockhash"`
		InitialBlockDownload bool   `json:"initialblockdownload"`
	}
	if err := c.call(ctx, "getblockchaininfo", nil, &w); err != nil {
		return nil, err
	}
	info := ChainInfo(w)
	return &info, nil
}

// SendToAddress pays amount base units (must be positive) from the wallet
// to address and returns the txid. The amount is sent as an exact decimal
// string.
func (c *Client) SendToAddress(ctx context.Context, address string, amount int64) (string, error) {
	if amount <= 0 {
		return "", fmt.Errorf("coind: sendtoaddress: amount %s is not positive", FormatAmount(amount))
	}
	var txid string
	if err := c.call(ctx, "sendtoaddress", []any{address, FormatAmount(amount)}, &txid); err != nil {
		return "", err
	}
	return txid, nil
}

// ValidateAddress checks an address for the node's network. An invalid
// address is not an error: IsValid is false.
func (c *Client) ValidateAddress(ctx context.Context, address string) (*AddressValidation, error) {
	var w struct {
		IsValid bool   `json:"isvalid"`
		Address string `json:"address"`
		IsMine  bool   `json:"ismine"`
	}
	if err := c.call(ctx, "validateaddress", []any{address}, &w); err != nil {
		return nil, err
	}
	v := AddressValidation(w)
	return &v, nil
}

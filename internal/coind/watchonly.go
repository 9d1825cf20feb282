package coind

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// importPerAddress is how long a node may take per imported address on top
// of the call timeout: Dogecoin Core 1.14 imported about 34 a second with
// importmulti (recorded), so 50 ms leaves room for a busy node.
const importPerAddress = 50 * time.Millisecond

// RescanTimeout bounds an import that rescans the chain: on a main chain a
// rescan of months takes minutes.
const RescanTimeout = 30 * time.Minute

// importResult is one entry of importmulti's and importdescriptors' answer.
type importResult struct {
	Success bool `json:"success"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ImportWatchOnly makes the wallet watch addrs without holding their keys.
// With a zero since it does not rescan: the addresses are fresh, nothing can
// have paid them yet. With since set it rescans the blocks from about that
// time (the node goes back two more hours), to find payments made while the
// wallet did not watch the addresses.
//
// It uses importmulti (Dogecoin Core 1.14, and legacy wallets of Litecoin
// and Bitcoin Core), and importdescriptors with addr() descriptors where the
// node refuses importmulti (descriptor wallets, created with
// disable_private_keys). Importing an address the wallet watches already
// succeeds. An address the node refuses fails the whole call with its
// message.
func (c *Client) ImportWatchOnly(ctx context.Context, addrs []string, since time.Time) error {
	if len(addrs) == 0 {
		return nil
	}
	var timestamp any = "now"
	timeout := c.timeout + time.Duration(len(addrs))*importPerAddress
	if !since.IsZero() {
		timestamp = since.Unix()
		timeout = RescanTimeout
	}
	reqs := make([]map[string]any, len(addrs))
	for i, a := range addrs {
		reqs[i] = map[string]any{"scriptPubKey": map[string]any{"address": a}, "timestamp": timestamp, "watchonly": true}
	}
	var res []importResult
	err := c.observed(ctx, timeout, "importmulti", []any{reqs, map[string]any{"rescan": !since.IsZero()}}, &res)
	if errors.Is(err, ErrMethodNotFound) || isRPCCode(err, CodeWalletError) {
		// A descriptor wallet (-4 "only legacy wallets are supported"), or
		// a node without legacy wallets at all.
		return c.importDescriptors(ctx, addrs, timestamp, timeout)
	}
	if err != nil {
		return err
	}
	return importErrors("importmulti", addrs, res)
}

// importDescriptors imports addr() descriptors, asking the node for each
// one's checksum first (getdescriptorinfo, in one batch).
func (c *Client) importDescriptors(ctx context.Context, addrs []string, timestamp any, timeout time.Duration) error {
	params := make([][]any, len(addrs))
	infos := make([]struct {
		Descriptor string `json:"descriptor"`
	}, len(addrs))
	results := make([]any, len(addrs))
	for i, a := range addrs {
		params[i] = []any{"addr(" + a + ")"}
		results[i] = &infos[i]
	}
	errs, err := c.callBatch(ctx, "getdescriptorinfo", params, results)
	if err != nil {
		return err
	}
	reqs := make([]map[string]any, len(addrs))
	for i := range addrs {
		if errs[i] != nil {
			return fmt.Errorf("coind: getdescriptorinfo %s: %w", addrs[i], errs[i])
		}
		reqs[i] = map[string]any{"desc": infos[i].Descriptor, "timestamp": timestamp}
	}
	var res []importResult
	if err := c.observed(ctx, timeout, "importdescriptors", []any{reqs}, &res); err != nil {
		return err
	}
	return importErrors("importdescriptors", addrs, res)
}

// observed is call with a timeout of its own.
func (c *Client) observed(ctx context.Context, timeout time.Duration, method string, params []any, result any) error {
	start := time.Now()
	err := c.sendFor(ctx, timeout, method, params, result)
	if c.observe != nil {
		c.observe(method, time.Since(start), err)
	}
	return err
}

// importErrors returns the first refusal of an import answer as an *Error.
func importErrors(method string, addrs []string, res []importResult) error {
	if len(res) != len(addrs) {
		return fmt.Errorf("coind: %s: %d results for %d addresses", method, len(res), len(addrs))
	}
	for i, r := range res {
		if r.Success {
			continue
		}
		e := &Error{Code: CodeMiscError, Message: "refused " + addrs[i], Method: method}
		if r.Error != nil {
			e.Code, e.Message = r.Error.Code, r.Error.Message+" ("+addrs[i]+")"
		}
		return e
	}
	return nil
}

// WatchesAll reports, per address, whether the wallet watches it (holds it
// watch-only or owns its key): validateaddress's iswatchonly/ismine on
// Dogecoin Core 1.14, getaddressinfo's on Litecoin and Bitcoin Core (whose
// validateaddress no longer says). The calls go in one batch.
func (c *Client) WatchesAll(ctx context.Context, addrs []string) ([]bool, error) {
	info, err := c.NodeInfo(ctx)
	if err != nil {
		return nil, err
	}
	method := "getaddressinfo"
	if info.Dogecoin {
		method = "validateaddress"
	}
	params := make([][]any, len(addrs))
	out := make([]struct {
		IsMine      bool `json:"ismine"`
		IsWatchOnly bool `json:"iswatchonly"`
	}, len(addrs))
	results := make([]any, len(addrs))
	for i, a := range addrs {
		params[i] = []any{a}
		results[i] = &out[i]
	}
	errs, err := c.callBatch(ctx, method, params, results)
	if err != nil {
		return nil, err
	}
	watched := make([]bool, len(addrs))
	for i, e := range errs {
		if e != nil {
			return nil, fmt.Errorf("coind: %s %s: %w", method, addrs[i], e)
		}
		watched[i] = out[i].IsMine || out[i].IsWatchOnly
	}
	return watched, nil
}

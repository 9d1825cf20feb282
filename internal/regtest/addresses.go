package regtest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/transient-gateway/transient/internal/coind"
)

// ErrNoChain is what AddressOnly answers to every question about the chain.
var ErrNoChain = errors.New("regtest: an address-only node knows no chain")

// AddressOnly is a coin node for tests that only create payments: it hands
// out fresh, distinct addresses and answers every other call with
// ErrNoChain. It has the methods payments.Node needs, so a test (or a fuzz
// target, which runs too many cases for a real node) can create payments
// on a real database without litecoind. It is safe for concurrent use.
type AddressOnly struct{ n atomic.Int64 }

// GetNewAddress returns an address no earlier call returned.
func (a *AddressOnly) GetNewAddress(context.Context, string) (string, error) {
	return fmt.Sprintf("rltc1qaddressonly%024d", a.n.Add(1)), nil
}

// GetTransaction fails with ErrNoChain.
func (*AddressOnly) GetTransaction(context.Context, string) (*coind.Transaction, error) {
	return nil, ErrNoChain
}

// InMempool fails with ErrNoChain.
func (*AddressOnly) InMempool(context.Context, string) (bool, error) { return false, ErrNoChain }

// ListSinceBlock fails with ErrNoChain.
func (*AddressOnly) ListSinceBlock(context.Context, string, int) (*coind.SinceBlock, error) {
	return nil, ErrNoChain
}

// GetBlock fails with ErrNoChain.
func (*AddressOnly) GetBlock(context.Context, string) (*coind.Block, error) { return nil, ErrNoChain }

// GetBlockHash fails with ErrNoChain.
func (*AddressOnly) GetBlockHash(context.Context, int64) (string, error) { return "", ErrNoChain }

// GetBlockCount fails with ErrNoChain.
func (*AddressOnly) GetBlockCount(context.Context) (int64, error) { return 0, ErrNoChain }

package coind

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error the client returns starts with "coind: " and
// the RPC method; test for these with errors.Is, never by text.
var (
	// ErrUnavailable means the node could not answer now: connection
	// refused or reset, DNS failure, a timeout or context deadline, HTTP 503,
	// HTTP 5xx without a JSON-RPC body (such as 500 "Work queue depth
	// exceeded"), a missing cookie file (the node deletes it on shutdown),
	// or RPC error -28 (warming up). Retrying later may succeed.
	ErrUnavailable = errors.New("node unavailable")

	// ErrUnauthorized means the node refused the credentials (HTTP 401),
	// also after re-reading the cookie file when one is configured.
	ErrUnauthorized = errors.New("unauthorized: check rpcuser/rpcpassword or the cookie file")

	// ErrWalletNotFound means the wallet named in the URL is not loaded (RPC
	// -18), or the node has no /wallet/NAME endpoint at all (HTTP 404 with an
	// empty body: Dogecoin Core has no multiwallet, use the root URL).
	ErrWalletNotFound = errors.New("wallet not found")

	// ErrMethodNotFound means the node does not know the RPC method (RPC
	// -32601, or HTTP 404 with a JSON-RPC body), for example a 0.21-only
	// call sent to Dogecoin Core 1.14.
	ErrMethodNotFound = errors.New("method not found")

	// ErrTxNotFound means the wallet does not know the transaction
	// (gettransaction answered -5).
	ErrTxNotFound = errors.New("transaction not found")

	// ErrBlockNotFound means the node does not know the block (getblock
	// -5) or the height is above the tip (getblockhash -8).
	ErrBlockNotFound = errors.New("block not found")
)

// RPC error codes of Bitcoin Core and its forks (src/rpc/protocol.h) that
// this package or its callers test for. They are the values of Error.Code.
const (
	CodeMiscError           = -1     // RPC_MISC_ERROR: std::exception thrown in command handling (also wrong argument count on 1.14)
	CodeTypeError           = -3     // RPC_TYPE_ERROR: unexpected type was passed as parameter (also a bad amount)
	CodeWalletError         = -4     // RPC_WALLET_ERROR: unspecified problem with the wallet (e.g. amount too small)
	CodeInvalidAddressOrKey = -5     // RPC_INVALID_ADDRESS_OR_KEY: invalid address or key; also "not found" for txs and blocks
	CodeInvalidParameter    = -8     // RPC_INVALID_PARAMETER: invalid, missing or duplicate parameter
	CodeWalletNotFound      = -18    // RPC_WALLET_NOT_FOUND: invalid wallet specified
	CodeWalletNotSpecified  = -19    // RPC_WALLET_NOT_SPECIFIED: several wallets loaded and the URL names none
	CodeInWarmup            = -28    // RPC_IN_WARMUP: the node is still starting up
	CodeMethodNotFound      = -32601 // RPC_METHOD_NOT_FOUND: unknown method
)

// Error is an error answered by the node in the JSON-RPC "error" member.
// Errors returned by Client carry it: use errors.As(err, &e) with
// e *coind.Error to read the code. errors.Is(err, ErrWalletNotFound),
// ErrUnavailable and ErrMethodNotFound hold for codes -18, -28 and -32601.
type Error struct {
	Code    int    // the node's error code, one of the Code* constants or another
	Message string // the node's message, verbatim
	// Method is the RPC method that failed; Client fills it in. When set,
	// Error() reads "coind: METHOD: rpc error CODE: MESSAGE".
	Method string
}

// Error returns "coind: rpc error CODE: MESSAGE", with the method after
// "coind: " when Method is set.
func (e *Error) Error() string {
	prefix := "coind: "
	if e.Method != "" {
		prefix += e.Method + ": "
	}
	return prefix + "rpc error " + strconv.Itoa(e.Code) + ": " + e.Message
}

// Is reports whether the error code means one of the sentinel errors:
// -18 ErrWalletNotFound, -28 ErrUnavailable, -32601 ErrMethodNotFound.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeWalletNotFound:
		return target == ErrWalletNotFound
	case CodeInWarmup:
		return target == ErrUnavailable
	case CodeMethodNotFound:
		return target == ErrMethodNotFound
	}
	return false
}

// notFoundError is an RPC error that a typed call knows to mean "not found"
// (for example gettransaction -5). Its text is the RPC error's; errors.Is
// matches kind and errors.As still finds the *Error.
type notFoundError struct {
	kind error
	rpc  *Error
}

func (e *notFoundError) Error() string   { return e.rpc.Error() }
func (e *notFoundError) Unwrap() []error { return []error{e.kind, e.rpc} }

// asNotFound returns err marked as kind when it is an RPC error with one of
// codes, and err unchanged otherwise.
func asNotFound(err error, kind error, codes ...int) error {
	rpc, ok := errors.AsType[*Error](err)
	if !ok {
		return err
	}
	for _, c := range codes {
		if rpc.Code == c {
			return &notFoundError{kind: kind, rpc: rpc}
		}
	}
	return err
}

// isRPCCode reports whether err is an RPC error with the given code.
func isRPCCode(err error, code int) bool {
	rpc, ok := errors.AsType[*Error](err)
	return ok && rpc.Code == code
}

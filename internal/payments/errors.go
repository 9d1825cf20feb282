package payments

import (
	"errors"
	"fmt"
)

// Sentinel errors of the payments domain. Callers test for them with
// errors.Is; the HTTP layer maps each to one status code.
var (
	// ErrNotFound means no payment (or event) has the given id.
	ErrNotFound = errors.New("payments: not found")

	// ErrInvalid means the request cannot be accepted as given. Every *Error
	// wraps it; the *Error says which field is wrong and why.
	ErrInvalid = errors.New("payments: invalid request")

	// ErrCoinUnavailable means the coin's node did not answer in time, or
	// answered with something that is not a usable result. Nothing was
	// stored; the caller may try again later. *UnavailableError wraps it.
	ErrCoinUnavailable = errors.New("payments: coin node unavailable")

	// ErrAddressReused means the node handed out an address that already
	// belongs to another payment. It points at a wallet shared with another
	// system or restored from an old backup; the payment is not created.
	ErrAddressReused = errors.New("payments: address already belongs to a payment")

	// ErrIdempotencyMismatch means an idempotency key was used within the
	// last 24 hours for a different payment request. Nothing is created;
	// the client must use a new key for a new request.
	ErrIdempotencyMismatch = errors.New("payments: idempotency key already used for a different request")

	// ErrIdempotencyClaimLost means a creation took longer than its claim
	// on the idempotency key, which another request may have taken over;
	// this one stored nothing. Repeating the request with the same key
	// returns the payment the other request made, or makes it.
	ErrIdempotencyClaimLost = errors.New("payments: the idempotency key's claim expired before the payment was stored")
)

// Error codes carried by *Error. They are part of the HTTP API: clients may
// switch on them, so they never change meaning.
const (
	CodeInvalidAmount        = "invalid_amount"
	CodeUnsupportedCurrency  = "unsupported_currency"
	CodeInvalidField         = "invalid_field"
	CodeInvalidExpiry        = "invalid_expiry"
	CodeInvalidConfirmations = "invalid_confirmations"
	CodeInvalidCursor        = "invalid_cursor"
	CodeInvalidFilter        = "invalid_filter"
)

// Error is a validation failure a person can act on: Code is a stable
// machine-readable code, Field names the offending request field (when there
// is one) and Message says what is wrong and what is expected.
type Error struct {
	Code    string
	Field   string
	Message string
}

// Error returns the message with the package prefix.
func (e *Error) Error() string { return "payments: " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Unwrap() error { return ErrInvalid }

// UnavailableError says which coin's node failed and why. Its text may be
// logged; it never contains credentials, because the node client's errors
// never do.
type UnavailableError struct {
	Coin string
	Err  error
}

// Error describes the failure for the log.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("payments: %s node unavailable: %v", e.Coin, e.Err)
}

// Is makes errors.Is(err, ErrCoinUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrCoinUnavailable }

// Unwrap returns the node client's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

func invalidField(field, msg string) error {
	return &Error{Code: CodeInvalidField, Field: field, Message: msg}
}

package webhook

import "errors"

// Sentinel errors of package webhook. Callers test for them with errors.Is;
// the returned errors wrap them with context.
var (
	// ErrNotFound means no delivery was ever recorded for the given event.
	ErrNotFound = errors.New("webhook: not found")

	// ErrInvalidURL means a destination URL cannot be used: it does not
	// parse, its scheme is not http or https, or it has no host.
	ErrInvalidURL = errors.New("webhook: invalid destination URL")

	// ErrAddressRefused means a per-payment destination is, or resolved to, a
	// loopback, private, link-local or otherwise non-public address while
	// private destinations are not allowed. A delivery refused this way
	// fails without retry.
	ErrAddressRefused = errors.New("webhook: destination address refused")

	// ErrSignatureMalformed means a signature header is not of the form
	// "t=<unix seconds>,v1=<hex>[,v1=<hex>...]".
	ErrSignatureMalformed = errors.New("webhook: malformed signature header")

	// ErrSignatureMismatch means no v1 value in the header is the HMAC of
	// the timestamp and body under the secret: the body was changed or the
	// secret is wrong.
	ErrSignatureMismatch = errors.New("webhook: signature mismatch")

	// ErrSignatureExpired means the signature is valid but its timestamp is
	// further from now than the tolerance, in the past (a replay) or in the
	// future.
	ErrSignatureExpired = errors.New("webhook: signature timestamp outside tolerance")
)

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

	// ErrPermanent is wrapped by a Transport's error when retrying cannot
	// help (the destination does not exist, the body cannot be sent): the
	// delivery fails at once.
	ErrPermanent = errors.New("webhook: permanent delivery failure")
)

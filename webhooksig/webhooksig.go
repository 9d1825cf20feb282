// Package webhooksig signs and verifies Transient's webhook requests. It is
// the one piece of Transient meant to be imported by other programs: a shop
// verifies each webhook with Verify before trusting it.
//
// The X-Transient-Signature header is "t=<unix seconds>,v1=<hex>", where the
// hex is HMAC-SHA256, keyed with the shared secret (PAYMENT_WEBHOOK_SECRET),
// of the timestamp in decimal, a full stop and the raw request body.
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the request header that carries the signature.
const Header = "X-Transient-Signature"

// Verification failures. Test for them with errors.Is.
var (
	// ErrMalformed means a signature header is not of the form
	// "t=<unix seconds>,v1=<64 hex digits>[,v1=…]".
	ErrMalformed = errors.New("webhooksig: malformed signature header")

	// ErrMismatch means no v1 value in the header is the HMAC of the
	// timestamp and body under the secret: a changed body or another secret.
	ErrMismatch = errors.New("webhooksig: signature mismatch")

	// ErrExpired means the signature is valid but its timestamp is further
	// from the receiver's clock than the tolerance: a replay, or a clock
	// that is off.
	ErrExpired = errors.New("webhooksig: signature timestamp outside tolerance")

	// ErrNoSecret means Verify was called with an empty secret: anyone can
	// make a signature under it, so nothing is verified. It usually means
	// the receiver's secret setting is missing.
	ErrNoSecret = errors.New("webhooksig: empty secret: set the receiver's copy of PAYMENT_WEBHOOK_SECRET")
)

// DefaultTolerance is the timestamp tolerance Verify applies when it is given
// none: how far a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Sign returns the signature header value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a signature header against the raw request body and the
// shared secret. Receivers call it before trusting a webhook:
//
//	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
//	err := webhooksig.Verify(secret, r.Header.Get("X-Transient-Signature"), body, time.Now(), 5*time.Minute)
//
// The header must hold exactly one t= and at least one v1= value (several
// during a secret rotation; one match is enough); other keys are ignored so
// that later signature versions can be added beside v1. Values are compared
// in constant time.
//
// It returns nil if the signature is valid and its timestamp is within
// tolerance of now (DefaultTolerance when tolerance <= 0), or an error
// wrapping ErrMalformed, ErrMismatch or ErrExpired
// (also for a timestamp too far in the future). An empty secret is always
// refused with ErrNoSecret.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		ts     string
		tsSeen bool
		sigs   [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch key {
		case "t":
			if tsSeen {
				return fmt.Errorf("%w: more than one t=", ErrMalformed)
			}
			ts, tsSeen = value, true
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not %d hex digits", ErrMalformed, 2*sha256.Size)
			}
			sigs = append(sigs, sig)
		}
	}
	if !tsSeen {
		return fmt.Errorf("%w: no t=", ErrMalformed)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1=", ErrMalformed)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix < 0 || strconv.FormatInt(unix, 10) != ts {
		return fmt.Errorf("%w: t is not unix seconds", ErrMalformed)
	}
	want := mac(secret, ts, body)
	match := false
	for _, sig := range sigs {
		// Compare every value so the time taken does not depend on which
		// one matches.
		if hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return ErrMismatch
	}
	if skew := now.Sub(time.Unix(unix, 0)).Abs(); skew > tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now", ErrExpired,
			time.Unix(unix, 0).UTC().Format(time.RFC3339), skew.Round(time.Second))
	}
	return nil
}

package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/webhooksig"
)

// Request headers besides Content-Type, User-Agent and webhooksig.Header.
const (
	EventIDHeader    = "X-Transient-Event-Id"
	DeliveryIDHeader = "X-Transient-Delivery-Id"
	AttemptHeader    = "X-Transient-Attempt"
)

const (
	// maxErrorLen bounds the error text stored per attempt.
	maxErrorLen = 500
	// maxSnippet is how much of a failure answer's body the error text
	// quotes.
	maxSnippet = 200
	// maxDrain is how much of an answer's body is read so the connection
	// can be reused; the rest is dropped with the connection.
	maxDrain = 64 << 10
)

// outcome is what one attempt means for its delivery.
type outcome int

const (
	outcomeDelivered   outcome = iota // 2xx
	outcomeRetry                      // network error, timeout, 408, 429, 5xx
	outcomeFail                       // any other answer, or a refused destination
	outcomeInterrupted                // the worker's context ended (shutdown)
)

// result is the outcome of one attempt and what to record about it.
type result struct {
	outcome outcome
	status  int // 0 if there was no answer
	err     string
	// retryAfter is the receiver's Retry-After, capped; 0 if none.
	retryAfter time.Duration
}

// deliveryRow is what the worker reads of a delivery.
type deliveryRow struct {
	id            uuid.UUID
	eventID       uuid.UUID
	paymentID     uuid.UUID
	url           string
	kind          string
	body          []byte
	trusted       bool
	state         State
	createdAt     time.Time
	nextAttemptAt *time.Time
}

// newHTTPClient returns a client that does not follow redirects or use a
// proxy and, when refuse is set, refuses to connect to non-public addresses.
// Trusted and untrusted destinations get separate clients, so a connection
// the global URL opened to a private address is never reused for a
// per-payment destination.
func newHTTPClient(refuse bool) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if refuse {
		dialer.Control = refusePrivate
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           100,
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// send makes attempt number of delivery d, stamped at, and classifies the
// answer. It never returns the answer's body beyond a short quote.
func (o *Outbox) send(ctx context.Context, d *deliveryRow, number int, at time.Time) result {
	if _, err := parseDestination(d.url); err != nil {
		return result{outcome: outcomeFail, err: err.Error()}
	}
	client := o.untrusted
	if d.trusted {
		client = o.trusted
	}
	actx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return result{outcome: outcomeFail, err: fmt.Sprintf("%v: %v", ErrInvalidURL, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", o.cfg.UserAgent)
	req.Header.Set(EventIDHeader, d.eventID.String())
	req.Header.Set(DeliveryIDHeader, d.id.String())
	req.Header.Set(AttemptHeader, strconv.Itoa(number))
	if o.cfg.Secret != "" {
		req.Header.Set(webhooksig.Header, webhooksig.Sign([]byte(o.cfg.Secret), at, d.body))
	}

	resp, err := client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return result{outcome: outcomeInterrupted, err: "interrupted before an answer: " + context.Cause(ctx).Error()}
		case errors.Is(err, ErrAddressRefused):
			return result{outcome: outcomeFail, err: requestError(err)}
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			return result{outcome: outcomeRetry, err: fmt.Sprintf("timeout: no answer within %s", o.cfg.Timeout)}
		default:
			return result{outcome: outcomeRetry, err: requestError(err)}
		}
	}
	defer resp.Body.Close()

	r := result{status: resp.StatusCode}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		r.outcome = outcomeDelivered
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		r.outcome = outcomeRetry
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), o.cfg.Now())
		}
	default:
		r.outcome = outcomeFail
	}
	if r.outcome != outcomeDelivered {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxSnippet))
		r.err = statusError(resp, snippet)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return r
}

// requestError describes a failed request without repeating its method and
// URL, which the delivery log shows anyway.
func requestError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return err.Error()
}

// statusError describes an answer that is not a success, quoting the start
// of its body.
func statusError(resp *http.Response, snippet []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", resp.StatusCode)
	if text := http.StatusText(resp.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		b.WriteString(" (redirects are not followed")
		if loc := resp.Header.Get("Location"); loc != "" {
			b.WriteString("; Location: " + loc)
		}
		b.WriteString(")")
	}
	if s := strings.TrimSpace(printable(snippet)); s != "" {
		b.WriteString(": " + s)
	}
	return b.String()
}

// printable turns arbitrary bytes into one line of valid UTF-8.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseRetryAfter reads a Retry-After header, delay-seconds or an HTTP-date,
// relative to now. It returns 0 for an absent or unreadable header or a date
// in the past, and caps the delay at maxRetryAfter.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if strings.Trim(h, "0123456789") == "" {
		secs, err := strconv.ParseInt(h, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter // too large to parse is larger than the cap
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

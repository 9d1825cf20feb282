// Package throttle limits what one client may do in a span of time. It owns
// two things: the per-source token buckets (Limiter) that the HTTP parts use
// for failed authentication, pairing requests and the like, and the rule
// that finds a request's source (Sources): the connection's address, or the
// client a trusted reverse proxy names in X-Forwarded-For.
//
// A source is an IPv4 address or an IPv6 /64 network: one host usually
// holds a whole /64, so counting single IPv6 addresses would give it
// billions of buckets.
package throttle

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBuckets bounds the sources a Limiter remembers. Past it, buckets that
// have refilled are forgotten first; if every one is still in use the
// oldest half goes, so a flood from many sources costs memory, never
// correctness for the others beyond an earlier reset.
const maxBuckets = 100_000

// Limiter is a set of token buckets, one per source: each holds up to
// Burst tokens and regains PerMinute tokens a minute. A nil *Limiter allows
// everything, so a limit that is switched off needs no checks. It is safe
// for concurrent use.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a Limiter that lets a source do perMinute things a
// minute, in bursts of up to burst (at least 1). perMinute 0 or less
// returns nil: no limit. now defaults to time.Now.
func NewLimiter(perMinute, burst int, now func() time.Time) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: float64(perMinute) / 60, burst: float64(max(burst, 1)), now: now,
		buckets: make(map[string]*bucket)}
}

// Allow takes one token of key's bucket. When the bucket is empty it takes
// nothing and returns false and how long until a token is back.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens < 1 {
		return false, l.wait(b)
	}
	b.tokens--
	return true, 0
}

// Blocked reports, without taking a token, whether key's bucket is empty,
// and if so how long until a token is back. With Take it limits failures:
// check Blocked before the attempt, Take after a failed one.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.buckets[key]; !ok {
		return false, 0
	}
	b := l.refill(key)
	if b.tokens < 1 {
		return true, l.wait(b)
	}
	return false, 0
}

// Take takes one token of key's bucket, if it has one.
func (l *Limiter) Take(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.refill(key); b.tokens >= 1 {
		b.tokens--
	}
}

// refill returns key's bucket with the tokens regained since it was last
// used. The caller holds mu.
func (l *Limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
	}
	b.at = now
	return b
}

// wait is how long until b holds a whole token again.
func (l *Limiter) wait(b *bucket) time.Duration {
	return time.Duration(math.Ceil((1-b.tokens)/l.rate*1000)) * time.Millisecond
}

// sweep forgets the buckets that are full again, and if that frees
// nothing, the half not used for longest. The caller holds mu.
func (l *Limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < maxBuckets {
		return
	}
	var total time.Duration
	for _, b := range l.buckets {
		total += now.Sub(b.at)
	}
	mean := total / time.Duration(len(l.buckets))
	for k, b := range l.buckets {
		if now.Sub(b.at) >= mean {
			delete(l.buckets, k)
		}
	}
}

// Sources finds the source of a request: the address of the connection, or,
// when that address is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one. Without trusted proxies the header is
// ignored, since any client can send it.
type Sources struct {
	trusted []netip.Prefix
}

// NewSources returns Sources that believe X-Forwarded-For only from the
// given proxy networks (TRUSTED_PROXIES).
func NewSources(trusted []netip.Prefix) *Sources {
	return &Sources{trusted: trusted}
}

// ParsePrefixes reads a comma-separated list of addresses and CIDR
// networks (10.0.0.1, 10.0.0.0/8, ::1), as TRUSTED_PROXIES holds them.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// IP returns the client address of r; the zero Addr when even the
// connection's address cannot be read (a test's fake request).
func (s *Sources) IP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if s == nil || !s.isTrusted(ip) {
		return ip
	}
	hops := r.Header.Values("X-Forwarded-For")
	var chain []string
	for _, h := range hops {
		chain = append(chain, strings.Split(h, ",")...)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(chain[i]))
		if err != nil {
			return ip // a hop we cannot read: stop at the last one we trust
		}
		ip = hop.Unmap().WithZone("")
		if !s.isTrusted(ip) {
			return ip
		}
	}
	return ip
}

// Key returns r's source as a bucket key: its IPv4 address, or its IPv6
// /64 network.
func (s *Sources) Key(r *http.Request) string {
	return Key(s.IP(r))
}

// Key returns the bucket key of ip: the address itself for IPv4, the /64
// network for IPv6, "unknown" for the zero Addr.
func Key(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4():
		return ip.String()
	default:
		p, _ := ip.Prefix(64)
		return p.String()
	}
}

func (s *Sources) isTrusted(ip netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// RetryAfter is the value of a Retry-After header for a wait: whole
// seconds, at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}

package webhook

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// maxURLLength bounds a destination URL; longer ones are refused as invalid.
const maxURLLength = 2048

// reservedPrefixes are address ranges that are not reachable public unicast
// destinations, beyond what netip.Addr's predicates name, with the reason
// given in a refusal.
var reservedPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a this-network address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (CGNAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

// Prefixes whose addresses embed an IPv4 address that is what the packets
// finally reach; the embedded address is checked instead.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// IsPublicIP reports whether ip is a public unicast address: not loopback,
// private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
// which holds cloud metadata services, and fe80::/10), unspecified, shared
// CGNAT space (100.64/10), multicast, broadcast or otherwise reserved, and
// not an IPv4-mapped, NAT64 or 6to4 form of such an address.
func IsPublicIP(ip netip.Addr) bool { return nonPublicReason(ip) == "" }

// nonPublicReason says why ip is not public, or returns "" if it is.
func nonPublicReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not an address"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		switch {
		case nat64Prefix.Contains(ip):
			b := ip.As16()
			return nonPublicReason(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			b := ip.As16()
			return nonPublicReason(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	switch {
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case !ip.IsGlobalUnicast():
		return "not a global unicast address"
	}
	for _, r := range reservedPrefixes {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

// ValidateCallbackURL checks a per-payment destination when it is submitted:
// the scheme must be http or https and a host must be present, or the error
// wraps ErrInvalidURL. Unless allowPrivate is set, a host that is a literal
// non-public IP address (see IsPublicIP) or "localhost" (or a name under it)
// is refused with an error wrapping ErrAddressRefused. Other DNS names are
// not resolved here: the dispatcher checks every address they resolve to when
// it connects, so a name that later resolves to a private address (DNS
// rebinding) is refused then.
func ValidateCallbackURL(raw string, allowPrivate bool) error {
	u, err := parseDestination(raw)
	if err != nil {
		return err
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s is a loopback name", ErrAddressRefused, u.Hostname())
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(u.Hostname(), ".")); err == nil {
		if reason := nonPublicReason(ip); reason != "" {
			return fmt.Errorf("%w: %s is %s", ErrAddressRefused, ip, reason)
		}
	}
	return nil
}

// legacyIPv4 reads host the way inet_aton does: one to four parts
// separated by dots, each decimal, octal (leading 0) or hex (0x), the last
// part filling the remaining bytes. "2130706433", "0x7f000001", "127.1",
// "0177.0.0.1" and "0" are all IPv4 addresses to some resolvers and names
// to others. ok is false when host is not such a form.
func legacyIPv4(host string) (ip netip.Addr, ok bool) {
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if host == "" || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if digits == "" && base != 16 {
			return netip.Addr{}, false
		}
		var v uint64
		for _, c := range strings.ToLower(digits) {
			d := strings.IndexRune("0123456789abcdef"[:base], c)
			if d < 0 {
				return netip.Addr{}, false
			}
			v = v*uint64(base) + uint64(d)
			if v > 1<<32 {
				return netip.Addr{}, false
			}
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// NormalizeURL returns raw with its scheme in lower case (HTTPS://x is
// https://x: schemes are case-insensitive), and otherwise unchanged, so
// that what is stored and compared is one spelling. raw must already have
// passed ValidateCallbackURL or a check of the same scheme.
func NormalizeURL(raw string) string {
	i := strings.IndexByte(raw, ':')
	if i <= 0 {
		return raw
	}
	return strings.ToLower(raw[:i]) + raw[i:]
}

// RedactURL hides the password of a URL's user:pass@ part (user:xxxxx@),
// for the delivery log and the daemon's log; unparsable input is returned
// as it is, having no credentials a parser would use.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// parseDestination parses a destination URL and checks its scheme and host.
func parseDestination(raw string) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme must be http or https", ErrInvalidURL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	// A number as host is an address to some resolvers and a name to
	// others (Go's says "no such host"): refuse every such form but the
	// usual dotted quad, which netip reads.
	if host := u.Hostname(); !strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err != nil {
			if ip, ok := legacyIPv4(host); ok {
				if reason := nonPublicReason(ip); reason != "" {
					return nil, fmt.Errorf("%w: %s is %s, %s", ErrAddressRefused, host, ip, reason)
				}
				return nil, fmt.Errorf("%w: write the address %s as %s", ErrInvalidURL, host, ip)
			}
		}
	}
	return u, nil
}

// refusePrivate is a net.Dialer Control function: it runs after DNS
// resolution, for every address actually connected to, and refuses the
// non-public ones. Checking there rather than on the URL is what defeats DNS
// rebinding (a name that resolved to a public address when checked and to a
// private one when used).
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrAddressRefused, address)
	}
	if reason := nonPublicReason(ap.Addr()); reason != "" {
		return fmt.Errorf("%w: %s is %s", ErrAddressRefused, ap.Addr(), reason)
	}
	return nil
}

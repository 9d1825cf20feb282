package webhook

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// These tests treat addresses as data: nothing here opens a connection.

func TestIsPublicIP(t *testing.T) {
	tests := []struct {
		addr   string
		public bool
	}{
		{"10.0.0.1", false},
		{"172.16.5.4", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"198.18.0.1", false},
		{"192.0.2.1", false},
		{"::", false},
		{"::1", false},
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"2002:7f00:1::1", false},     // 6to4 of 127.0.0.1
		{"2001:db8::1", false},
		{"", false},

		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"172.32.0.1", true},
		{"100.128.0.1", true},
		{"2001:4860:4860::8888", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			var ip netip.Addr
			if tc.addr != "" {
				ip = netip.MustParseAddr(tc.addr)
			}
			if got := IsPublicIP(ip); got != tc.public {
				t.Errorf("IsPublicIP(%s) = %v, want %v (reason %q)", tc.addr, got, tc.public, nonPublicReason(ip))
			}
		})
	}
}

func TestRefusePrivateControl(t *testing.T) {
	tests := []struct {
		address string
		refused bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:443", true},
		{"169.254.169.254:80", true},
		{"[::ffff:192.168.0.1]:8080", true},
		{"[fe80::1%eth0]:80", true},
		{"not an address", true},
		{"8.8.8.8:443", false},
		{"[2001:4860:4860::8888]:443", false},
	}
	for _, tc := range tests {
		t.Run(tc.address, func(t *testing.T) {
			err := refusePrivate("tcp", tc.address, nil)
			if tc.refused != errors.Is(err, ErrAddressRefused) {
				t.Fatalf("got %v, want refused=%v", err, tc.refused)
			}
		})
	}
}

func TestValidateCallbackURL(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		want         error
	}{
		{"https://shop.example/webhook", false, nil},
		{"http://shop.example:8080/hook?token=abc", false, nil},
		{"https://user:pass@shop.example/hook", false, nil},
		{"https://8.8.8.8/hook", false, nil},
		{"https://[2001:4860:4860::8888]/hook", false, nil},
		// DNS names are checked when connecting, not here.
		{"https://internal.corp.example/hook", false, nil},

		{"", false, ErrInvalidURL},
		{"ftp://shop.example/hook", false, ErrInvalidURL},
		{"javascript:alert(1)", false, ErrInvalidURL},
		{"file:///etc/passwd", false, ErrInvalidURL},
		{"shop.example/hook", false, ErrInvalidURL},
		{"http://", false, ErrInvalidURL},
		{"http:///path", false, ErrInvalidURL},
		{"http://%zz/", false, ErrInvalidURL},
		{"https://shop.example/" + strings.Repeat("a", maxURLLength), false, ErrInvalidURL},
		{"ftp://127.0.0.1/", true, ErrInvalidURL},

		{"http://127.0.0.1:8080/hook", false, ErrAddressRefused},
		{"http://localhost/hook", false, ErrAddressRefused},
		{"http://LOCALHOST./hook", false, ErrAddressRefused},
		{"http://api.localhost/hook", false, ErrAddressRefused},
		{"http://10.1.2.3/hook", false, ErrAddressRefused},
		{"http://169.254.169.254/latest/meta-data/", false, ErrAddressRefused},
		{"http://[::1]/hook", false, ErrAddressRefused},
		{"http://[::ffff:127.0.0.1]/hook", false, ErrAddressRefused},
		{"http://[fe80::1%25eth0]/hook", false, ErrAddressRefused},
		{"http://0.0.0.0/hook", false, ErrAddressRefused},
		{"http://100.64.0.1/hook", false, ErrAddressRefused},

		// Numbers as hosts: addresses to some resolvers, names to others.
		{"http://2130706433:9/cb", false, ErrAddressRefused},
		{"http://0x7f000001:9/cb", false, ErrAddressRefused},
		{"http://017700000001:9/cb", false, ErrAddressRefused},
		{"http://127.1:9/cb", false, ErrAddressRefused},
		{"http://0177.0.0.1:9/cb", false, ErrAddressRefused},
		{"http://0/", false, ErrAddressRefused},
		{"http://127.0.0.1.:9/", false, ErrAddressRefused},
		{"http://134744072/hook", false, ErrInvalidURL}, // 8.8.8.8, but only to some resolvers
		{"http://8.8.8.8./hook", false, nil},
		{"http://cafe.example/hook", false, nil},
		{"http://1.2.3.4.5/hook", false, nil},

		{"http://127.0.0.1:8080/hook", true, nil},
		{"http://localhost/hook", true, nil},
		{"http://169.254.169.254/", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := ValidateCallbackURL(tc.url, tc.allowPrivate)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLegacyIPv4(t *testing.T) {
	for host, want := range map[string]string{
		"2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0X7F.1": "127.0.0.1", "127.1": "127.0.0.1",
		"0177.0.0.1": "127.0.0.1", "0": "0.0.0.0", "10.0x10.1": "10.16.0.1", "1.2.3.4.": "1.2.3.4",
		"4294967296": "", "256.1.1.1": "", "1.2.3.256": "", "1.2.65536": "", "08": "", "0x": "0.0.0.0",
		"shop": "", "": "", "1.2.3.4.5": "", "1..2": "",
	} {
		ip, ok := legacyIPv4(host)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != want {
			t.Errorf("legacyIPv4(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestNormalizeAndRedactURL(t *testing.T) {
	if got := NormalizeURL("HTTPS://Shop.example/Path?Q=1"); got != "https://Shop.example/Path?Q=1" {
		t.Errorf("NormalizeURL = %q", got)
	}
	if got := RedactURL("https://user:secret@shop.example/hook"); got != "https://user:xxxxx@shop.example/hook" {
		t.Errorf("RedactURL = %q", got)
	}
	if got := RedactURL("https://shop.example/hook?k=v"); got != "https://shop.example/hook?k=v" {
		t.Errorf("RedactURL changed a URL without credentials: %q", got)
	}
}

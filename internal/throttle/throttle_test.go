package throttle

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterAllow(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(6, 3, c.now) // a token every 10 s, bursts of 3
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("fourth request: ok=%v wait=%s, want refused with 10s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another source was refused by a's bucket")
	}
	c.t = c.t.Add(4 * time.Second)
	if ok, wait := l.Allow("a"); ok || wait != 6*time.Second {
		t.Fatalf("after 4s: ok=%v wait=%s, want refused with 6s", ok, wait)
	}
	c.t = c.t.Add(6 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a token regained after 10s was refused")
	}
	c.t = c.t.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("after an hour, request %d refused: the bucket holds more than its burst?", i+1)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("the bucket refilled beyond its burst")
	}
}

func TestLimiterFailures(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(60, 2, c.now)
	if blocked, _ := l.Blocked("x"); blocked {
		t.Fatal("an unknown source is blocked")
	}
	l.Take("x")
	if blocked, _ := l.Blocked("x"); blocked {
		t.Fatal("blocked after one failure of a burst of 2")
	}
	l.Take("x")
	blocked, wait := l.Blocked("x")
	if !blocked || wait != time.Second {
		t.Fatalf("after two failures: blocked=%v wait=%s, want true 1s", blocked, wait)
	}
	c.t = c.t.Add(time.Second)
	if blocked, _ := l.Blocked("x"); blocked {
		t.Fatal("still blocked once a token is back")
	}
}

func TestNilLimiterAllowsAll(t *testing.T) {
	var l *Limiter = NewLimiter(0, 5, nil)
	if l != nil {
		t.Fatal("NewLimiter(0, ...) is not nil")
	}
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("nil limiter refused")
	}
	l.Take("a")
	if blocked, _ := l.Blocked("a"); blocked {
		t.Fatal("nil limiter blocked")
	}
}

func TestLimiterForgetsSources(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(60, 1, c.now)
	for i := range maxBuckets + 10 {
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets kept, want at most %d", n, maxBuckets)
	}
}

func TestSources(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted bool
		remote  string
		xff     []string
		want    string
	}{
		{"no proxy", false, "203.0.113.7:5000", nil, "203.0.113.7"},
		{"header ignored without trusted proxies", false, "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"header ignored from an untrusted peer", true, "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy", true, "10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries are skipped", true, "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", true, "10.1.2.3:5000", []string{"198.51.100.1, 10.9.9.9", "10.8.8.8"}, "198.51.100.1"},
		{"garbage hop stops the walk", true, "10.1.2.3:5000", []string{"198.51.100.1, nonsense"}, "10.1.2.3"},
		{"ipv6 by /64", false, "[2001:db8:1:2:3:4:5:6]:5000", nil, "2001:db8:1:2::/64"},
		{"trusted ipv6 loopback", true, "[::1]:5000", []string{"2001:db8::9"}, "2001:db8::/64"},
		{"mapped ipv4", false, "[::ffff:203.0.113.7]:5000", nil, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSources(nil)
			if tt.trusted {
				s = NewSources(trusted)
			}
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := s.Key(r); got != tt.want {
				t.Errorf("Key = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 300 * time.Millisecond: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%s) = %s, want %s", d, got, want)
		}
	}
}

package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNominalBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 10 * time.Second}, // out of range: treated as the first
		{1, 10 * time.Second},
		{2, time.Minute},
		{3, 5 * time.Minute},
		{4, 30 * time.Minute},
		{5, time.Hour},
		{6, time.Hour},
		{75, time.Hour},
	}
	for _, tc := range tests {
		if got := nominalBackoff(retrySchedule, tc.attempt); got != tc.want {
			t.Errorf("nominalBackoff(%d) = %s, want %s", tc.attempt, got, tc.want)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	const d = 10 * time.Second
	tests := []struct {
		r    float64
		want time.Duration
	}{
		{0, 8 * time.Second},
		{0.5, 10 * time.Second},
		{0.75, 11 * time.Second},
	}
	for _, tc := range tests {
		if got := jitter(d, tc.r); got != tc.want {
			t.Errorf("jitter(%s, %v) = %s, want %s", d, tc.r, got, tc.want)
		}
	}
	if got := jitter(d, 0.9999999); got >= 12*time.Second || got < 11990*time.Millisecond {
		t.Errorf("jitter(%s, 0.9999999) = %s, want just under 12s", d, got)
	}
}

func TestDefaultBackoffWithinJitter(t *testing.T) {
	for attempt := 1; attempt <= 7; attempt++ {
		nominal := nominalBackoff(retrySchedule, attempt)
		lo, hi := nominal*8/10, nominal*12/10
		seen := map[time.Duration]bool{}
		for range 1000 {
			got := DefaultBackoff(attempt)
			if got < lo || got >= hi {
				t.Fatalf("DefaultBackoff(%d) = %s, want in [%s, %s)", attempt, got, lo, hi)
			}
			seen[got] = true
		}
		if len(seen) < 100 {
			t.Errorf("DefaultBackoff(%d) gave %d distinct values in 1000 draws, want jitter", attempt, len(seen))
		}
	}
}

func TestScheduleBackoff(t *testing.T) {
	b := ScheduleBackoff([]time.Duration{time.Second, 10 * time.Second})
	for _, tc := range []struct {
		attempt int
		nominal time.Duration
	}{{1, time.Second}, {2, 10 * time.Second}, {3, 10 * time.Second}, {9, 10 * time.Second}} {
		for range 100 {
			if got := b(tc.attempt); got < tc.nominal*8/10 || got >= tc.nominal*12/10 {
				t.Fatalf("attempt %d: %s, want %s ±20%%", tc.attempt, got, tc.nominal)
			}
		}
	}
	if got := DefaultSchedule(); len(got) != len(retrySchedule) || got[0] != 10*time.Second {
		t.Errorf("DefaultSchedule() = %v", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "2", 2 * time.Second},
		{"seconds with spaces", " 120 ", 2 * time.Minute},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"garbage", "soon", 0},
		{"capped seconds", "999999999", maxRetryAfter},
		{"huge seconds", "99999999999999999999", maxRetryAfter},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"http date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"capped date", now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.header, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdefghij", 8, "abcde…"},
		{"no split rune", "éééé", 6, "é…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("truncate(%q, %d) = %q: longer than %d or invalid UTF-8", tc.in, tc.n, got, tc.n)
			}
		})
	}
	long := truncate(strings.Repeat("é", 1000), maxErrorLen)
	if len(long) > maxErrorLen || !utf8.ValidString(long) {
		t.Errorf("truncate of 2000 bytes: %d bytes, valid=%v", len(long), utf8.ValidString(long))
	}
}

func TestPrintable(t *testing.T) {
	if got, want := printable([]byte("a\nb\x00c\xffd")), "a b c\uFFFDd"; got != want {
		t.Errorf("printable = %q, want %q", got, want)
	}
}

package rates

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFreshnessByTheFeedsOwnTime: a feed that says when its rates were taken
// is judged by that time. A proxy serving an hours-old cached answer is
// stale at once, the fallback is asked, and a fresh feed ages from its own
// time, not from the fetch.
func TestFreshnessByTheFeedsOwnTime(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	at := func(ago time.Duration) int64 { return clk.Now().Add(-ago).Unix() }
	primary := newFeed(t, fmt.Sprintf(`{"rates": {"LTC_USD": "80"}, "timestamp": %d}`, at(3*time.Hour)))
	fallback := newFeed(t, fmt.Sprintf(`{"rates": {"LTC_USD": "81"}, "timestamp": %d}`, at(40*time.Second)))
	svc := New(Config{Sources: []Source{source(t, "primary", primary), source(t, "fallback", fallback)},
		MaxAge: time.Minute, Now: clk.Now})
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if fallback.hits.Load() != 1 {
		t.Errorf("fallback asked %d times, want once after the primary's stale answer", fallback.hits.Load())
	}
	q, err := svc.Rate("LTC", "USD")
	if err != nil || q.Rate.String() != "81" || q.Source != "fallback" || !q.At.Equal(clk.Now().Add(-40*time.Second)) {
		t.Fatalf("rate = %+v, %v; want 81 from fallback taken 40 s ago", q, err)
	}
	clk.Add(21 * time.Second) // 61 s after the feed's time, 21 s after the fetch
	if _, err := svc.Rate("LTC", "USD"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a minute after the feed's own time: err = %v, want ErrUnavailable", err)
	}

	// A time ahead of ours (skew) counts as the fetch time; CoinGecko's
	// last_updated_at is read too.
	gecko := newFeed(t, fmt.Sprintf(`{"litecoin": {"usd": 80, "last_updated_at": %d}, "dogecoin": {"usd": 0.1, "last_updated_at": %d}}`,
		at(-time.Hour), at(2*time.Hour)))
	src, err := NewHTTPSource("gecko", gecko.srv.URL, "coingecko", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	svc = New(Config{Sources: []Source{src}, MaxAge: time.Minute, Now: clk.Now})
	if err := svc.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "older than") {
		t.Fatalf("coingecko answer with a 2-hour-old coin: err = %v, want stale", err)
	}
	skewed := newFeed(t, fmt.Sprintf(`{"rates": {"LTC_USD": "80"}, "timestamp": %d}`, at(-time.Hour)))
	svc = New(Config{Sources: []Source{source(t, "skewed", skewed)}, MaxAge: time.Minute, Now: clk.Now})
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if q, err := svc.Rate("LTC", "USD"); err != nil || !q.At.Equal(clk.Now()) {
		t.Fatalf("feed time ahead of ours: %+v, %v; want the fetch time", q, err)
	}
	bad := newFeed(t, `{"rates": {"LTC_USD": "80"}, "timestamp": "yesterday"}`)
	svc = New(Config{Sources: []Source{source(t, "bad", bad)}, MaxAge: time.Minute, Now: clk.Now})
	if err := svc.Refresh(ctx); err == nil {
		t.Fatal("a timestamp that is not Unix seconds was accepted")
	}
}

// TestInverseRateConvertsExactly: a rate that is the inverse of a feed's
// (1 / USD_DOGE) converts a price by the exact fraction, not by its
// 20-place rounding: 1 USD at 1/3 USD per DOGE is exactly 3 DOGE.
func TestInverseRateConvertsExactly(t *testing.T) {
	svc := New(Config{Static: Table{{"USD", "DOGE"}: dec(t, "3"), {"EUR", "USD"}: dec(t, "1.5")}})
	tests := []struct {
		base, quote, price string
		want               int64
	}{
		{"DOGE", "USD", "1", 300_000_000},    // 1 / USD_DOGE
		{"DOGE", "USD", "10", 3_000_000_000}, // 1 / USD_DOGE
		{"DOGE", "EUR", "1", 450_000_000},    // 1 / (EUR_USD × USD_DOGE)
		{"DOGE", "USD", "0.000000001", 1},    // still rounded up, once
		{"USD", "DOGE", "1", 33_333_334},     // USD_DOGE itself: 1/3 USD, rounded up
		{"DOGE", "DOGE", "1.5", 150_000_000}, // identity
		{"DOGE", "USD", "0.00000001", 3},     // 3e-8 DOGE
		{"DOGE", "USD", "7", 2_100_000_000},  // 21 DOGE
		{"DOGE", "USD", "0.1", 30_000_000},   // 0.3 DOGE
		{"DOGE", "USD", "1234.5", 370350_000_000},
	}
	for _, tt := range tests {
		q, err := svc.Rate(tt.base, tt.quote)
		if err != nil {
			t.Fatal(err)
		}
		got, err := q.CoinUnits(dec(t, tt.price))
		if err != nil || got != tt.want {
			t.Errorf("%s %s in %s = %d (%v), want %d", tt.price, tt.quote, tt.base, got, err, tt.want)
		}
	}
}

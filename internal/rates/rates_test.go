package rates

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCoinUnits(t *testing.T) {
	tests := []struct {
		name, price, rate string
		want              int64
	}{
		{"exact", "12.5", "50", 25_000_000},
		{"rounds up a third", "10", "3", 333_333_334},
		{"rounds up the smallest remainder", "1", "100000000.00000001", 1},
		{"price in coins at rate 1", "0.00000001", "1", 1},
		{"more than 8 decimals rounds up", "0.000000011", "1", 2},
		{"doge at 0.08", "19.99", "0.08", 24_987_500_000},
		{"rate with many decimals", "12.5", "75.123", 16_639_379},
		{"exponent form", "1e-05", "1", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CoinUnits(dec(t, tt.price), dec(t, tt.rate))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("CoinUnits(%s, %s) = %d, want %d", tt.price, tt.rate, got, tt.want)
			}
		})
	}
	if _, err := CoinUnits(dec(t, "1e30"), dec(t, "1")); !errors.Is(err, ErrAmountRange) {
		t.Errorf("huge price: err = %v, want ErrAmountRange", err)
	}
	if _, err := CoinUnits(dec(t, "0"), dec(t, "1")); err == nil {
		t.Error("zero price: no error")
	}
}

func TestParseStatic(t *testing.T) {
	got, err := ParseStatic(" DOGE_USD=0.08, btc_usd=60000 ,BTC_EUR=55000.5,")
	if err != nil {
		t.Fatal(err)
	}
	if s := got.String(); s != "BTC_EUR=55000.5,BTC_USD=60000,DOGE_USD=0.08" {
		t.Errorf("got %s", s)
	}
	for _, bad := range []string{"DOGE_USD", "DOGE=1", "DOGE_USD=abc", "DOGE_USD=0", "DOGE_USD=-1",
		"DOGE_USD=1,DOGE_USD=2", "DOGE_DOGE=1", "D-GE_USD=1"} {
		if _, err := ParseStatic(bad); err == nil {
			t.Errorf("ParseStatic(%q): no error", bad)
		}
	}
}

func TestFormats(t *testing.T) {
	tbl, err := ReadTransient(strings.NewReader(`{"rates": {"DOGE_USD": 0.08, "btc_eur": "55000.123456789012345678"}, "time": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := tbl.String(); s != "BTC_EUR=55000.123456789012345678,DOGE_USD=0.08" {
		t.Errorf("transient: got %s", s)
	}
	for _, bad := range []string{`{}`, `{"rates": {"DOGE_USD": -1}}`, `{"rates": {"DOGEUSD": 1}}`,
		`{"rates": {"DOGE_USD": true}}`, `not json`} {
		if _, err := ReadTransient(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadTransient(%s): no error", bad)
		}
	}
	tbl, err = ReadCoinGecko(strings.NewReader(`{"dogecoin": {"usd": 0.08, "eur": 0.07}, "bitcoin": {"usd": 60000}, "ethereum": {"usd": 3000}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := tbl.String(); s != "BTC_USD=60000,DOGE_EUR=0.07,DOGE_USD=0.08" {
		t.Errorf("coingecko: got %s", s)
	}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// feed is a local HTTP rate source that can be switched off.
type feed struct {
	srv  *httptest.Server
	body atomic.Value // string
	down atomic.Bool
	hits atomic.Int64
}

func newFeed(t *testing.T, body string) *feed {
	f := &feed{}
	f.body.Store(body)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if f.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(f.body.Load().(string)))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func source(t *testing.T, name string, f *feed) Source {
	t.Helper()
	s, err := NewHTTPSource(name, f.srv.URL, "transient", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrimaryFallbackAndMaxAge(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	primary := newFeed(t, `{"rates": {"LTC_USD": "80"}}`)
	fallback := newFeed(t, `{"rates": {"LTC_USD": "81"}}`)
	svc := New(Config{Sources: []Source{source(t, "primary", primary), source(t, "fallback", fallback)},
		MaxAge: time.Minute, Now: clk.Now})

	if _, err := svc.Rate("LTC", "USD"); !errors.Is(err, ErrUnavailable) || err.Error() != "rate unavailable for LTC_USD" {
		t.Fatalf("before any refresh: err = %v", err)
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if fallback.hits.Load() != 0 {
		t.Errorf("fallback asked %d times while the primary answered", fallback.hits.Load())
	}
	want := func(rate, src string) {
		t.Helper()
		q, err := svc.Rate("ltc", "usd")
		if err != nil {
			t.Fatalf("rate: %v", err)
		}
		if q.Rate.String() != rate || q.Source != src {
			t.Fatalf("rate = %s from %s, want %s from %s", q.Rate, q.Source, rate, src)
		}
	}
	want("80", "primary")

	// The primary goes down: its last value serves until it is a minute
	// old; the fallback, asked meanwhile, takes over after that.
	primary.down.Store(true)
	clk.Add(30 * time.Second)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want("80", "primary")
	clk.Add(31 * time.Second)
	want("81", "fallback")

	// Both down: the fallback's value serves for a minute, then nothing.
	fallback.down.Store(true)
	if err := svc.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "primary") || !strings.Contains(err.Error(), "fallback") {
		t.Errorf("refresh with both down: err = %v", err)
	}
	clk.Add(29 * time.Second)
	want("81", "fallback")
	clk.Add(2 * time.Second)
	if _, err := svc.Rate("LTC", "USD"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after max age: err = %v, want ErrUnavailable", err)
	}

	// The primary is back.
	primary.down.Store(false)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want("80", "primary")
}

func TestStaticIsLastResort(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	f := newFeed(t, `{"rates": {"DOGE_USD": "0.09"}}`)
	svc := New(Config{Sources: []Source{source(t, "feed", f)}, Static: Table{{"DOGE", "USD"}: dec(t, "0.08")},
		MaxAge: time.Minute, Now: clk.Now})
	if q, _ := svc.Rate("DOGE", "USD"); q.Rate.String() != "0.08" || q.Source != "static" {
		t.Errorf("before refresh: %s from %s, want static 0.08", q.Rate, q.Source)
	}
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q, _ := svc.Rate("DOGE", "USD"); q.Rate.String() != "0.09" {
		t.Errorf("after refresh: %s, want the feed's 0.09", q.Rate)
	}
	clk.Add(2 * time.Minute)
	if q, _ := svc.Rate("DOGE", "USD"); q.Rate.String() != "0.08" {
		t.Errorf("feed stale: %s, want static 0.08", q.Rate)
	}
}

func TestDerivedPairs(t *testing.T) {
	svc := New(Config{Static: Table{
		{"DOGE", "BTC"}: dec(t, "0.0000015"),
		{"BTC", "EUR"}:  dec(t, "55000"),
		{"BTC", "USD"}:  dec(t, "60000"),
		{"USD", "LTC"}:  dec(t, "0.0125"),
	}})
	tests := []struct{ base, quote, want string }{
		{"DOGE", "EUR", "0.0825"},                      // DOGE_BTC × BTC_EUR
		{"DOGE", "USD", "0.09"},                        // DOGE_BTC × BTC_USD
		{"LTC", "USD", "80"},                           // 1 / USD_LTC
		{"BTC", "DOGE", "666666.66666666666666666667"}, // 1 / DOGE_BTC, 20 places
		{"EUR", "DOGE", "12.12121212121212121212"},     // 1 / (BTC_EUR × DOGE_BTC)
		{"DOGE", "DOGE", "1"},
	}
	for _, tt := range tests {
		q, err := svc.Rate(tt.base, tt.quote)
		if err != nil {
			t.Errorf("%s_%s: %v", tt.base, tt.quote, err)
			continue
		}
		if got := q.Rate.String(); got != tt.want {
			t.Errorf("%s_%s = %s, want %s", tt.base, tt.quote, got, tt.want)
		}
	}
	// One common currency only: LTC_EUR would need LTC→USD→BTC→EUR.
	if _, err := svc.Rate("LTC", "EUR"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("LTC_EUR: err = %v, want ErrUnavailable", err)
	}
	if _, err := svc.Rate("DOGE", "JPY"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("DOGE_JPY: err = %v, want ErrUnavailable", err)
	}
	var codes []string
	for _, q := range svc.Rates("DOGE") {
		codes = append(codes, q.Pair.Quote)
	}
	if got := strings.Join(codes, ","); got != "BTC,EUR,USD" {
		t.Errorf("Rates(DOGE) quotes = %s", got)
	}
}

func TestRunRefreshesUntilCancelled(t *testing.T) {
	f := newFeed(t, `{"rates": {"LTC_USD": 80}}`)
	svc := New(Config{Sources: []Source{source(t, "feed", f)}, RefreshInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.hits.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d refreshes in 5s", f.hits.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestHTTPSourceErrors(t *testing.T) {
	if _, err := NewHTTPSource("x", "ftp://example.com", "transient", 0); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := NewHTTPSource("x", "http://example.com", "nope", 0); err == nil || !strings.Contains(err.Error(), "coingecko, transient") {
		t.Errorf("unknown format: err = %v", err)
	}
	f := newFeed(t, `{"rates": {}}`)
	svc := New(Config{Sources: []Source{source(t, "empty", f)}})
	if err := svc.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "no rates") {
		t.Errorf("empty answer: err = %v", err)
	}
}

func TestKnownCurrency(t *testing.T) {
	for code, want := range map[string]bool{"USD": true, "EUR": true, "JPY": true, "XAU": true, "DOGE": true, "BTC": true,
		"XX": false, "ABC": false, "USDT": false, "": false, "usd": false} {
		if got := KnownCurrency(code); got != want {
			t.Errorf("KnownCurrency(%q) = %v, want %v", code, got, want)
		}
	}
}

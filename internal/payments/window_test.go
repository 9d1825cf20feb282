package payments

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func window(d time.Duration) func(*CreateRequest) {
	return func(r *CreateRequest) { r.MonitoringWindow = &d }
}

// TestOwnMonitoringWindow: a payment with its own window goes INVALID when
// it stays PENDING past that window, shorter or longer than the server's
// (one hour in newEnv), while a payment without one keeps the server's.
func TestOwnMonitoringWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	short := e.create(amt("1"), window(10*time.Minute))
	long := e.create(amt("1"), window(2*time.Hour))
	dflt := e.create(amt("1"))
	for _, p := range []*Payment{short, long, dflt} {
		e.process(e.pay(p.Address, amt("1")))
		e.expect(p.ID, StatusPending, amt("1"))
	}
	if got := e.get(short.ID).MonitoringWindow; got != 10*time.Minute {
		t.Fatalf("stored window = %s, want 10m", got)
	}
	if got := e.get(dflt.ID).MonitoringWindow; got != 0 {
		t.Fatalf("stored window of a payment without its own = %s, want 0 (the server's)", got)
	}
	deadlines := func() {
		t.Helper()
		if err := e.svc.CheckDeadlines(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(9 * time.Minute)
	deadlines()
	e.expect(short.ID, StatusPending, amt("1"))
	e.clock.Advance(2 * time.Minute) // 11 minutes
	deadlines()
	e.expect(short.ID, StatusInvalid, amt("1"))
	e.expect(dflt.ID, StatusPending, amt("1"))
	e.expect(long.ID, StatusPending, amt("1"))
	e.clock.Advance(50 * time.Minute) // 61 minutes
	deadlines()
	e.expect(dflt.ID, StatusInvalid, amt("1"))
	e.expect(long.ID, StatusPending, amt("1"))
	e.clock.Advance(58 * time.Minute) // 119 minutes
	deadlines()
	e.expect(long.ID, StatusPending, amt("1"))
	e.clock.Advance(2 * time.Minute) // 121 minutes
	deadlines()
	e.expect(long.ID, StatusInvalid, amt("1"))
	for _, p := range []*Payment{short, long, dflt} {
		e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>INVALID")
	}
}

// TestOwnMonitoringWindowObserved: an observation past the payment's own
// window (not only the deadline loop) judges it by that window.
func TestOwnMonitoringWindowObserved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"), window(10*time.Minute))
	txid := e.pay(p.Address, amt("1"))
	e.process(txid)
	e.clock.Advance(11 * time.Minute)
	e.process(txid)
	e.expect(p.ID, StatusInvalid, amt("1"))
}

// TestOwnMonitoringWindowFromPool: a payment that takes its address from
// the pool keeps its own window too.
func TestOwnMonitoringWindowFromPool(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withPool(2, 0))
	e.fill()
	p := e.create(amt("1"), window(15*time.Minute))
	if len(e.pooled()) != 1 {
		t.Fatalf("the payment did not take a pooled address")
	}
	if got := e.get(p.ID).MonitoringWindow; got != 15*time.Minute {
		t.Fatalf("stored window = %s, want 15m", got)
	}
}

// TestOwnMonitoringWindowRefusals: bad windows are refused, and the rule
// that confirmations must fit the window uses the payment's own window
// (LTC: a block every 150 s; newEnv: 2 confirmations by default, a one-hour
// server window).
func TestOwnMonitoringWindowRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	confs := func(n int64) func(*CreateRequest) {
		return func(r *CreateRequest) { r.Confirmations = &n }
	}
	for _, tc := range []struct {
		name      string
		mods      []func(*CreateRequest)
		wantField string // "" accepts
		wantWin   time.Duration
	}{
		{"zero", []func(*CreateRequest){window(0)}, "monitoring_window", 0},
		{"negative", []func(*CreateRequest){window(-time.Minute)}, "monitoring_window", 0},
		{"over 30 days", []func(*CreateRequest){window(MaxMonitoringWindow + time.Second)}, "monitoring_window", 0},
		{"part of a second", []func(*CreateRequest){window(1500 * time.Millisecond)}, "monitoring_window", 0},
		{"default confirmations longer than it", []func(*CreateRequest){window(4 * time.Minute)}, "monitoring_window", 0},
		{"confirmations longer than it", []func(*CreateRequest){window(10 * time.Minute), confs(5)}, "monitoring_window", 0},
		{"confirmations longer than the server's", []func(*CreateRequest){confs(30)}, "confirmations", 0},
		{"confirmations longer than the server's, not its own", []func(*CreateRequest){window(2 * time.Hour), confs(30)}, "", 2 * time.Hour},
		{"30 days", []func(*CreateRequest){window(MaxMonitoringWindow)}, "", MaxMonitoringWindow},
		{"confirmations that fit", []func(*CreateRequest){window(10 * time.Minute), confs(4)}, "", 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := CreateRequest{Coin: "LTC", Amount: amt("1")}
			for _, m := range tc.mods {
				m(&req)
			}
			p, err := e.svc.Create(e.ctx, req)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("create: %v, want it accepted", err)
				}
				if got := e.get(p.ID).MonitoringWindow; got != tc.wantWin {
					t.Fatalf("stored window = %s, want %s", got, tc.wantWin)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Field != tc.wantField || !errors.Is(err, ErrInvalid) {
				t.Fatalf("create: %v, want an invalid error on field %s", err, tc.wantField)
			}
		})
	}
}

// TestPaymentJSONWithoutWindow: the payment's JSON (API and webhooks) does
// not change with a window of its own: the same fields as one without.
func TestPaymentJSONWithoutWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := func(p *Payment) []string {
		t.Helper()
		b, err := json.Marshal(e.get(p.ID).JSON())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(m))
	}
	own, dflt := keys(e.create(amt("1"), window(10*time.Minute))), keys(e.create(amt("1")))
	if !slices.Equal(own, dflt) {
		t.Fatalf("JSON fields with an own window %v, without %v", own, dflt)
	}
	for _, k := range dflt {
		if strings.Contains(k, "monitoring") || strings.Contains(k, "window") {
			t.Fatalf("payment JSON has %q", k)
		}
	}
}

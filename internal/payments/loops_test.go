package payments

import (
	"context"
	"sync"
	"testing"
	"time"
)

// runLoops runs svc's loops until the test ends and records each run's kind.
func runLoops(t *testing.T, svc *Service, catchUp, deadlines time.Duration) func() map[string]int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu   sync.Mutex
		runs = map[string]int{}
	)
	done := make(chan error, 1)
	go func() {
		done <- svc.RunLoops(ctx, LoopsConfig{CatchUp: catchUp, Deadlines: deadlines,
			Observe: func(kind string, err error, _ time.Duration) {
				if err != nil {
					t.Errorf("%s: %v", kind, err)
				}
				mu.Lock()
				runs[kind]++
				mu.Unlock()
			}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunLoops: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("RunLoops did not return after its context ended")
		}
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]int, len(runs))
		for k, v := range runs {
			out[k] = v
		}
		return out
	}
}

// waitStatus polls until the payment has the status.
func (e *env) waitStatus(p *Payment, want Status, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := e.get(p.ID)
		if got.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("payment %s: status %s after %s, want %s", p.ID, got.Status, timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunLoopsScanAtOnce: a process whose loops start finds a payment made
// before it started without waiting an interval.
func TestRunLoopsScanAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.pay(p.Address, amt("1"))
	start := time.Now()
	runs := runLoops(t, e.svc, time.Hour, time.Hour)
	e.waitStatus(p, StatusPending, 10*time.Second)
	t.Logf("found %s after the loops started", time.Since(start).Round(time.Millisecond))
	// The scan records the payment before it returns; the deadline check
	// starts at the same time and may end after it.
	deadline := time.Now().Add(10 * time.Second)
	for r := runs(); (r[LoopCatchUp] == 0 || r[LoopDeadlines] == 0) && time.Now().Before(deadline); r = runs() {
		time.Sleep(10 * time.Millisecond)
	}
	if r := runs(); r[LoopCatchUp] != 1 || r[LoopDeadlines] != 1 {
		t.Errorf("runs %v, want one catch-up and one deadline check", r)
	}
}

// TestRunLoopsTwoProcesses runs the loops of two services on one database
// and one node, scanning every 50 ms, while payments are paid and
// confirmed: each output is recorded once and each status change once.
func TestRunLoopsTwoProcesses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := NewService(e.pool, e.svc.cfg)
	runLoops(t, e.svc, 50*time.Millisecond, 50*time.Millisecond)
	runs := runLoops(t, other, 50*time.Millisecond, 50*time.Millisecond)
	var ps []*Payment
	for range 6 {
		p := e.create(amt("0.5"))
		e.pay(p.Address, amt("0.5"))
		ps = append(ps, p)
	}
	for _, p := range ps {
		e.waitStatus(p, StatusPending, 20*time.Second)
	}
	e.mine(2)
	for _, p := range ps {
		e.waitStatus(p, StatusPaid, 20*time.Second)
		e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID")
		if got := e.get(p.ID); len(got.Outputs) != 1 || got.Received != amt("0.5") {
			t.Errorf("payment %s: %d outputs, %s received; want 1 output of 0.5", p.ID, len(got.Outputs), got.Received)
		}
	}
	if r := runs(); r[LoopCatchUp] < 2 {
		t.Errorf("second process ran %v, want several catch-up scans", r)
	}
}

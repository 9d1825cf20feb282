package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcCPU reads this process's CPU time from /proc after burning at
// least 100 ms of it (by getrusage's count), and checks the two agree.
func TestProcCPU(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for rusage() < 100*time.Millisecond && time.Now().Before(deadline) {
		for range 100000 {
			x++
		}
	}
	got, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if want := rusage(); got < 80*time.Millisecond || got > want+2*clockTick {
		t.Errorf("procCPU of this process: got %v, want about getrusage's %v (x=%d)", got, want, x)
	}
	if _, err := procCPU(0); err == nil {
		t.Error("procCPU(0): got no error, want one (there is no process 0 in /proc)")
	}
}

// TestCPUPerOp checks the arithmetic of since: deltas per operation,
// backends new since the start counted from zero.
func TestCPUPerOp(t *testing.T) {
	start := cpuTimes{client: time.Second, daemon: 2 * time.Second, node: 3 * time.Second, backends: map[int]time.Duration{10: time.Second}}
	end := cpuTimes{client: 1100 * time.Millisecond, daemon: 2300 * time.Millisecond, node: 3050 * time.Millisecond,
		backends: map[int]time.Duration{10: 1200 * time.Millisecond, 11: 200 * time.Millisecond}}
	got := end.since(start, 1000)
	want := cpuPerOp{client: 100 * time.Microsecond, daemon: 300 * time.Microsecond, postgres: 400 * time.Microsecond, node: 50 * time.Microsecond}
	if got != want {
		t.Errorf("since: got %+v, want %+v", got, want)
	}
	if s := got.String(); !strings.Contains(s, "transientd 300 µs") || !strings.Contains(s, "node 50 µs") || !strings.HasSuffix(s, "= 850 µs") {
		t.Errorf("String: got %q, want transientd 300 µs, node 50 µs and a total of 850 µs", s)
	}
	if d := got.times(10).minus(got); d != got.times(9) {
		t.Errorf("times and minus: got %+v, want %+v", d, got.times(9))
	}
	if (cpuTimes{}).since(start, 0) != (cpuPerOp{}) {
		t.Error("since over no operations: want zero")
	}
}

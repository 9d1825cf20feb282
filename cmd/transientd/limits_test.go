package main

import (
	"log/slog"
	"syscall"
	"testing"

	"github.com/transient-gateway/transient/internal/checkout"
	"github.com/transient-gateway/transient/internal/config"
)

func TestSizeStreams(t *testing.T) {
	for _, tc := range []struct {
		nofile           uint64
		configured, want int
	}{
		{1024, 0, 256},                         // the common default soft limit: a quarter
		{20000, 0, checkout.DefaultMaxStreams}, // capped at the default
		{0, 0, checkout.DefaultMaxStreams},     // unknown limit
		{20000, 5000, 5000},                    // the operator's choice, with room left
		{1024, 5000, 1024 - reservedFiles},     // too much for the limit: lowered
		{100, 0, 25},
		{100, 50, 16},
	} {
		cfg := &config.Config{StreamMaxOpen: tc.configured}
		sizeStreams(cfg, tc.nofile, slog.New(slog.DiscardHandler))
		if cfg.StreamMaxOpen != tc.want {
			t.Errorf("nofile %d, STREAM_MAX_OPEN %d: %d, want %d", tc.nofile, tc.configured, cfg.StreamMaxOpen, tc.want)
		}
	}
}

func TestRaiseOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// Go raises the soft limit at start itself; lower it to see that
	// raiseOpenFileLimit raises it, as it must where Go does not.
	low := lim
	low.Cur = min(lim.Max, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	got := raiseOpenFileLimit()
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if got != lim.Max || now.Cur != lim.Max {
		t.Errorf("raiseOpenFileLimit = %d, soft limit now %d; want both the hard limit %d", got, now.Cur, lim.Max)
	}
}

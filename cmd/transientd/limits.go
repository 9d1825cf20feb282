package main

import (
	"log/slog"
	"syscall"

	"github.com/transient-gateway/transient/internal/checkout"
	"github.com/transient-gateway/transient/internal/config"
)

// reservedFiles are the file descriptors kept for everything but the
// checkout streams: the API's own connections, the database pool, the node
// clients, the webhook deliveries, logs.
const reservedFiles = 512

// raiseOpenFileLimit raises the soft limit on open files to the hard limit,
// as far as the system allows, and returns the limit in force (0 when it
// cannot be read). Every connection costs a file descriptor; a low soft
// limit (often 1024) would let a few hundred streams starve the API.
func raiseOpenFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return lim.Cur
}

// sizeStreams sets STREAM_MAX_OPEN from the open file limit when it is 0
// (a quarter of the limit, at most checkout.DefaultMaxStreams), and lowers
// a configured value that would leave fewer than reservedFiles descriptors
// to the rest of the daemon.
func sizeStreams(cfg *config.Config, nofile uint64, log *slog.Logger) {
	if nofile == 0 {
		if cfg.StreamMaxOpen == 0 {
			cfg.StreamMaxOpen = checkout.DefaultMaxStreams
		}
		return
	}
	room := 16
	if nofile > reservedFiles+16 {
		room = int(min(nofile-reservedFiles, 1<<30))
	}
	switch {
	case cfg.StreamMaxOpen == 0:
		cfg.StreamMaxOpen = max(16, min(checkout.DefaultMaxStreams, int(min(nofile/4, 1<<30))))
	case cfg.StreamMaxOpen > room:
		log.Warn("STREAM_MAX_OPEN leaves too few file descriptors for the API; lowering it",
			"stream_max_open", cfg.StreamMaxOpen, "open_file_limit", nofile, "lowered_to", room)
		cfg.StreamMaxOpen = room
	}
	log.Info("checkout stream limits", "open_file_limit", nofile, "stream_max_open", cfg.StreamMaxOpen,
		"stream_max_per_payment", cfg.StreamMaxPerPayment)
}

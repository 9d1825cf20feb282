package payments

import (
	"context"
	"sync"
	"time"
)

// Loop kinds, as LoopsConfig.Observe names them. They are the kinds the
// same work had as River jobs, so metrics keep their labels.
const (
	LoopCatchUp   = "catch_up"
	LoopDeadlines = "deadlines"
)

// loopRunTimeout bounds one catch-up scan or deadline check.
const loopRunTimeout = 5 * time.Minute

// LoopsConfig configures Service.RunLoops.
type LoopsConfig struct {
	// CatchUp is the pause between two catch-up scans of a coin
	// (CATCHUP_INTERVAL).
	CatchUp time.Duration
	// Deadlines is the pause between two deadline checks
	// (DEADLINE_INTERVAL).
	Deadlines time.Duration
	// Observe, when set, is called after every run with its kind
	// (LoopCatchUp or LoopDeadlines), its error and how long it took. It
	// must be fast and not block.
	Observe func(kind string, err error, d time.Duration)
}

// RunLoops runs detection's loops in this process until ctx ends, then
// returns nil: a catch-up scan of each coin (listsinceblock from the stored
// cursor) at once and then CatchUp after the end of each scan, and the
// deadline check (expiry and the monitoring window) at once and then every
// Deadlines. A run that fails is logged and the loop goes on.
//
// Every process runs its own loops, whatever the other processes on the
// database do: a process that starts looks at the chain at once, and no
// process waits for another (a dead one, say) to hand over the work. That
// is safe because a scan and a check change payments only under their row
// locks (see Observe and CheckDeadlines), and each fact is keyed by coin,
// txid and output index, so two processes scanning the same blocks record
// each output and each status change once.
func (s *Service) RunLoops(ctx context.Context, cfg LoopsConfig) error {
	var wg sync.WaitGroup
	for _, code := range s.codes {
		wg.Go(func() {
			s.loop(ctx, LoopCatchUp, cfg.CatchUp, cfg.Observe, func(ctx context.Context) error {
				return s.CatchUp(ctx, code)
			}, "coin", code)
		})
	}
	wg.Go(func() { s.loop(ctx, LoopDeadlines, cfg.Deadlines, cfg.Observe, s.CheckDeadlines) })
	wg.Wait()
	return nil
}

// loop runs fn at once and then every pause after the end of the previous
// run, until ctx ends.
func (s *Service) loop(ctx context.Context, kind string, pause time.Duration,
	observe func(string, error, time.Duration), fn func(context.Context) error, attrs ...any,
) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		runCtx, cancel := context.WithTimeout(ctx, loopRunTimeout)
		err := fn(runCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if observe != nil {
			observe(kind, err, time.Since(start))
		}
		if err != nil {
			s.log.WarnContext(ctx, kind+" failed; retrying at the next interval",
				append(attrs, "err", err, "interval", pause.String())...)
		}
		timer.Reset(pause)
	}
}

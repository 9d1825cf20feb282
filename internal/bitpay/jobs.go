package bitpay

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// pruneAfter is how long after expiry an unused pairing code is kept, so
// that pairing list still shows it for a while.
const pruneAfter = 7 * 24 * time.Hour

// PruneArgs is the River job that deletes pairing codes expired unused
// more than a week ago.
type PruneArgs struct{}

// Kind implements river.JobArgs.
func (PruneArgs) Kind() string { return "bitpay_prune_pairing_codes" }

// pruneWorker works PruneArgs.
type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	s *Service
}

// Work deletes the old codes.
func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	n, err := w.s.pairings.Prune(ctx, w.s.cfg.Now().Add(-pruneAfter))
	if err != nil {
		return err
	}
	if n > 0 {
		w.s.log.InfoContext(ctx, "pruned expired pairing codes", "count", n)
	}
	return nil
}

// AddWorkers registers the package's River workers.
func AddWorkers(workers *river.Workers, s *Service) {
	river.AddWorker(workers, &pruneWorker{s: s})
}

// PeriodicJobs returns the package's periodic jobs: the hourly prune of
// old pairing codes, run by one process of many.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return PruneArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
		}, &river.PeriodicJobOpts{ID: "bitpay_prune_pairing_codes"}),
	}
}

package payments

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueHints is the River queue of the detection jobs: notification hints,
// block refreshes and catch-up scans. Webhook deliveries use their own queue,
// so a slow receiver never delays detection.
const QueueHints = "detection"

// activeStates are the job states in which a second hint for the same
// transaction or block is redundant. Completed jobs are left out: a hint
// after the job ran (the first confirmation, say) must run again.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable,
	rivertype.JobStatePending,
	rivertype.JobStateRetryable,
	rivertype.JobStateRunning,
	rivertype.JobStateScheduled,
}

// TxHintArgs asks to look at one wallet transaction. At most one is pending
// per coin and txid, so walletnotify firing twice costs one node call.
type TxHintArgs struct {
	Coin string `json:"coin"`
	TxID string `json:"txid"`
	// After is set on a hint that arrived while the job After was running
	// for the same transaction: that job may have read the node before
	// what the hint announces, so this one looks again. River counts a
	// running job as a duplicate, and After keeps the two apart.
	After int64 `json:"after,omitempty"`
}

// Kind implements river.JobArgs.
func (TxHintArgs) Kind() string { return "tx_hint" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (TxHintArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueHints, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// BlockHintArgs asks to refresh a coin's recent outputs after a new block.
type BlockHintArgs struct {
	Coin string `json:"coin"`
	Hash string `json:"hash"`
}

// Kind implements river.JobArgs.
func (BlockHintArgs) Kind() string { return "block_hint" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (BlockHintArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueHints, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// CatchUpArgs asks to scan a coin's wallet from the stored cursor. The
// regular scans run in every process (Service.RunLoops); the job remains so
// that scans queued by earlier versions, or by an operator, still run.
type CatchUpArgs struct {
	Coin string `json:"coin"`
}

// Kind implements river.JobArgs.
func (CatchUpArgs) Kind() string { return "catch_up" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (CatchUpArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueHints, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// DeadlinesArgs asks to apply expiry and the monitoring window. Like
// CatchUpArgs, the regular checks run in Service.RunLoops.
type DeadlinesArgs struct{}

// Kind implements river.JobArgs.
func (DeadlinesArgs) Kind() string { return "deadlines" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeadlinesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueHints, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// AddWorkers registers the detection workers of s.
func AddWorkers(workers *river.Workers, s *Service) {
	river.AddWorker(workers, &txHintWorker{s: s})
	river.AddWorker(workers, &blockHintWorker{s: s})
	river.AddWorker(workers, &catchUpWorker{s: s})
	river.AddWorker(workers, &deadlinesWorker{s: s})
	river.AddWorker(workers, &addressLabelWorker{s: s})
}

type txHintWorker struct {
	river.WorkerDefaults[TxHintArgs]
	s *Service
}

func (w *txHintWorker) Work(ctx context.Context, job *river.Job[TxHintArgs]) error {
	return w.s.workTxHint(ctx, job.Args.Coin, job.Args.TxID)
}

func (w *txHintWorker) Timeout(*river.Job[TxHintArgs]) time.Duration { return 30 * time.Second }

type blockHintWorker struct {
	river.WorkerDefaults[BlockHintArgs]
	s *Service
}

func (w *blockHintWorker) Work(ctx context.Context, job *river.Job[BlockHintArgs]) error {
	return w.s.RefreshCoin(ctx, job.Args.Coin)
}

func (w *blockHintWorker) Timeout(*river.Job[BlockHintArgs]) time.Duration { return 2 * time.Minute }

type catchUpWorker struct {
	river.WorkerDefaults[CatchUpArgs]
	s *Service
}

func (w *catchUpWorker) Work(ctx context.Context, job *river.Job[CatchUpArgs]) error {
	return w.s.CatchUp(ctx, job.Args.Coin)
}

func (w *catchUpWorker) Timeout(*river.Job[CatchUpArgs]) time.Duration { return 5 * time.Minute }

type deadlinesWorker struct {
	river.WorkerDefaults[DeadlinesArgs]
	s *Service
}

func (w *deadlinesWorker) Work(ctx context.Context, _ *river.Job[DeadlinesArgs]) error {
	return w.s.CheckDeadlines(ctx)
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Batching of the notification path, measured on this project's 2-core
// machines:
//
//   - Storing hints: with 64 concurrent callers, one River insert per hint
//     stores about 3,600 hints/s and the group-committing batcher about
//     16,000 (go test -run '^$' -bench HintStore -benchtime 5000x
//     ./internal/payments/). Hints that repeat 500 transactions, as a
//     burst's do, stored about 4,000–5,300 hints/s while each duplicate
//     went through River's unique insert (a row lock and rewrite of the
//     job), and about 16,700 since skipQueued answers them with a read
//     (batched-dup, on a loaded machine where batched did 4,000–5,400).
//   - Working hints: one transaction per hint worked off about 500
//     transactions per second in the e2e burst test, against a node
//     answering 3,000–7,000 gettransaction calls per second; the hint jobs
//     running at the same time are therefore read from the node concurrently
//     and observed in one database transaction per batch (about 3,000 hints/s
//     for 500 transactions: go test -v -run TestHintBurst ./e2e/).
//   - How many jobs run together is the detection queue's worker count
//     (HINT_WORKERS, 256 by default): it bounds the batch, while the reads
//     in flight to a node stay at refreshConcurrency per coin. With 32
//     workers a 500-transaction burst went through the batcher 32 at a
//     time, and its jobs waited seconds in the queue.
//
// Every caller still returns only after its batch is committed: an accepted
// hint is never lost, and a job is completed only after its transaction is
// recorded.
const (
	hintBatchLimit = 500
	txBatchLimit   = 100
	batchFlushers  = 4
	batchTimeout   = 30 * time.Second
)

// hintArgs is one hint with the key that identifies its duplicates.
type hintArgs struct {
	args river.JobArgs
	key  string
}

// txRef names one transaction to look at.
type txRef struct{ coin, txid string }

// HintTx queues a look at txid on coin. It returns once the hint is stored;
// duplicates of a hint not yet worked are dropped.
func (s *Service) HintTx(ctx context.Context, coin, txid string) error {
	return s.hint(ctx, hintArgs{TxHintArgs{Coin: coin, TxID: txid}, "tx " + coin + " " + txid})
}

// HintBlock queues a refresh of coin after the block hash.
func (s *Service) HintBlock(ctx context.Context, coin, hash string) error {
	return s.hint(ctx, hintArgs{BlockHintArgs{Coin: coin, Hash: hash}, "block " + coin + " " + hash})
}

func (s *Service) hint(ctx context.Context, h hintArgs) error {
	return s.hintBatch.do(ctx, h, func() error {
		res, err := s.jobs.Insert(ctx, h.args, nil)
		if err != nil {
			return fmt.Errorf("payments: store hint: %w", err)
		}
		return s.hintAfterRunning(ctx, []hintArgs{h}, []*rivertype.JobInsertResult{res})
	})
}

// after returns the hint to store in place of h when h's job, job, is
// running: for a tx hint, the same hint to run after that job (see
// hintAfterRunning); a block hint has none (false).
func (h hintArgs) after(job int64) (hintArgs, bool) {
	tx, ok := h.args.(TxHintArgs)
	if !ok {
		return hintArgs{}, false
	}
	tx.After = job
	return hintArgs{args: tx, key: h.key + " after " + strconv.FormatInt(job, 10)}, true
}

// hintAfterRunning stores again, as a hint that runs after it, every tx hint
// of hints that River dropped as a duplicate of a job already running
// (results[i] is the insert of hints[i]): that job may have read the node
// before the change the hint announces, and a second confirmation notified
// meanwhile would otherwise wait for the next block or catch-up.
func (s *Service) hintAfterRunning(ctx context.Context, hints []hintArgs, results []*rivertype.JobInsertResult) error {
	hints = slices.Clone(hints)
	for range 3 { // a follow-up may itself be running by now
		var again []river.InsertManyParams
		for i, res := range results {
			if res == nil || !res.UniqueSkippedAsDuplicate || res.Job.State != rivertype.JobStateRunning {
				continue
			}
			next, ok := hints[i].after(res.Job.ID)
			if !ok {
				continue
			}
			again = append(again, river.InsertManyParams{Args: next.args})
			hints[len(again)-1] = next
		}
		if len(again) == 0 {
			return nil
		}
		var err error
		if results, err = s.jobs.InsertMany(ctx, again); err != nil {
			return fmt.Errorf("payments: store %d hints after running jobs: %w", len(again), err)
		}
		hints = hints[:len(again)]
	}
	return nil
}

// storeHints inserts a batch of hints. A multi-row insert may not touch the
// same unique job twice, so duplicates within the batch are dropped first,
// and batches take their unique keys in one order (sorted). A multi-row
// insert can still deadlock with River updating the same jobs (completing
// them) in another order; PostgreSQL then aborts one side, and the batch
// is stored one hint at a time instead: a single-row insert holds no lock
// while it waits, so it cannot be part of a deadlock.
func (s *Service) storeHints(ctx context.Context, hints []hintArgs) error {
	slices.SortFunc(hints, func(a, b hintArgs) int { return strings.Compare(a.key, b.key) })
	hints = slices.CompactFunc(hints, func(a, b hintArgs) bool { return a.key == b.key })
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	hints = s.skipQueued(ctx, hints)
	if len(hints) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(hints))
	for i, h := range hints {
		params[i] = river.InsertManyParams{Args: h.args}
	}
	results, err := s.jobs.InsertMany(ctx, params)
	if isDeadlock(err) {
		s.log.WarnContext(ctx, "hint batch chosen as a deadlock victim; storing its hints one by one", "hints", len(hints))
		err = nil
		results = make([]*rivertype.JobInsertResult, len(hints))
		for i, h := range hints {
			res, e := s.jobs.Insert(ctx, h.args, nil)
			if e != nil && err == nil {
				err = e
			}
			results[i] = res
		}
	}
	if err != nil {
		return fmt.Errorf("payments: store %d hints: %w", len(params), err)
	}
	s.queued.learn(hints, results)
	return s.hintAfterRunning(ctx, hints, results)
}

// activeJobsSQL finds the jobs, among those River still counts as unique
// (the detection jobs' activeStates), with one of the unique keys $1: the
// condition of River's partial unique index, so that index answers it.
const activeJobsSQL = `
	SELECT unique_key, id, state FROM river_job
	WHERE unique_key = ANY($1::bytea[]) AND unique_key IS NOT NULL AND unique_states IS NOT NULL
		AND river_job_state_in_bitmask(unique_states, state)`

// skipQueued drops from hints, sorted by key, those that a stored job not
// yet started already answers, and turns a tx hint whose job is running
// into the hint to run after it, with one read of the job table and no
// write: what River's unique insert would decide (see hintAfterRunning),
// without locking and rewriting the job's row (ON CONFLICT DO UPDATE) for
// every duplicate, which made duplicate hints wait on River fetching and
// completing those jobs, and them on the hints. A job seen waiting was
// committed before this read, and so before the hint was accepted, and
// reads the node only once it starts, after the change the hint announces.
// Only hints whose River unique key is known (from an earlier insert) are
// looked up; the others, and every hint when the read fails, go to the
// insert, which decides as before.
func (s *Service) skipQueued(ctx context.Context, hints []hintArgs) []hintArgs {
	keys, at := s.queued.lookup(hints)
	if len(keys) == 0 {
		return hints
	}
	rows, err := s.pool.Query(ctx, activeJobsSQL, keys)
	if err != nil {
		return hints
	}
	type job struct {
		id    int64
		state rivertype.JobState
	}
	found := make(map[string]job, len(keys))
	var (
		key   []byte
		id    int64
		state string
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &id, &state}, func() error {
		found[string(key)] = job{id, rivertype.JobState(state)}
		return nil
	}); err != nil {
		return hints
	}
	kept := hints[:0:0]
	for i, h := range hints {
		j, ok := found[at[i]]
		switch {
		case !ok:
			kept = append(kept, h)
		case j.state == rivertype.JobStateRunning:
			if next, isTx := h.after(j.id); isTx {
				kept = append(kept, next)
			}
		}
		// Any other state: the job has not started; it answers h.
	}
	slices.SortFunc(kept, func(a, b hintArgs) int { return strings.Compare(a.key, b.key) })
	return kept
}

// uniqueKeys maps a hint's key to River's unique key for its job, learned
// from the inserts' results, so that skipQueued can find the job without
// computing River's key itself. It holds at most maxUniqueKeys entries and
// forgets them all when full: a forgotten hint only goes to the insert.
type uniqueKeys struct {
	mu sync.Mutex
	m  map[string][]byte
}

const maxUniqueKeys = 10_000

// lookup returns the known unique keys of hints, and for each hint its
// unique key as a string ("" when unknown).
func (u *uniqueKeys) lookup(hints []hintArgs) ([][]byte, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var keys [][]byte
	at := make([]string, len(hints))
	for i, h := range hints {
		if k, ok := u.m[h.key]; ok {
			keys = append(keys, k)
			at[i] = string(k)
		}
	}
	return keys, at
}

// learn notes the unique keys of the jobs the inserts of hints returned
// (results[i] is the insert of hints[i]); follow-up hints are left out:
// nothing looks them up.
func (u *uniqueKeys) learn(hints []hintArgs, results []*rivertype.JobInsertResult) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, res := range results {
		if i >= len(hints) || res == nil || res.Job == nil || len(res.Job.UniqueKey) == 0 {
			continue
		}
		if tx, ok := hints[i].args.(TxHintArgs); ok && tx.After != 0 {
			continue
		}
		if _, ok := u.m[hints[i].key]; ok {
			continue
		}
		if u.m == nil || len(u.m) >= maxUniqueKeys {
			u.m = make(map[string][]byte)
		}
		u.m[hints[i].key] = res.Job.UniqueKey
	}
}

// isDeadlock reports whether PostgreSQL aborted the statement to break a
// deadlock (SQLSTATE 40P01): safe to run again.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// workTxHint is what a tx hint job does: ProcessTx, batched with the other
// hint jobs running at the same time.
func (s *Service) workTxHint(ctx context.Context, coin, txid string) error {
	return s.txBatch.do(ctx, txRef{coin, txid}, func() error { return s.ProcessTx(ctx, coin, txid) })
}

// processTxs is ProcessTx for many transactions: read concurrently from the
// nodes with their wallet conflicts, observed in one database transaction
// per coin and batch.
func (s *Service) processTxs(ctx context.Context, refs []txRef) error {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	// Jobs for the same transaction in one batch (a hint that arrived
	// while another job of its transaction ran) need one read: every one
	// of them was stored before this read begins.
	byCoin := make(map[string][]string)
	seen := make(map[txRef]bool, len(refs))
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			byCoin[r.coin] = append(byCoin[r.coin], r.txid)
		}
	}
	for code, txids := range byCoin {
		c, err := s.nodeFor(code)
		if err != nil {
			return err
		}
		obs, err := s.readTxs(ctx, c, txids)
		if err != nil {
			return err
		}
		if err := s.observeInBatches(ctx, code, obs); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the service's batchers (hint storage and hint work) and the
// address pool's refills until ctx is done, then finishes what is queued
// and returns. Without Run every hint is
// stored and worked on its own. Stop the HTTP server and the job workers
// before cancelling ctx, so nothing arrives after the last batch.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.hintBatch.run(ctx, batchFlushers) })
	wg.Go(func() { s.txBatch.run(ctx, batchFlushers) })
	wg.Go(func() { s.runPool(ctx) })
	wg.Go(func() { s.runGaps(ctx) })
	wg.Wait()
	return nil
}

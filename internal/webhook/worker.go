package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

const (
	// deliveryJobMaxAttempts bounds River's own retries of a delivery job,
	// which happen only when the worker cannot reach the database or is cut
	// off: the retry schedule of a delivery uses snoozes, which River does
	// not count as attempts.
	deliveryJobMaxAttempts = 25
	// workerTimeoutMargin is how much longer than Config.Timeout a delivery
	// job may run: the attempt plus reading and recording it.
	workerTimeoutMargin = 5 * time.Second
	// recordTimeout bounds recording an attempt's outcome, which happens
	// even when the worker's context has ended.
	recordTimeout = 10 * time.Second
	// earlySlack is how much earlier than a delivery's next_attempt_at a
	// job may run it.
	earlySlack = time.Second
	// pruneBatch is how many rows one prune statement deletes, so a large
	// backlog never becomes one huge transaction; also the most deliveries
	// one sweep handles.
	pruneBatch = 10000
)

// deliveryArgs is the River job that makes the next attempt of a delivery.
type deliveryArgs struct {
	DeliveryID uuid.UUID `json:"delivery_id"`
}

// Kind is the River job kind.
func (deliveryArgs) Kind() string { return "webhook_delivery" }

// InsertOpts puts every delivery job on Queue.
func (deliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: deliveryJobMaxAttempts}
}

// deliveryWorker works deliveryArgs jobs.
type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	o *Outbox
}

// Timeout lets a job run slightly longer than one attempt may take.
func (w *deliveryWorker) Timeout(*river.Job[deliveryArgs]) time.Duration {
	return w.o.cfg.Timeout + workerTimeoutMargin
}

// Work makes one attempt of the delivery.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	return w.o.deliver(ctx, job.Args.DeliveryID)
}

// pruneArgs is the periodic River job that prunes the delivery log.
type pruneArgs struct{}

// Kind is the River job kind.
func (pruneArgs) Kind() string { return "webhook_prune" }

// InsertOpts puts the prune job on Queue.
func (pruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3}
}

// pruneWorker works pruneArgs jobs.
type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	o *Outbox
}

// Work prunes the delivery log older than the retention.
func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[pruneArgs]) error {
	res, err := w.o.Prune(ctx)
	if err != nil {
		return err
	}
	if res.Deliveries > 0 || res.Attempts > 0 {
		w.o.cfg.Logger.InfoContext(ctx, "webhook delivery log pruned",
			"deliveries", res.Deliveries, "attempts", res.Attempts)
	}
	return nil
}

// sweepArgs is the periodic River job that finds deliveries without a job.
type sweepArgs struct{}

// Kind is the River job kind.
func (sweepArgs) Kind() string { return "webhook_sweep" }

// InsertOpts puts the sweep job on Queue.
func (sweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3}
}

// sweepWorker works sweepArgs jobs.
type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	o *Outbox
}

// Work sweeps pending deliveries without a job.
func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.o.Sweep(ctx)
	return err
}

// AddWorkers registers the delivery worker and the prune and sweep workers
// of o on workers. The River client that works them must run Queue; its
// MaxWorkers bounds how many deliveries are in flight at once in that
// process (for example 32), and because Queue is used for nothing else, slow
// receivers never hold up other jobs.
//
// o needs the client and the client needs workers, so create the bundle
// first, then the client, the Outbox, and register before starting:
//
//	workers := river.NewWorkers()
//	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
//		Queues:  map[string]river.QueueConfig{webhook.Queue: {MaxWorkers: 32}},
//		Workers: workers,
//	})
//	outbox := webhook.NewOutbox(pool, client, cfg)
//	webhook.AddWorkers(workers, outbox)
//	client.PeriodicJobs().AddMany(webhook.PeriodicJobs(outbox))
//	err = client.Start(ctx)
//
// It panics if the workers are already registered.
func AddWorkers(workers *river.Workers, o *Outbox) {
	river.AddWorker(workers, &deliveryWorker{o: o})
	river.AddWorker(workers, &pruneWorker{o: o})
	river.AddWorker(workers, &sweepWorker{o: o})
}

// SweepInterval is how often the sweep job looks for pending deliveries
// without a job.
const SweepInterval = 5 * time.Minute

// PeriodicJobs returns the periodic jobs of o: pruning the delivery log
// older than Config.Retention, hourly, and sweeping deliveries that lost
// their job, every SweepInterval; both also when a leader starts. River runs
// periodic jobs on the elected leader only, so one process of many runs
// them; its schedule lives in memory, so the run on start keeps them going
// even when processes restart more often than their interval.
func PeriodicJobs(o *Outbox) []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return pruneArgs{}, nil },
			&river.PeriodicJobOpts{ID: "webhook_prune", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "webhook_sweep", RunOnStart: true}),
	}
}

// Pruned counts what one Prune deleted.
type Pruned struct {
	// Deliveries finished before the cutoff, deleted with their attempts.
	Deliveries int64
	// Attempts older than the cutoff of deliveries that were kept.
	Attempts int64
}

// Prune deletes the delivery log older than Config.Retention: deliveries
// that finished (delivered, failed or dead) before the cutoff, with their
// attempts, and older attempts of the deliveries still pending, which are
// never deleted. It deletes in batches, so a large backlog never becomes one
// huge transaction.
func (o *Outbox) Prune(ctx context.Context) (Pruned, error) {
	cutoff := o.cfg.Now().Add(-o.cfg.Retention)
	var res Pruned
	for {
		tag, err := o.pool.Exec(ctx, `
			DELETE FROM webhook_deliveries
			WHERE id IN (
				SELECT id FROM webhook_deliveries
				WHERE state <> 'pending' AND completed_at < $1
				LIMIT $2)`, cutoff, pruneBatch)
		if err != nil {
			return res, fmt.Errorf("webhook: prune deliveries: %w", err)
		}
		res.Deliveries += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			break
		}
	}
	for {
		tag, err := o.pool.Exec(ctx, `
			DELETE FROM webhook_attempts
			WHERE (delivery_id, number) IN (
				SELECT delivery_id, number FROM webhook_attempts
				WHERE attempted_at < $1
				LIMIT $2)`, cutoff, pruneBatch)
		if err != nil {
			return res, fmt.Errorf("webhook: prune attempts: %w", err)
		}
		res.Attempts += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return res, nil
		}
	}
}

// Swept counts what one Sweep did.
type Swept struct {
	// Requeued deliveries got a new job.
	Requeued int
	// Dead deliveries had been tried, and their maximum age had passed.
	Dead int
}

// Sweep finds pending deliveries that have no job waiting or running —
// River discarded it after repeated failures of the worker itself (the
// database away, shutdowns in the middle of attempts), or deleted it — and
// either gives each a new job due at once or, when it has been tried and
// its maximum age (Config.MaxAge) has passed, marks it dead. Either way the
// delivery log says so in the delivery's last error, the logger gets a
// warning and Config.Swept is called. A delivery is never left pending
// without a job for longer than the sweep interval.
func (o *Outbox) Sweep(ctx context.Context) (Swept, error) {
	var res Swept
	now := o.cfg.Now()
	type lost struct {
		id        uuid.UUID
		eventID   uuid.UUID
		attempts  int
		createdAt time.Time
		action    string // "requeued" or "dead"
	}
	var found []lost
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		// The delivery ids of the live jobs are read once and anti-joined:
		// looking each pending delivery up through river_job's GIN index on
		// args cost a scan of the index's pending list per delivery after a
		// burst of jobs.
		rows, err := tx.Query(ctx, `
			WITH live AS (
				SELECT j.args->>'delivery_id' AS id FROM river_job j
				WHERE j.kind = $1 AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
			SELECT d.id, d.event_id, d.attempts, d.created_at
			FROM webhook_deliveries d
			WHERE d.state = 'pending'
				AND NOT EXISTS (SELECT 1 FROM live WHERE live.id = d.id::text)
			ORDER BY d.created_at
			LIMIT $2
			FOR UPDATE OF d SKIP LOCKED`, deliveryArgs{}.Kind(), pruneBatch)
		if err != nil {
			return err
		}
		var l lost
		_, err = pgx.ForEachRow(rows, []any{&l.id, &l.eventID, &l.attempts, &l.createdAt}, func() error {
			found = append(found, l)
			return nil
		})
		if err != nil {
			return err
		}
		var requeue, dead []uuid.UUID
		var jobs []river.InsertManyParams
		for i, l := range found {
			if l.attempts > 0 && now.After(l.createdAt.Add(o.cfg.MaxAge)) {
				found[i].action = "dead"
				dead = append(dead, l.id)
				continue
			}
			found[i].action = "requeued"
			requeue = append(requeue, l.id)
			jobs = append(jobs, river.InsertManyParams{Args: deliveryArgs{DeliveryID: l.id}})
		}
		if len(dead) > 0 {
			_, err := tx.Exec(ctx, `
				UPDATE webhook_deliveries
				SET state = 'dead', next_attempt_at = NULL, completed_at = $2,
					last_error = 'its delivery job was lost and its maximum age has passed: not retried'
						|| coalesce('; last attempt: ' || last_error, '')
				WHERE id = ANY($1)`, dead, now)
			if err != nil {
				return err
			}
		}
		if len(requeue) > 0 {
			_, err := tx.Exec(ctx, `
				UPDATE webhook_deliveries
				SET next_attempt_at = $2,
					last_error = 'its delivery job was lost: queued again'
						|| coalesce('; last attempt: ' || last_error, '')
				WHERE id = ANY($1)`, requeue, now)
			if err != nil {
				return err
			}
			if _, err := o.jobs.InsertManyTx(ctx, tx, jobs); err != nil {
				return err
			}
		}
		res = Swept{Requeued: len(requeue), Dead: len(dead)}
		return nil
	})
	if err != nil {
		return Swept{}, fmt.Errorf("webhook: sweep deliveries without a job: %w", err)
	}
	for _, l := range found {
		o.cfg.Logger.WarnContext(ctx, "webhook delivery had lost its job", "delivery_id", l.id,
			"event_id", l.eventID, "attempts", l.attempts, "action", l.action)
		if o.cfg.Swept != nil {
			o.cfg.Swept(l.action)
		}
	}
	return res, nil
}

// deliver makes the next attempt of delivery id, records it and returns
// what River should do with the job: nil when the delivery is over (or was
// already), a snooze until the next attempt, or an error to have River
// retry the job (the database failed, or the worker was stopped mid-attempt).
func (o *Outbox) deliver(ctx context.Context, id uuid.UUID) error {
	d := &deliveryRow{id: id}
	var (
		state  string
		number *int
	)
	// One statement reads the delivery and, when it is pending and due,
	// claims the next attempt number before the request goes out: a second
	// worker on the same delivery gets the next number, never the same one.
	// The row read is the one before the claim.
	now := o.cfg.Now()
	err := o.pool.QueryRow(ctx, `
		WITH d AS (
			SELECT id, event_id, payment_id, url, kind, body, trusted, state, created_at, next_attempt_at
			FROM webhook_deliveries WHERE id = $1),
		claimed AS (
			UPDATE webhook_deliveries w SET attempts = w.attempts + 1
			FROM d
			WHERE w.id = d.id AND w.state = 'pending' AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= $3)
			RETURNING w.attempts),
		attempt AS (
			INSERT INTO webhook_attempts (delivery_id, number, attempted_at)
			SELECT $1, attempts, $2 FROM claimed
			RETURNING number)
		SELECT d.event_id, d.payment_id, d.url, d.kind, d.body, d.trusted, d.state, d.created_at, d.next_attempt_at,
			(SELECT number FROM attempt)
		FROM d`, id, now, now.Add(earlySlack)).
		Scan(&d.eventID, &d.paymentID, &d.url, &d.kind, &d.body, &d.trusted, &state, &d.createdAt, &d.nextAttemptAt, &number)
	if errors.Is(err, pgx.ErrNoRows) {
		o.cfg.Logger.WarnContext(ctx, "webhook delivery job without delivery", "delivery_id", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook: claim an attempt of delivery %s: %w", id, err)
	}
	d.state = State(state)
	if number == nil {
		if d.state == StatePending && d.nextAttemptAt != nil && d.nextAttemptAt.Sub(now) > earlySlack {
			// The table, not the job, says when the attempt is due.
			return river.JobSnooze(d.nextAttemptAt.Sub(now))
		}
		return nil // over, or no longer pending
	}

	start := time.Now()
	res := o.attempt(ctx, d, *number, now)
	elapsed := time.Since(start)

	// Record the outcome even when ctx has ended: the attempt was made.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	end := o.cfg.Now()
	newState, next, snooze := o.decide(d, *number, res, end)
	if err := o.record(rctx, d, *number, res, elapsed, newState, next, end); err != nil {
		return err
	}
	o.log(ctx, d, *number, res, newState, next)
	if o.cfg.Observe != nil {
		o.cfg.Observe(d.kind, attemptResult(res, newState), elapsed)
	}

	switch {
	case res.outcome == outcomeInterrupted:
		// River makes a job cut off by shutdown available again at once.
		return fmt.Errorf("webhook: delivery %s attempt %d: %w", id, *number, ctx.Err())
	case newState == StatePending:
		return river.JobSnooze(snooze)
	default:
		return nil
	}
}

// attemptResult names an attempt's result for Config.Observe.
func attemptResult(res result, state State) string {
	switch {
	case res.outcome == outcomeDelivered:
		return "delivered"
	case res.outcome == outcomeInterrupted:
		return "interrupted"
	case state == StateDead:
		return "dead"
	case res.outcome == outcomeFail:
		return "failed"
	default:
		return "retry"
	}
}

// decide turns an attempt's result into the delivery's new state and, if it
// stays pending, when the next attempt is due and how long until then.
func (o *Outbox) decide(d *deliveryRow, number int, res result, now time.Time) (State, *time.Time, time.Duration) {
	switch res.outcome {
	case outcomeDelivered:
		return StateDelivered, nil, 0
	case outcomeFail:
		return StateFailed, nil, 0
	case outcomeInterrupted:
		return StatePending, &now, 0
	}
	delay := max(o.backoff(d.kind, number), res.retryAfter, 0)
	next := now.Add(delay)
	if next.After(d.createdAt.Add(o.cfg.MaxAge)) {
		return StateDead, nil, 0
	}
	return StatePending, &next, delay
}

// record stores an attempt's outcome and the delivery's new state in one
// statement. The delivery is updated only if no later attempt has been
// claimed meanwhile.
func (o *Outbox) record(ctx context.Context, d *deliveryRow, number int, res result, elapsed time.Duration,
	state State, next *time.Time, now time.Time,
) error {
	var (
		status, lastError any
		completed         *time.Time
	)
	if res.status != 0 {
		status = res.status
	}
	errText := truncate(res.err, maxErrorLen)
	if errText != "" {
		lastError = errText
	}
	if state != StatePending {
		completed = &now
	}
	// Both updates in one statement, so in one transaction without a
	// round trip to open and one to commit it.
	_, err := o.pool.Exec(ctx, `
		WITH attempt AS (
			UPDATE webhook_attempts SET duration_ms = $3, http_status = $4, error = $5
			WHERE delivery_id = $1 AND number = $2)
		UPDATE webhook_deliveries
		SET state = $6, next_attempt_at = $7, completed_at = $8, last_error = $5
		WHERE id = $1 AND attempts = $2 AND state = 'pending'`,
		d.id, number, elapsed.Milliseconds(), status, lastError, string(state), next, completed)
	if err != nil {
		return fmt.Errorf("webhook: record attempt %d of delivery %s: %w", number, d.id, err)
	}
	return nil
}

// log writes one line about an attempt that did not simply succeed.
func (o *Outbox) log(ctx context.Context, d *deliveryRow, number int, res result, state State, next *time.Time) {
	attrs := []any{
		"delivery_id", d.id, "event_id", d.eventID, "kind", d.kind, "attempt", number,
		"http_status", res.status, "error", res.err,
	}
	switch state {
	case StateDelivered:
		o.cfg.Logger.DebugContext(ctx, "webhook delivered", attrs...)
	case StateFailed:
		o.cfg.Logger.WarnContext(ctx, "webhook delivery failed", attrs...)
	case StateDead:
		o.cfg.Logger.WarnContext(ctx, "webhook delivery dead: retries exhausted", attrs...)
	default:
		o.cfg.Logger.InfoContext(ctx, "webhook attempt failed; will retry",
			append(attrs, slog.Time("next_attempt_at", *next))...)
	}
}

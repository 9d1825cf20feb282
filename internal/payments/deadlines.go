package payments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// clock returns the time that deadlines and observations are judged by: the
// database's clock, which every process on the database shares, so a
// process whose own clock runs fast neither expires payments early nor wins
// races between observations; Config.Now instead when it is set (tests).
func (s *Service) clock(ctx context.Context, q querier) (time.Time, error) {
	if s.cfg.Now != nil {
		return s.cfg.Now().UTC().Truncate(time.Microsecond), nil
	}
	var t time.Time
	if err := q.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("payments: read the database clock: %w", err)
	}
	return t.UTC(), nil
}

// deadlineCandidates returns, by coin, the payments whose expiry or
// monitoring window has passed at now, of coin only when it is not "". A
// payment's window is its own when it has one, the server's otherwise
// ($2, NULL when the server's is off: such payments stay PENDING).
func (s *Service) deadlineCandidates(ctx context.Context, now time.Time, only string) (map[string][]uuid.UUID, error) {
	var window any
	if s.cfg.MonitoringWindow > 0 {
		window = now.Add(-s.cfg.MonitoringWindow)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, coin FROM payments
		WHERE ((status IN ('UNPAID', 'PARTIAL') AND expires_at <= $1)
			OR (status = 'PENDING' AND pending_since < CASE
				WHEN monitoring_window_seconds IS NULL THEN $2::timestamptz
				ELSE $1 - make_interval(secs => monitoring_window_seconds) END))
			AND ($3 = '' OR coin = $3)
		ORDER BY id
		LIMIT 1000`, now, window, only)
	if err != nil {
		return nil, fmt.Errorf("payments: deadlines: %w", err)
	}
	byCoin := make(map[string][]uuid.UUID)
	var (
		id   uuid.UUID
		coin string
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &coin}, func() error {
		byCoin[coin] = append(byCoin[coin], id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("payments: deadlines: %w", err)
	}
	return byCoin, nil
}

// lookBeforeDeadline brings what is stored about the payments ids of coin c
// up to date from the node before a deadline is applied to them: it scans
// the wallet from the catch-up cursor (a payment whose hook was lost, or
// made while Transient was down) and re-reads every transaction stored for
// them (a confirmation whose block has not been refreshed yet).
func (s *Service) lookBeforeDeadline(ctx context.Context, c Coin, ids []uuid.UUID) error {
	seen, err := s.scanWallet(ctx, c)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT txid FROM payment_outputs WHERE payment_id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("payments: deadlines: %w", err)
	}
	txids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("payments: deadlines: %w", err)
	}
	txids = slices.DeleteFunc(txids, func(txid string) bool { return seen[txid] })
	obs, err := s.readTxs(ctx, c, txids)
	if err != nil {
		return err
	}
	return s.observeInBatches(ctx, c.Code, obs)
}

// checkDeadlines applies expiry and the monitoring window by the database
// clock, to every coin's payments or, when only is set, to that coin's
// alone. Before it decides, it looks at the node for every coin with a
// payment at a deadline, unless looked says the caller has just scanned
// coin only's wallet. A coin whose node does not answer keeps its payments
// as they are (a deadline is never applied to facts the node could not
// confirm) and its error is returned, after the other coins are done.
func (s *Service) checkDeadlines(ctx context.Context, only string, looked bool) error {
	now, err := s.clock(ctx, s.pool)
	if err != nil {
		return err
	}
	byCoin, err := s.deadlineCandidates(ctx, now, only)
	if err != nil {
		return err
	}
	var (
		ids  []uuid.UUID
		errs []error
	)
	for _, code := range s.codes {
		due := byCoin[code]
		if len(due) == 0 {
			continue
		}
		if !looked || code != only {
			if err := s.lookBeforeDeadline(ctx, s.coins[code], due); err != nil {
				s.log.WarnContext(ctx, "deadlines wait: the node could not be checked", "coin", code,
					"payments", len(due), "error", err)
				errs = append(errs, err)
				continue
			}
		}
		ids = append(ids, due...)
	}
	if len(ids) > 0 {
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM payments WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids); err != nil {
				return fmt.Errorf("payments: deadlines: lock: %w", err)
			}
			now, err := s.clock(ctx, tx)
			if err != nil {
				return err
			}
			return s.reconcile(ctx, tx, ids, now)
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/coind"
)

// Detection tuning. These are not configuration: they follow from how the
// nodes behave, not from how a shop works.
const (
	// catchUpDepth is listsinceblock's target_confirmations: the cursor
	// stays this many blocks behind the tip, so every catch-up re-reads the
	// blocks a reorg is most likely to replace.
	catchUpDepth = 6
	// trackDepth bounds the block refresh: outputs with this many
	// confirmations (or conflicting blocks this deep) are settled, unless
	// their payment asks for more (see refresh).
	trackDepth = 100
	// trackAge bounds the block refresh for outputs that never confirm (a
	// replaced or dropped transaction stays at 0 confirmations forever).
	trackAge = 30 * 24 * time.Hour
	// observeBatch is the number of transactions observed per database
	// transaction on the batch paths.
	observeBatch = 200
	// refreshConcurrency is the number of node calls a block refresh keeps
	// in flight; the nodes serve about that many in parallel.
	refreshConcurrency = 16
)

// nodeFor returns the configured coin or an error for an unknown one.
func (s *Service) nodeFor(code string) (Coin, error) {
	c, ok := s.coins[code]
	if !ok {
		return Coin{}, &Error{Code: CodeUnsupportedCurrency, Field: "coin", Message: fmt.Sprintf("coin %q is not configured", code)}
	}
	return c, nil
}

// ProcessTx reads one transaction from the coin's node and records what it
// pays. A transaction the wallet does not know, or that pays no payment,
// changes nothing. A node error is returned so the caller can retry.
func (s *Service) ProcessTx(ctx context.Context, code, txid string) error {
	c, err := s.nodeFor(code)
	if err != nil {
		return err
	}
	observedAt, err := s.clock(ctx, s.pool)
	if err != nil {
		return err
	}
	t, err := c.Node.GetTransaction(ctx, txid)
	if errors.Is(err, coind.ErrTxNotFound) {
		return nil
	}
	if err != nil {
		return &UnavailableError{Coin: code, Err: err}
	}
	r := newReader(c)
	obs, err := r.fromTx(ctx, t, observedAt)
	if err != nil {
		return err
	}
	if err := s.Observe(ctx, code, []TxObservation{obs}); err != nil {
		return err
	}
	// A replacement arrives with a notification, the transaction it
	// replaces does not: look at the other side of every conflict too.
	if len(obs.Outputs) > 0 && s.jobs != nil {
		for _, other := range t.WalletConflicts {
			if err := s.HintTx(ctx, code, other); err != nil {
				return err
			}
		}
	}
	return nil
}

// RefreshCoin re-reads, in one batched pass, every transaction of the coin
// whose outputs a reorg or a double spend could still change, then applies
// the deadlines of the coin's payments. It runs on every block.
func (s *Service) RefreshCoin(ctx context.Context, code string) error {
	c, err := s.nodeFor(code)
	if err != nil {
		return err
	}
	if err := s.refresh(ctx, c, nil); err != nil {
		return err
	}
	return s.checkDeadlines(ctx, code, false)
}

// refresh re-reads the coin's unsettled transactions, except those in skip
// (already observed by the caller).
func (s *Service) refresh(ctx context.Context, c Coin, skip map[string]bool) error {
	code := c.Code
	now := s.now().UTC()
	// Outputs deeper than trackDepth are still read while their payment
	// waits for a deeper confirmation or settle depth (up to 1,000).
	rows, err := s.pool.Query(ctx, `
		SELECT txid FROM payment_outputs
		WHERE coin = $1 AND confirmations > $2 AND confirmations < $3 AND first_seen_at > $4
		UNION
		SELECT o.txid FROM payments p JOIN payment_outputs o ON o.payment_id = p.id
		WHERE p.coin = $1 AND p.status IN ('PENDING', 'PAID') AND NOT p.settled
			AND o.confirmations >= $3 AND NOT o.conflicted AND o.first_seen_at > $4
			AND o.confirmations < greatest(p.confirmations_required, p.settle_confirmations)`,
		code, -trackDepth, trackDepth, now.Add(-trackAge))
	if err != nil {
		return fmt.Errorf("payments: refresh %s: %w", code, err)
	}
	txids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("payments: refresh %s: %w", code, err)
	}
	txids = slices.DeleteFunc(txids, func(txid string) bool { return skip[txid] })
	obs, _, err := s.readTxs(ctx, c, txids)
	if err != nil {
		return err
	}
	return s.observeInBatches(ctx, code, obs)
}

// observeInBatches observes obs a batch at a time, so one database
// transaction never holds locks on thousands of payments.
func (s *Service) observeInBatches(ctx context.Context, code string, obs []TxObservation) error {
	for len(obs) > 0 {
		n := min(len(obs), observeBatch)
		if err := s.Observe(ctx, code, obs[:n]); err != nil {
			return err
		}
		obs = obs[n:]
	}
	return nil
}

// readTxs calls gettransaction for txids with bounded concurrency. A
// transaction the wallet does not know is left out. It also returns the
// wallet conflicts of the transactions that pay the wallet: a replacement is
// notified, the transaction it replaces is not, so the caller looks at those
// too.
func (s *Service) readTxs(ctx context.Context, c Coin, txids []string) ([]TxObservation, []string, error) {
	var (
		mu        sync.Mutex
		obs       = make([]TxObservation, 0, len(txids))
		conflicts []string
		firstErr  error
		wg        sync.WaitGroup
		next      = make(chan string)
		r         = newReader(c)
	)
	if len(txids) == 0 {
		return nil, nil, nil
	}
	// One time for the batch, taken before the first call.
	observedAt, err := s.clock(ctx, s.pool)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(refreshConcurrency, len(txids)) {
		wg.Go(func() {
			for txid := range next {
				t, err := c.Node.GetTransaction(ctx, txid)
				var o TxObservation
				if err == nil {
					o, err = r.fromTx(ctx, t, observedAt)
				}
				mu.Lock()
				switch {
				case errors.Is(err, coind.ErrTxNotFound):
				case err != nil && firstErr == nil:
					firstErr = &UnavailableError{Coin: c.Code, Err: err}
					cancel()
				case err == nil:
					obs = append(obs, o)
					if len(o.Outputs) > 0 {
						conflicts = append(conflicts, t.WalletConflicts...)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, txid := range txids {
		select {
		case next <- txid:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return obs, conflicts, firstErr
}

// CatchUp scans the coin's wallet with listsinceblock from the stored cursor
// and records everything it finds, so payments whose notification was lost,
// or made while Transient was down, are found. It then moves the cursor,
// re-reads the unsettled transactions the scan did not list (a receive
// double-spent before it confirmed leaves listsinceblock altogether) and
// applies the deadlines of the coin's payments: with no hooks at all, this
// loop alone keeps every payment current.
func (s *Service) CatchUp(ctx context.Context, code string) error {
	c, err := s.nodeFor(code)
	if err != nil {
		return err
	}
	seen, err := s.scanWallet(ctx, c)
	if err != nil {
		return err
	}
	if err := s.refresh(ctx, c, seen); err != nil {
		return err
	}
	return s.checkDeadlines(ctx, code, true)
}

// scanWallet records what listsinceblock lists from the stored cursor and
// moves the cursor. It returns the transactions it observed.
func (s *Service) scanWallet(ctx context.Context, c Coin) (map[string]bool, error) {
	code := c.Code
	from, err := s.catchUpStart(ctx, c)
	if err != nil {
		return nil, err
	}
	observedAt, err := s.clock(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	res, err := c.Node.ListSinceBlock(ctx, from, catchUpDepth)
	if err != nil {
		return nil, &UnavailableError{Coin: code, Err: err}
	}
	obs, err := newReader(c).fromList(ctx, res, observedAt)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(obs))
	for _, o := range obs {
		seen[o.TxID] = true
	}
	if err := s.observeInBatches(ctx, code, obs); err != nil {
		return nil, err
	}
	if res.LastBlock != "" {
		b, err := c.Node.GetBlock(ctx, res.LastBlock)
		if err != nil {
			return nil, &UnavailableError{Coin: code, Err: err}
		}
		_, err = s.pool.Exec(ctx, `
			INSERT INTO chain_cursors (coin, block_hash, block_height, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (coin) DO UPDATE SET block_hash = $2, block_height = $3, updated_at = $4`,
			code, b.Hash, b.Height, s.now().UTC())
		if err != nil {
			return nil, fmt.Errorf("payments: save cursor %s: %w", code, err)
		}
	}
	return seen, nil
}

// catchUpStart returns the block hash the next catch-up scans from: the
// stored cursor when the node knows it, "" (the whole wallet) when there is
// none yet. Dogecoin Core reads an unknown hash as "from genesis" and
// Litecoin Core refuses it, so an unknown cursor is never passed on: the scan
// restarts a few blocks below the stored height instead.
func (s *Service) catchUpStart(ctx context.Context, c Coin) (string, error) {
	var (
		hash   string
		height int64
	)
	err := s.pool.QueryRow(ctx, `SELECT block_hash, block_height FROM chain_cursors WHERE coin = $1`, c.Code).Scan(&hash, &height)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("payments: load cursor %s: %w", c.Code, err)
	}
	_, err = c.Node.GetBlock(ctx, hash)
	if err == nil {
		// On a stale fork both nodes scan from the fork point.
		return hash, nil
	}
	if !errors.Is(err, coind.ErrBlockNotFound) {
		return "", &UnavailableError{Coin: c.Code, Err: err}
	}
	tip, err := c.Node.GetBlockCount(ctx)
	if err != nil {
		return "", &UnavailableError{Coin: c.Code, Err: err}
	}
	h := max(min(height, tip)-trackDepth, 0)
	s.log.WarnContext(ctx, "the node does not know the stored catch-up cursor; rescanning from a lower height",
		"coin", c.Code, "block_hash", hash, "stored_height", height, "from_height", h)
	from, err := c.Node.GetBlockHash(ctx, h)
	if err != nil {
		return "", &UnavailableError{Coin: c.Code, Err: err}
	}
	return from, nil
}

// Rescan makes the next catch-up of coin scan the wallet from the block at
// fromHeight, for an operator who restored a wallet or suspects a gap, and
// runs that catch-up now. It returns an *Error for a height the chain does
// not have.
func (s *Service) Rescan(ctx context.Context, code string, fromHeight int64) error {
	c, err := s.nodeFor(code)
	if err != nil {
		return err
	}
	tip, err := c.Node.GetBlockCount(ctx)
	if err != nil {
		return &UnavailableError{Coin: code, Err: err}
	}
	if fromHeight < 0 || fromHeight > tip {
		return &Error{Code: CodeInvalidField, Field: "from_height",
			Message: fmt.Sprintf("from-height must be between 0 and the tip of %s, %d", code, tip)}
	}
	if fromHeight == 0 {
		if _, err := s.pool.Exec(ctx, `DELETE FROM chain_cursors WHERE coin = $1`, code); err != nil {
			return fmt.Errorf("payments: rescan %s: %w", code, err)
		}
		return s.CatchUp(ctx, code)
	}
	// listsinceblock lists what came after the given block.
	hash, err := c.Node.GetBlockHash(ctx, fromHeight-1)
	if err != nil {
		return &UnavailableError{Coin: code, Err: err}
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO chain_cursors (coin, block_hash, block_height, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (coin) DO UPDATE SET block_hash = $2, block_height = $3, updated_at = $4`,
		code, hash, fromHeight-1, s.now().UTC())
	if err != nil {
		return fmt.Errorf("payments: rescan %s: %w", code, err)
	}
	s.log.InfoContext(ctx, "rescan requested", "coin", code, "from_height", fromHeight)
	return s.CatchUp(ctx, code)
}

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
	// refreshConcurrency is the number of transaction reads a coin's node
	// gets at once from this process, summed over every batch, refresh and
	// catch-up running: the nodes serve about that many in parallel, and
	// Litecoin and Bitcoin Core answer "Work queue depth exceeded" to the
	// requests beyond their rpcthreads + rpcworkqueue (4 + 16 by default).
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
// changes nothing. The transactions it conflicts with in the wallet (the one
// a replacement replaced) are read in the same pass and recorded in the same
// database transaction, so the two are never counted together. A node error
// is returned so the caller can retry.
func (s *Service) ProcessTx(ctx context.Context, code, txid string) error {
	c, err := s.nodeFor(code)
	if err != nil {
		return err
	}
	obs, err := s.readTxs(ctx, c, []string{txid})
	if err != nil {
		return err
	}
	return s.observeInBatches(ctx, code, obs)
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
	obs, err := s.readTxs(ctx, c, txids)
	if err != nil {
		return err
	}
	return s.observeInBatches(ctx, code, obs)
}

// observeInBatches observes obs a batch at a time, so one database
// transaction never holds locks on thousands of payments. Transactions that
// conflict with each other in the wallet stay in one batch: a replacement
// and the transaction it replaced are recorded together or not at all.
func (s *Service) observeInBatches(ctx context.Context, code string, obs []TxObservation) error {
	for _, batch := range conflictBatches(obs, observeBatch) {
		if err := s.Observe(ctx, code, batch); err != nil {
			return err
		}
	}
	return nil
}

// readTxs calls gettransaction for txids with bounded concurrency, then,
// in the same pass, for the wallet conflicts of what it read (a
// replacement is notified, the transaction it replaces is not, and a
// refresh may hold only one side), up to conflictRounds levels deep. A
// transaction the wallet does not know is left out.
func (s *Service) readTxs(ctx context.Context, c Coin, txids []string) ([]TxObservation, error) {
	r := newReader(c)
	read := make(map[string]bool, len(txids))
	var all []TxObservation
	for round := 0; len(txids) > 0 && round < conflictRounds; round++ {
		for _, txid := range txids {
			read[txid] = true
		}
		obs, err := s.readRound(ctx, c, r, txids)
		if err != nil {
			return nil, err
		}
		all = append(all, obs...)
		txids = txids[:0:0]
		for _, o := range obs {
			if len(o.Outputs) == 0 && !o.Conflicted && o.Confirmations >= 0 {
				continue // pays nobody of ours, and cannot un-pay anybody
			}
			for _, other := range o.WalletConflicts {
				if !read[other] {
					read[other] = true
					txids = append(txids, other)
				}
			}
		}
	}
	return all, nil
}

// conflictRounds bounds how far readTxs follows wallet conflicts: a
// replacement, the transaction it replaced, and a replacement of the
// replacement.
const conflictRounds = 3

// readRound is one round of readTxs.
func (s *Service) readRound(ctx context.Context, c Coin, r *reader, txids []string) ([]TxObservation, error) {
	var (
		mu       sync.Mutex
		obs      = make([]TxObservation, 0, len(txids))
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	if len(txids) == 0 {
		return nil, nil
	}
	// One time for the batch, taken before the first call.
	observedAt, err := s.clock(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots, ok := s.nodeSlots[c.Code]
	if !ok { // a coin not configured through NewService: no shared bound
		slots = make(chan struct{}, refreshConcurrency)
	}
	// A node that answers JSON-RPC batches is asked about the mempool once
	// for the round, after the reads, instead of once per unconfirmed
	// transaction.
	batch, _ := c.Node.(mempoolBatcher)
	var unchecked []TxObservation
	for range min(refreshConcurrency, len(txids)) {
		wg.Go(func() {
			for txid := range next {
				var (
					o     TxObservation
					check bool
					err   error
				)
				select {
				case slots <- struct{}{}:
					var t *coind.Transaction
					t, err = c.Node.GetTransaction(ctx, txid)
					switch {
					case err == nil && batch != nil:
						if o, check = r.classify(r.base(t, observedAt), t.WalletConflicts, t.MempoolConflicts); !check {
							o, err = r.fillHeight(ctx, o)
						}
					case err == nil:
						o, err = r.fromTx(ctx, t, observedAt)
					}
					<-slots
				case <-ctx.Done():
					err = ctx.Err()
				}
				mu.Lock()
				switch {
				case errors.Is(err, coind.ErrTxNotFound):
				case err != nil && firstErr == nil:
					firstErr = &UnavailableError{Coin: c.Code, Err: err}
					cancel()
				case err == nil && check:
					unchecked = append(unchecked, o)
				case err == nil:
					obs = append(obs, o)
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
	if firstErr != nil || len(unchecked) == 0 {
		return obs, firstErr
	}
	checked, err := s.checkMempoolMany(ctx, c, r, batch, slots, unchecked)
	return append(obs, checked...), err
}

// mempoolBatcher is a Node that looks many transactions up in its mempool
// in one request (*coind.Client).
type mempoolBatcher interface {
	InMempoolMany(ctx context.Context, txids []string) ([]bool, error)
}

// mempoolBatch is the most transactions one mempool request asks about.
const mempoolBatch = 500

// checkMempoolMany finishes the observations that classify left for the
// mempool check, asking the node about them in batches; one not in the
// mempool is read again (see notInMempool).
func (s *Service) checkMempoolMany(ctx context.Context, c Coin, r *reader, node mempoolBatcher, slots chan struct{}, unchecked []TxObservation) ([]TxObservation, error) {
	out := make([]TxObservation, 0, len(unchecked))
	for len(unchecked) > 0 {
		chunk := unchecked[:min(len(unchecked), mempoolBatch)]
		unchecked = unchecked[len(chunk):]
		txids := make([]string, len(chunk))
		for i, o := range chunk {
			txids[i] = o.TxID
		}
		var (
			in  []bool
			err error
		)
		select {
		case slots <- struct{}{}:
			in, err = node.InMempoolMany(ctx, txids)
			<-slots
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			return nil, &UnavailableError{Coin: c.Code, Err: err}
		}
		for i, o := range chunk {
			if !in[i] {
				if o, err = r.notInMempool(ctx, o); errors.Is(err, coind.ErrTxNotFound) {
					continue // gone from the wallet since the read
				}
				if err == nil {
					o, err = r.fillHeight(ctx, o)
				}
				if err != nil {
					return nil, err
				}
			}
			out = append(out, o)
		}
	}
	return out, nil
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
	if obs, err = s.dropSettledConflicts(ctx, code, obs); err != nil {
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

// dropSettledConflicts leaves out of a catch-up's observations the
// transactions with negative confirmations that count for nothing already:
// Dogecoin Core lists every conflicted wallet transaction on every call, for
// ever. One whose stored outputs still count (a double spend not yet
// recorded) stays, and the block refresh keeps re-reading the stored ones
// while a reorg could still bring them back.
func (s *Service) dropSettledConflicts(ctx context.Context, code string, obs []TxObservation) ([]TxObservation, error) {
	var negative []string
	for _, o := range obs {
		if o.Confirmations < 0 {
			negative = append(negative, o.TxID)
		}
	}
	if len(negative) == 0 {
		return obs, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT txid FROM payment_outputs
		WHERE coin = $1 AND txid = ANY($2) AND confirmations >= 0 AND NOT conflicted`, code, negative)
	if err != nil {
		return nil, fmt.Errorf("payments: catch-up %s: %w", code, err)
	}
	counted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("payments: catch-up %s: %w", code, err)
	}
	return slices.DeleteFunc(obs, func(o TxObservation) bool {
		return o.Confirmations < 0 && !slices.Contains(counted, o.TxID)
	}), nil
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
	b, err := c.Node.GetBlock(ctx, hash)
	if err == nil {
		if b.Confirmations >= 0 {
			return hash, nil
		}
		// The cursor's block left the active chain. Litecoin and Bitcoin
		// Core would scan from the fork point themselves, but Dogecoin
		// Core 1.14 lists only what is shallower than the stale block,
		// missing a payment mined on the new branch below its height: so
		// Transient finds the fork point itself, for every node.
		return s.forkPoint(ctx, c, b)
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

// maxForkWalk bounds the walk from a stale cursor back to the active chain;
// a reorg deeper than this restarts the scan trackDepth blocks lower.
const maxForkWalk = 1000

// forkPoint walks back from stale, a block off the active chain, to the
// last block the stale branch shares with the active chain.
func (s *Service) forkPoint(ctx context.Context, c Coin, stale *coind.Block) (string, error) {
	b := stale
	for range maxForkWalk {
		if b.PreviousHash == "" {
			return "", nil // no common block: scan the whole wallet
		}
		prev, err := c.Node.GetBlock(ctx, b.PreviousHash)
		if err != nil {
			return "", &UnavailableError{Coin: c.Code, Err: err}
		}
		if prev.Confirmations >= 0 {
			s.log.InfoContext(ctx, "the catch-up cursor is on a stale branch; scanning from the fork point",
				"coin", c.Code, "block_hash", stale.Hash, "stale_height", stale.Height, "fork_hash", prev.Hash, "fork_height", prev.Height)
			return prev.Hash, nil
		}
		b = prev
	}
	h := max(stale.Height-trackDepth, 0)
	s.log.WarnContext(ctx, "the catch-up cursor is on a stale branch deeper than the walk; rescanning from a lower height",
		"coin", c.Code, "block_hash", stale.Hash, "stale_height", stale.Height, "from_height", h)
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

package payments

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/xpub"
)

// DerivedSource makes a coin's addresses from the merchant's extended
// public key: the node holds no key for them and only watches them. The
// pool reserves addresses from it in the transaction that pools them, and
// hands them out only once the node watches them; a coin with a
// DerivedSource never falls back to the node's wallet.
type DerivedSource interface {
	// Reserve derives n addresses that no earlier call returned, advancing
	// the key's next index inside tx. The caller stores the addresses in
	// the same transaction, so an index is kept or given back with them.
	Reserve(ctx context.Context, tx pgx.Tx, coin string, n int) ([]string, error)
	// Watch has the node watch addrs. With a zero rescanSince it does not
	// rescan (the addresses are fresh); otherwise it rescans from about
	// that time. Watching an address already watched succeeds.
	Watch(ctx context.Context, addrs []string, rescanSince time.Time) error
	// Watched reports, per address, whether the node watches it.
	Watched(ctx context.Context, addrs []string) ([]bool, error)
	// KeyID names the key (not its version bytes or address type).
	KeyID() string
}

// Watcher is what an XPub source needs from the coin's node;
// *coind.Client implements it.
type Watcher interface {
	ImportWatchOnly(ctx context.Context, addrs []string, since time.Time) error
	WatchesAll(ctx context.Context, addrs []string) ([]bool, error)
	GetBlockchainInfo(ctx context.Context) (*coind.ChainInfo, error)
}

// XPub is a DerivedSource for one key on one node: it derives /0/i in Go
// and imports the addresses into the node's wallet watch-only.
type XPub struct {
	Key *xpub.Key
	// Chain is the node's chain (getblockchaininfo: main, test, regtest),
	// which says how addresses are written. Empty means CheckChain asks the
	// node the first time it is needed.
	Chain string
	Node  Watcher

	mu sync.Mutex
}

// CheckChain learns the node's chain (once) and checks that the key is for
// it, so that no address is derived for the wrong network. The error wraps
// xpub.ErrWrongNetwork for a key of another network, and is an
// *UnavailableError when the node does not answer.
func (x *XPub) CheckChain(ctx context.Context) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.Chain == "" {
		info, err := x.Node.GetBlockchainInfo(ctx)
		if err != nil {
			return "", &UnavailableError{Coin: x.Key.Coin, Err: err}
		}
		if err := x.Key.CheckChain(info.Chain); err != nil {
			return "", err
		}
		x.Chain = info.Chain
	}
	return x.Chain, nil
}

// KeyID implements DerivedSource.
func (x *XPub) KeyID() string { return x.Key.ID() }

// Watch implements DerivedSource.
func (x *XPub) Watch(ctx context.Context, addrs []string, since time.Time) error {
	return x.Node.ImportWatchOnly(ctx, addrs, since)
}

// Watched implements DerivedSource.
func (x *XPub) Watched(ctx context.Context, addrs []string) ([]bool, error) {
	return x.Node.WatchesAll(ctx, addrs)
}

// reserveSQL advances a key's next index by $3 and returns the new value;
// the reserved range ends just before it. The row lock it takes makes
// concurrent reservations for one key, from any process, wait for each
// other's commit, so two never get the same range.
const reserveSQL = `
	INSERT INTO xpub_keys (coin, key_id, next_index) VALUES ($1, $2, $3)
	ON CONFLICT (coin, key_id) DO UPDATE SET next_index = xpub_keys.next_index + EXCLUDED.next_index
	RETURNING next_index`

// Reserve implements DerivedSource.
func (x *XPub) Reserve(ctx context.Context, tx pgx.Tx, coin string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	chain, err := x.CheckChain(ctx)
	if err != nil {
		return nil, err
	}
	var next int64
	if err := tx.QueryRow(ctx, reserveSQL, coin, x.Key.ID(), n).Scan(&next); err != nil {
		return nil, fmt.Errorf("payments: reserve %d indexes of the %s key: %w", n, coin, err)
	}
	if next > hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("payments: the %s key has no unhardened index left", coin)
	}
	addrs := make([]string, 0, n)
	idxs := make([]int64, 0, n)
	for i := next - int64(n); i < next; i++ {
		a, err := x.Key.Address(chain, uint32(i))
		if errors.Is(err, hdkeychain.ErrInvalidChild) {
			// BIP32: an index whose key is invalid (odds about 1 in 2^127)
			// is skipped; it stays reserved, so it is never tried again.
			continue
		}
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
		idxs = append(idxs, i)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO xpub_addresses (coin, address, key_id, derivation_index)
		SELECT $1, a, $2, i FROM unnest($3::text[], $4::bigint[]) AS t (a, i)`,
		coin, x.Key.ID(), addrs, idxs)
	if err != nil {
		return nil, fmt.Errorf("payments: record %d derived %s addresses: %w", len(addrs), coin, err)
	}
	return addrs, nil
}

// ErrNoAddress is the refusal to create a payment of a coin whose
// addresses come from an extended public key while none is ready: the
// node's own wallet is never asked instead. *UnavailableError wraps it.
var ErrNoAddress = errors.New("no derived address is ready: the pool is still importing addresses into the node")

// refillDerived adds up to n addresses of c's key to the pool and makes
// them ready, reporting how many it made ready.
//
// Nothing is lost or handed out twice across a crash at any point:
//  1. The index range is reserved (xpub_keys) in the transaction that
//     records the addresses (xpub_addresses) and pools them not ready. A
//     crash before the commit keeps none of it; after it, all of it.
//  2. The node imports the addresses. Payments take only ready addresses,
//     so none is handed out before the node watches it.
//  3. They are marked ready. A crash between 1 and 3 leaves them not ready;
//     the next refill imports those first (importing twice is harmless) and
//     reserves nothing new until they are ready, so a node that is down
//     costs at most one batch of indexes, never an ever-growing gap.
func (s *Service) refillDerived(ctx context.Context, conn *pgxpool.Conn, c Coin, n int) (int, error) {
	rows, err := conn.Query(ctx, `SELECT address FROM address_pool WHERE coin = $1 AND NOT ready ORDER BY id LIMIT $2`, c.Code, n)
	if err != nil {
		return 0, fmt.Errorf("read the addresses not yet imported: %w", err)
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("read the addresses not yet imported: %w", err)
	}
	if len(addrs) == 0 {
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if addrs, err = c.Derived.Reserve(ctx, tx, c.Code, n); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO address_pool (coin, address, ready)
				SELECT $1, a, false FROM unnest($2::text[]) WITH ORDINALITY AS t (a, n) ORDER BY n`, c.Code, addrs)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("reserve %d derived addresses: %w", n, err)
		}
	}
	if err := c.Derived.Watch(ctx, addrs, time.Time{}); err != nil {
		return 0, fmt.Errorf("import %d addresses watch-only: %w", len(addrs), err)
	}
	tag, err := conn.Exec(ctx, `UPDATE address_pool SET ready = true WHERE coin = $1 AND address = ANY($2) AND NOT ready`, c.Code, addrs)
	if err != nil {
		return 0, fmt.Errorf("mark %d imported addresses ready: %w", len(addrs), err)
	}
	return int(tag.RowsAffected()), nil
}

// KeyStatus describes the use of a coin's extended public key.
type KeyStatus struct {
	Coin  string `json:"coin"`
	KeyID string `json:"key_id"`
	// NextIndex is the next index to derive: /0/0 … /0/NextIndex-1 are
	// pooled or handed out.
	NextIndex int64 `json:"next_index"`
	// HighestHandedOut and HighestPaid are the highest indexes given to a
	// payment and paid to (any amount received); -1 for none.
	HighestHandedOut int64 `json:"highest_handed_out"`
	HighestPaid      int64 `json:"highest_paid"`
	// Gap is HighestHandedOut - HighestPaid: how many addresses past the
	// last paid one the merchant's wallet must look to find every payment.
	Gap int64 `json:"gap"`
	// GapWarn is the configured warning threshold.
	GapWarn int64 `json:"gap_warn"`
	// Ready and Importing count the pooled addresses the node watches and
	// those still being imported.
	Ready     int `json:"ready"`
	Importing int `json:"importing"`
}

// keyStatusSQL reads a key's use. Both highest indexes walk the
// (coin, key_id, derivation_index) index downwards and stop at the first
// match, so the cost grows with the gap and the pool, not with the number
// of payments.
const keyStatusSQL = `
	SELECT coalesce((SELECT next_index FROM xpub_keys WHERE coin = $1 AND key_id = $2), 0),
		coalesce((SELECT x.derivation_index FROM xpub_addresses x
			WHERE x.coin = $1 AND x.key_id = $2
			AND EXISTS (SELECT 1 FROM payments p WHERE p.coin = x.coin AND p.address = x.address)
			ORDER BY x.derivation_index DESC LIMIT 1), -1),
		coalesce((SELECT x.derivation_index FROM xpub_addresses x
			WHERE x.coin = $1 AND x.key_id = $2
			AND EXISTS (SELECT 1 FROM payments p WHERE p.coin = x.coin AND p.address = x.address AND p.amount_received > 0)
			ORDER BY x.derivation_index DESC LIMIT 1), -1),
		(SELECT count(*) FROM address_pool WHERE coin = $1 AND ready),
		(SELECT count(*) FROM address_pool WHERE coin = $1 AND NOT ready)`

// KeyStatuses reports the use of every configured coin's key, by coin code.
// Coins whose addresses come from the node's wallet are left out.
func (s *Service) KeyStatuses(ctx context.Context) ([]KeyStatus, error) {
	var out []KeyStatus
	for _, code := range s.codes {
		c := s.coins[code]
		if c.Derived == nil {
			continue
		}
		st := KeyStatus{Coin: code, KeyID: c.Derived.KeyID(), GapWarn: c.gapWarn()}
		err := s.pool.QueryRow(ctx, keyStatusSQL, code, st.KeyID).Scan(&st.NextIndex, &st.HighestHandedOut, &st.HighestPaid, &st.Ready, &st.Importing)
		if err != nil {
			return nil, fmt.Errorf("payments: read the use of the %s key: %w", code, err)
		}
		st.Gap = st.HighestHandedOut - st.HighestPaid
		out = append(out, st)
	}
	return out, nil
}

// gapWarn returns the coin's gap warning threshold.
func (c Coin) gapWarn() int64 {
	if c.GapWarn > 0 {
		return c.GapWarn
	}
	return 20
}

// gapWarnEvery is how often the log repeats the warning of a gap that
// stays past the threshold.
const gapWarnEvery = time.Hour

// checkGaps reports each key's gap to Observe and warns in the log when a
// gap is past its coin's threshold: when it first gets there, then once an
// hour while it stays. warned holds when each coin was last warned about.
func (s *Service) checkGaps(ctx context.Context, warned map[string]time.Time) {
	sts, err := s.KeyStatuses(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "extended public key: cannot read the gap", "err", err)
		}
		return
	}
	for _, st := range sts {
		if s.addrs.ObserveGap != nil {
			s.addrs.ObserveGap(st.Coin, st.Gap)
		}
		if st.Gap <= st.GapWarn {
			delete(warned, st.Coin)
			continue
		}
		if last, ok := warned[st.Coin]; ok && s.now().Sub(last) < gapWarnEvery {
			continue
		}
		warned[st.Coin] = s.now()
		s.log.WarnContext(ctx, "extended public key: unpaid addresses run past the gap warning; the merchant's wallet "+
			"finds later payments only if its gap limit is at least the gap (see the README, Keys off the server)",
			"coin", st.Coin, "gap", st.Gap, "gap_warn", st.GapWarn, "highest_handed_out", st.HighestHandedOut,
			"highest_paid", st.HighestPaid)
	}
}

// runGaps checks the gaps every GapCheck until ctx is done.
func (s *Service) runGaps(ctx context.Context) {
	derived := false
	for _, c := range s.coins {
		derived = derived || c.Derived != nil
	}
	if !derived {
		return
	}
	warned := map[string]time.Time{}
	t := time.NewTicker(s.addrs.GapCheck)
	defer t.Stop()
	for {
		s.checkGaps(ctx, warned)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// openAddressesSQL lists the addresses derived from a key that the node
// must watch: those of payments whose status can still change (PAID ones
// until settled: a reorg can take them back) and those in the pool, with
// the creation time of their payment (NULL for pooled ones). With $3 > 0
// only the $3 oldest and $3 newest payments are listed, for a quick check.
const openAddressesSQL = `
	WITH open AS (
		SELECT p.address, p.created_at FROM payments p
		JOIN xpub_addresses x ON x.coin = p.coin AND x.address = p.address AND x.key_id = $2
		WHERE p.coin = $1 AND (p.status IN ('UNPAID', 'PARTIAL', 'PENDING') OR (p.status = 'PAID' AND NOT p.settled))
	), picked AS (
		SELECT * FROM open WHERE $3 = 0
		UNION (SELECT * FROM open WHERE $3 > 0 ORDER BY created_at LIMIT $3)
		UNION (SELECT * FROM open WHERE $3 > 0 ORDER BY created_at DESC LIMIT $3)
	)
	SELECT address, created_at FROM picked
	UNION ALL
	(SELECT address, NULL FROM address_pool WHERE coin = $1 AND ready ORDER BY id LIMIT CASE WHEN $3 > 0 THEN $3 END)`

// watchedAddress is an address the node must watch and when its payment
// was created (zero for a pooled address).
type watchedAddress struct {
	address string
	created time.Time
}

// lostAddresses returns the addresses of coin c that the node should watch
// but does not. sample > 0 checks only the sample oldest and newest open
// payments and pooled addresses.
func (s *Service) lostAddresses(ctx context.Context, c Coin, sample int) ([]watchedAddress, error) {
	rows, err := s.pool.Query(ctx, openAddressesSQL, c.Code, c.Derived.KeyID(), sample)
	if err != nil {
		return nil, fmt.Errorf("payments: list the %s addresses to watch: %w", c.Code, err)
	}
	var all []watchedAddress
	var (
		addr    string
		created *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&addr, &created}, func() error {
		w := watchedAddress{address: addr}
		if created != nil {
			w.created = *created
		}
		all = append(all, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payments: list the %s addresses to watch: %w", c.Code, err)
	}
	var lost []watchedAddress
	for i := 0; i < len(all); i += watchCheckBatch {
		part := all[i:min(i+watchCheckBatch, len(all))]
		addrs := make([]string, len(part))
		for j, w := range part {
			addrs[j] = w.address
		}
		watched, err := c.Derived.Watched(ctx, addrs)
		if err != nil {
			return nil, &UnavailableError{Coin: c.Code, Err: err}
		}
		for j, ok := range watched {
			if !ok {
				lost = append(lost, part[j])
			}
		}
	}
	return lost, nil
}

// watchCheckBatch is how many addresses one batch of watch checks asks.
const watchCheckBatch = 500

// ErrWatchLost is the readiness failure of a node that no longer watches
// addresses of open payments; the service is importing them again.
var ErrWatchLost = errors.New("the node no longer watches addresses of open payments: importing them again and rescanning")

// CheckWatched checks, on a sample of open payments and pooled addresses,
// that coin's node still watches the addresses derived for it. When it
// does not (a new node, a wallet restored from an old backup), it starts
// Rewatch in the background (once at a time) and returns ErrWatchLost.
// Coins without an extended public key pass.
func (s *Service) CheckWatched(ctx context.Context, code string) (string, error) {
	c, ok := s.coins[code]
	if !ok || c.Derived == nil {
		return "", nil
	}
	lost, err := s.lostAddresses(ctx, c, watchSample)
	if err != nil {
		return "", err
	}
	if len(lost) == 0 {
		return "the node watches the open payments' addresses", nil
	}
	if s.rewatching[code].CompareAndSwap(false, true) {
		go func() {
			defer s.rewatching[code].Store(false)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rewatchTimeout)
			defer cancel()
			if _, err := s.Rewatch(rctx, code); err != nil {
				s.log.ErrorContext(rctx, "extended public key: re-importing lost addresses failed; the next check tries again",
					"coin", code, "err", err)
			}
		}()
	}
	return "", ErrWatchLost
}

// watchSample is how many of the oldest and newest open payments (and
// pooled addresses) a quick watch check asks the node about.
const watchSample = 10

// rewatchTimeout bounds a re-import with its rescan and catch-up.
const rewatchTimeout = time.Hour

// Rewatch imports into coin's node every address it should watch but does
// not, rescanning the chain from the creation of the oldest open payment
// among them, then scans the wallet again from the block at that height
// (Rescan), so payments made while the node did not watch are found. It
// returns how many addresses it imported.
func (s *Service) Rewatch(ctx context.Context, code string) (int, error) {
	c, ok := s.coins[code]
	if !ok || c.Derived == nil {
		return 0, nil
	}
	lost, err := s.lostAddresses(ctx, c, 0)
	if err != nil || len(lost) == 0 {
		return 0, err
	}
	addrs := make([]string, len(lost))
	var oldest time.Time
	for i, w := range lost {
		addrs[i] = w.address
		if !w.created.IsZero() && (oldest.IsZero() || w.created.Before(oldest)) {
			oldest = w.created
		}
	}
	s.log.WarnContext(ctx, "extended public key: the node lost addresses it must watch; importing them again",
		"coin", code, "addresses", len(addrs), "rescan_from", oldest)
	if oldest.IsZero() {
		// Only pooled addresses: nothing can have paid them.
		if err := c.Derived.Watch(ctx, addrs, time.Time{}); err != nil {
			return 0, &UnavailableError{Coin: code, Err: err}
		}
		return len(addrs), nil
	}
	height, err := s.heightAt(ctx, c, oldest)
	if err != nil {
		return 0, err
	}
	if err := c.Derived.Watch(ctx, addrs, oldest); err != nil {
		return 0, &UnavailableError{Coin: code, Err: err}
	}
	if err := s.Rescan(ctx, code, height); err != nil {
		return len(addrs), err
	}
	s.log.InfoContext(ctx, "extended public key: lost addresses imported again and the wallet rescanned",
		"coin", code, "addresses", len(addrs), "from_height", height)
	return len(addrs), nil
}

// heightAt returns the height of the last block of the active chain whose
// time is before t minus two hours (block times may run up to two hours
// behind), or 0: a binary search over getblockhash and getblock.
func (s *Service) heightAt(ctx context.Context, c Coin, t time.Time) (int64, error) {
	limit := t.Add(-2 * time.Hour).Unix()
	lo, hi := int64(0), int64(0)
	tip, err := c.Node.GetBlockCount(ctx)
	if err != nil {
		return 0, &UnavailableError{Coin: c.Code, Err: err}
	}
	hi = tip
	for lo < hi {
		mid := (lo + hi + 1) / 2
		hash, err := c.Node.GetBlockHash(ctx, mid)
		if err != nil {
			return 0, &UnavailableError{Coin: c.Code, Err: err}
		}
		b, err := c.Node.GetBlock(ctx, hash)
		if err != nil {
			return 0, &UnavailableError{Coin: c.Code, Err: err}
		}
		if b.Time < limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// DropForeignPooled removes from the pool of each coin with an extended
// public key every address not derived from that key: addresses the node's
// wallet made before the key was configured (their keys are on the server),
// or those of an earlier key. Run it before serving, so that no payment
// takes one. It returns how many it removed per coin.
func (s *Service) DropForeignPooled(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, code := range s.codes {
		c := s.coins[code]
		if c.Derived == nil {
			continue
		}
		tag, err := s.pool.Exec(ctx, `
			DELETE FROM address_pool a WHERE a.coin = $1 AND NOT EXISTS (
				SELECT 1 FROM xpub_addresses x WHERE x.coin = a.coin AND x.address = a.address AND x.key_id = $2)`,
			code, c.Derived.KeyID())
		if err != nil {
			return nil, fmt.Errorf("payments: drop pooled %s addresses of another source: %w", code, err)
		}
		if n := tag.RowsAffected(); n > 0 {
			out[code] = n
		}
	}
	return out, nil
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
}

// XPub is a DerivedSource for one key on one node: it derives /0/i in Go
// and imports the addresses into the node's wallet watch-only.
type XPub struct {
	Key *xpub.Key
	// Chain is the node's chain (getblockchaininfo), checked against the
	// key before the source is made (xpub.Key.CheckChain).
	Chain string
	Node  Watcher
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
		a, err := x.Key.Address(x.Chain, uint32(i))
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
	_, err := tx.Exec(ctx, `
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

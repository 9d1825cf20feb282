package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// loadOutputs fills the Outputs of each payment in list with one query.
func loadOutputs(ctx context.Context, q querier, list []*Payment) error {
	if len(list) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID]*Payment, len(list))
	ids := make([]uuid.UUID, 0, len(list))
	for _, p := range list {
		p.Outputs = p.Outputs[:0]
		byID[p.ID] = p
		ids = append(ids, p.ID)
	}
	rows, err := q.Query(ctx, `
		SELECT payment_id, txid, vout, amount, confirmations, conflicted, replaceable,
			coalesce(block_hash, ''), coalesce(block_height, 0), first_seen_at, received_at, updated_at
		FROM payment_outputs
		WHERE payment_id = ANY($1)
		ORDER BY first_seen_at, txid, vout`, ids)
	if err != nil {
		return fmt.Errorf("payments: load outputs: %w", err)
	}
	var (
		pid    uuid.UUID
		o      Output
		amount int64
		vout   int32
	)
	_, err = pgx.ForEachRow(rows, []any{&pid, &o.TxID, &vout, &amount, &o.Confirmations, &o.Conflicted,
		&o.Replaceable, &o.BlockHash, &o.BlockHeight, &o.FirstSeenAt, &o.ReceivedAt, &o.UpdatedAt}, func() error {
		o.Amount, o.Vout = Amount(amount), uint32(vout)
		if p := byID[pid]; p != nil {
			p.Outputs = append(p.Outputs, o)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("payments: load outputs: %w", err)
	}
	return nil
}

// TxObservation is what the node said about one transaction at one moment.
type TxObservation struct {
	TxID          string
	Confirmations int64
	BlockHash     string
	BlockHeight   int64
	Replaceable   bool
	// Conflicted is set when the transaction can no longer confirm although
	// its confirmations are not negative: listed as removed, or replaced in
	// the mempool.
	Conflicted bool
	// Outputs are the transaction's outputs paying the wallet (category
	// receive). A conflicted transaction may list none: Litecoin Core 0.21
	// empties its details. Then only the outputs already stored change.
	Outputs []ObservedOutput
	// ObservedAt is when the node was asked, taken before the call.
	ObservedAt time.Time
	// WalletConflicts are the wallet transactions spending an input of this
	// one, as the node listed them: it and they are observed together.
	WalletConflicts []string
	// ReceivedAt is when the node says the transaction reached its wallet.
	// It is kept from the first observation of each output.
	ReceivedAt time.Time
}

// ObservedOutput is one output of an observed transaction paying an address
// of the node's wallet.
type ObservedOutput struct {
	Address string
	Vout    uint32
	Amount  Amount
}

// recordObservations writes what obs say into payment_outputs, for the
// payments in locked (address → payment id), whose rows the caller holds
// locked. New outputs are inserted; outputs already stored take the
// transaction-level facts of the newest observation.
func recordObservations(ctx context.Context, tx pgx.Tx, coin string, obs []TxObservation, locked map[string]uuid.UUID, now time.Time) error {
	var (
		txids, hashes                 []string
		confs, heights                []int64
		conflicted, replaceable       []bool
		observed                      []time.Time
		newTx, newHash                []string
		newVout                       []int32
		newAmount, newConf, newHeight []int64
		newConflicted, newReplace     []bool
		newObserved, newReceived      []time.Time
		newPayment                    []uuid.UUID
	)
	for _, o := range obs {
		txids = append(txids, o.TxID)
		confs = append(confs, o.Confirmations)
		hashes = append(hashes, o.BlockHash)
		heights = append(heights, o.BlockHeight)
		conflicted = append(conflicted, o.Conflicted)
		replaceable = append(replaceable, o.Replaceable)
		observed = append(observed, o.ObservedAt)
		for _, out := range o.Outputs {
			pid, ok := locked[out.Address]
			if !ok || out.Amount <= 0 {
				continue
			}
			newTx = append(newTx, o.TxID)
			newHash = append(newHash, o.BlockHash)
			newVout = append(newVout, int32(out.Vout))
			newAmount = append(newAmount, int64(out.Amount))
			newConf = append(newConf, o.Confirmations)
			newHeight = append(newHeight, o.BlockHeight)
			newConflicted = append(newConflicted, o.Conflicted)
			newReplace = append(newReplace, o.Replaceable)
			newObserved = append(newObserved, o.ObservedAt)
			newReceived = append(newReceived, o.ReceivedAt)
			newPayment = append(newPayment, pid)
		}
	}
	ids := make([]uuid.UUID, 0, len(locked))
	for _, id := range locked {
		ids = append(ids, id)
	}
	// Transaction-level facts apply to every stored output of the
	// transaction, including outputs the observation no longer lists.
	_, err := tx.Exec(ctx, `
		UPDATE payment_outputs o SET
			confirmations = t.confirmations,
			conflicted    = t.conflicted,
			replaceable   = t.replaceable,
			block_hash    = nullif(t.block_hash, ''),
			block_height  = nullif(t.block_height, 0),
			observed_at   = t.observed_at,
			updated_at    = CASE WHEN (o.confirmations, o.conflicted, o.replaceable, coalesce(o.block_hash, ''), coalesce(o.block_height, 0))
				IS DISTINCT FROM (t.confirmations, t.conflicted, t.replaceable, t.block_hash, t.block_height)
				THEN $3 ELSE o.updated_at END
		FROM unnest($2::text[], $4::bigint[], $5::bool[], $6::bool[], $7::text[], $8::bigint[], $9::timestamptz[])
			AS t(txid, confirmations, conflicted, replaceable, block_hash, block_height, observed_at)
		WHERE o.coin = $1 AND o.txid = t.txid AND o.payment_id = ANY($10)
			AND o.observed_at <= t.observed_at`,
		coin, txids, now, confs, conflicted, replaceable, hashes, heights, observed, ids)
	if err != nil {
		return fmt.Errorf("payments: update outputs: %w", err)
	}
	if len(newTx) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO payment_outputs (coin, txid, vout, payment_id, amount, confirmations, conflicted,
			replaceable, block_hash, block_height, first_seen_at, observed_at, updated_at, received_at)
		SELECT $1, t.txid, t.vout, t.payment_id, t.amount, t.confirmations, t.conflicted,
			t.replaceable, nullif(t.block_hash, ''), nullif(t.block_height, 0), $2, t.observed_at, $2, t.received_at
		FROM unnest($3::text[], $4::int[], $5::uuid[], $6::bigint[], $7::bigint[], $8::bool[], $9::bool[],
			$10::text[], $11::bigint[], $12::timestamptz[], $13::timestamptz[])
			AS t(txid, vout, payment_id, amount, confirmations, conflicted, replaceable, block_hash, block_height,
				observed_at, received_at)
		ON CONFLICT (coin, txid, vout) DO NOTHING`,
		coin, now, newTx, newVout, newPayment, newAmount, newConf, newConflicted, newReplace,
		newHash, newHeight, newObserved, newReceived)
	if err != nil {
		return fmt.Errorf("payments: insert outputs: %w", err)
	}
	return nil
}

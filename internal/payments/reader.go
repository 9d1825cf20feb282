package payments

import (
	"context"
	"sync"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
)

// reader turns one coin node's answers into observations. It fills in what
// some nodes leave out (Dogecoin Core reports no block heights) and decides
// whether an unconfirmed transaction with wallet conflicts can still confirm.
// It caches block heights for the batch it serves.
type reader struct {
	c       Coin
	mu      sync.Mutex
	heights map[string]int64
}

func newReader(c Coin) *reader { return &reader{c: c, heights: make(map[string]int64)} }

// fromTx converts a gettransaction answer. Only outputs of category receive
// count: sends, change and coinbase rewards pay no payment.
func (r *reader) fromTx(ctx context.Context, t *coind.Transaction, at time.Time) (TxObservation, error) {
	return r.complete(ctx, r.base(t, at), t.WalletConflicts, t.MempoolConflicts)
}

// base is fromTx without complete.
func (r *reader) base(t *coind.Transaction, at time.Time) TxObservation {
	o := TxObservation{
		TxID:          t.TxID,
		Confirmations: t.Confirmations,
		BlockHash:     t.BlockHash,
		BlockHeight:   t.BlockHeight,
		Replaceable:   t.Replaceable == "yes",
		ObservedAt:    at,
		ReceivedAt:    arrival(t.Time, t.BlockTime, at),
	}
	seen := make(map[uint32]bool, len(t.Details))
	for _, d := range t.Details {
		if d.Category != "receive" || d.Amount <= 0 || seen[d.Vout] {
			continue
		}
		seen[d.Vout] = true
		o.Outputs = append(o.Outputs, ObservedOutput{Address: d.Address, Vout: d.Vout, Amount: Amount(d.Amount)})
	}
	return o
}

// fromList converts a listsinceblock answer, one observation per
// transaction. Entries under removed (Litecoin and Bitcoin Core) are
// conflicted unless the transaction is also in the active list.
func (r *reader) fromList(ctx context.Context, res *coind.SinceBlock, at time.Time) ([]TxObservation, error) {
	var (
		order     []string
		byTx      = make(map[string]*TxObservation)
		conflicts = make(map[string][]string)
		mempool   = make(map[string][]string)
	)
	add := func(e coind.ListEntry, removed bool) {
		o, ok := byTx[e.TxID]
		if !ok {
			o = &TxObservation{
				TxID:          e.TxID,
				Confirmations: e.Confirmations,
				BlockHash:     e.BlockHash,
				BlockHeight:   e.BlockHeight,
				Replaceable:   e.Replaceable == "yes",
				Conflicted:    removed,
				ObservedAt:    at,
				ReceivedAt:    arrival(e.Time, 0, at),
			}
			byTx[e.TxID] = o
			order = append(order, e.TxID)
			conflicts[e.TxID] = e.WalletConflicts
			mempool[e.TxID] = e.MempoolConflicts
		}
		if e.Category != "receive" || e.Amount <= 0 {
			return
		}
		for _, out := range o.Outputs {
			if out.Vout == e.Vout {
				return
			}
		}
		o.Outputs = append(o.Outputs, ObservedOutput{Address: e.Address, Vout: e.Vout, Amount: Amount(e.Amount)})
	}
	for _, e := range res.Transactions {
		add(e, false)
	}
	for _, e := range res.Removed {
		if o, ok := byTx[e.TxID]; ok && !o.Conflicted {
			continue // back in the active chain
		}
		add(e, true)
	}
	out := make([]TxObservation, 0, len(order))
	for _, txid := range order {
		o := byTx[txid]
		if len(o.Outputs) == 0 && !o.Conflicted && o.Confirmations >= 0 {
			continue // pays nobody of ours, and cannot un-pay anybody
		}
		full, err := r.complete(ctx, *o, conflicts[txid], mempool[txid])
		if err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	return out, nil
}

// complete fills the block height when the node left it out and marks an
// unconfirmed transaction conflicted when it can no longer confirm:
//   - another transaction spending the same input is in the mempool
//     (mempoolconflicts, Bitcoin Core 28+: a full-RBF replacement paying
//     someone else, which the merchant's wallet never lists);
//   - another wallet transaction replaced it (the receiver holds both at 0
//     confirmations, and only the one still in the mempool can confirm);
//   - on a coin that accepts 0-confirmation payments, it is not in the
//     mempool at all: the node has nothing left that could confirm it.
func (r *reader) complete(ctx context.Context, o TxObservation, walletConflicts, mempoolConflicts []string) (TxObservation, error) {
	o, check := r.classify(o, walletConflicts, mempoolConflicts)
	if check {
		var err error
		if o, err = r.checkMempool(ctx, o); err != nil {
			return o, err
		}
	}
	return r.fillHeight(ctx, o)
}

// classify is complete up to the mempool check: it marks o conflicted
// when the node names a mempool conflict, and reports whether o must be
// looked for in the mempool (then checkMempool or notInMempool, and
// fillHeight, finish it).
func (r *reader) classify(o TxObservation, walletConflicts, mempoolConflicts []string) (TxObservation, bool) {
	o.WalletConflicts = walletConflicts
	if o.Confirmations == 0 && !o.Conflicted {
		switch {
		case len(mempoolConflicts) > 0:
			o.Conflicted = true
		case len(walletConflicts) > 0 || (r.c.ZeroConf && len(o.Outputs) > 0):
			return o, true
		}
	}
	return o, false
}

// fillHeight fills the block height of a confirmed o when the node left
// it out.
func (r *reader) fillHeight(ctx context.Context, o TxObservation) (TxObservation, error) {
	if o.Confirmations > 0 && o.BlockHeight == 0 && o.BlockHash != "" {
		h, err := r.height(ctx, o.BlockHash)
		if err != nil {
			return o, err
		}
		o.BlockHeight = h
	}
	return o, nil
}

// checkMempool marks the unconfirmed o conflicted when it is not in the
// node's mempool (see notInMempool).
func (r *reader) checkMempool(ctx context.Context, o TxObservation) (TxObservation, error) {
	in, err := r.c.Node.InMempool(ctx, o.TxID)
	if err != nil {
		return o, &UnavailableError{Coin: r.c.Code, Err: err}
	}
	if in {
		return o, nil
	}
	return r.notInMempool(ctx, o)
}

// notInMempool finishes an unconfirmed o that the node's mempool did not
// hold. A transaction mined between the two calls is not in the mempool
// either, so o is read again: then only one still unconfirmed is
// conflicted, and a mined one takes its block.
func (r *reader) notInMempool(ctx context.Context, o TxObservation) (TxObservation, error) {
	t, err := r.c.Node.GetTransaction(ctx, o.TxID)
	if err != nil {
		return o, &UnavailableError{Coin: r.c.Code, Err: err}
	}
	if t.Confirmations == 0 {
		o.Conflicted = true
		return o, nil
	}
	o.Confirmations, o.BlockHash, o.BlockHeight = t.Confirmations, t.BlockHash, t.BlockHeight
	return o, nil
}

func (r *reader) height(ctx context.Context, hash string) (int64, error) {
	r.mu.Lock()
	h, ok := r.heights[hash]
	r.mu.Unlock()
	if ok {
		return h, nil
	}
	b, err := r.c.Node.GetBlock(ctx, hash)
	if err != nil {
		return 0, &UnavailableError{Coin: r.c.Code, Err: err}
	}
	r.mu.Lock()
	r.heights[hash] = b.Height
	r.mu.Unlock()
	return b.Height, nil
}

// arrival returns when the node says a transaction reached its wallet: its
// "time" (the time received, or about the block's time for a transaction the
// wallet first saw in a block), else the block's time, else at, when
// Transient asked.
func arrival(txTime, blockTime int64, at time.Time) time.Time {
	switch {
	case txTime > 0:
		return time.Unix(txTime, 0).UTC()
	case blockTime > 0:
		return time.Unix(blockTime, 0).UTC()
	default:
		return at
	}
}

package payments

import (
	"testing"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/regtest"
)

// expectOutputs checks the state of each of the payment's outputs by txid.
func (e *env) expectOutputs(id uuid.UUID, want map[string]OutputState) {
	e.t.Helper()
	p := e.get(id)
	got := map[string]OutputState{}
	for _, o := range p.Outputs {
		got[o.TxID] = o.State(p.Confirmations)
	}
	if len(got) != len(want) {
		e.t.Fatalf("outputs of %s = %v, want %v", id, got, want)
	}
	for txid, s := range want {
		if got[txid] != s {
			e.t.Fatalf("outputs of %s = %v, want %v", id, got, want)
		}
	}
}

// TestReplacementNeverCountedWithTheReplaced: a payer fee-bumps a partial
// payment. Only one of the two transactions can ever confirm, so the
// payment stays PARTIAL with what one of them pays, whichever path sees the
// replacement first, and emits nothing more.
func TestReplacementNeverCountedWithTheReplaced(t *testing.T) {
	t.Parallel()
	paths := []struct {
		name string
		// see makes Transient look at the chain after the replacement.
		see func(e *env, orig, repl string)
	}{
		{"hint for the replacement", func(e *env, _, repl string) { e.process(repl) }},
		{"batched hint for the replacement", func(e *env, _, repl string) {
			if err := e.svc.processTxs(e.ctx, []txRef{{"LTC", repl}}); err != nil {
				e.t.Fatal(err)
			}
		}},
		// No hint at all: the block refresh re-reads the replaced
		// transaction only, and must find the replacement through it.
		{"refresh of the replaced", func(e *env, _, _ string) { e.refresh() }},
		{"catch-up", func(e *env, _, _ string) { e.catchUp() }},
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := e.create(amt("1"))
			orig, err := e.node.Send(e.ctx, regtest.MinerWallet, p.Address, int64(amt("0.6")), true)
			if err != nil {
				t.Fatal(err)
			}
			e.process(orig)
			e.expect(p.ID, StatusPartial, amt("0.6"))

			repl, err := e.node.BumpFee(e.ctx, regtest.MinerWallet, orig)
			if err != nil {
				t.Fatal(err)
			}
			path.see(e, orig, repl)
			e.expect(p.ID, StatusPartial, amt("0.6"))
			e.expectOutputs(p.ID, map[string]OutputState{orig: OutputConflicted, repl: OutputSeen})

			// Every later look agrees.
			e.process(orig)
			e.expect(p.ID, StatusPartial, amt("0.6"))
			e.refresh()
			e.expect(p.ID, StatusPartial, amt("0.6"))
			e.catchUp()
			e.expect(p.ID, StatusPartial, amt("0.6"))
			e.mine(1)
			e.refresh()
			e.expect(p.ID, StatusPartial, amt("0.6"))
			e.expectOutputs(p.ID, map[string]OutputState{orig: OutputConflicted, repl: OutputSeen})
			e.expectTransitions(p.ID, "UNPAID>PARTIAL")
		})
	}
}

// TestDeepReorgWithMissedHookFoundByCatchUp: a reorg replaces the block the
// catch-up cursor points at, and the payment, mined only on the new branch
// below the cursor's height, never had its hook worked. The next catch-up
// finds it.
func TestDeepReorgWithMissedHookFoundByCatchUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.mine(8)
	e.catchUp()
	var (
		cursor string
		height int64
	)
	if err := e.pool.QueryRow(e.ctx, `SELECT block_hash, block_height FROM chain_cursors WHERE coin = 'LTC'`).Scan(&cursor, &height); err != nil {
		t.Fatal(err)
	}
	// Replace the chain from the block below the cursor's.
	first, err := e.node.Client("").GetBlockHash(e.ctx, height-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.node.InvalidateBlock(e.ctx, first); err != nil {
		t.Fatal(err)
	}
	e.pay(p.Address, amt("1")) // its walletnotify is never worked
	e.mine(12)                 // the payment at height-1, below the stale cursor
	if b, err := e.node.Client("").GetBlock(e.ctx, cursor); err != nil || b.Confirmations != -1 {
		t.Fatalf("cursor block after the reorg: %+v %v, want off the active chain", b, err)
	}
	e.expect(p.ID, StatusUnpaid, 0)
	e.catchUp()
	got := e.expect(p.ID, StatusPaid, amt("1"))
	if got.Outputs[0].BlockHeight != height-1 {
		t.Errorf("payment found at height %d, want %d", got.Outputs[0].BlockHeight, height-1)
	}
	e.expectTransitions(p.ID, "UNPAID>PAID")
	var now string
	if err := e.pool.QueryRow(e.ctx, `SELECT block_hash FROM chain_cursors WHERE coin = 'LTC'`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	if b, err := e.node.Client("").GetBlock(e.ctx, now); err != nil || b.Confirmations < 1 {
		t.Fatalf("cursor after the catch-up: %+v %v, want on the active chain", b, err)
	}
}

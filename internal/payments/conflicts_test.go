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

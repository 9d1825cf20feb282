package payments

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// dogeBlock is a getblock answer synthesized in the recorded shape
// (getblock-verbose.json).
func dogeBlock(hash string, confirmations, height int64, prev string) string {
	return `{"result":{"hash":"` + hash + `","confirmations":` + itoa(confirmations) + `,"height":` + itoa(height) +
		`,"previousblockhash":"` + prev + `"},"error":null,"id":1}`
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// dogePaymentBlock is the recording's block holding dogeReceiveTx, at
// height 102 on top of dogeTipBeforePayment.
const dogePaymentBlock = "b5b3e086757f77be822ae62f7b3dbb0dbe3e8039f7f2b78b8e6b2ef5a5536c72"

// TestDogecoinStaleCursorScansFromTheForkPoint: the catch-up cursor sits on a
// branch that a reorg deeper than the cursor lag replaced, and the payment's
// walletnotify was missed. Dogecoin Core 1.14's listsinceblock from the stale
// block lists only what is shallower than that block, so Transient walks
// back to the fork point and scans from there.
func TestDogecoinStaleCursorScansFromTheForkPoint(t *testing.T) {
	stale1, stale2 := strings.Repeat("5b", 32), strings.Repeat("5a", 32) // heights 102, 103 of the old branch
	node, client := newDogeNode(t, func(method string, ps []json.RawMessage) (string, int) {
		switch {
		case method == "getblock" && param(ps, 0) == stale2:
			return dogeBlock(stale2, -1, 103, stale1), 200
		case method == "getblock" && param(ps, 0) == stale1:
			return dogeBlock(stale1, -1, 102, dogeTipBeforePayment), 200
		case method == "getblock" && param(ps, 0) == dogeTipBeforePayment:
			return dogeBlock(dogeTipBeforePayment, 2, 101, strings.Repeat("00", 32)), 200
		case method == "getblock" && param(ps, 0) == dogePaymentBlock:
			return dogeBlock(dogePaymentBlock, 1, 102, dogeTipBeforePayment), 200
		case method == "listsinceblock" && param(ps, 0) == dogeTipBeforePayment:
			return "listsinceblock-from-tip-before-payment", 200
		case method == "listsinceblock" && param(ps, 0) == stale2:
			// What 1.14 answers for the stale block: depth limit
			// 1 + 102 - 103 = 0, so nothing confirmed is listed.
			return `{"result":{"transactions":[],"lastblock":"` + dogePaymentBlock + `"},"error":null,"id":1}`, 200
		}
		return "", 0
	})
	svc, ps := dogeService(t, client, map[string]Amount{dogeOrder42: amt("12345.6789")})
	ctx := context.Background()
	if _, err := svc.pool.Exec(ctx, `INSERT INTO chain_cursors VALUES ('DOGE', $1, 103, now())`, stale2); err != nil {
		t.Fatal(err)
	}
	if err := svc.CatchUp(ctx, "DOGE"); err != nil {
		t.Fatal(err)
	}
	p, _ := svc.Get(ctx, ps[dogeOrder42].ID)
	if p.Status != StatusPaid || p.Received != amt("12345.6789") {
		t.Fatalf("payment after catch-up from a stale cursor: %s %s, calls %q", p.Status, p.Received, node.callLog())
	}
	for _, c := range node.callLog() {
		if strings.HasPrefix(c, "listsinceblock") && c != "listsinceblock "+dogeTipBeforePayment+" 6 true" {
			t.Errorf("listsinceblock called as %q, want from the fork point %s", c, dogeTipBeforePayment)
		}
	}
	var cursor string
	if err := svc.pool.QueryRow(ctx, `SELECT block_hash FROM chain_cursors WHERE coin = 'DOGE'`).Scan(&cursor); err != nil || cursor != dogePaymentBlock {
		t.Errorf("cursor = %s (%v), want %s", cursor, err, dogePaymentBlock)
	}
}

// TestDogecoinConflictsListedOnce: Dogecoin Core lists a conflicted wallet
// transaction on every listsinceblock, for ever. The catch-up records the
// conflict once (the payment goes back, with its event) and afterwards
// leaves it alone.
func TestDogecoinConflictsListedOnce(t *testing.T) {
	// The recorded receive, conflicted far below the refresh depth
	// (synthesized from listsinceblock-from-tip-before-payment.json).
	conflicted := `{"result":{"transactions":[{"account":"order-42","address":"` + dogeOrder42 + `","category":"receive",` +
		`"amount":12345.6789,"label":"order-42","vout":1,"confirmations":-150,"txid":"` + dogeReceiveTx + `",` +
		`"walletconflicts":[],"time":1795340819,"timereceived":1795340819,"bip125-replaceable":"no"}],` +
		`"lastblock":"` + dogePaymentBlock + `"},"error":null,"id":1}`
	_, client := newDogeNode(t, func(method string, ps []json.RawMessage) (string, int) {
		switch {
		case method == "gettransaction" && param(ps, 0) == dogeReceiveTx:
			return "gettransaction-receive-1conf", 200
		case method == "getblock" && param(ps, 0) == dogePaymentBlock:
			return dogeBlock(dogePaymentBlock, 1, 102, dogeTipBeforePayment), 200
		case method == "listsinceblock":
			return conflicted, 200
		}
		return "", 0
	})
	svc, ps := dogeService(t, client, map[string]Amount{dogeOrder42: amt("12345.6789")})
	ctx := context.Background()
	id := ps[dogeOrder42].ID
	if err := svc.ProcessTx(ctx, "DOGE", dogeReceiveTx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.pool.Exec(ctx, `INSERT INTO chain_cursors VALUES ('DOGE', $1, 102, now())`, dogePaymentBlock); err != nil {
		t.Fatal(err)
	}
	observedAt := func() time.Time {
		var at time.Time
		if err := svc.pool.QueryRow(ctx, `SELECT observed_at FROM payment_outputs WHERE payment_id = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if err := svc.CatchUp(ctx, "DOGE"); err != nil {
		t.Fatal(err)
	}
	p, _ := svc.Get(ctx, id)
	if p.Status != StatusUnpaid || p.Outputs[0].Confirmations != -150 {
		t.Fatalf("after the conflict is listed: %s, outputs %+v", p.Status, p.Outputs)
	}
	first := observedAt()
	for range 2 {
		if err := svc.CatchUp(ctx, "DOGE"); err != nil {
			t.Fatal(err)
		}
	}
	if got := observedAt(); !got.Equal(first) {
		t.Fatalf("the settled conflict was observed again at every catch-up: observed_at %s, then %s", first, got)
	}
}

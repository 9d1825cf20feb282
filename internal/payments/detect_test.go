package payments

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/regtest"
)

func TestExactPayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1.5"), func(r *CreateRequest) { r.Label = "order-42" })
	txid := e.pay(p.Address, amt("1.5"))
	e.process(txid)
	got := e.expect(p.ID, StatusPending, amt("1.5"))
	if len(got.Outputs) != 1 || got.Outputs[0].TxID != txid || got.Outputs[0].Confirmations != 0 ||
		got.Outputs[0].State(got.Confirmations) != OutputSeen {
		t.Fatalf("outputs after 0 conf = %+v", got.Outputs)
	}
	e.process(txid) // walletnotify fires again: nothing changes
	e.mine(1)
	e.refresh()
	got = e.expect(p.ID, StatusPending, amt("1.5"))
	if got.Outputs[0].Confirmations != 1 || got.Outputs[0].BlockHeight != 102 || got.Outputs[0].BlockHash == "" {
		t.Fatalf("output after 1 block = %+v", got.Outputs[0])
	}
	e.mine(1)
	e.refresh()
	got = e.expect(p.ID, StatusPaid, amt("1.5"))
	if got.Confirmed != amt("1.5") || got.Overpaid || got.Outputs[0].State(2) != OutputConfirmed {
		t.Fatalf("paid payment = %+v", got)
	}
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID")
}

func TestUnderpaymentThenTopUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("0.4")))
	e.expect(p.ID, StatusPartial, amt("0.4"))
	if due := e.get(p.ID).JSON().AmountDue; due != amt("0.6") {
		t.Fatalf("amount_due = %s, want 0.6", due)
	}
	e.process(e.pay(p.Address, amt("0.6")))
	e.expect(p.ID, StatusPending, amt("1"))
	e.mine(2)
	e.refresh()
	got := e.expect(p.ID, StatusPaid, amt("1"))
	if len(got.Outputs) != 2 {
		t.Fatalf("want 2 outputs, got %d", len(got.Outputs))
	}
	e.expectTransitions(p.ID, "UNPAID>PARTIAL", "PARTIAL>PENDING", "PENDING>PAID")
}

func TestOverpayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("1.25")))
	if got := e.expect(p.ID, StatusPending, amt("1.25")); !got.Overpaid {
		t.Fatal("overpaid flag not set")
	}
	e.mine(2)
	e.refresh()
	if got := e.expect(p.ID, StatusPaid, amt("1.25")); !got.Overpaid || !got.JSON().Overpaid {
		t.Fatal("overpaid flag lost")
	}
}

func TestTolerance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ToleranceBP = 100 }) // 1 %
	p := e.create(amt("1"))
	short := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("0.99")))
	e.process(e.pay(short.Address, amt("0.98999999")))
	e.expect(p.ID, StatusPending, amt("0.99"))
	e.expect(short.ID, StatusPartial, amt("0.98999999"))
	e.mine(2)
	e.refresh()
	e.expect(p.ID, StatusPaid, amt("0.99"))
	e.expect(short.ID, StatusPartial, amt("0.98999999"))
}

func TestOneTransactionPaysTwoPayments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.create(amt("1")), e.create(amt("2.5"))
	txid, err := e.node.SendMany(e.ctx, regtest.MinerWallet, map[string]int64{
		a.Address: int64(amt("1")), b.Address: int64(amt("2.5")),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.process(txid)
	e.expect(a.ID, StatusPending, amt("1"))
	e.expect(b.ID, StatusPending, amt("2.5"))
	e.mine(2)
	e.refresh()
	e.expect(a.ID, StatusPaid, amt("1"))
	e.expect(b.ID, StatusPaid, amt("2.5"))
}

func TestUnrelatedTransactionsIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	// A payment to a wallet address that belongs to no payment.
	other, err := e.node.NewAddress(e.ctx, regtest.MerchantWallet, "")
	if err != nil {
		t.Fatal(err)
	}
	incoming := e.pay(other, amt("2"))
	e.mine(1)
	// An outgoing payment from the merchant wallet, with change.
	minerAddr, err := e.node.NewAddress(e.ctx, regtest.MinerWallet, "")
	if err != nil {
		t.Fatal(err)
	}
	outgoing, err := e.node.Send(e.ctx, regtest.MerchantWallet, minerAddr, int64(amt("0.5")), false)
	if err != nil {
		t.Fatal(err)
	}
	// A coinbase the merchant wallet does not know.
	coinbase := e.mine(1)[0]
	for _, txid := range []string{incoming, outgoing, coinbase} {
		e.process(txid)
	}
	e.catchUp()
	e.refresh()
	e.expect(p.ID, StatusUnpaid, 0)
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM payment_outputs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("outputs stored = %d (%v), want 0", n, err)
	}
	e.expectTransitions(p.ID)
}

func TestCatchUpFindsPaymentWithoutHooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.catchUp() // the first scan sets the cursor
	p := e.create(amt("0.7"))
	e.pay(p.Address, amt("0.7"))
	e.catchUp()
	e.expect(p.ID, StatusPending, amt("0.7"))
	e.mine(2)
	e.catchUp()
	e.expect(p.ID, StatusPaid, amt("0.7"))
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID")

	var hash string
	var height int64
	if err := e.pool.QueryRow(e.ctx, `SELECT block_hash, block_height FROM chain_cursors WHERE coin = 'LTC'`).Scan(&hash, &height); err != nil {
		t.Fatal(err)
	}
	// The cursor trails the tip (103) by the catch-up depth.
	if want := int64(103 - catchUpDepth + 1); height != want {
		t.Errorf("cursor height = %d, want %d", height, want)
	}
}

func TestCatchUpWithUnknownCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("0.3"))
	e.pay(p.Address, amt("0.3"))
	e.mine(1)
	// A cursor the node has never seen, as after a wallet moved to a new
	// node: the scan must not read it as "nothing new".
	_, err := e.pool.Exec(e.ctx, `INSERT INTO chain_cursors (coin, block_hash, block_height, updated_at)
		VALUES ('LTC', repeat('ab', 32), 101, now())`)
	if err != nil {
		t.Fatal(err)
	}
	e.catchUp()
	e.expect(p.ID, StatusPending, amt("0.3"))
}

func TestReorgFollowsTheChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("1")))
	blocks := e.mine(2)
	e.refresh()
	e.expect(p.ID, StatusPaid, amt("1"))

	if err := e.node.InvalidateBlock(e.ctx, blocks[0]); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	got := e.expect(p.ID, StatusPending, amt("1"))
	if got.Outputs[0].Confirmations != 0 || got.Outputs[0].BlockHash != "" {
		t.Fatalf("output after reorg = %+v", got.Outputs[0])
	}
	if err := e.node.ReconsiderBlock(e.ctx, blocks[0]); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	e.expect(p.ID, StatusPaid, amt("1"))
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID", "PAID>PENDING", "PENDING>PAID")
}

func TestDoubleSpendTakesPendingBackToUnpaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	txid := e.pay(p.Address, amt("1"))
	e.process(txid)
	e.expect(p.ID, StatusPending, amt("1"))

	if _, err := e.node.DoubleSpend(e.ctx, regtest.MinerWallet, txid); err != nil {
		t.Fatal(err)
	}
	// No walletnotify fires for a conflicted receive: the block refresh
	// finds it.
	e.refresh()
	got := e.expect(p.ID, StatusUnpaid, 0)
	if o := got.Outputs[0]; o.Confirmations >= 0 || o.State(got.Confirmations) != OutputConflicted {
		t.Fatalf("double-spent output = %+v", o)
	}
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>UNPAID")
}

func TestDoubleSpendFoundByCatchUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.catchUp()
	p := e.create(amt("1"))
	txid := e.pay(p.Address, amt("1"))
	e.catchUp()
	e.expect(p.ID, StatusPending, amt("1"))
	if _, err := e.node.DoubleSpend(e.ctx, regtest.MinerWallet, txid); err != nil {
		t.Fatal(err)
	}
	e.catchUp() // listsinceblock lists it under removed
	e.expect(p.ID, StatusUnpaid, 0)
}

func TestReplaceByFee(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	zero := int64(0)
	p := e.create(amt("1"), func(r *CreateRequest) { r.Confirmations = &zero })
	orig, err := e.node.Send(e.ctx, regtest.MinerWallet, p.Address, int64(amt("1")), true)
	if err != nil {
		t.Fatal(err)
	}
	e.process(orig)
	// Replaceable and unconfirmed: never PAID, even with 0 confirmations
	// required.
	e.expect(p.ID, StatusPending, amt("1"))

	repl, err := e.node.BumpFee(e.ctx, regtest.MinerWallet, orig)
	if err != nil {
		t.Fatal(err)
	}
	e.process(repl)
	e.process(orig) // what the queued conflict hint does
	got := e.expect(p.ID, StatusPending, amt("1"))
	states := map[string]OutputState{}
	for _, o := range got.Outputs {
		states[o.TxID] = o.State(0)
	}
	if states[orig] != OutputConflicted || states[repl] != OutputSeen {
		t.Fatalf("after bumpfee: states %v (orig %s, replacement %s)", states, orig, repl)
	}
	e.mine(1)
	e.refresh()
	got = e.expect(p.ID, StatusPaid, amt("1"))
	for _, o := range got.Outputs {
		if o.TxID == orig && o.Confirmations >= 0 {
			t.Errorf("replaced transaction has %d confirmations", o.Confirmations)
		}
	}
}

func TestExpiryThenLatePayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Created 16 minutes ago by the node's clock: what it pays now is late.
	e.clock.Advance(-16 * time.Minute)
	p := e.create(amt("1"), func(r *CreateRequest) { r.ExpiresIn = 15 * time.Minute })
	if err := e.svc.CheckDeadlines(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(p.ID, StatusUnpaid, 0)
	e.clock.Advance(16 * time.Minute)
	if err := e.svc.CheckDeadlines(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(p.ID, StatusExpired, 0)

	e.process(e.pay(p.Address, amt("1")))
	got := e.expect(p.ID, StatusExpired, amt("1"))
	if !got.PaidLate {
		t.Fatal("paid_late not set")
	}
	e.expectTransitions(p.ID, "UNPAID>EXPIRED", "payment.paid_late:EXPIRED>EXPIRED")
}

func TestPendingPastMonitoringWindowIsInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("1")))
	e.expect(p.ID, StatusPending, amt("1"))
	e.clock.Advance(59 * time.Minute)
	if err := e.svc.CheckDeadlines(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(p.ID, StatusPending, amt("1"))
	e.clock.Advance(2 * time.Minute)
	if err := e.svc.CheckDeadlines(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.expect(p.ID, StatusInvalid, amt("1"))
	e.mine(2)
	e.refresh()
	e.expect(p.ID, StatusInvalid, amt("1")) // sticky
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>INVALID")
}

// TestConcurrentObserversCountOnce runs many observers of the same
// transaction at once, as walletnotify firing twice on two processes does.
func TestConcurrentObserversCountOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := NewService(e.pool, e.svc.cfg) // a second process on the same database
	p := e.create(amt("1"))
	txid := e.pay(p.Address, amt("1"))
	e.mine(2)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Go(func() {
			if i%3 == 0 {
				errs <- svc.RefreshCoin(e.ctx, "LTC")
				return
			}
			errs <- svc.ProcessTx(e.ctx, "LTC", txid)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := e.expect(p.ID, StatusPaid, amt("1"))
	if len(got.Outputs) != 1 {
		t.Fatalf("outputs = %d, want 1", len(got.Outputs))
	}
	e.expectTransitions(p.ID, "UNPAID>PAID")
}

func TestCreateWhenNodeIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.node.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1")})
	if !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("create with the node down: %v, want ErrCoinUnavailable", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("create took %s with the node down", d)
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("payments stored = %d (%v), want 0", n, err)
	}
}

func TestRescanFindsOldPayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("0.2"))
	e.pay(p.Address, amt("0.2"))
	e.mine(10)
	// A cursor already past the payment's block: the catch-up alone would
	// not look back.
	e.catchUp()
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM payment_outputs`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE payments SET status = 'UNPAID', amount_received = 0, amount_confirmed = 0, pending_since = NULL, settled = false`); err != nil {
		t.Fatal(err)
	}
	e.catchUp()
	e.expect(p.ID, StatusUnpaid, 0)
	if err := e.svc.Rescan(e.ctx, "LTC", 102); err != nil {
		t.Fatal(err)
	}
	e.expect(p.ID, StatusPaid, amt("0.2"))
	var err error
	if err = e.svc.Rescan(e.ctx, "LTC", 5000); !errors.Is(err, ErrInvalid) {
		t.Errorf("rescan past the tip: %v", err)
	}
}

func TestCreateAttachRollsBackTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	boom := errors.New("adapter refused")
	_, err := e.svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"),
		Attach: func(ctx context.Context, tx pgx.Tx, p *Payment) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("payments stored: %d %v", n, err)
	}
}

// TestEventPayloadIsTheWebhookBody checks that the stored event keeps the
// exact bytes of the webhook body, and that its times match the row's.
func TestEventPayloadIsTheWebhookBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("1")))
	var payload string
	var occurred time.Time
	if err := e.pool.QueryRow(e.ctx, `
		SELECT payload::text, occurred_at FROM payment_events WHERE payment_id = $1 AND type = $2`, p.ID, EventStatusChanged).Scan(&payload, &occurred); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(payload, `{"payment_id":"`+p.ID.String()+`","status":"PENDING","event_id":"`) {
		t.Errorf("payload does not keep the body's bytes: %s", payload)
	}
	if !strings.Contains(payload, `"occurred_at":"`+occurred.UTC().Format(time.RFC3339Nano)+`"`) {
		t.Errorf("occurred_at in the body differs from the row's %s: %s", occurred.UTC().Format(time.RFC3339Nano), payload)
	}
}

// TestSettledAfterPaid: a payment asking for fewer confirmations than the
// coin's default is PAID first and settled once deep enough, with an event
// for each; one at the coin's depth gets no separate settled event.
func TestSettledAfterPaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // LTC requires 2 by default
	one := int64(1)
	early := e.create(amt("1"), func(r *CreateRequest) { r.Confirmations = &one })
	normal := e.create(amt("1"))
	if early.SettleConfirmations != 2 || normal.SettleConfirmations != 2 {
		t.Fatalf("settle depths %d, %d, want 2", early.SettleConfirmations, normal.SettleConfirmations)
	}
	e.process(e.pay(early.Address, amt("1")))
	e.process(e.pay(normal.Address, amt("1")))
	e.mine(1)
	e.refresh()
	if p := e.expect(early.ID, StatusPaid, amt("1")); p.Settled {
		t.Fatal("settled at 1 of 2 confirmations")
	}
	e.mine(1)
	e.refresh()
	if p := e.expect(early.ID, StatusPaid, amt("1")); !p.Settled || !p.JSON().Settled {
		t.Fatal("not settled at 2 confirmations")
	}
	if p := e.expect(normal.ID, StatusPaid, amt("1")); !p.Settled {
		t.Fatal("a payment at the coin's depth is not settled when PAID")
	}
	e.expectTransitions(early.ID, "UNPAID>PENDING", "PENDING>PAID", "payment.settled:PAID>PAID")
	e.expectTransitions(normal.ID, "UNPAID>PENDING", "PENDING>PAID")
}

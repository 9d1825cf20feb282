package payments

import (
	"errors"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/regtest"
)

// Expiry is decided on when the node says the money arrived, not on when
// Transient observed it, and deadlines look at the node first.

// TestPaidInTimeObservedAfterExpiry pays 15 minutes before the expiry and
// loses the hint; the deadline job runs first, after the expiry. It must
// find the payment at the node and keep it, not expire it.
func TestPaidInTimeObservedAfterExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"), func(r *CreateRequest) { r.ExpiresIn = 15 * time.Minute })
	e.pay(p.Address, amt("1")) // the hint is lost
	e.clock.Advance(30 * time.Minute)
	e.deadlines()
	got := e.expect(p.ID, StatusPending, amt("1"))
	if got.PaidLate {
		t.Fatal("paid_late set on a payment made in time")
	}
	if o := got.Outputs[0]; !o.ReceivedAt.Before(p.ExpiresAt) || o.FirstSeenAt.Before(p.ExpiresAt) {
		t.Fatalf("received_at %s, first_seen_at %s: want the node's arrival before the expiry %s and the observation after it",
			o.ReceivedAt, o.FirstSeenAt, p.ExpiresAt)
	}
	e.mine(2)
	e.refresh()
	e.expect(p.ID, StatusPaid, amt("1"))
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID")
}

// TestExpiredThenFoundPaidInTime: a payment already EXPIRED whose node
// later shows outputs that arrived before the expiry (a wallet behind the
// chain when the deadline passed) is not held to the expiry.
func TestExpiredThenFoundPaidInTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"), func(r *CreateRequest) { r.ExpiresIn = 15 * time.Minute })
	e.clock.Advance(16 * time.Minute)
	e.deadlines()
	e.expect(p.ID, StatusExpired, 0)
	// The wallet reports the transaction as received 16 minutes before
	// Transient's clock, so before the expiry.
	e.process(e.pay(p.Address, amt("1")))
	if got := e.expect(p.ID, StatusPending, amt("1")); got.PaidLate {
		t.Fatal("paid_late set on a payment made in time")
	}
	e.expectTransitions(p.ID, "UNPAID>EXPIRED", "EXPIRED>PENDING")
}

// TestPaidAfterExpiryObservedBeforeDeadline pays 5 s after the expiry and
// has the hint worked before any deadline job: the payment is EXPIRED and
// paid late, never PENDING or PAID.
func TestPaidAfterExpiryObservedBeforeDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(-10 * time.Minute)
	p := e.create(amt("1"), func(r *CreateRequest) { r.ExpiresIn = 10*time.Minute - 5*time.Second })
	e.clock.Advance(10 * time.Minute) // now: 5 s after the expiry
	e.process(e.pay(p.Address, amt("1")))
	got := e.expect(p.ID, StatusExpired, amt("1"))
	if !got.PaidLate {
		t.Fatal("paid_late not set")
	}
	e.mine(2)
	e.refresh()
	e.expect(p.ID, StatusExpired, amt("1"))
	e.expectTransitions(p.ID, "UNPAID>EXPIRED", "payment.paid_late:EXPIRED>EXPIRED")
}

// TestConfirmedBeforeWindowEndsIsNotInvalid: the transaction is mined
// before the monitoring window ends, but the block's refresh has not run
// when the deadline job does. The job reads the node first and sees the
// confirmation; and a payment in a block is no longer in its window.
func TestConfirmedBeforeWindowEndsIsNotInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // window 1 h, 2 confirmations
	p := e.create(amt("1"))
	e.process(e.pay(p.Address, amt("1")))
	e.expect(p.ID, StatusPending, amt("1"))
	e.clock.Advance(59 * time.Minute)
	e.mine(1) // no refresh: the stored output still has 0 confirmations
	e.clock.Advance(2 * time.Minute)
	e.deadlines()
	got := e.expect(p.ID, StatusPending, amt("1"))
	if got.Outputs[0].Confirmations != 1 || !got.PendingSince.IsZero() {
		t.Fatalf("confirmations %d, pending_since %s; want 1 and none", got.Outputs[0].Confirmations, got.PendingSince)
	}
	e.clock.Advance(5 * time.Hour) // the window does not count while in a block
	e.deadlines()
	e.expect(p.ID, StatusPending, amt("1"))
	e.mine(1)
	e.refresh()
	e.expect(p.ID, StatusPaid, amt("1"))
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID")
}

// TestDeepConfirmationsAreTracked: a payment that asks for 105
// confirmations (settled at 110) is read past the refresh's usual 100.
func TestDeepConfirmationsAreTracked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MonitoringWindow = 24 * time.Hour })
	n, settle := int64(105), int64(110)
	p := e.create(amt("1"), func(r *CreateRequest) { r.Confirmations, r.SettleConfirmations = &n, &settle })
	e.process(e.pay(p.Address, amt("1")))
	step := func(blocks int, status Status, settled bool) {
		t.Helper()
		e.mine(blocks)
		e.refresh()
		e.catchUp()
		got := e.expect(p.ID, status, amt("1"))
		if got.Settled != settled {
			t.Fatalf("settled = %t at %d confirmations, want %t", got.Settled, got.Outputs[0].Confirmations, settled)
		}
	}
	step(1, StatusPending, false)
	step(99, StatusPending, false) // 100
	step(4, StatusPending, false)  // 104
	step(1, StatusPaid, false)     // 105
	step(4, StatusPaid, false)     // 109
	step(1, StatusPaid, true)      // 110
	if got := e.get(p.ID); got.Outputs[0].Confirmations != 110 {
		t.Fatalf("stored confirmations %d, want 110", got.Outputs[0].Confirmations)
	}
	e.clock.Advance(25 * time.Hour)
	e.deadlines()
	e.expect(p.ID, StatusPaid, amt("1"))
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID", "payment.settled:PAID>PAID")
}

// TestUnsettledByReorg: a reorg that keeps a payment PAID but takes it
// below its settle depth says so with an event, and settling again sends
// payment.settled again.
func TestUnsettledByReorg(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // LTC settles at 2
	one := int64(1)
	p := e.create(amt("1"), func(r *CreateRequest) { r.Confirmations = &one })
	e.process(e.pay(p.Address, amt("1")))
	e.mine(1)
	e.refresh()
	tip := e.mine(1)
	e.refresh()
	if got := e.expect(p.ID, StatusPaid, amt("1")); !got.Settled {
		t.Fatal("not settled at 2 confirmations")
	}
	if err := e.node.InvalidateBlock(e.ctx, tip[0]); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	if got := e.expect(p.ID, StatusPaid, amt("1")); got.Settled {
		t.Fatal("still settled at 1 confirmation")
	}
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID", "payment.settled:PAID>PAID",
		"payment.unsettled:PAID>PAID")
	if err := e.node.ReconsiderBlock(e.ctx, tip[0]); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	if got := e.expect(p.ID, StatusPaid, amt("1")); !got.Settled {
		t.Fatal("not settled again")
	}
	e.expectTransitions(p.ID, "UNPAID>PENDING", "PENDING>PAID", "payment.settled:PAID>PAID",
		"payment.unsettled:PAID>PAID", "payment.settled:PAID>PAID")
}

func (e *env) deadlines() {
	e.t.Helper()
	if err := e.svc.CheckDeadlines(e.ctx); err != nil {
		e.t.Fatalf("deadlines: %v", err)
	}
}

// TestOlderObservationNeverOverwritesNewer: two observers that commit out
// of order. The newer fact (2 confirmations) is stored first; the older one
// (0 confirmations, asked for before it) must change nothing.
func TestOlderObservationNeverOverwritesNewer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"))
	txid := e.pay(p.Address, amt("1"))
	before := e.clock.Now().UTC()
	e.mine(2)
	e.process(txid)
	got := e.expect(p.ID, StatusPaid, amt("1"))
	o := got.Outputs[0]
	older := TxObservation{TxID: txid, Confirmations: 0, ObservedAt: before, ReceivedAt: o.ReceivedAt,
		Outputs: []ObservedOutput{{Address: p.Address, Vout: o.Vout, Amount: o.Amount}}}
	if err := e.svc.Observe(e.ctx, "LTC", []TxObservation{older}); err != nil {
		t.Fatal(err)
	}
	if got := e.expect(p.ID, StatusPaid, amt("1")); got.Outputs[0].Confirmations != 2 {
		t.Fatalf("confirmations %d after an older observation, want 2", got.Outputs[0].Confirmations)
	}
	e.expectTransitions(p.ID, "UNPAID>PAID")
}

// TestObservationsTakeTheDatabaseClock: without an injected clock, the
// service stamps observations with the database's clock.
func TestObservationsTakeTheDatabaseClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.svc.cfg
	cfg.Now = nil
	svc := NewService(e.pool, cfg)
	p := e.create(amt("1"))
	txid := e.pay(p.Address, amt("1"))
	var from, to time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT clock_timestamp()`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	if err := svc.ProcessTx(e.ctx, "LTC", txid); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(e.ctx, `SELECT clock_timestamp()`).Scan(&to); err != nil {
		t.Fatal(err)
	}
	var observed, firstSeen time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT observed_at, first_seen_at FROM payment_outputs WHERE txid = $1`, txid).
		Scan(&observed, &firstSeen); err != nil {
		t.Fatal(err)
	}
	for name, at := range map[string]time.Time{"observed_at": observed, "first_seen_at": firstSeen} {
		if at.Before(from) || at.After(to) {
			t.Errorf("%s %s outside the database clock's %s .. %s", name, at, from, to)
		}
	}
	e.expect(p.ID, StatusPending, amt("1"))
}

// TestDeadlineWaitsForTheNode: while the node does not answer, no payment
// is expired on what happens to be stored; once it answers again, the
// deadline applies.
func TestDeadlineWaitsForTheNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.create(amt("1"), func(r *CreateRequest) { r.ExpiresIn = 15 * time.Minute })
	e.clock.Advance(16 * time.Minute)
	if err := e.node.Stop(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckDeadlines(e.ctx); !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("deadlines with the node down: %v, want ErrCoinUnavailable", err)
	}
	e.expect(p.ID, StatusUnpaid, 0)
	if err := e.node.Restart(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.node.LoadWallet(e.ctx, regtest.MerchantWallet); err != nil {
		t.Fatal(err)
	}
	e.deadlines()
	e.expect(p.ID, StatusExpired, 0)
	e.expectTransitions(p.ID, "UNPAID>EXPIRED")
}

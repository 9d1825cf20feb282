package payments

import (
	"testing"
	"time"
)

func TestTermsDue(t *testing.T) {
	tests := []struct {
		name   string
		amount Amount
		bp     int64
		want   Amount
	}{
		{"no tolerance", 1000, 0, 1000},
		{"one percent", 1000, 100, 990},
		{"rounds the due amount up", 999, 100, 990}, // 999 × 0.99 = 989.01 → 990
		{"half percent of one coin", UnitsPerCoin, 50, 99_500_000},
		{"smallest unit stays due", 1, 100, 1},
		{"full tolerance", 1000, 10000, 0},
		{"max amount does not overflow", MaxAmount, 9999, MaxAmount / 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Terms{Amount: tt.amount, ToleranceBP: tt.bp}.Due()
			if got != tt.want {
				t.Errorf("Due(%d, %d bp) = %d, want %d", tt.amount, tt.bp, got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	expiry := base.Add(15 * time.Minute)
	terms := Terms{Amount: 1000, Confirmations: 2, MonitoringWindow: time.Hour}
	withExpiry := terms
	withExpiry.ExpiresAt = expiry
	zeroConf := terms
	zeroConf.Confirmations = 0
	tolerant := terms
	tolerant.ToleranceBP = 100 // due 990
	noWindow := terms
	noWindow.MonitoringWindow = 0

	out := func(amount Amount, conf int64) OutputFact {
		return OutputFact{Amount: amount, Confirmations: conf, ReceivedAt: base}
	}
	late := func(amount Amount, conf int64) OutputFact {
		return OutputFact{Amount: amount, Confirmations: conf, ReceivedAt: expiry.Add(time.Minute)}
	}
	rbf := func(amount Amount, conf int64) OutputFact {
		o := out(amount, conf)
		o.Replaceable = true
		return o
	}
	conflicted := func(amount Amount, conf int64) OutputFact {
		o := out(amount, conf)
		o.Conflicted = true
		return o
	}
	settleAt := func(t Terms, n int64) Terms { t.SettleConfirmations = n; return t }
	unpaid := State{Status: StatusUnpaid}
	pendingSince := func(t time.Time) State { return State{Status: StatusPending, PendingSince: t} }

	tests := []struct {
		name    string
		prev    State
		terms   Terms
		outputs []OutputFact
		now     time.Time
		want    Decision
	}{
		// UNPAID: R = 0
		{"nothing received", unpaid, terms, nil, base,
			Decision{Status: StatusUnpaid}},
		{"only a conflicted output", unpaid, terms, []OutputFact{out(1000, -3)}, base,
			Decision{Status: StatusUnpaid}},
		{"only a replaced output", unpaid, terms, []OutputFact{conflicted(1000, 0)}, base,
			Decision{Status: StatusUnpaid}},
		// PARTIAL: 0 < R < due
		{"underpaid", unpaid, terms, []OutputFact{out(400, 0)}, base,
			Decision{Status: StatusPartial, Received: 400}},
		{"underpaid even when confirmed", unpaid, terms, []OutputFact{out(999, 6)}, base,
			Decision{Status: StatusPartial, Received: 999, Confirmed: 999}},
		{"within tolerance is not partial", unpaid, tolerant, []OutputFact{out(990, 0)}, base,
			Decision{Status: StatusPending, Received: 990, PendingSince: base}},
		{"just below tolerance is partial", unpaid, tolerant, []OutputFact{out(989, 0)}, base,
			Decision{Status: StatusPartial, Received: 989}},
		// PENDING: R ≥ due, Rc < due
		{"exact, unconfirmed", unpaid, terms, []OutputFact{out(1000, 0)}, base,
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		{"exact, one of two confirmations", unpaid, terms, []OutputFact{out(1000, 1)}, base,
			Decision{Status: StatusPending, Received: 1000}}, // in a block: no window
		{"two transactions, one confirmed", unpaid, terms, []OutputFact{out(600, 2), out(400, 0)}, base,
			Decision{Status: StatusPending, Received: 1000, Confirmed: 600, PendingSince: base}},
		{"pending keeps its start", pendingSince(base), terms, []OutputFact{out(1000, 0)}, base.Add(30 * time.Minute),
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		// PAID: Rc ≥ due
		{"exact, confirmed", pendingSince(base), terms, []OutputFact{out(1000, 2)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"two transactions, both confirmed", unpaid, terms, []OutputFact{out(600, 3), out(400, 2)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"zero confirmations required", unpaid, zeroConf, []OutputFact{out(1000, 0)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"replace-by-fee never counts unconfirmed", unpaid, zeroConf, []OutputFact{rbf(1000, 0)}, base,
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		{"replace-by-fee counts once confirmed", pendingSince(base), zeroConf, []OutputFact{rbf(1000, 1)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"tolerance applies to confirmed too", unpaid, tolerant, []OutputFact{out(990, 2)}, base,
			Decision{Status: StatusPaid, Received: 990, Confirmed: 990, Settled: true}},
		// settled: PAID with the settle depth
		{"paid at the settle depth is settled", unpaid, settleAt(terms, 2), []OutputFact{out(1000, 2)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"paid below the settle depth", unpaid, settleAt(terms, 6), []OutputFact{out(1000, 5)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000}},
		{"settles at the depth", State{Status: StatusPaid}, settleAt(terms, 6), []OutputFact{out(400, 9), out(600, 6)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"settle depth never below N", unpaid, settleAt(terms, 1), []OutputFact{out(1000, 1)}, base,
			Decision{Status: StatusPending, Received: 1000}},
		{"settled needs the amount due at depth", State{Status: StatusPaid}, settleAt(terms, 6), []OutputFact{out(400, 9), out(600, 3)}, base,
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000}},
		{"pending is never settled", unpaid, settleAt(zeroConf, 6), []OutputFact{rbf(1000, 0)}, base,
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		// overpaid flag
		{"overpaid and paid", unpaid, terms, []OutputFact{out(1500, 2)}, base,
			Decision{Status: StatusPaid, Received: 1500, Confirmed: 1500, Overpaid: true, Settled: true}},
		{"overpaid and pending", unpaid, terms, []OutputFact{out(700, 0), out(700, 0)}, base,
			Decision{Status: StatusPending, Received: 1400, Overpaid: true, PendingSince: base}},
		// following the chain backwards
		{"reorg takes paid back to pending", State{Status: StatusPaid}, terms, []OutputFact{out(1000, 0)}, base,
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		{"double spend takes pending back to unpaid", pendingSince(base), terms, []OutputFact{out(1000, -1)}, base,
			Decision{Status: StatusUnpaid}},
		{"double spend of one of two takes pending to partial", pendingSince(base), terms, []OutputFact{out(600, -2), out(400, 1)}, base,
			Decision{Status: StatusPartial, Received: 400}},
		{"double spend takes paid back to unpaid", State{Status: StatusPaid}, terms, []OutputFact{out(1000, -4)}, base,
			Decision{Status: StatusUnpaid}},
		// EXPIRED
		{"expires unpaid", unpaid, withExpiry, nil, expiry,
			Decision{Status: StatusExpired}},
		{"not expired a moment before", unpaid, withExpiry, nil, expiry.Add(-time.Nanosecond),
			Decision{Status: StatusUnpaid}},
		{"expires partial", State{Status: StatusPartial}, withExpiry, []OutputFact{out(400, 1)}, expiry,
			Decision{Status: StatusExpired, Received: 400}},
		{"pending does not expire", pendingSince(base), withExpiry, []OutputFact{out(1000, 0)}, expiry.Add(time.Minute),
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		{"paid does not expire", State{Status: StatusPaid}, withExpiry, []OutputFact{out(1000, 2)}, expiry.Add(time.Minute),
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"expired is sticky", State{Status: StatusExpired}, withExpiry, []OutputFact{out(400, 0)}, expiry.Add(time.Hour),
			Decision{Status: StatusExpired, Received: 400}},
		{"double spent after expiry expires", pendingSince(base), withExpiry, []OutputFact{out(1000, -1)}, expiry.Add(time.Minute),
			Decision{Status: StatusExpired}},
		// expiry by arrival, whenever the output is observed
		{"paid in time, observed after the expiry", unpaid, withExpiry, []OutputFact{out(1000, 0)}, expiry.Add(30 * time.Minute),
			Decision{Status: StatusPending, Received: 1000, PendingSince: expiry.Add(30 * time.Minute)}},
		{"paid in time, observed mined after the expiry", unpaid, withExpiry, []OutputFact{out(1000, 2)}, expiry.Add(time.Hour),
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"paid after the expiry, observed before the deadline job", unpaid, withExpiry, []OutputFact{late(1000, 0)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 1000, PaidLate: true}},
		{"arrived at the expiry is late", unpaid, withExpiry, []OutputFact{{Amount: 1000, ReceivedAt: expiry}}, expiry,
			Decision{Status: StatusExpired, Received: 1000, PaidLate: true}},
		{"arrived after the expiry by the node's clock, before it by ours", unpaid, withExpiry, []OutputFact{late(1000, 0)}, base,
			Decision{Status: StatusExpired, Received: 1000, PaidLate: true}},
		{"partial in time, topped up late", State{Status: StatusPartial}, withExpiry, []OutputFact{out(400, 1), late(600, 0)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 1000, PaidLate: true}},
		{"pending on a late output expires", pendingSince(base), withExpiry, []OutputFact{late(1000, 0)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 1000, PaidLate: true}},
		{"expired, then found paid in time", State{Status: StatusExpired}, withExpiry, []OutputFact{out(1000, 0)}, expiry.Add(time.Hour),
			Decision{Status: StatusPending, Received: 1000, PendingSince: expiry.Add(time.Hour)}},
		{"late outputs alone never lift an expiry", State{Status: StatusExpired}, withExpiry, []OutputFact{late(1000, 2)}, expiry.Add(time.Hour),
			Decision{Status: StatusExpired, Received: 1000, Confirmed: 1000, PaidLate: true}},
		{"nothing due and nothing paid is not paid late", unpaid, Terms{Amount: 1000, ToleranceBP: 10000, ExpiresAt: expiry}, nil, expiry,
			Decision{Status: StatusExpired}},
		// paid_late
		{"paid late", State{Status: StatusExpired}, withExpiry, []OutputFact{late(1000, 0)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 1000, PaidLate: true}},
		{"topped up late", State{Status: StatusExpired}, withExpiry, []OutputFact{out(400, 3), late(600, 0)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 1000, Confirmed: 400, PaidLate: true}},
		{"late but still short", State{Status: StatusExpired}, withExpiry, []OutputFact{out(400, 3), late(500, 0)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 900, Confirmed: 400}},
		{"late payment double spent", State{Status: StatusExpired}, withExpiry, []OutputFact{late(1000, -1)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired}},
		{"late overpayment", State{Status: StatusExpired}, withExpiry, []OutputFact{late(2000, 1)}, expiry.Add(2 * time.Minute),
			Decision{Status: StatusExpired, Received: 2000, Overpaid: true, PaidLate: true}},
		// INVALID
		{"pending past the window", pendingSince(base), terms, []OutputFact{out(1000, 0)}, base.Add(time.Hour + time.Second),
			Decision{Status: StatusInvalid, Received: 1000}},
		{"pending at the window's end", pendingSince(base), terms, []OutputFact{out(1000, 0)}, base.Add(time.Hour),
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		{"confirmed within the window", pendingSince(base), terms, []OutputFact{out(1000, 2)}, base.Add(2 * time.Hour),
			Decision{Status: StatusPaid, Received: 1000, Confirmed: 1000, Settled: true}},
		{"no window never invalid", pendingSince(base), noWindow, []OutputFact{out(1000, 0)}, base.Add(1000 * time.Hour),
			Decision{Status: StatusPending, Received: 1000, PendingSince: base}},
		{"invalid is sticky", State{Status: StatusInvalid}, terms, []OutputFact{out(1000, 6)}, base,
			Decision{Status: StatusInvalid, Received: 1000, Confirmed: 1000}},
		{"the window stops once the amount due is in a block", pendingSince(base), terms, []OutputFact{out(1000, 1)}, base.Add(2 * time.Hour),
			Decision{Status: StatusPending, Received: 1000}},
		{"deep confirmations past the window are not invalid", State{Status: StatusPending}, settleAt(terms, 600), []OutputFact{out(1000, 1)}, base.Add(30 * time.Hour),
			Decision{Status: StatusPending, Received: 1000}},
		{"partly in blocks, the window counts", pendingSince(base), terms, []OutputFact{out(600, 1), out(400, 0)}, base.Add(time.Hour + time.Second),
			Decision{Status: StatusInvalid, Received: 1000}},
		{"out of the blocks again, a new window", State{Status: StatusPending}, terms, []OutputFact{out(1000, 0)}, base.Add(5 * time.Hour),
			Decision{Status: StatusPending, Received: 1000, PendingSince: base.Add(5 * time.Hour)}},
		{"reorged back to pending restarts the window", State{Status: StatusPaid}, terms, []OutputFact{out(1000, 0)}, base.Add(10 * time.Hour),
			Decision{Status: StatusPending, Received: 1000, PendingSince: base.Add(10 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.prev, tt.terms, tt.outputs, tt.now)
			if got != tt.want {
				t.Errorf("Decide() = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}

// TestDecideTransitions checks that every move between statuses the design
// allows happens, and that the sticky statuses never move.
func TestDecideTransitions(t *testing.T) {
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	terms := Terms{Amount: 1000, Confirmations: 1, ExpiresAt: base.Add(time.Hour), MonitoringWindow: 2 * time.Hour}
	// Chain states that produce each non-sticky status before expiry.
	chain := map[Status][]OutputFact{
		StatusUnpaid:  nil,
		StatusPartial: {{Amount: 500, ReceivedAt: base}},
		StatusPending: {{Amount: 1000, ReceivedAt: base}},
		StatusPaid:    {{Amount: 1000, Confirmations: 1, ReceivedAt: base}},
	}
	for from := range chain {
		for to, outputs := range chain {
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				prev := State{Status: from}
				if from == StatusPending {
					prev.PendingSince = base
				}
				if got := Decide(prev, terms, outputs, base).Status; got != to {
					t.Errorf("got %s, want %s", got, to)
				}
			})
		}
	}
	// EXPIRED is sticky against outputs that arrived after the expiry.
	late := func(outputs []OutputFact) []OutputFact {
		out := make([]OutputFact, len(outputs))
		for i, o := range outputs {
			o.ReceivedAt = terms.ExpiresAt.Add(time.Second)
			out[i] = o
		}
		return out
	}
	for _, sticky := range []Status{StatusExpired, StatusInvalid} {
		for to, outputs := range chain {
			t.Run(string(sticky)+" stays with "+string(to)+" facts", func(t *testing.T) {
				if got := Decide(State{Status: sticky}, terms, late(outputs), base.Add(2*time.Hour)).Status; got != sticky {
					t.Errorf("got %s, want %s", got, sticky)
				}
			})
		}
	}
	if got := Decide(State{Status: StatusPartial}, terms, chain[StatusPartial], base.Add(time.Hour)).Status; got != StatusExpired {
		t.Errorf("PARTIAL at expiry: got %s, want EXPIRED", got)
	}
	if got := Decide(State{Status: StatusPending, PendingSince: base}, terms, chain[StatusPending], base.Add(3*time.Hour)).Status; got != StatusInvalid {
		t.Errorf("PENDING past the window: got %s, want INVALID", got)
	}
}

func TestDecideSaturates(t *testing.T) {
	huge := []OutputFact{{Amount: 1 << 62}, {Amount: 1 << 62}, {Amount: 1 << 62}}
	d := Decide(State{Status: StatusUnpaid}, Terms{Amount: MaxAmount, Confirmations: 1}, huge, time.Now())
	if d.Received <= 0 || d.Status != StatusPending || !d.Overpaid {
		t.Errorf("sum of huge outputs wrapped around: %+v", d)
	}
}

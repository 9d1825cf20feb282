package payments

import "time"

// Terms are what a payment asks for, fixed when it is created.
type Terms struct {
	// Amount is A, the amount asked for.
	Amount Amount
	// ToleranceBP is t in basis points (hundredths of a percent): a payment
	// counts as fully paid once it has received A × (1 − t/10000).
	ToleranceBP int64
	// Confirmations is N, the confirmations an output needs to count as
	// confirmed.
	Confirmations int64
	// SettleConfirmations is the coin's full depth: a PAID payment is
	// settled once outputs with this many confirmations (at least N) cover
	// the amount due.
	SettleConfirmations int64
	// ExpiresAt is E; the zero time means the payment never expires.
	ExpiresAt time.Time
	// MonitoringWindow is W, how long a payment may stay PENDING before it
	// becomes INVALID; zero means it may stay PENDING forever.
	MonitoringWindow time.Duration
}

// Due returns A × (1 − t/10000) rounded up to a whole base unit, so a
// tolerance never lets a payment through for less than the percentage says.
func (t Terms) Due() Amount {
	a, bp := int64(t.Amount), t.ToleranceBP
	if bp <= 0 {
		return t.Amount
	}
	if bp >= 10000 {
		return 0
	}
	// floor(a*bp/10000) without overflowing: a = q*10000 + r.
	q, r := a/10000, a%10000
	return Amount(a - (q*bp + r*bp/10000))
}

// OutputFact is what the chain says about one output paying the payment's
// address.
type OutputFact struct {
	Amount Amount
	// Confirmations as the node reports them: negative means the transaction
	// conflicts with one in the active chain.
	Confirmations int64
	// Conflicted is set when the output can no longer confirm although its
	// confirmation count is not negative: listed under listsinceblock's
	// removed, or a zero-confirmation transaction replaced or dropped from
	// the mempool.
	Conflicted bool
	// Replaceable is set when the transaction signals replace-by-fee
	// (BIP 125). Such an output needs a confirmation to count as confirmed
	// even when the payment requires none.
	Replaceable bool
	// ReceivedAt is when the node says the transaction reached its wallet
	// (gettransaction's time; about the block's time for one first seen
	// mined). Expiry is decided on it.
	ReceivedAt time.Time
}

// Mined reports whether the output is counted and in a block.
func (o OutputFact) Mined() bool { return o.Counted() && o.Confirmations >= 1 }

// Counted reports whether the output counts toward the amount received.
func (o OutputFact) Counted() bool { return !o.Conflicted && o.Confirmations >= 0 }

// Confirmed reports whether the output counts as confirmed under a payment
// that requires n confirmations.
func (o OutputFact) Confirmed(n int64) bool {
	if o.Replaceable && n < 1 {
		n = 1
	}
	return o.Counted() && o.Confirmations >= n
}

// State is what Decide needs to know about a payment's past.
type State struct {
	Status Status
	// PendingSince is when the payment's monitoring window started: when it
	// last became PENDING with the amount due not yet in blocks. Zero when it
	// is not PENDING, or when its outputs in blocks cover the amount due.
	PendingSince time.Time
}

// Decision is the outcome of Decide.
type Decision struct {
	Status Status
	// Received is R, the sum of counted outputs.
	Received Amount
	// Confirmed is Rc, the sum of counted outputs with enough confirmations.
	Confirmed Amount
	// Overpaid is set when R > A.
	Overpaid bool
	// PaidLate is set on an EXPIRED payment when outputs that arrived after
	// the expiry brought R to the amount due.
	PaidLate bool
	// Settled is set on a PAID payment whose outputs with the settle depth
	// cover the amount due.
	Settled bool
	// PendingSince is when the monitoring window started, carried over from
	// the previous state while the payment stays PENDING and unmined; zero
	// otherwise.
	PendingSince time.Time
}

// Decide computes a payment's status from its previous state, its terms, every
// output paying its address and the current time. It is the only place that
// decides a status:
//
//	UNPAID   R = 0
//	PARTIAL  0 < R < due
//	PENDING  R ≥ due and Rc < due
//	PAID     Rc ≥ due
//	EXPIRED  E passed and the outputs that arrived before E sum to less
//	         than due; sticky against everything but such outputs
//	INVALID  PENDING, the amount due not in blocks, for longer than W;
//	         sticky
//
// where due = A × (1 − t), R sums the outputs that are not conflicted and Rc
// those of them with at least N confirmations (at least one when the
// transaction signals replace-by-fee). An output arrived before E when the
// node's arrival time (ReceivedAt) is before E, whenever Transient observed
// it: a payment made in time and observed late is not EXPIRED, one made
// after E and observed before the deadline job is. E has passed once now
// reaches it or an output arrived at or after it. An EXPIRED payment whose
// late outputs bring R to due is PaidLate.
//
// The monitoring window counts only while the payment is PENDING and its
// outputs in blocks (one confirmation or more) do not cover the amount due:
// a payment that is confirming, however deep it must go, does not become
// INVALID, and a reorg that takes it out of the blocks starts a new window.
//
// A PAID payment is also Settled once the outputs with the settle depth cover
// the amount due. Apart from the two sticky statuses, the status follows the
// chain both ways: a reorg takes PAID back to PENDING and a double spend
// takes PENDING back to PARTIAL or UNPAID.
func Decide(prev State, terms Terms, outputs []OutputFact, now time.Time) Decision {
	var (
		d                      Decision
		settled, inTime, mined Amount
		arrivedLate            bool
	)
	expires := !terms.ExpiresAt.IsZero()
	settleDepth := max(terms.SettleConfirmations, terms.Confirmations)
	for _, o := range outputs {
		if !o.Counted() {
			continue
		}
		d.Received = addCapped(d.Received, o.Amount)
		if o.Confirmed(terms.Confirmations) {
			d.Confirmed = addCapped(d.Confirmed, o.Amount)
		}
		if o.Confirmed(settleDepth) {
			settled = addCapped(settled, o.Amount)
		}
		if o.Mined() {
			mined = addCapped(mined, o.Amount)
		}
		if expires && !o.ReceivedAt.Before(terms.ExpiresAt) {
			arrivedLate = true
		} else {
			inTime = addCapped(inTime, o.Amount)
		}
	}
	d.Overpaid = d.Received > terms.Amount
	due := terms.Due()

	if prev.Status == StatusInvalid {
		d.Status = StatusInvalid
		return d
	}
	expired := expires && (!now.Before(terms.ExpiresAt) || arrivedLate)
	if (expired || prev.Status == StatusExpired) && (inTime < due || inTime == 0) {
		d.Status = StatusExpired
		d.PaidLate = d.Received > 0 && d.Received >= due
		return d
	}

	switch {
	case d.Received == 0:
		d.Status = StatusUnpaid
	case d.Received < due:
		d.Status = StatusPartial
	case d.Confirmed < due:
		d.Status = StatusPending
	default:
		d.Status = StatusPaid
	}

	switch d.Status {
	case StatusPaid:
		d.Settled = settled >= due
	case StatusPending:
		if mined >= due {
			break // in blocks: the window does not count
		}
		d.PendingSince = now
		if prev.Status == StatusPending && !prev.PendingSince.IsZero() {
			d.PendingSince = prev.PendingSince
		}
		if terms.MonitoringWindow > 0 && now.Sub(d.PendingSince) > terms.MonitoringWindow {
			d.Status = StatusInvalid
			d.PendingSince = time.Time{}
		}
	}
	return d
}

// addCapped adds without wrapping around: the sum of outputs paying one
// address is not bounded by MaxAmount, so saturate instead of overflowing.
func addCapped(a, b Amount) Amount {
	const maxAmount = Amount(1<<63 - 1)
	if b > 0 && a > maxAmount-b {
		return maxAmount
	}
	return a + b
}

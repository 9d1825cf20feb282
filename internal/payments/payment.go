package payments

import (
	"encoding/json"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Payment is one request for money: an amount of one coin to one fresh
// address, with what the chain has paid to it so far.
// APITransient is Payment.API for the payments made through Transient's
// own API (HTTP, AMQP, command line).
const APITransient = "transient"

type Payment struct {
	ID      uuid.UUID
	Coin    string // coin code, e.g. "DOGE"
	Amount  Amount
	Address string
	// Label is the label (account on Dogecoin Core) the address was created
	// with in the node's wallet; Transient's API calls it account.
	Label  string
	Status Status
	// API names the API that made the payment: APITransient for
	// Transient's own (HTTP, AMQP, command line), or an adapter that keeps
	// its own record of the payment ("bitpay", "greenfield";
	// CreateRequest.API). "" means not recorded: the payment was stored
	// before the column existed, or by an older binary. It never changes,
	// so an adapter's event hook skips a payment made by another API
	// without looking for its row.
	API string
	// Received is the amount counted toward the payment (R); Confirmed the
	// part of it with enough confirmations (Rc).
	Received  Amount
	Confirmed Amount
	Overpaid  bool
	PaidLate  bool
	// Settled is set on a PAID payment whose outputs reached the settle
	// depth (SettleConfirmations).
	Settled bool
	// Confirmations is the number of confirmations required.
	Confirmations int64
	// SettleConfirmations is the depth at which a PAID payment is settled:
	// the coin's default confirmations, or more when the payment asks more.
	SettleConfirmations int64
	// ToleranceBP is the underpayment tolerance in basis points, fixed at
	// creation.
	ToleranceBP int64
	// ExpiresAt is zero when the payment never expires.
	ExpiresAt    time.Time
	PendingSince time.Time
	// MonitoringWindow is the payment's own monitoring window, fixed at
	// creation; zero means the server's (Config.MonitoringWindow).
	MonitoringWindow time.Duration
	OrderID          string
	// Metadata is the shop's JSON object, stored and returned unchanged.
	Metadata json.RawMessage
	// CallbackURL receives this payment's events besides the global webhook.
	CallbackURL string
	// RedirectURL is where the checkout page sends the buyer once paid.
	RedirectURL string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Outputs are the outputs paying the address, oldest first.
	Outputs []Output
	// URI is the BIP21 payment URI, set by the Service.
	URI string
}

// MaybeMadeBy reports whether api may have made p: it did, or p's API was
// not recorded (Payment.API ""). An adapter's event hook looks for its own
// row only for such a payment.
func (p *Payment) MaybeMadeBy(api string) bool { return p.API == "" || p.API == api }

// Window returns the monitoring window that applies to the payment: its
// own when it has one, the server's (global) otherwise.
func (p *Payment) Window(global time.Duration) time.Duration {
	if p.MonitoringWindow > 0 {
		return p.MonitoringWindow
	}
	return global
}

// Terms returns the payment's terms for Decide, with the payment's own
// monitoring window or, when it has none, the server's (window).
func (p *Payment) Terms(window time.Duration) Terms {
	return Terms{
		Amount:              p.Amount,
		ToleranceBP:         p.ToleranceBP,
		Confirmations:       p.Confirmations,
		SettleConfirmations: p.SettleConfirmations,
		ExpiresAt:           p.ExpiresAt,
		MonitoringWindow:    p.Window(window),
	}
}

// OutputState says how an output counts toward its payment.
type OutputState string

// The states of an output.
const (
	OutputSeen       OutputState = "seen"       // counted, fewer confirmations than required
	OutputConfirmed  OutputState = "confirmed"  // counted with the required confirmations
	OutputConflicted OutputState = "conflicted" // double spent, replaced or dropped: counts for nothing
)

// Output is one transaction output paying a payment's address, keyed by
// (coin, txid, vout).
type Output struct {
	TxID          string
	Vout          uint32
	Amount        Amount
	Confirmations int64
	Conflicted    bool
	Replaceable   bool
	BlockHash     string
	BlockHeight   int64
	// FirstSeenAt is when Transient first stored the output.
	FirstSeenAt time.Time
	// ReceivedAt is when the node says the transaction reached its wallet:
	// what expiry is decided on.
	ReceivedAt time.Time
	UpdatedAt  time.Time
}

// Fact returns what Decide needs to know about the output.
func (o Output) Fact() OutputFact {
	return OutputFact{
		Amount:        o.Amount,
		Confirmations: o.Confirmations,
		Conflicted:    o.Conflicted,
		Replaceable:   o.Replaceable,
		ReceivedAt:    o.ReceivedAt,
	}
}

// State returns how the output counts under a payment requiring n
// confirmations.
func (o Output) State(n int64) OutputState {
	f := o.Fact()
	switch {
	case !f.Counted():
		return OutputConflicted
	case f.Confirmed(n):
		return OutputConfirmed
	default:
		return OutputSeen
	}
}

// BIP21 returns the payment URI for address and amount under scheme, for
// example dogecoin:D8ab…?amount=10.5.
func BIP21(scheme, address string, amount Amount) string {
	u := url.URL{Scheme: scheme, Opaque: address}
	if amount > 0 {
		u.RawQuery = "amount=" + amount.String()
	}
	return u.String()
}

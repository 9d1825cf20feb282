package payments

// Status is where a payment stands. Its values are part of the HTTP API and
// of the webhook body, and the payments table's CHECK constraint lists the
// same values.
type Status string

// The statuses of a payment; see Decide for when each applies.
const (
	StatusUnpaid  Status = "UNPAID"  // nothing received
	StatusPartial Status = "PARTIAL" // something received, less than due
	StatusPending Status = "PENDING" // enough received, not yet confirmed enough
	StatusPaid    Status = "PAID"    // enough received with the required confirmations
	StatusExpired Status = "EXPIRED" // expiry passed while unpaid or partial; sticky
	StatusInvalid Status = "INVALID" // pending for longer than the monitoring window; sticky
)

// Statuses lists every status in the order a payment normally moves through
// them.
var Statuses = []Status{StatusUnpaid, StatusPartial, StatusPending, StatusPaid, StatusExpired, StatusInvalid}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Sticky reports whether s never changes again, whatever the chain does.
func (s Status) Sticky() bool { return s == StatusExpired || s == StatusInvalid }

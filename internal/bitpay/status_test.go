package bitpay

import (
	"fmt"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/payments"
)

func TestInvoiceStatus(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	out := func(amount payments.Amount, confs int64) payments.Output {
		return payments.Output{Amount: amount, Confirmations: confs, FirstSeenAt: t0}
	}
	tests := []struct {
		name      string
		p         payments.Payment
		complete  int64
		status    string
		exception any
	}{
		{"unpaid", payments.Payment{Status: payments.StatusUnpaid, Amount: 100}, 2, StatusNew, false},
		{"partial", payments.Payment{Status: payments.StatusPartial, Amount: 100, Received: 40}, 2, StatusNew, "paidPartial"},
		{"pending", payments.Payment{Status: payments.StatusPending, Amount: 100, Received: 100}, 2, StatusPaid, false},
		{"paid, 1 of 2", payments.Payment{Status: payments.StatusPaid, Amount: 100, Received: 100,
			Outputs: []payments.Output{out(100, 1)}}, 2, StatusConfirmed, false},
		{"paid and settled", payments.Payment{Status: payments.StatusPaid, Amount: 100, Received: 100, Settled: true,
			Outputs: []payments.Output{out(100, 2)}}, 2, StatusComplete, false},
		{"paid within tolerance, settled", payments.Payment{Status: payments.StatusPaid, Amount: 100, Received: 99, ToleranceBP: 100,
			Settled: true, Outputs: []payments.Output{out(99, 3)}}, 2, StatusComplete, false},
		{"overpaid", payments.Payment{Status: payments.StatusPaid, Amount: 100, Received: 150, Overpaid: true, Settled: true,
			Outputs: []payments.Output{out(150, 0)}}, 0, StatusComplete, "paidOver"},
		{"expired unpaid", payments.Payment{Status: payments.StatusExpired, Amount: 100}, 2, StatusExpired, false},
		{"expired partial", payments.Payment{Status: payments.StatusExpired, Amount: 100, Received: 1}, 2, StatusExpired, "paidPartial"},
		{"expired, paid late", payments.Payment{Status: payments.StatusExpired, Amount: 100, Received: 100, PaidLate: true}, 2, StatusExpired, "paidLater"},
		{"invalid", payments.Payment{Status: payments.StatusInvalid, Amount: 100, Received: 100}, 2, StatusInvalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := invoiceStatus(&tt.p); got != tt.status {
				t.Errorf("status = %s, want %s", got, tt.status)
			}
			if got := exceptionStatus(&tt.p); got != tt.exception {
				t.Errorf("exceptionStatus = %v, want %v", got, tt.exception)
			}
		})
	}
}

func TestSpeedConfirmations(t *testing.T) {
	tests := []struct {
		speed          string
		complete, want int64
	}{
		{SpeedHigh, 6, 0}, {SpeedMedium, 6, 1}, {SpeedLow, 6, 6},
		{SpeedMedium, 0, 0}, {SpeedLow, 2, 2},
	}
	for _, tt := range tests {
		if got := speedConfirmations(tt.speed, tt.complete); got != tt.want {
			t.Errorf("speedConfirmations(%s, %d) = %d, want %d", tt.speed, tt.complete, got, tt.want)
		}
	}
}

func TestIPNEvents(t *testing.T) {
	const (
		U = payments.StatusUnpaid
		R = payments.StatusPartial
		N = payments.StatusPending
		P = payments.StatusPaid
		E = payments.StatusExpired
		I = payments.StatusInvalid
	)
	changed := func(prev, cur payments.Status) *payments.Event {
		return &payments.Event{Type: payments.EventStatusChanged, PreviousStatus: prev, Status: cur}
	}
	created := &payments.Event{Type: payments.EventCreated, PreviousStatus: "", Status: U}
	late := &payments.Event{Type: payments.EventPaidLate, PreviousStatus: E, Status: E}
	settled := &payments.Event{Type: payments.EventSettled, PreviousStatus: P, Status: P}
	unsettled := &payments.Event{Type: payments.EventUnsettled, PreviousStatus: P, Status: P}
	tests := []struct {
		name     string
		ev       *payments.Event
		received payments.Amount
		complete bool
		extended string
		full     bool // plain IPN with fullNotifications
		plain    bool // plain IPN without
	}{
		{"created", created, 0, false, "[1001]", false, false},
		{"first partial payment", changed(U, R), 1, false, "[1002]", false, false},
		{"paid in one go", changed(U, N), 1, false, "[1002 1003]", true, false},
		{"rest of a partial", changed(R, N), 1, false, "[1002 1003]", true, false},
		{"confirmed", changed(N, P), 1, false, "[1005]", true, true},
		{"confirmed and complete at once", changed(N, P), 1, true, "[1005 1006]", true, true},
		{"0-conf speed", changed(U, P), 1, false, "[1002 1003 1005]", true, true},
		{"expired unpaid", changed(U, E), 0, false, "[1004]", true, false},
		{"expired partial", changed(R, E), 1, false, "[1004 2000]", true, false},
		{"invalid", changed(N, I), 1, false, "[1013]", true, false},
		{"paid late", late, 1, false, "[1009]", true, false},
		{"complete after confirmed", settled, 1, true, "[1006]", true, false},
		{"reorg from complete back to confirmed", unsettled, 1, false, "[]", true, false},
		{"reorg back to pending", changed(P, N), 1, false, "[1003]", true, true},
		{"0-conf payment taken back", changed(P, U), 0, false, "[]", true, true},
		{"double spend back to unpaid", changed(N, U), 0, false, "[]", true, false},
		{"double spend, still partial", changed(R, U), 0, false, "[]", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var codes []int
			for _, e := range ipnEvents(tt.ev, &payments.Payment{Received: tt.received, Settled: tt.complete}) {
				codes = append(codes, e.Code)
			}
			if got := fmt.Sprint(codes); got != tt.extended && !(got == "[]" && tt.extended == "[]") {
				t.Errorf("extended events = %s, want %s", got, tt.extended)
			}
			if got := sendPlain(tt.ev, true); got != tt.full {
				t.Errorf("plain IPN with fullNotifications = %t, want %t", got, tt.full)
			}
			if got := sendPlain(tt.ev, false); got != tt.plain {
				t.Errorf("plain IPN without = %t, want %t", got, tt.plain)
			}
		})
	}
}

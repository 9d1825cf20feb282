package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// fakeSource is an in-memory Source: payments and their events, changed by
// the test.
type fakeSource struct {
	mu       sync.Mutex
	payments map[uuid.UUID]*payments.Payment
	events   map[uuid.UUID][]payments.Event
	err      error // returned by every call when set
	gets     int
}

func newFakeSource() *fakeSource {
	return &fakeSource{payments: map[uuid.UUID]*payments.Payment{}, events: map[uuid.UUID][]payments.Event{}}
}

func (f *fakeSource) Get(_ context.Context, id uuid.UUID) (*payments.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.err != nil {
		return nil, f.err
	}
	p, ok := f.payments[id]
	if !ok {
		return nil, fmt.Errorf("fake: get %s: %w", id, payments.ErrNotFound)
	}
	c := *p
	c.Outputs = append([]payments.Output(nil), p.Outputs...)
	return &c, nil
}

func (f *fakeSource) EventsSince(_ context.Context, id uuid.UUID, after int64) ([]payments.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []payments.Event
	for _, ev := range f.events[id] {
		if ev.Sequence > after {
			out = append(out, ev)
		}
	}
	return out, nil
}

// add stores a new UNPAID payment of 1.25 LTC and returns it.
func (f *fakeSource) add() *payments.Payment {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := testPayment(payments.StatusUnpaid)
	p.ID = uuid.New()
	f.payments[p.ID] = p
	return p
}

// change applies mod to the stored payment and, when the status changed,
// records an event with the webhook body the real service writes. It
// returns the event's sequence (the last one when the status did not
// change).
func (f *fakeSource) change(t *testing.T, id uuid.UUID, mod func(p *payments.Payment)) int64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.payments[id]
	prev := p.Status
	mod(p)
	seq := int64(len(f.events[id]))
	if p.Status == prev {
		return seq
	}
	seq++
	body, err := json.Marshal(payments.EventJSON{PaymentID: id.String(), Status: p.Status, PreviousStatus: prev,
		Sequence: seq, Type: payments.EventStatusChanged, Payment: p.JSON()})
	if err != nil {
		t.Fatal(err)
	}
	f.events[id] = append(f.events[id], payments.Event{ID: uuid.New(), PaymentID: id, Sequence: seq,
		Status: p.Status, PreviousStatus: prev, Payload: body})
	return seq
}

// testNow is the fixed time of the page tests.
var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// testPayment returns a payment of 1.25 LTC in status st at testNow, with
// the outputs and amounts that status implies (2 confirmations required).
func testPayment(st payments.Status) *payments.Payment {
	p := &payments.Payment{
		ID:            uuid.MustParse("7d444840-9dc0-11d1-b245-5ffdce74fad2"),
		Coin:          "LTC",
		Amount:        125_000_000,
		Address:       "rltc1qg82j9zwrljxvzk3lnmj0lkzvxcqn6rdswn2v0m",
		Status:        st,
		Confirmations: 2,
		ExpiresAt:     testNow.Add(14*time.Minute + 59*time.Second),
		CreatedAt:     testNow.Add(-time.Minute),
		UpdatedAt:     testNow.Add(-time.Minute),
		URI:           "litecoin:rltc1qg82j9zwrljxvzk3lnmj0lkzvxcqn6rdswn2v0m?amount=1.25",
	}
	out := func(amount payments.Amount, confs int64) payments.Output {
		return payments.Output{TxID: "5b1e3a0c9f3d7e2a4c6b8d0f1e3a5c7b9d1f3e5a7c9b1d3f5e7a9c1b3d5f7e9a", Amount: amount,
			Confirmations: confs, FirstSeenAt: testNow.Add(-30 * time.Second), UpdatedAt: testNow}
	}
	switch st {
	case payments.StatusPartial:
		p.Outputs = []payments.Output{out(50_000_000, 0)}
	case payments.StatusPending:
		p.Outputs = []payments.Output{out(125_000_000, 1)}
	case payments.StatusPaid:
		p.Outputs = []payments.Output{out(125_000_000, 2)}
	case payments.StatusExpired:
		p.ExpiresAt = testNow.Add(-time.Minute)
	case payments.StatusInvalid:
		p.Outputs = []payments.Output{out(125_000_000, 0)}
	}
	for _, o := range p.Outputs {
		p.Received += o.Amount
		if o.Confirmations >= p.Confirmations {
			p.Confirmed += o.Amount
		}
	}
	return p
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestInsertCreatedBatch: the inserts of payments whose address the node
// gave, queued while one is in flight, are stored by one statement, each
// as a statement alone stores it; a batch holding an address some payment
// already has stores nothing, and each of its payments is then stored
// alone, so that only that one fails, with ErrAddressReused.
func TestInsertCreatedBatch(t *testing.T) {
	e := newEnv(t)
	s := poolOffService(e, sameAddress{}, 5*time.Second)
	b := s.inserts["LTC"]
	if !s.quietCreated() || b == nil {
		t.Fatal("the test service does not store a payment from the node in one statement")
	}
	var (
		mu      sync.Mutex
		batches []string
	)
	store := b.store
	b.store = func(ctx context.Context, pool *pgxpool.Pool, calls []*insertCall) error {
		err := store(ctx, pool, calls)
		mu.Lock()
		batches = append(batches, fmt.Sprintf("%d:%v", len(calls), err != nil))
		mu.Unlock()
		return err
	}
	taken := newPoolPayment(t, s)
	taken.Address = "ltctaken"
	if err := s.insertCreated(t.Context(), taken); err != nil {
		t.Fatal(err)
	}

	for round, addrs := range [][]string{
		{"ltcone1", "ltcone2", "ltcone3", "ltcone4"},
		{"ltctwo1", "ltctaken", "ltctwo3"},
	} {
		release := holdSlots(&b.coalescer)
		ps := make([]*Payment, len(addrs))
		errs := make([]chan error, len(addrs))
		for i, a := range addrs {
			ps[i] = newPoolPayment(t, s)
			ps[i].Address = a
			errs[i] = make(chan error, 1)
			go func() { errs[i] <- s.insertCreated(t.Context(), ps[i]) }()
			waitQueued(t, &b.coalescer, i+1)
		}
		release()
		for i, a := range addrs {
			err := <-errs[i]
			if a == "ltctaken" {
				if !errors.Is(err, ErrAddressReused) {
					t.Errorf("round %d: payment with a taken address: %v, want ErrAddressReused", round, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("round %d: payment %d: %v", round, i, err)
			}
			expectStored(t, s, ps[i])
		}
		waitCoalescer(t, &b.coalescer, 0, 0)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"4:false", "3:true"}; fmt.Sprint(batches) != fmt.Sprint(want) {
		t.Fatalf("batches (size:failed) %v, want %v", batches, want)
	}
	var n int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM payments WHERE address = 'ltctaken'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d payments with the taken address (%v), want 1", n, err)
	}
}

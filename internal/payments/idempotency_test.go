package payments

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/coind"
)

func (e *env) countPayments() int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestCreateOnceReturnsTheFirstPayment(t *testing.T) {
	e := newEnv(t)
	key := IdempotencyKey{Scope: ScopeHTTP, Key: "order-42-" + uuid.NewString()}
	req := CreateRequest{Coin: "LTC", Amount: amt("1.5"), Metadata: json.RawMessage(`{"a": 1, "b": [2]}`)}

	first, created, err := e.svc.CreateOnce(e.ctx, key, req)
	if err != nil || !created {
		t.Fatalf("first create: created %v, %v", created, err)
	}
	// The same request, its metadata spaced differently and the coin in
	// lower case, is the same request.
	again := req
	again.Coin, again.Metadata = "ltc", json.RawMessage(`{"a":1,"b":[2]}`)
	second, created, err := e.svc.CreateOnce(e.ctx, key, again)
	if err != nil || created {
		t.Fatalf("second create: created %v, %v; want the first payment", created, err)
	}
	if second.ID != first.ID || second.Address != first.Address {
		t.Fatalf("second create returned %s (%s), want %s (%s)", second.ID, second.Address, first.ID, first.Address)
	}
	if n := e.countPayments(); n != 1 {
		t.Fatalf("%d payments stored, want 1", n)
	}

	// Another request under the same key is refused; nothing is made.
	other := req
	other.Amount = amt("2")
	if _, _, err := e.svc.CreateOnce(e.ctx, key, other); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("other request with the key: %v, want ErrIdempotencyMismatch", err)
	}
	// The same key in another scope is another key.
	amqp, created, err := e.svc.CreateOnce(e.ctx, IdempotencyKey{Scope: ScopeAMQP, Key: key.Key}, req)
	if err != nil || !created || amqp.ID == first.ID {
		t.Fatalf("same key, other scope: %v created %v, %v; want a new payment", amqp, created, err)
	}
	// After the window the key names nothing any more.
	e.clock.Advance(IdempotencyWindow + time.Minute)
	later, created, err := e.svc.CreateOnce(e.ctx, key, other)
	if err != nil || !created || later.ID == first.ID {
		t.Fatalf("after the window: created %v, %v; want a new payment", created, err)
	}
	if n := e.countPayments(); n != 3 {
		t.Fatalf("%d payments stored, want 3", n)
	}
}

// TestCreateOnceConcurrent sends the same keyed request from many
// goroutines at once: one payment is made and every caller gets it.
func TestCreateOnceConcurrent(t *testing.T) {
	e := newEnv(t)
	key := IdempotencyKey{Scope: ScopeHTTP, Key: "race-" + uuid.NewString()}
	req := CreateRequest{Coin: "LTC", Amount: amt("0.25")}
	const n = 8
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		ids     [n]uuid.UUID
		made    [n]bool
		errs    [n]error
		created int
	)
	for i := range n {
		wg.Go(func() {
			<-start
			p, c, err := e.svc.CreateOnce(e.ctx, key, req)
			if err == nil {
				ids[i], made[i] = p.ID, c
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("caller %d got payment %s, caller 0 got %s", i, ids[i], ids[0])
		}
		if made[i] {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d callers were told they created the payment, want 1", created)
	}
	if c := e.countPayments(); c != 1 {
		t.Fatalf("%d payments stored, want 1", c)
	}
}

// TestCreateOnceAfterTheHolderDied leaves a key claimed by a request whose
// process died before it made the payment (the claim stays, nothing else):
// the retry waits while the claim may still be live, and takes the key
// over once the node timeout and 3 s have passed, not later.
func TestCreateOnceAfterTheHolderDied(t *testing.T) {
	e := newEnv(t)
	key := IdempotencyKey{Scope: ScopeHTTP, Key: "died-" + uuid.NewString()}
	req := CreateRequest{Coin: "LTC", Amount: amt("0.5")}
	if existing, err := e.svc.claimKey(e.ctx, key, req.fingerprint(), uuid.New()); err != nil || existing != nil {
		t.Fatalf("claim: %v, %v", existing, err)
	}
	// Within the claim the retry waits for the holder.
	wait, cancel := context.WithTimeout(e.ctx, 200*time.Millisecond)
	defer cancel()
	if _, _, err := e.svc.CreateOnce(wait, key, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("retry while the claim is live: %v, want it to wait until its deadline", err)
	}
	// The claim of a dead holder ends RPC_TIMEOUT + 3 s after it was made
	// (README, openapi.yaml).
	e.clock.Advance(e.svc.cfg.NodeTimeout + 3*time.Second + time.Millisecond)
	soon, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	p, created, err := e.svc.CreateOnce(soon, key, req)
	if err != nil || !created || p == nil {
		t.Fatalf("retry after the claim ended: created %v, %v", created, err)
	}
	if n := e.countPayments(); n != 1 {
		t.Fatalf("%d payments stored, want 1", n)
	}
}

// TestCreateOnceClaimLost makes a creation outlive its claim: a retry with
// the key takes the key over and makes the payment while the first is
// still storing its own. The first stores nothing and says so with
// ErrIdempotencyClaimLost; one payment exists, the retry's.
func TestCreateOnceClaimLost(t *testing.T) {
	e := newEnv(t)
	key := IdempotencyKey{Scope: ScopeHTTP, Key: "slow-" + uuid.NewString()}
	var retry *Payment
	slow := CreateRequest{Coin: "LTC", Amount: amt("0.75"), Attach: func(ctx context.Context, tx pgx.Tx, p *Payment) error {
		e.clock.Advance(e.svc.cfg.NodeTimeout + 3*time.Second + time.Millisecond)
		var (
			created bool
			err     error
		)
		retry, created, err = e.svc.CreateOnce(ctx, key, CreateRequest{Coin: "LTC", Amount: amt("0.75")})
		if err != nil || !created {
			t.Errorf("retry after the claim ended: created %v, %v", created, err)
		}
		return nil
	}}
	if _, _, err := e.svc.CreateOnce(e.ctx, key, slow); !errors.Is(err, ErrIdempotencyClaimLost) {
		t.Fatalf("creation that outlived its claim: %v, want ErrIdempotencyClaimLost", err)
	}
	if retry == nil {
		t.Fatal("the retry made no payment")
	}
	if n := e.countPayments(); n != 1 {
		t.Fatalf("%d payments stored, want 1 (the retry's)", n)
	}
	again, created, err := e.svc.CreateOnce(e.ctx, key, CreateRequest{Coin: "LTC", Amount: amt("0.75")})
	if err != nil || created || again.ID != retry.ID {
		t.Fatalf("the key after both: %v created %v, %v; want the retry's payment %s", again, created, err, retry.ID)
	}
}

// TestCreateOnceFailureFreesTheKey checks that a creation that fails (here
// the node does not answer) leaves the key free for the retry.
func TestCreateOnceFailureFreesTheKey(t *testing.T) {
	e := newEnv(t)
	dead, err := coind.New(coind.Config{URL: "http://u:p@127.0.0.1:1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	down := NewService(e.pool, Config{Coins: []Coin{{Code: "LTC", Node: dead, Confirmations: 2}}, NodeTimeout: time.Second})
	key := IdempotencyKey{Scope: ScopeAMQP, Key: "retry-" + uuid.NewString()}
	req := CreateRequest{Coin: "LTC", Amount: amt("1")}
	if _, _, err := down.CreateOnce(e.ctx, key, req); !errors.Is(err, ErrCoinUnavailable) {
		t.Fatalf("create with the node down: %v, want ErrCoinUnavailable", err)
	}
	var rows int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM payment_idempotency_keys`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d idempotency keys left after a failed create (%v), want 0", rows, err)
	}
	p, created, err := e.svc.CreateOnce(e.ctx, key, req)
	if err != nil || !created || p == nil {
		t.Fatalf("retry with the node up: created %v, %v", created, err)
	}
}

func TestValidIdempotencyKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"order-42/attempt 1", true},
		{"ключ", true},
		{"", false},
		{"tab\there", false},
		{"\x7f", false},
		{string([]byte{0xff}), false},
		{string(make([]byte, 256)), false},
	} {
		if got := ValidIdempotencyKey(tc.key); got != tc.want {
			t.Errorf("ValidIdempotencyKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

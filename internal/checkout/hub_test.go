package checkout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
)

// addressNode hands out fresh addresses and knows nothing else: enough to
// create payments, whose chain facts the tests then feed to Observe.
type addressNode struct{ n atomic.Int64 }

var errNoChain = errors.New("addressNode: no chain")

func (a *addressNode) GetNewAddress(context.Context, string) (string, error) {
	return fmt.Sprintf("rltc1qcheckouttest%024d", a.n.Add(1)), nil
}
func (a *addressNode) GetTransaction(context.Context, string) (*coind.Transaction, error) {
	return nil, errNoChain
}
func (a *addressNode) InMempool(context.Context, string) (bool, error) { return false, errNoChain }
func (a *addressNode) ListSinceBlock(context.Context, string, int) (*coind.SinceBlock, error) {
	return nil, errNoChain
}
func (a *addressNode) GetBlock(context.Context, string) (*coind.Block, error) { return nil, errNoChain }
func (a *addressNode) GetBlockHash(context.Context, int64) (string, error)    { return "", errNoChain }
func (a *addressNode) GetBlockCount(context.Context) (int64, error)           { return 0, errNoChain }

// TestHubListensAndReconnects runs the hub against PostgreSQL with the poll
// slowed to an hour, so every update must come through LISTEN: a status
// change committed by payments.Service reaches a subscriber, and still does
// after the listener's connection is killed and the hub reconnects.
func TestHubListensAndReconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	svc := payments.NewService(pool, payments.Config{
		Coins: []payments.Coin{{Code: "LTC", Node: &addressNode{}, Confirmations: 2, URIScheme: "litecoin"}},
	})
	p, err := svc.Create(ctx, payments.CreateRequest{Coin: "LTC", Amount: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	connCfg := pool.Config().ConnConfig
	var connects atomic.Int32
	hub := NewHub(HubConfig{
		Source:       svc,
		PollInterval: time.Hour,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			connects.Add(1)
			return pgx.ConnectConfig(ctx, connCfg.Copy())
		},
	})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- hub.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	waitListening(t, hub)

	sub, err := hub.Subscribe(p.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	expect := func(seq int64, st payments.Status) {
		t.Helper()
		select {
		case m := <-sub.C():
			if m.Seq != seq || !strings.Contains(string(m.Data), `"status":"`+string(st)+`"`) {
				t.Fatalf("message %d %s, want sequence %d with status %s", m.Seq, m.Data, seq, st)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message with sequence %d (%s) within 10s", seq, st)
		}
	}
	expect(1, payments.StatusUnpaid) // the payment.created event is number 1

	observe := func(confs int64) {
		t.Helper()
		err := svc.Observe(ctx, "LTC", []payments.TxObservation{{
			TxID: strings.Repeat("ab", 32), Confirmations: confs, ObservedAt: time.Now(),
			Outputs: []payments.ObservedOutput{{Address: p.Address, Vout: 0, Amount: p.Amount}},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	observe(0)
	expect(2, payments.StatusPending)
	// The state read after the event is the event's payment: not sent twice.
	select {
	case m := <-sub.C():
		t.Fatalf("unexpected message %d %s", m.Seq, m.Data)
	case <-time.After(200 * time.Millisecond):
	}

	// Kill the listener's backend; the hub reconnects and listens again.
	oldPID := hub.listenPID.Load()
	var killed bool
	if err := pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(oldPID)).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %t, %v", oldPID, killed, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid := hub.listenPID.Load(); pid == 0 || pid == oldPID; pid = hub.listenPID.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not listen again within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := connects.Load(); n != 2 {
		t.Errorf("connected %d times, want 2", n)
	}
	observe(2)
	expect(3, payments.StatusPaid)
}

func waitListening(t *testing.T, h *Hub) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("the hub is not listening after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHubRunWithoutDatabase: a listener that cannot connect keeps retrying
// while subscribers are served by the poll, and Run still ends with its
// context.
func TestHubRunWithoutDatabase(t *testing.T) {
	src := newFakeSource()
	p := src.add()
	var attempts atomic.Int32
	hub := NewHub(HubConfig{
		Source:       src,
		PollInterval: 20 * time.Millisecond,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			attempts.Add(1)
			return nil, errors.New("connection refused")
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- hub.Run(ctx) }()
	sub, err := hub.Subscribe(p.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	<-sub.C()
	src.change(t, p.ID, pending)
	select {
	case m := <-sub.C():
		if m.Seq != 1 {
			t.Errorf("message sequence %d, want 1", m.Seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poll delivered nothing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for attempts.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if attempts.Load() < 2 {
		t.Errorf("%d connection attempts, want retries", attempts.Load())
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	select {
	case <-sub.Done():
	case <-time.After(time.Second):
		t.Fatal("the subscription did not end with the hub")
	}
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/hangserver"
	"github.com/transient-gateway/transient/internal/regtest"
)

// gateLone makes the lone calls of b (those that find a slot free) wait
// for the returned gate to close before they go to the node, so that a
// test can hold both slots and have the next calls queue.
func gateLone(b *addressBatcher) (gate chan struct{}) {
	gate = make(chan struct{})
	one := b.one
	b.one = func(ctx context.Context, label string) (string, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return one(ctx, label)
	}
	return gate
}

// poolOffService returns a Service on e's database whose LTC node is node,
// with the pool off.
func poolOffService(e *env, node Node, timeout time.Duration) *Service {
	return NewService(e.pool, Config{Coins: []Coin{{Code: "LTC", Node: node, Confirmations: 2, URIScheme: "litecoin",
		Wallet: regtest.MerchantWallet}}, MonitoringWindow: time.Hour, Now: e.clock.Now, NodeTimeout: timeout})
}

// createMany starts a Create of each label at once and returns, by label,
// the payments and errors.
func createMany(svc *Service, ctx context.Context, labels []string) ([]*Payment, []error) {
	ps, errs := make([]*Payment, len(labels)), make([]error, len(labels))
	var wg sync.WaitGroup
	for i, l := range labels {
		wg.Go(func() { ps[i], errs[i] = svc.Create(ctx, CreateRequest{Coin: "LTC", Amount: amt("1"), Label: l}) })
	}
	wg.Wait()
	return ps, errs
}

// TestCreateAddressBatch: concurrent creations with the pool off share
// getnewaddress batch requests to the real node, each payment with its own
// address, distinct and known to the wallet under its payment's label; a
// call the node refuses (label "*") fails its own creation alone.
func TestCreateAddressBatch(t *testing.T) {
	e := newEnv(t)
	var batches, lone atomic.Int32
	client, err := coind.New(coind.Config{URL: e.node.URL(regtest.MerchantWallet), Observe: func(method string, _ time.Duration, _ error) {
		switch method {
		case "batch:getnewaddress":
			batches.Add(1)
		case "getnewaddress":
			lone.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close) // before the node stops: it waits for idle connections
	svc := poolOffService(e, client, 5*time.Second)
	b := svc.addrBatch["LTC"]
	if b == nil {
		t.Fatal("no address batcher for a coin whose node can batch")
	}

	// An idle gateway: one creation goes alone.
	p, err := svc.Create(e.ctx, CreateRequest{Coin: "LTC", Amount: amt("1"), Label: "alone"})
	if err != nil || lone.Load() != 1 || batches.Load() != 0 {
		t.Fatalf("lone creation: %v, %d lone calls and %d batches; want one lone call", err, lone.Load(), batches.Load())
	}
	labels := map[string]string{p.Address: "alone"}

	// Two creations hold the slots; 38 more queue behind them, one of
	// them with a label the node refuses.
	gate := gateLone(b)
	const n = 40
	first := make(chan struct{})
	var firstPs []*Payment
	var firstErrs []error
	go func() {
		defer close(first)
		firstPs, firstErrs = createMany(svc, e.ctx, []string{"order-0", "order-1"})
	}()
	waitCoalescer(t, &b.coalescer, 2, 0)
	queued := make([]string, n-2)
	for i := range queued {
		queued[i] = fmt.Sprintf("order-%d", i+2)
	}
	const refused = 7
	queued[refused] = "*"
	done := make(chan struct{})
	var ps []*Payment
	var errs []error
	go func() {
		defer close(done)
		ps, errs = createMany(svc, e.ctx, queued)
	}()
	waitCoalescer(t, &b.coalescer, 2, n-2)
	close(gate)
	<-first
	<-done

	ps, errs = append(firstPs, ps...), append(firstErrs, errs...)
	wantLabels := append([]string{"order-0", "order-1"}, queued...)
	for i, p := range ps {
		if wantLabels[i] == "*" {
			var rpcErr *coind.Error
			if !errors.Is(errs[i], ErrCoinUnavailable) || !errors.As(errs[i], &rpcErr) || rpcErr.Code != -11 || p != nil {
				t.Errorf("creation labelled \"*\": %v, %v; want the node's -11 as ErrCoinUnavailable", p, errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("creation %d (label %q): %v", i, wantLabels[i], errs[i])
		}
		if _, dup := labels[p.Address]; dup {
			t.Fatalf("address %s given twice", p.Address)
		}
		labels[p.Address] = wantLabels[i]
	}
	if got := batches.Load(); got < 1 || got > n-2 || lone.Load() != 3 {
		t.Fatalf("%d batch requests and %d lone calls for %d creations; want the queued ones batched, 3 lone", got, lone.Load(), n+1)
	}
	wallet := e.node.Client(regtest.MerchantWallet)
	for addr, label := range labels {
		var info struct {
			IsMine bool     `json:"ismine"`
			Labels []string `json:"labels"`
		}
		if err := wallet.Call(e.ctx, "getaddressinfo", []any{addr}, &info); err != nil || !info.IsMine || !slices.Equal(info.Labels, []string{label}) {
			t.Fatalf("getaddressinfo %s: %+v, %v; want the wallet's, labelled %q", addr, info, err, label)
		}
	}
	var stored int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(DISTINCT address) FROM payments WHERE address = ANY($1)`, slices.Collect(maps.Keys(labels))).Scan(&stored); err != nil || stored != n {
		t.Fatalf("%d payments stored with the addresses (%v), want %d", stored, err, n)
	}
}

// TestCreateAddressBatchNodeDown: with the node down, every creation, lone
// or queued for a batch, fails at once with ErrCoinUnavailable; with a node
// that accepts and never answers, every one fails within the node timeout.
func TestCreateAddressBatchNodeDown(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration // the node timeout
		limit   time.Duration // for all to fail, once the node is asked
	}{
		{"down", func(t *testing.T) string {
			addr, err := freeport.Addr() // nothing listens there
			if err != nil {
				t.Fatal(err)
			}
			return addr
		}, 5 * time.Second, time.Second},
		{"silent", func(t *testing.T) string {
			addr, _ := hangserver.Start(t)
			return addr
		}, time.Second, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := coind.New(coind.Config{URL: "http://u:p@" + tc.addr(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(client.Close)
			svc := poolOffService(e, client, tc.timeout)
			b := svc.addrBatch["LTC"]
			gate := gateLone(b)
			labels := make([]string, 40)
			done := make(chan struct{})
			var errs []error
			go func() {
				defer close(done)
				_, errs = createMany(svc, e.ctx, labels)
			}()
			waitCoalescer(t, &b.coalescer, 2, len(labels)-2)
			began := time.Now()
			close(gate)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("creations still waiting 10 s after the node was asked")
			}
			if took := time.Since(began); took > tc.limit {
				t.Errorf("the creations took %s to fail, want under %s", took, tc.limit)
			}
			for i, err := range errs {
				if !errors.Is(err, ErrCoinUnavailable) {
					t.Fatalf("creation %d: %v, want ErrCoinUnavailable", i, err)
				}
			}
			waitCoalescer(t, &b.coalescer, 0, 0)
		})
	}
}

// blockingBatchNode is a node whose batches wait until released (or their
// context ends), telling the test when each starts.
type blockingBatchNode struct {
	started chan []string
	release chan struct{}
	mu      sync.Mutex
	dl      []time.Time // each batch's deadline
}

func (n *blockingBatchNode) GetNewAddress(ctx context.Context, label string) (string, error) {
	return "lone-" + label, nil
}

func (n *blockingBatchNode) GetNewAddressEach(ctx context.Context, labels []string) ([]string, []error, error) {
	d, _ := ctx.Deadline()
	n.mu.Lock()
	n.dl = append(n.dl, d)
	n.mu.Unlock()
	n.started <- labels
	select {
	case <-n.release:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = "batch-" + l
	}
	return out, make([]error, len(labels)), nil
}

func (n *blockingBatchNode) GetTransaction(context.Context, string) (*coind.Transaction, error) {
	return nil, regtest.ErrNoChain
}
func (n *blockingBatchNode) InMempool(context.Context, string) (bool, error) {
	return false, regtest.ErrNoChain
}
func (n *blockingBatchNode) ListSinceBlock(context.Context, string, int) (*coind.SinceBlock, error) {
	return nil, regtest.ErrNoChain
}
func (n *blockingBatchNode) GetBlock(context.Context, string) (*coind.Block, error) {
	return nil, regtest.ErrNoChain
}
func (n *blockingBatchNode) GetBlockHash(context.Context, int64) (string, error) {
	return "", regtest.ErrNoChain
}
func (n *blockingBatchNode) GetBlockCount(context.Context) (int64, error) {
	return 0, regtest.ErrNoChain
}

// TestAddressBatchCancel: a caller whose batch is in flight returns at once
// when its context ends, the others of the batch still get their
// addresses; the batch runs until the latest caller's deadline, and a
// caller that left before its batch was sent is not asked for.
func TestAddressBatchCancel(t *testing.T) {
	node := &blockingBatchNode{started: make(chan []string, 4), release: make(chan struct{})}
	b := newAddressBatcher(node, 5*time.Second)
	if b == nil {
		t.Fatal("no batcher for a node that can batch")
	}
	if a, err := b.newAddress(t.Context(), "idle"); a != "lone-idle" || err != nil {
		t.Fatalf("a lone call: %q, %v; want it sent alone at once", a, err)
	}
	gate := gateLone(b)
	var wg sync.WaitGroup
	for _, l := range []string{"s1", "s2"} {
		wg.Go(func() { _, _ = b.newAddress(t.Context(), l) })
	}
	waitCoalescer(t, &b.coalescer, 2, 0)

	type result struct {
		addr string
		err  error
		at   time.Time
	}
	results := make(map[string]chan result)
	call := func(ctx context.Context, label string) {
		ch := make(chan result, 1)
		results[label] = ch
		go func() {
			a, err := b.newAddress(ctx, label)
			ch <- result{a, err, time.Now()}
		}()
	}
	gone, leave := context.WithCancel(t.Context())
	call(gone, "gone")
	waitCoalescer(t, &b.coalescer, 2, 1)
	leave() // before its batch is sent: never asked for
	<-results["gone"]
	cancelCtx, cancel := context.WithCancel(t.Context())
	call(cancelCtx, "cancel")
	waitCoalescer(t, &b.coalescer, 2, 2)
	late, lateCancel := context.WithTimeout(t.Context(), time.Hour)
	defer lateCancel()
	call(late, "stay")
	waitCoalescer(t, &b.coalescer, 2, 3)

	close(gate)
	wg.Wait()
	labels := <-node.started
	if !slices.Equal(labels, []string{"cancel", "stay"}) {
		t.Fatalf("batch sent for %v, want [cancel stay] (the caller gone before is left out)", labels)
	}
	began := time.Now()
	cancel()
	select {
	case r := <-results["cancel"]:
		if !errors.Is(r.err, context.Canceled) || r.at.Sub(began) > 500*time.Millisecond {
			t.Fatalf("canceled caller: %q, %v after %s; want context.Canceled at once", r.addr, r.err, r.at.Sub(began))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller canceled while its batch was in flight is still waiting")
	}
	node.mu.Lock()
	dl := node.dl[0]
	node.mu.Unlock()
	if want, _ := late.Deadline(); !dl.Equal(want) {
		t.Errorf("batch deadline %s, want the latest caller's %s", dl, want)
	}
	close(node.release)
	if r := <-results["stay"]; r.addr != "batch-stay" || r.err != nil {
		t.Fatalf("caller left in the batch: %q, %v; want its address", r.addr, r.err)
	}
	waitCoalescer(t, &b.coalescer, 0, 0)
}

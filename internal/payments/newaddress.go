package payments

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxAddressBatch is the most getnewaddress calls one batch request
	// carries: under coind's batchCallsPerTimeout, so a batch gets one
	// call timeout, like a call.
	maxAddressBatch = 32
	// addressSlots is how many getnewaddress requests a coin has in flight
	// at once (see addressBatcher).
	addressSlots = 2
)

// addressBatchNode is a node that can make many addresses in one request,
// each with its own label: *coind.Client.
type addressBatchNode interface {
	GetNewAddressEach(ctx context.Context, labels []string) ([]string, []error, error)
}

// addressBatcher coalesces the getnewaddress calls of concurrent creations
// (the pool off, or the pool empty) into JSON-RPC batches: one HTTP
// request carrying many calls, each with its payment's label. A call that
// finds fewer than addressSlots requests in flight goes alone at once with
// its own context, so an idle gateway adds no wait to a creation. A call
// that finds every slot busy queues; when a request ends and calls are
// queued, its slot goes to a goroutine that sends up to maxAddressBatch of
// them in one batch, and again while any are queued. The wallet makes one
// address at a time under its lock whatever the number of requests, so
// two in flight keep it busy; what a batch saves is the HTTP request and
// its handling per address, in the node and in transientd.
//
// The pool's refill does not come here: it asks for its own batches
// (NodeWallet).
type addressBatcher struct {
	node addressBatchNode
	one  func(ctx context.Context, label string) (string, error)
	// timeout bounds a batch whose callers have no deadline (the node
	// timeout; Create always gives one).
	timeout time.Duration

	mu      sync.Mutex
	running int            // requests in flight (slots held)
	queue   []*addressCall // calls waiting for a slot, oldest first
}

// addressCall is a queued getnewaddress call.
type addressCall struct {
	label    string
	deadline time.Time // zero: none
	done     chan addressResult
	gone     atomic.Bool // its caller stopped waiting
}

type addressResult struct {
	addr string
	err  error
}

// newAddressBatcher returns a batcher for node, or nil when node cannot
// batch (a test's fake): its creations then call GetNewAddress each.
func newAddressBatcher(node Node, timeout time.Duration) *addressBatcher {
	b, ok := node.(addressBatchNode)
	if !ok {
		return nil
	}
	return &addressBatcher{node: b, one: node.GetNewAddress, timeout: timeout}
}

// newAddress returns a new address of the coin's wallet labelled label:
// alone when a slot is free, in a batch otherwise. Its errors are those
// of GetNewAddress; a caller whose ctx ends returns at once.
func (b *addressBatcher) newAddress(ctx context.Context, label string) (string, error) {
	b.mu.Lock()
	if b.running < addressSlots {
		b.running++
		b.mu.Unlock()
		defer b.release()
		return b.one(ctx, label)
	}
	c := &addressCall{label: label, done: make(chan addressResult, 1)}
	c.deadline, _ = ctx.Deadline()
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case r := <-c.done:
		return r.addr, r.err
	case <-ctx.Done():
		c.gone.Store(true)
		return "", fmt.Errorf("getnewaddress: %w", ctx.Err())
	}
}

// release ends a request's hold on its slot: the slot goes to the calls
// queued meanwhile, if any, in a goroutine of their own so that the
// caller whose request ended returns now.
func (b *addressBatcher) release() {
	b.mu.Lock()
	queued := len(b.queue) > 0
	if !queued {
		b.running--
	}
	b.mu.Unlock()
	if queued {
		go b.drain()
	}
}

// drain holds a slot and sends queued calls, a batch at a time, until none
// is queued.
func (b *addressBatcher) drain() {
	for {
		b.mu.Lock()
		calls := b.take()
		if len(calls) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.run(calls)
	}
}

// take removes up to maxAddressBatch calls from the queue, oldest first,
// dropping those whose callers have gone (no address is made for them).
// b.mu is held.
func (b *addressBatcher) take() []*addressCall {
	var calls []*addressCall
	n := 0
	for n < len(b.queue) && len(calls) < maxAddressBatch {
		if c := b.queue[n]; !c.gone.Load() {
			calls = append(calls, c)
		}
		n++
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return calls
}

// run sends calls as one batch. Every call gets a result: its address,
// its own call's error, or the request's error.
func (b *addressBatcher) run(calls []*addressCall) {
	// The request serves many callers, so it runs on none's context. Its
	// deadline is the latest of theirs: no caller waits past its own (it
	// returns on its context), so a later answer would serve nobody, while
	// an earlier one would fail a caller still willing to wait.
	var deadline time.Time
	for _, c := range calls {
		d := c.deadline
		if d.IsZero() {
			d = time.Now().Add(b.timeout)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	labels := make([]string, len(calls))
	for i, c := range calls {
		labels[i] = c.label
	}
	answered := 0
	defer func() {
		// A panic must not take the gateway down, nor leave callers
		// waiting.
		if v := recover(); v != nil {
			for _, c := range calls[answered:] {
				c.done <- addressResult{err: fmt.Errorf("getnewaddress batch panicked: %v", v)}
			}
		}
	}()
	addrs, errs, err := b.node.GetNewAddressEach(ctx, labels)
	if err == nil && (len(addrs) != len(calls) || len(errs) != len(calls)) {
		err = errors.New("getnewaddress batch: answers do not match the calls")
	}
	for i, c := range calls {
		r := addressResult{err: err}
		if err == nil {
			r = addressResult{addr: addrs[i], err: errs[i]}
		}
		c.done <- r
		answered++
	}
}

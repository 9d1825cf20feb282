package payments

import (
	"context"
	"errors"
	"fmt"
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
	coalescer[*addressCall]
	node addressBatchNode
	one  func(ctx context.Context, label string) (string, error)
	// timeout bounds a batch whose callers have no deadline (the node
	// timeout; Create always gives one).
	timeout time.Duration
}

// addressCall is a queued getnewaddress call.
type addressCall struct {
	queued
	label string
	done  chan addressResult
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
	a := &addressBatcher{node: b, one: node.GetNewAddress, timeout: timeout}
	a.coalescer = coalescer[*addressCall]{slots: addressSlots, max: maxAddressBatch, runBatch: a.run}
	return a
}

// newAddress returns a new address of the coin's wallet labelled label:
// alone when a slot is free, in a batch otherwise. Its errors are those
// of GetNewAddress; a caller whose ctx ends returns at once.
func (b *addressBatcher) newAddress(ctx context.Context, label string) (string, error) {
	if b.acquire() {
		defer b.release()
		return b.one(ctx, label)
	}
	c := &addressCall{label: label, done: make(chan addressResult, 1)}
	c.deadline, _ = ctx.Deadline()
	if b.acquireOrQueue(c) {
		// A slot came free meanwhile.
		defer b.release()
		return b.one(ctx, label)
	}
	select {
	case r := <-c.done:
		return r.addr, r.err
	case <-ctx.Done():
		c.gone.Store(true)
		return "", fmt.Errorf("getnewaddress: %w", ctx.Err())
	}
}

// run sends calls as one batch. Every call gets a result: its address,
// its own call's error, or the request's error.
func (b *addressBatcher) run(calls []*addressCall) {
	ctx, cancel := batchContext(calls, b.timeout)
	defer cancel()
	labels := make([]string, len(calls))
	for i, c := range calls {
		labels[i] = c.label
	}
	answered := 0
	defer answerPanic(calls, &answered, func(c *addressCall, v any) {
		c.done <- addressResult{err: fmt.Errorf("getnewaddress batch panicked: %v", v)}
	})
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

package payments

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// coalescer is what the batchers of reads (getBatcher), of creates from
// the pool (createBatcher) and of getnewaddress calls (addressBatcher)
// share: a few slots, one per statement or request in flight, and a queue
// of calls waiting for one. A call that finds a slot free takes it and
// runs alone, at once, on its own context, so an idle gateway adds no
// wait (with spill, a slot past the first counts as free only once no
// statement has started for spill). A call that finds every slot busy
// queues; when a slot is released
// and calls are queued, the slot goes to a goroutine that runs up to max
// of them as one batch (runBatch), and again while any are queued, so at
// most slots statements or requests are in flight whatever the number of
// callers. Calls queued behind a statement younger than spill get the
// free slot when spill has passed, whether or not another call comes.
//
// A queued call only joins a batch taken from the queue after it was
// queued, never one already in flight: a read sees every write committed
// before it was asked for.
type coalescer[C queuedCall] struct {
	slots int
	max   int // the most calls in one batch
	// spill, when not zero, keeps the slots past the first for when
	// statements are slow: one is taken only when no statement or request
	// has started for spill. Until then a call that finds a statement in
	// flight queues behind it, so that under load one statement at a time
	// answers every read that came meanwhile, while a statement that
	// hangs does not hold up the calls that come after spill.
	spill time.Duration
	// runBatch answers every call of a batch, each through its own
	// channel, and must not leave one unanswered (a panic included).
	runBatch func([]C)

	mu      sync.Mutex
	running int       // statements or requests in flight (slots held)
	queue   []C       // calls waiting for a slot, oldest first
	started time.Time // when the latest statement or request started (with spill)
	// spillTimer is armed while calls wait for spill to pass with a slot
	// free (spill): no later call need come for them to get it.
	spillTimer *time.Timer
}

// queued is the part of a queued call the coalescer reads.
type queued struct {
	deadline time.Time   // zero: none
	gone     atomic.Bool // its caller stopped waiting
}

func (q *queued) waiting() *queued { return q }

// queuedCall is a call a coalescer can queue: a pointer to a struct that
// embeds queued.
type queuedCall interface{ waiting() *queued }

// acquire takes a slot if one is free and no call is queued; the caller
// then runs alone and calls release when its statement or request has
// ended.
func (b *coalescer[C]) acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 && b.free() {
		b.running++
		return true
	}
	return false
}

// acquireOrQueue is acquire, queuing c when it cannot run alone (false):
// c is then answered by a batch. When a slot is free but calls are queued
// (they wait on a statement older than spill), c joins them and the slot
// goes to them at once.
func (b *coalescer[C]) acquireOrQueue(c C) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.free() {
		b.queue = append(b.queue, c)
		b.armSpill()
		return false
	}
	b.running++
	if len(b.queue) == 0 {
		return true
	}
	b.queue = append(b.queue, c)
	go b.drain()
	return false
}

// free reports whether a slot may be taken now, and notes the time as
// the latest start when it may (spill). b.mu is held.
func (b *coalescer[C]) free() bool {
	if b.running >= b.slots {
		return false
	}
	if b.spill == 0 {
		return true
	}
	now := time.Now()
	if b.running > 0 && now.Sub(b.started) < b.spill {
		return false
	}
	b.started = now
	return true
}

// armSpill, when calls are queued only because spill has not passed
// since the latest start, arms a timer that gives them the free slot once
// it has, so that they do not wait on a slow statement for as long as it
// runs when no later call comes to take the slot. b.mu is held.
func (b *coalescer[C]) armSpill() {
	if b.spill == 0 || b.spillTimer != nil || b.running >= b.slots || len(b.queue) == 0 {
		return
	}
	wait := b.spill - time.Since(b.started)
	b.spillTimer = time.AfterFunc(max(wait, 0), b.spillQueued)
}

// spillQueued runs when spill has passed for queued calls: they take the
// free slot, as a later call would give it to them (acquireOrQueue).
func (b *coalescer[C]) spillQueued() {
	b.mu.Lock()
	b.spillTimer = nil
	if len(b.queue) == 0 || !b.free() {
		// Answered meanwhile, or a newer statement started: wait for
		// spill after that one.
		b.armSpill()
		b.mu.Unlock()
		return
	}
	b.running++
	b.mu.Unlock()
	b.drain()
}

// release ends a hold on a slot: the slot goes to the calls queued
// meanwhile, if any, in a goroutine of their own so that the caller that
// held it returns now.
func (b *coalescer[C]) release() {
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

// drain holds a slot and runs queued calls, a batch at a time, until none
// is queued.
func (b *coalescer[C]) drain() {
	for {
		b.mu.Lock()
		calls := b.take()
		if len(calls) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		if b.spill != 0 {
			b.started = time.Now()
		}
		b.mu.Unlock()
		b.runBatch(calls)
	}
}

// take removes up to max calls from the queue, oldest first, dropping
// those whose callers have gone (nothing is done for them). b.mu is held.
func (b *coalescer[C]) take() []C {
	var calls []C
	n := 0
	for n < len(b.queue) && len(calls) < b.max {
		if c := b.queue[n]; !c.waiting().gone.Load() {
			calls = append(calls, c)
		}
		n++
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return calls
}

// answerPanic, deferred by a batcher's runBatch, answers with fail every
// call from answered on (those not answered yet) when the batch panicked,
// so that a panic neither takes the gateway down nor leaves a caller
// waiting. The batch counts in answered the calls it has answered.
func answerPanic[C any](calls []C, answered *int, fail func(C, any)) {
	if v := recover(); v != nil {
		for _, c := range calls[*answered:] {
			fail(c, v)
		}
	}
}

// batchContext is the context of a batch serving calls, which runs on
// none of their contexts: it ends at batchDeadline.
func batchContext[C queuedCall](calls []C, fallback time.Duration) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), batchDeadline(calls, fallback))
}

// batchDeadline is the deadline of a batch serving calls, which runs on
// none of their contexts: the latest of theirs. No caller waits past its
// own (it returns on its context), so a later answer would serve nobody,
// while an earlier one would fail a caller still willing to wait. A call
// without a deadline (a job, a test) counts as one ending after fallback,
// so that a database or node that stops answering cannot hold the slot
// for ever.
func batchDeadline[C queuedCall](calls []C, fallback time.Duration) time.Time {
	var deadline time.Time
	for _, c := range calls {
		d := c.waiting().deadline
		if d.IsZero() {
			d = time.Now().Add(fallback)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	return deadline
}

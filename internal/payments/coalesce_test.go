package payments

import (
	"slices"
	"testing"
	"time"
)

// holdSlots makes b believe every slot is taken, so that calls queue; the
// returned func hands the slots to what queued, as the end of a statement
// or request does.
func holdSlots[C queuedCall](b *coalescer[C]) (release func()) {
	b.mu.Lock()
	held := b.slots - b.running
	b.running = b.slots
	b.mu.Unlock()
	return func() {
		for range held {
			b.release()
		}
	}
}

// waitQueued waits until at least n calls are queued on b.
func waitQueued[C queuedCall](t *testing.T, b *coalescer[C], n int) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q >= n {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d calls queued, want %d", q, n)
		}
	}
}

// waitCoalescer waits until b holds running slots and queued calls (0, 0:
// it let go of every slot and call).
func waitCoalescer[C queuedCall](t *testing.T, b *coalescer[C], running, queued int) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		r, q := b.running, len(b.queue)
		b.mu.Unlock()
		if r == running && q == queued {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d slots held and %d calls queued, want %d and %d", r, q, running, queued)
		}
	}
}

// spillCall is a call of TestCoalescerSpill.
type spillCall struct {
	queued
	n int
}

// spillCoalescer returns a coalescer of two slots with spill whose
// batches send the numbers of their calls on batches.
func spillCoalescer(spill time.Duration) (b *coalescer[*spillCall], batches chan []int) {
	batches = make(chan []int, 4)
	b = &coalescer[*spillCall]{slots: 2, spill: spill, max: 64, runBatch: func(calls []*spillCall) {
		var ns []int
		for _, c := range calls {
			ns = append(ns, c.n)
		}
		batches <- ns
	}}
	return b, batches
}

// nextBatch waits for the next batch a spillCoalescer runs; after 10 s the
// test fails with what, the reason one should have run.
func nextBatch(t *testing.T, batches <-chan []int, what string) []int {
	t.Helper()
	select {
	case got := <-batches:
		return got
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no batch after 10 s", what)
		return nil
	}
}

// TestCoalescerSpill: with spill, a call that finds a statement in flight
// queues behind it rather than running beside it in the second slot,
// until no statement has started for spill; the call that comes then
// takes the second slot for itself and every call queued before it, as
// one batch, so a statement that hangs holds up no call for longer than
// spill past the next one. Without spill, both slots run calls alone.
func TestCoalescerSpill(t *testing.T) {
	b, batches := spillCoalescer(time.Hour)
	if !b.acquire() {
		t.Fatal("idle coalescer: acquire refused")
	}
	if b.acquire() {
		t.Fatal("second acquire within spill of the first: took the second slot, want none")
	}
	if b.acquireOrQueue(&spillCall{n: 1}) || b.acquireOrQueue(&spillCall{n: 2}) {
		t.Fatal("call within spill of the first statement ran alone, want it queued")
	}
	waitCoalescer(t, b, 1, 2)

	// The statement in flight has now run for longer than spill.
	b.mu.Lock()
	b.started = time.Now().Add(-2 * b.spill)
	b.mu.Unlock()
	if b.acquire() {
		t.Fatal("acquire with calls queued: took a slot alone, want them served first")
	}
	if b.acquireOrQueue(&spillCall{n: 3}) {
		t.Fatal("call after spill with calls queued ran alone, want it to join them")
	}
	if got := nextBatch(t, batches, "calls queued behind a statement older than spill"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("batch in the second slot: %v, want [1 2 3]", got)
	}
	waitCoalescer(t, b, 1, 0)
	b.release()
	waitCoalescer(t, b, 0, 0)

	b.spill = 0
	if !b.acquire() || !b.acquire() {
		t.Fatal("without spill: want both slots taken alone")
	}
	b.release()
	b.release()
	waitCoalescer(t, b, 0, 0)
}

// TestCoalescerSpillWithoutLaterCalls: calls queued behind a statement
// that runs past spill get the free slot when spill has passed, even when
// no later call comes to give it to them.
func TestCoalescerSpillWithoutLaterCalls(t *testing.T) {
	const spill = 50 * time.Millisecond
	b, batches := spillCoalescer(spill)
	if !b.acquire() {
		t.Fatal("idle coalescer: acquire refused")
	}
	queuedAt := time.Now()
	if b.acquireOrQueue(&spillCall{n: 1}) || b.acquireOrQueue(&spillCall{n: 2}) {
		t.Fatal("call within spill of the first statement ran alone, want it queued")
	}
	got := nextBatch(t, batches, "calls queued behind a statement held past spill, no later call")
	if d := time.Since(queuedAt); d < spill {
		t.Errorf("queued calls ran after %s, before spill (%s)", d, spill)
	}
	if !slices.Equal(got, []int{1, 2}) {
		t.Errorf("batch in the second slot: %v, want [1 2]", got)
	}
	// The first statement still holds its slot; the second is free again.
	waitCoalescer(t, b, 1, 0)
	b.release()
	waitCoalescer(t, b, 0, 0)
}

// TestAnswerPanic: a batch that panics after answering some of its calls
// answers the others with the panic, and the panic goes no further.
func TestAnswerPanic(t *testing.T) {
	calls := []*spillCall{{n: 1}, {n: 2}, {n: 3}}
	var failed []int
	func() {
		answered := 0
		defer answerPanic(calls, &answered, func(c *spillCall, v any) {
			if v != "boom" {
				t.Errorf("call %d failed with %v, want the panic's value", c.n, v)
			}
			failed = append(failed, c.n)
		})
		answered++ // the first call is answered
		panic("boom")
	}()
	if len(failed) != 2 || failed[0] != 2 || failed[1] != 3 {
		t.Errorf("answered with the panic: %v, want [2 3]", failed)
	}
}

package payments

import (
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

package webex

import (
	"context"
	"sync"
	"time"
)

// A connection sends one request at a time (api.go), and Webex rate-limits it per token, so
// its requests queue. Whose turn comes next matters when the queue is long: after a cold start
// every device's full push (a Bookings.List for foreign bookings, the Put, a List to verify) is
// waiting, and after a 429 every device that was refused wakes at the same Retry-After. A
// channel hands the slot to whichever goroutine the runtime picks, so a meeting just edited
// could wait behind every other device's reads (30 s behind its LAN codec at 100 devices; with
// a tight rate limit, minutes). So the slot goes by priority, first come first served within one.

// yieldAfterLimit is how long after a Retry-After the requests nobody waits for (full pushes,
// status rounds) wake: the changes owed take the window's first places. A queue alone would
// not do: whoever wakes first takes a free slot, and a change's step reads its payload first.
const yieldAfterLimit = time.Second

// priority is how soon a request gets the connection's slot (lower first).
type priority int

const (
	// prioChange is a push owed to a change of the room's meetings, or one an operator asked
	// for: what a user is waiting to see on the device.
	prioChange priority = iota
	// prioPush is a full push nobody is waiting for: the first after start, the safety
	// and midnight pushes, a device back online.
	prioPush
	// prioRead is everything else: status rounds, the booking lists before and after a push,
	// the workspace lookups and the checks.
	prioRead
	numPriorities
)

// turns is one request slot handed out by priority.
type turns struct {
	mu      sync.Mutex
	busy    bool
	waiting [numPriorities][]chan struct{} // first come first served within a priority
}

// acquire waits for the slot; an error (ctx ended) means the slot is not held.
func (t *turns) acquire(ctx context.Context, p priority) error {
	t.mu.Lock()
	if !t.busy {
		t.busy = true
		t.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	t.waiting[p] = append(t.waiting[p], ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	for i, w := range t.waiting[p] {
		if w == ch {
			t.waiting[p] = append(t.waiting[p][:i], t.waiting[p][i+1:]...)
			t.mu.Unlock()
			return ctx.Err()
		}
	}
	t.mu.Unlock()
	// Handed the slot while giving up: pass it on.
	t.release()
	return ctx.Err()
}

// release hands the slot to the first waiter of the highest priority, or frees it.
func (t *turns) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.waiting {
		if q := t.waiting[p]; len(q) > 0 {
			ch := q[0]
			q[0] = nil
			t.waiting[p] = q[1:]
			close(ch) // the slot stays busy: it is the waiter's now
			return
		}
	}
	t.busy = false
}

package ews

import "context"

// A room's read (FindItem, GetItem, the write) holds its answers until the store's writer has
// written them: the view, every GetItem answer decoded, the rows the store had. At a cold
// start every room's step runs at once and each request waits its turn for one of
// max_in_flight request slots, first come first served; so every room got its first GetItem
// answer and then queued behind every other room for its second, holding the first, and
// nearly every room's items were in memory at once: the largest part of the cold sync's
// peak (300 rooms: 31 of 45 MB of live heap under getAll). A room therefore takes one of
// readSlots(max_in_flight) slots before its FindItem and keeps it until its write is done.
// The requests in flight are as many as before (each reading room has one request waiting
// at a time, a few per request slot), the requests are the same, and the rooms beyond the
// bound wait after their probe holding only its SyncState.

// readsPerRequestSlot is how many rooms may be mid-read per request in flight.
const readsPerRequestSlot = 4

func readSlots(maxInFlight int) int { return max(1, maxInFlight) * readsPerRequestSlot }

// takeReadSlot waits for a read slot; false when ctx ended first.
func (s *Syncer) takeReadSlot(ctx context.Context) bool {
	select {
	case s.reads <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Syncer) freeReadSlot() { <-s.reads }

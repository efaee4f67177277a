package graph

import (
	"time"

	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// dueHeap holds the rooms with no step running, soonest due first, so the scheduler finds
// what is due without walking every room on each wake-up (tens a second; the walk over 1,000
// rooms was a visible part of the steady CPU). A room leaves it while its step runs (the step
// sets its next due time) and comes back when the step ends. Under s.mu.
type dueHeap = poll.Heap[*room]

// DueAt and HeapIndex place a room in the due heap.
func (r *room) DueAt() time.Time { return r.due }
func (r *room) HeapIndex() *int  { return &r.hidx }

// queue puts a room (back) in the heap, or moves it after its due time changed (under s.mu).
func (s *Syncer) queue(r *room) { s.due.Queue(r) }

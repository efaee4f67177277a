package graph

import "container/heap"

// dueHeap holds the rooms with no step running, soonest due first, so the scheduler finds
// what is due without walking every room on each wake-up (tens a second; the walk over 1,000
// rooms was a visible part of the steady CPU). A room leaves it while its step runs (the step
// sets its next due time) and comes back when the step ends. Under s.mu.
type dueHeap []*room

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h *dueHeap) Push(x any) {
	r := x.(*room)
	r.hidx = len(*h)
	*h = append(*h, r)
}

func (h *dueHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.hidx = -1
	return r
}

// queue puts a room (back) in the heap, or moves it after its due time changed (under s.mu).
func (s *Syncer) queue(r *room) {
	if r.hidx >= 0 {
		heap.Fix(&s.due, r.hidx)
		return
	}
	heap.Push(&s.due, r)
}

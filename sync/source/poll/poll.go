// Package poll holds the pure scheduling helpers the polling calendar sources share (Graph,
// EWS): the sync window, the daily budget's plan fit, hot periods around meetings, backoff
// and jitter, and a heap of items by due time. It keeps no state of its own: each source owns
// its rooms, its budget and its clock, and calls these with them.
package poll

import (
	"container/heap"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// DayStart is local midnight of t's day.
func DayStart(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// Window is the calendar window a round starting now reads: the start of yesterday to the end
// of today + upcomingDays.
func Window(upcomingDays int, now time.Time) (time.Time, time.Time) {
	day := DayStart(now)
	return day.AddDate(0, 0, -1), day.AddDate(0, 0, upcomingDays+1)
}

// FitPlan chooses how polls spend available requests: running meetings hot when everything
// fits at the shortest intervals (full), else the lean plan, stretched by the factor that makes
// it fit; with nothing available, as rarely as hardLeft (what the hard cap leaves) allows.
func FitPlan(full, lean, available, hardLeft float64) (runningHot bool, stretch float64) {
	switch {
	case full <= available:
		return true, 1
	case lean <= available:
		return false, 1
	case available > 0:
		return false, max(1, lean/available)
	default:
		return false, max(1, lean/max(1, hardLeft))
	}
}

// HotSeconds is the length of the union of a room's hot periods within [from, to); spans are
// by start.
func HotSeconds(spans []store.Span, from, to time.Time, lead time.Duration, runningHot bool) float64 {
	var total time.Duration
	var curStart, curEnd time.Time
	flush := func() {
		if curEnd.After(curStart) {
			total += curEnd.Sub(curStart)
		}
	}
	for _, sp := range spans { // by start, so hot periods come in order of their start
		st, en := HotPeriod(sp, lead, runningHot)
		if st.Before(from) {
			st = from
		}
		if en.After(to) {
			en = to
		}
		if !en.After(st) {
			continue
		}
		if st.After(curEnd) {
			flush()
			curStart, curEnd = st, en
		} else if en.After(curEnd) {
			curEnd = en
		}
	}
	flush()
	return total.Seconds()
}

// HotPeriod is when a meeting keeps its room hot: from lead before its start to its start, or
// to its end when running meetings count (runningHot).
func HotPeriod(sp store.Span, lead time.Duration, runningHot bool) (time.Time, time.Time) {
	if runningHot {
		return sp.Start.Add(-lead), sp.End
	}
	return sp.Start.Add(-lead), sp.Start
}

// Rand is what Jitter draws from (*rand.Rand, or a locked wrapper of one).
type Rand interface{ Float64() float64 }

// Jitter spreads d by ± fraction, drawing from rng.
func Jitter(rng Rand, fraction float64, d time.Duration) time.Duration {
	f := 1 + fraction*(2*rng.Float64()-1)
	return time.Duration(float64(d) * f)
}

// Backoff is the wait after n consecutive transient failures, before jitter: 5 s doubling to
// 5 min.
func Backoff(n int) time.Duration {
	d := 5 * time.Second << min(max(n, 1)-1, 6)
	return min(d, 5*time.Minute)
}

// Item is what a Heap orders: a due time, and a slot for its index in the heap (-1 when out).
type Item interface {
	DueAt() time.Time
	HeapIndex() *int
}

// Heap holds items soonest due first (container/heap's interface; use Push, Pop and Fix of
// container/heap, or Queue).
type Heap[T Item] []T

func (h Heap[T]) Len() int           { return len(h) }
func (h Heap[T]) Less(i, j int) bool { return h[i].DueAt().Before(h[j].DueAt()) }
func (h Heap[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	*h[i].HeapIndex(), *h[j].HeapIndex() = i, j
}

// Push is container/heap's; call heap.Push.
func (h *Heap[T]) Push(x any) {
	it := x.(T)
	*it.HeapIndex() = len(*h)
	*h = append(*h, it)
}

// Pop is container/heap's; call heap.Pop.
func (h *Heap[T]) Pop() any {
	old := *h
	it := old[len(old)-1]
	var zero T
	old[len(old)-1] = zero
	*h = old[:len(old)-1]
	*it.HeapIndex() = -1
	return it
}

// Queue puts an item (back) in the heap, or moves it after its due time changed.
func (h *Heap[T]) Queue(it T) {
	if i := *it.HeapIndex(); i >= 0 {
		heap.Fix(h, i)
		return
	}
	heap.Push(h, it)
}

package cisco

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
)

// timerKind names one of a codec's timers. A codec holds at most one deadline per kind; the
// manager's scheduler wakes the codec when its earliest deadline is due. One clock timer for
// the whole fleet instead of eight per codec, and no goroutine waiting per codec: at a
// thousand codecs that is megabytes (design.md's footprint target).
type timerKind uint8

const (
	timerReconnect timerKind = iota // next connection attempt
	timerPin                        // re-read the stored pin while a changed certificate is refused
	timerDebounce                   // push after a burst of changes went quiet
	timerRetry                      // push again after the codec asked for patience
	timerSafety                     // push even without changes
	timerMidnight                   // push after local midnight (the window rolls)
	timerEdge                       // push when a pushed meeting falls out of the window
	timerCheck                      // list the bookings after the codec announced a change
	timerPing                       // keep-alive
	timerRelease                    // on_demand: release the connection of a quiet codec
	timerLive                       // on_demand: liveness check of a released codec
	timerHot                        // on_demand: connect for a meeting's feedback
	numTimers
)

func (k timerKind) bit() uint32 { return 1 << k }

// scheduler keeps every codec's deadlines in one heap, ordered by each codec's earliest, and
// kicks a codec (evTimer) when that time comes. Deadlines are absolute, and a deadline that
// becomes the earliest arms the clock timer before set returns: a caller that goes on to wait
// (or a test that then moves a fake clock) finds its timer armed.
type scheduler struct {
	clk  clock.Clock
	wake chan struct{} // the timer was (re)made or re-armed: look again

	mu    sync.Mutex
	codes codecHeap
	timer clock.Timer // nil when stopped or fired
	armed time.Time   // when timer fires; zero when stopped or fired
	gen   int         // bumped on every arming, so a firing is matched to its arming
}

// schedState is a codec's part of the scheduler (guarded by scheduler.mu).
type schedState struct {
	due  [numTimers]time.Time // zero: not set
	next time.Time            // the earliest due
	idx  int                  // position in the heap; -1 when not in it
}

func newScheduler(clk clock.Clock) *scheduler {
	return &scheduler{clk: clk, wake: make(chan struct{}, 1)}
}

// set arms (or re-arms) timer k of c to fire at at.
func (s *scheduler) set(c *codec, k timerKind, at time.Time) {
	s.mu.Lock()
	c.sched.due[k] = at
	earlier := s.fix(c)
	if earlier {
		s.arm(c.sched.next)
	}
	s.mu.Unlock()
	if earlier {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// after arms timer k of c to fire d from now.
func (s *scheduler) after(c *codec, k timerKind, d time.Duration) {
	s.set(c, k, s.clk.Now().Add(d))
}

// clear disarms the given timers of c.
func (s *scheduler) clear(c *codec, kinds ...timerKind) {
	s.mu.Lock()
	for _, k := range kinds {
		c.sched.due[k] = time.Time{}
	}
	s.fix(c)
	s.mu.Unlock()
}

// dueAt is when timer k of c fires; zero when it is not armed.
func (s *scheduler) dueAt(c *codec, k timerKind) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.sched.due[k]
}

// take disarms and returns the timers of c that are due at now.
func (s *scheduler) take(c *codec, now time.Time) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fired uint32
	for k := range numTimers {
		if at := c.sched.due[k]; !at.IsZero() && !at.After(now) {
			fired |= k.bit()
			c.sched.due[k] = time.Time{}
		}
	}
	s.fix(c)
	return fired
}

// fix recomputes c's earliest deadline and its place in the heap (under s.mu). It reports
// whether c's deadline is now the earliest and earlier than the timer is armed for.
func (s *scheduler) fix(c *codec) bool {
	st := &c.sched
	st.next = time.Time{}
	for _, at := range st.due {
		if !at.IsZero() && (st.next.IsZero() || at.Before(st.next)) {
			st.next = at
		}
	}
	switch {
	case st.next.IsZero() && st.idx >= 0:
		heap.Remove(&s.codes, st.idx)
		return false
	case st.next.IsZero():
		return false
	case st.idx >= 0:
		heap.Fix(&s.codes, st.idx)
	default:
		heap.Push(&s.codes, c)
	}
	return st.idx == 0 && (s.armed.IsZero() || st.next.Before(s.armed))
}

// run kicks codecs whose deadlines are due until ctx ends.
func (s *scheduler) run(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		s.arm(time.Time{})
		s.mu.Unlock()
	}()
	for {
		var due []*codec
		s.mu.Lock()
		now := s.clk.Now()
		for len(s.codes) > 0 && !s.codes[0].sched.next.After(now) {
			// The codec takes its due timers when it runs; until then it leaves the heap
			// (a later set puts it back).
			due = append(due, heap.Pop(&s.codes).(*codec))
		}
		var next time.Time
		if len(s.codes) > 0 {
			next = s.codes[0].sched.next
		}
		s.arm(next)
		var fired <-chan time.Time
		if s.timer != nil {
			fired = s.timer.C()
		}
		gen := s.gen
		s.mu.Unlock()
		for _, c := range due {
			c.kick(evTimer)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-fired:
			s.mu.Lock()
			if s.gen == gen { // not re-armed since
				s.armed, s.timer = time.Time{}, nil
			}
			s.mu.Unlock()
		}
	}
}

// arm sets the clock timer to fire at at (zero: stop it), touching it only when that
// changes (under s.mu). Each arming makes a new timer rather than resetting the old one: a
// fake clock tells tests when a timer is created, which is how they know the driver has
// settled on its next deadline (a handful of allocations a second at a thousand codecs).
func (s *scheduler) arm(at time.Time) {
	if at.Equal(s.armed) {
		return
	}
	s.gen++
	s.armed = at
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if at.IsZero() {
		return
	}
	s.timer = s.clk.NewTimer(max(0, at.Sub(s.clk.Now())))
}

// codecHeap orders codecs by their earliest deadline.
type codecHeap []*codec

func (h codecHeap) Len() int           { return len(h) }
func (h codecHeap) Less(i, j int) bool { return h[i].sched.next.Before(h[j].sched.next) }
func (h codecHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].sched.idx, h[j].sched.idx = i, j
}
func (h *codecHeap) Push(x any) {
	c := x.(*codec)
	c.sched.idx = len(*h)
	*h = append(*h, c)
}
func (h *codecHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.sched.idx = -1
	return c
}

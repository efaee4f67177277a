package graph

import (
	"container/heap"
	"sort"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// When each room steps next: the scheduler loop's timer and wake-up, which due rooms step now
// (pickDue), hot and cold poll intervals with jitter, the round's window and the daily full
// round after midnight (needsFull), and the backoff after failures. The daily budget that
// stretches the intervals is in schedule.go.

// arm sets the timer to fire at the given time. If the clock jumped while the timer was being
// set (a fake clock advanced by a test or a tool), the deadline would come out late: set it
// again.
func (s *Syncer) arm(t clock.Timer, at time.Time) {
	for {
		before := s.clk.Now()
		t.Stop()
		t.Reset(max(0, at.Sub(before)))
		if s.clk.Now().Sub(before) < time.Millisecond {
			return
		}
	}
}

// signal wakes the scheduler loop.
func (s *Syncer) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maxActive is how many rooms may be mid-step at once: enough to fill every in-flight slot
// with a full batch.
func (s *Syncer) maxActive() int { return s.in.MaxInFlight * maxBatch }

// pickDue marks the rooms to step now (hot rooms first, then by due time) and returns when to
// look again (under s.mu).
//
// It runs after every step. In a cold start all 1,000 rooms are due at once and a step frees
// one slot at a time, so popping every due room and pushing back all but one (as it first did)
// cost O(rooms × log rooms) per step: 14 % of the cold start's CPU in a profile. Now it only
// walks the due part of the heap, and pops or removes just the rooms it takes.
func (s *Syncer) pickDue(now time.Time) ([]*room, time.Time) {
	var due []*room
	if free := s.maxActive() - s.steps; free > 0 {
		due = s.takeDue(now, free)
	}
	for _, r := range due {
		r.running, r.stepped = true, true
		s.steps++
	}
	// With every slot busy, a room still due cannot start before a step ends, and a step's
	// end wakes the loop (step signals). Waking for it anyway armed the timer in the past, so
	// the loop spun (timer, select, pickDue) until then: through a whole cold start, with
	// 1,000 rooms due and the slots full, that spin was about a fifth of the agent's CPU.
	next := s.budget.nextPlan
	if len(s.due) > 0 && s.due[0].due.Before(next) && s.steps < s.maxActive() {
		next = s.due[0].due
	}
	return due, next
}

// takeDue removes up to free due rooms from the heap: the hot ones first (soonest due first),
// then the soonest due (under s.mu).
func (s *Syncer) takeDue(now time.Time, free int) []*room {
	// The due rooms, found by walking the heap from its root: a node that is not due has no
	// due descendants.
	var due []*room
	for stack := []int{0}; len(stack) > 0; {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(s.due) || s.due[i].due.After(now) {
			continue
		}
		due = append(due, s.due[i])
		stack = append(stack, 2*i+1, 2*i+2)
	}
	if len(due) <= free {
		for range due {
			heap.Pop(&s.due)
		}
		return due
	}
	var hot []*room
	for _, r := range due {
		if s.hot(r, now) {
			hot = append(hot, r)
		}
	}
	sort.SliceStable(hot, func(i, j int) bool { return hot[i].due.Before(hot[j].due) })
	taken := hot[:min(len(hot), free)]
	for _, r := range taken {
		heap.Remove(&s.due, r.hidx)
	}
	for len(taken) < free && len(s.due) > 0 && !s.due[0].due.After(now) {
		taken = append(taken, heap.Pop(&s.due).(*room))
	}
	return taken
}

// rollOffset is when after midnight a room's daily full round starts (spread by mailbox).
func (s *Syncer) rollOffset(r *room) time.Duration {
	return poll.RollOffset(r.spec.Mailbox, s.tune.RollSpread)
}

var dayStart = poll.DayStart

// window is the calendarView window of a round starting now: the start of yesterday to the
// end of today + upcoming_days.
func window(r *room, now time.Time) (time.Time, time.Time) {
	return poll.Window(r.spec.UpcomingDays, now)
}

// needsFull reports whether the room's next round must start over (under s.mu).
func (s *Syncer) needsFull(r *room, now time.Time) bool {
	c := r.cur
	if r.forceFull || c.deltaLink == "" {
		return true
	}
	// Links stored under another graph_url lead nowhere (or to the wrong tenant's cloud).
	if !s.api.fromGraphURL(c.deltaLink) || (c.nextLink != "" && !s.api.fromGraphURL(c.nextLink)) {
		return true
	}
	ws, we := window(r, now)
	if c.ws.Equal(ws) && c.we.Equal(we) {
		return false
	}
	// Yesterday's window still covers what matters until this room's turn after midnight.
	yesterday := c.ws.Equal(ws.AddDate(0, 0, -1)) && c.we.Equal(we.AddDate(0, 0, -1))
	return !yesterday || !now.Before(dayStart(now).Add(s.rollOffset(r)))
}

// hot reports whether a room is hot now: a meeting starts within HotLead, has just started,
// or runs while the budget allows running meetings to count (under s.mu).
func (s *Syncer) hot(r *room, now time.Time) bool {
	for _, sp := range r.spans {
		st, en := hotPeriod(sp, s.tune.HotLead, s.budget.runningHot)
		if !now.Before(st) && now.Before(en) {
			return true
		}
	}
	return false
}

// nextHot is when the room next becomes hot (zero: not within its known meetings).
func (s *Syncer) nextHot(r *room, now time.Time) time.Time {
	var at time.Time
	for _, sp := range r.spans {
		t, _ := hotPeriod(sp, s.tune.HotLead, s.budget.runningHot)
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	return at
}

// jitter spreads d by ± the tuning's fraction (under s.mu).
func (s *Syncer) jitter(d time.Duration) time.Duration {
	return poll.Jitter(s.rng, s.tune.Jitter, d)
}

// nextPoll is when a room that just finished a round polls again (under s.mu).
func (s *Syncer) nextPoll(r *room, now time.Time) time.Time {
	if s.budget.exhausted {
		return dayStart(now).AddDate(0, 0, 1)
	}
	hot, cold := s.pollIntervals(r, now) // the safety net's when subscribed (notify.go)
	if s.hot(r, now) {
		return now.Add(s.jitter(hot))
	}
	due := now.Add(s.jitter(cold))
	if h := s.nextHot(r, now); !h.IsZero() && h.Before(due) {
		due = h
	}
	if roll := dayStart(now).AddDate(0, 0, 1).Add(s.rollOffset(r)); roll.Before(due) {
		due = roll
	}
	return due
}

// backoff is the wait after n consecutive transient failures: 5 s doubling to 5 min, jittered.
func (s *Syncer) backoff(n int) time.Duration {
	return s.jitter(poll.Backoff(n))
}

package google

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// The daily request budget (max_requests_per_day, Pexip's maximum_number_of_api_requests)
// and the poll intervals it allows, as the Graph and EWS sources plan them: requests are
// counted when sent, per local day, in the store; every minute the day's polls are projected
// from the rooms' meeting times, and the intervals stretch when the projection would
// overspend. Sending stops at the budget.

const (
	// perRoomOverhead is a room's daily requests besides polls: the window roll's full read
	// (a page or two) and a few pages of changes.
	perRoomOverhead = 6
	// retryPolicy is the retry of rooms a person must fix (rights, missing mailbox).
	retryPolicy   = 30 * time.Minute
	retryNotFound = time.Hour
	retryAuth     = 15 * time.Minute
)

type budget struct {
	limit          int64
	day            string
	used           int64
	stretch        float64
	runningHot     bool
	projectedToday int64
	projected24h   int64
	exhausted      bool
	nextPlan       time.Time
}

func dayKey(t time.Time) string { return poll.DayKey(t) }

// counterKey is the store key of a day's request count.
func counterKey(integration string, t time.Time) string {
	return poll.CounterKey("google", integration, t)
}

// hotInterval and coldInterval are a room's poll intervals, stretched by the budget: the
// safety net's when the room has a live push channel (notify.go).
func (s *Syncer) hotInterval(r *room, now time.Time) time.Duration {
	d := s.tune.HotInterval
	if r.live(now) {
		d = s.tune.SafetyHot
	}
	return time.Duration(float64(d) * s.budget.stretch)
}

func (s *Syncer) coldInterval(r *room, now time.Time) time.Duration {
	d := s.tune.ColdInterval
	if r.live(now) {
		d = s.tune.SafetyCold
	}
	return time.Duration(float64(d) * s.budget.stretch)
}

// rollDay starts a new count at local midnight (under s.mu). The new day's plan is due at once:
// the scheduler loop is woken for it, as the day's first request may come from outside a room's
// step (the loop's timer waits for the old plan's time meanwhile).
func (s *Syncer) rollDay(now time.Time) {
	if d := poll.DayKey(now); d != s.budget.day {
		s.budget.day, s.budget.used, s.budget.exhausted = d, 0, false
		s.budget.nextPlan = now
		s.signal()
	}
}

// admit counts n requests against today's quota (and the store's count), or refuses them.
func (s *Syncer) admit(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	s.rollDay(now)
	if s.budget.used+int64(n) > s.budget.limit {
		s.budget.exhausted = true
		return errBudget
	}
	s.budget.used += int64(n)
	if k := counterKey(s.name, now); k != s.unsavedK {
		s.unsavedK = k
		s.unsaved = 0
	}
	s.unsaved += int64(n)
	return nil
}

// takeCount hands the requests not yet in the store to a write (under s.mu).
func (s *Syncer) takeCount() (string, int64) {
	k, n := s.unsavedK, s.unsaved
	s.unsaved = 0
	return k, n
}

// plan sets the stretch and the projections (under s.mu), as the Graph source does.
func (s *Syncer) plan(now time.Time) {
	s.rollDay(now)
	b := &s.budget
	p := poll.PlanDay(now, b.limit, b.used, len(s.rooms), perRoomOverhead, s.pollCost)
	b.runningHot, b.stretch, b.projectedToday, b.projected24h = p.RunningHot, p.Stretch, p.ProjectedToday, p.Projected24h
	b.nextPlan = now.Add(time.Minute)
}

// pollCost is how many polls the rooms make in [from, to) at the shortest intervals.
func (s *Syncer) pollCost(from, to time.Time, runningHot bool) float64 {
	pace := poll.Pace{Hot: s.tune.HotInterval, Cold: s.tune.ColdInterval, Lead: s.tune.HotLead, Fix: retryPolicy}
	return poll.PollCost(func(yield func(string, []store.Span) bool) {
		for _, r := range s.rooms {
			if !yield(r.state.Status, r.spans) {
				return
			}
		}
	}, from, to, pace, runningHot)
}

// hot reports whether a meeting of the room starts within HotLead or runs (under s.mu).
func (s *Syncer) hot(r *room, now time.Time) bool {
	return poll.Hot(r.spans, now, s.tune.HotLead, s.budget.runningHot)
}

// needsFull reports whether the room's window must be listed in full: no syncToken yet, asked
// for, or the window rolled (after the room's turn past midnight). Increments carry only
// what changed, so the day that enters the window is read by a full list.
func (s *Syncer) needsFull(r *room, now time.Time) bool {
	c := r.cur
	if r.forceFull || c.token == "" || c.ws.IsZero() {
		return true
	}
	return poll.Rolled(c.ws, c.we, r.spec.UpcomingDays, now, poll.RollOffset(r.spec.Mailbox, s.tune.RollSpread))
}

// nextPoll is when a room that just synced polls again (under s.mu): hot or cold, brought
// forward to the room's next hot period and its window roll.
func (s *Syncer) nextPoll(r *room, now time.Time) time.Time {
	if s.budget.exhausted {
		return poll.NextMidnight(now)
	}
	if s.hot(r, now) {
		return now.Add(poll.Jitter(s.rng, s.tune.Jitter, s.hotInterval(r, now)))
	}
	due := now.Add(poll.Jitter(s.rng, s.tune.Jitter, s.coldInterval(r, now)))
	return poll.Earliest(due, poll.NextHot(r.spans, now, s.tune.HotLead, s.budget.runningHot),
		poll.NextMidnight(now).Add(poll.RollOffset(r.spec.Mailbox, s.tune.RollSpread)))
}

// RequestsOn is how many Calendar API requests integration sent on the local day of day, as
// the syncer counts them in the store (for the daily report; 0 for a day without any).
func RequestsOn(ctx context.Context, st *store.Store, integration string, day time.Time) (int64, error) {
	return st.Counter(ctx, counterKey(integration, day))
}

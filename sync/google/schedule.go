package google

import (
	"context"
	"hash/fnv"
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
	budgetHeadroom = 0.95
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

func dayKey(t time.Time) string { return t.Format("2006-01-02") }

// counterKey is the store key of a day's request count.
func counterKey(integration string, t time.Time) string {
	return "google.requests." + integration + "." + dayKey(t)
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

func (s *Syncer) rollDay(now time.Time) {
	if d := dayKey(now); d != s.budget.day {
		s.budget.day, s.budget.used, s.budget.exhausted = d, 0, false
		s.budget.nextPlan = now
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
	midnight := poll.DayStart(now).AddDate(0, 0, 1)
	rooms := float64(len(s.rooms))
	overheadToday := rooms * perRoomOverhead * midnight.Sub(now).Hours() / 24
	b := &s.budget
	full, lean := s.pollCost(now, midnight, true), s.pollCost(now, midnight, false)
	hot, stretch := poll.FitPlan(full, lean, budgetHeadroom*float64(b.limit)-float64(b.used)-overheadToday, float64(b.limit-b.used))
	tomorrow := now.Add(24 * time.Hour)
	hot24, stretch24 := poll.FitPlan(s.pollCost(now, tomorrow, true), s.pollCost(now, tomorrow, false),
		budgetHeadroom*float64(b.limit)-rooms*perRoomOverhead, float64(b.limit))
	b.runningHot, b.stretch = hot && hot24, max(stretch, stretch24)
	today := lean
	if b.runningHot {
		today = full
	}
	b.projectedToday = b.used + int64(today/b.stretch+overheadToday)
	b.projected24h = int64(s.pollCost(now, tomorrow, b.runningHot)/b.stretch + rooms*perRoomOverhead)
	b.nextPlan = now.Add(time.Minute)
}

// pollCost is how many polls the rooms make in [from, to) at the shortest intervals.
func (s *Syncer) pollCost(from, to time.Time, runningHot bool) float64 {
	total := to.Sub(from).Seconds()
	hotI, coldI := s.tune.HotInterval.Seconds(), s.tune.ColdInterval.Seconds()
	cost := 0.0
	for _, r := range s.rooms {
		switch r.state.Status {
		case store.RoomPolicyDenied, store.RoomNotFound, store.RoomAuthFailed:
			cost += total / retryPolicy.Seconds()
			continue
		}
		hot := poll.HotSeconds(r.spans, from, to, s.tune.HotLead, runningHot)
		cost += hot/hotI + (total-hot)/coldI
	}
	return cost
}

// hot reports whether a meeting of the room starts within HotLead or runs (under s.mu).
func (s *Syncer) hot(r *room, now time.Time) bool {
	for _, sp := range r.spans {
		st, en := poll.HotPeriod(sp, s.tune.HotLead, s.budget.runningHot)
		if !now.Before(st) && now.Before(en) {
			return true
		}
	}
	return false
}

func (s *Syncer) nextHot(r *room, now time.Time) time.Time {
	var at time.Time
	for _, sp := range r.spans {
		t, _ := poll.HotPeriod(sp, s.tune.HotLead, s.budget.runningHot)
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	return at
}

// rollOffset is when after midnight the room's window rolls (spread by mailbox).
func (s *Syncer) rollOffset(r *room) time.Duration {
	spread := uint32(s.tune.RollSpread / time.Second)
	if spread == 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(r.spec.Mailbox))
	return time.Duration(h.Sum32()%spread) * time.Second
}

// needsFull reports whether the room's window must be listed in full: no syncToken yet, asked
// for, or the window rolled (after the room's turn past midnight). Increments carry only
// what changed, so the day that enters the window is read by a full list.
func (s *Syncer) needsFull(r *room, now time.Time) bool {
	c := r.cur
	if r.forceFull || c.token == "" || c.ws.IsZero() {
		return true
	}
	ws, we := poll.Window(r.spec.UpcomingDays, now)
	if c.ws.Equal(ws) && c.we.Equal(we) {
		return false
	}
	yesterday := c.ws.Equal(ws.AddDate(0, 0, -1)) && c.we.Equal(we.AddDate(0, 0, -1))
	return !yesterday || !now.Before(poll.DayStart(now).Add(s.rollOffset(r)))
}

// nextPoll is when a room that just synced polls again (under s.mu).
func (s *Syncer) nextPoll(r *room, now time.Time) time.Time {
	if s.budget.exhausted {
		return poll.DayStart(now).AddDate(0, 0, 1)
	}
	if s.hot(r, now) {
		return now.Add(poll.Jitter(s.rng, s.tune.Jitter, s.hotInterval(r, now)))
	}
	due := now.Add(poll.Jitter(s.rng, s.tune.Jitter, s.coldInterval(r, now)))
	if h := s.nextHot(r, now); !h.IsZero() && h.Before(due) {
		due = h
	}
	if roll := poll.DayStart(now).AddDate(0, 0, 1).Add(s.rollOffset(r)); roll.Before(due) {
		due = roll
	}
	return due
}

// RequestsOn is how many Calendar API requests integration sent on the local day of day, as
// the syncer counts them in the store (for the daily report; 0 for a day without any).
func RequestsOn(ctx context.Context, st *store.Store, integration string, day time.Time) (int64, error) {
	return st.Counter(ctx, counterKey(integration, day))
}

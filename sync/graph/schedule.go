package graph

import (
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// The daily budget (max_requests_per_day, Pexip's "Maximum Graph API requests").
//
// Requests are counted when they are sent (each part of a batch is one), per local day, in the
// store so restarts cannot overspend. Every minute the scheduler projects what the rooms will
// spend until midnight at the shortest intervals, from the meeting times it has stored:
//
//	polls = Σ rooms  hot seconds / HotInterval + other seconds / ColdInterval
//
// A room is hot while a meeting starts within HotLead (30 min), and also while a meeting runs
// when the budget allows that at the shortest intervals (the full plan). When it does not, the
// lean plan keeps running meetings at the cold interval (their changes fall under "any other
// change"); when even the lean plan would overspend, every interval stretches by the same
// factor, so what is left lasts until midnight. Sending stops at the budget.

// budgetHeadroom keeps 5 % of the budget for retries and surprises.
const budgetHeadroom = 0.95

// perRoomOverhead is what a room spends per day besides polls: its daily full round and the
// series masters it fetches.
const perRoomOverhead = 4

type budget struct {
	limit          int64
	day            string // local date the count is for
	used           int64
	stretch        float64 // ≥ 1: multiplies the poll intervals
	runningHot     bool    // running meetings keep their room hot (the budget allows it)
	projectedToday int64
	projected24h   int64
	exhausted      bool
	nextPlan       time.Time
}

func dayKey(t time.Time) string { return t.Format("2006-01-02") }

// counterKey is the store key of a day's request count.
func counterKey(integration string, t time.Time) string {
	return "graph.requests." + integration + "." + dayKey(t)
}

func (s *Syncer) hotInterval() time.Duration {
	return time.Duration(float64(s.tune.HotInterval) * s.budget.stretch)
}

func (s *Syncer) coldInterval() time.Duration {
	return time.Duration(float64(s.tune.ColdInterval) * s.budget.stretch)
}

// rollDay starts a new count at local midnight (under s.mu). The new day's plan is due at once:
// the scheduler loop is woken for it, as a request of the probe or the notifications may be
// the first of the day (the loop's timer waits for the old plan's time meanwhile).
func (s *Syncer) rollDay(now time.Time) {
	if d := dayKey(now); d != s.budget.day {
		s.budget.day, s.budget.used, s.budget.exhausted = d, 0, false
		s.budget.nextPlan = now
		s.signal()
	}
}

// admit counts n requests against today's budget, or refuses them all.
func (s *Syncer) admit(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDay(s.clk.Now())
	if s.budget.used+int64(n) > s.budget.limit {
		s.budget.exhausted = true
		return errBudget
	}
	s.budget.used += int64(n)
	return nil
}

// plan sets the stretch factor and the projections (under s.mu).
//
// Two plans must both hold. The local day's: what is left of today's budget lasts until
// midnight (the hard cap). And the next 24 hours': a whole day's budget lasts a whole day from
// now. Without the second, an agent whose count starts fresh in the afternoon (first start, a
// new integration) has a day's budget for a few hours and polls at the shortest intervals until
// midnight, several times the rate a day can sustain, and its 24 h projection shows far more
// than the budget. The stricter of the two plans is in force.
func (s *Syncer) plan(now time.Time) {
	s.rollDay(now)
	midnight := dayStart(now).AddDate(0, 0, 1)
	dayFraction := midnight.Sub(now).Hours() / 24
	rooms := float64(len(s.rooms))
	overheadToday := rooms * perRoomOverhead * dayFraction
	b := &s.budget

	full := s.pollCost(now, midnight, true)
	lean := s.pollCost(now, midnight, false)
	available := budgetHeadroom*float64(b.limit) - float64(b.used) - overheadToday
	hot, stretch := fitPlan(full, lean, available, float64(b.limit-b.used))

	tomorrow := now.Add(24 * time.Hour)
	full24, lean24 := s.pollCost(now, tomorrow, true), s.pollCost(now, tomorrow, false)
	hot24, stretch24 := fitPlan(full24, lean24, budgetHeadroom*float64(b.limit)-rooms*perRoomOverhead, float64(b.limit))
	b.runningHot, b.stretch = hot && hot24, max(stretch, stretch24)

	today, day := lean, lean24
	if b.runningHot {
		today, day = full, full24
	}
	b.projectedToday = b.used + int64(today/b.stretch+overheadToday)
	b.projected24h = int64(day/b.stretch + rooms*perRoomOverhead)
	b.nextPlan = now.Add(time.Minute)
}

// fitPlan is poll.FitPlan (shared with the other polling sources).
var fitPlan = poll.FitPlan

// pollCost is how many polls (and change-probe requests) the rooms make in [from, to) at the
// shortest intervals.
func (s *Syncer) pollCost(from, to time.Time, runningHot bool) float64 {
	total := to.Sub(from).Seconds()
	hotI, coldI := s.tune.HotInterval.Seconds(), s.tune.ColdInterval.Seconds()
	cost := 0.0
	for _, r := range s.rooms {
		switch r.state.Status {
		case store.RoomPolicyDenied, store.RoomNotFound, store.RoomNotRESTEnabled, store.RoomAuthFailed:
			cost += total / retryPolicy.Seconds()
			continue
		}
		hot := hotSeconds(r.spans, from, to, s.tune.HotLead, runningHot)
		hi, ci := hotI, coldI
		if s.subscribed(r, from) { // the safety net's intervals (notify.go)
			hi, ci = max(hi, s.nt.tune.HotInterval.Seconds()), max(ci, s.nt.tune.ColdInterval.Seconds())
		} else if s.probeExpected(r, from) { // the probe watches the room (probe.go)
			hi, ci = max(hi, s.pr.tune.PollHot.Seconds()), max(ci, s.pr.tune.PollCold.Seconds())
		}
		cost += hot/hi + (total-hot)/ci
	}
	// The change probe's requests stretch with the polls (probe_plan.go).
	return cost + s.probeCost(from, to, runningHot)
}

// hotSeconds and hotPeriod are poll's (shared with the other polling sources).
var (
	hotSeconds = poll.HotSeconds
	hotPeriod  = poll.HotPeriod
)

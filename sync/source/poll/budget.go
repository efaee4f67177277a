package poll

import (
	"iter"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// The daily request budget as the polling sources plan it (Graph's schedule.go first, EWS
// and Google copied it): requests are counted when sent, per local day, in the store; every
// minute the day's polls are projected from the rooms' meeting times, and the intervals
// stretch when the projection would overspend. The sources keep their budget's state (it
// lives in their syncers, beside the lock that guards it); the arithmetic is here, once, so
// the sources cannot drift apart on what a budget allows.

// BudgetHeadroom is the share of the daily budget the plan spends on polls and overhead; the
// rest absorbs what a plan cannot foresee (retries, a burst of changes).
const BudgetHeadroom = 0.95

// DayKey is the local day a request is counted on.
func DayKey(t time.Time) string { return t.Format("2006-01-02") }

// CounterKey is the store key of an integration's request count on t's day. prefix is the
// source's type ("ews", "google"): the keys are the daily report's, so they never change.
func CounterKey(prefix, integration string, t time.Time) string {
	return prefix + ".requests." + integration + "." + DayKey(t)
}

// NextMidnight is the local midnight after t: when a used-up budget is fresh again, and the
// rooms' windows roll.
func NextMidnight(t time.Time) time.Time { return DayStart(t).AddDate(0, 0, 1) }

// Pace is a source's poll timing (its Tuning, before stretching): the shortest intervals of
// hot and cold rooms, how long before a meeting a room turns hot, and how often a room a
// person must fix (rights, a missing mailbox) is tried again.
type Pace struct {
	Hot, Cold, Lead, Fix time.Duration
}

// Cost is how many polls a source's rooms make in [from, to) at the shortest intervals,
// running meetings hot or not.
type Cost func(from, to time.Time, runningHot bool) float64

// Plan is a minute's plan of the budget.
type Plan struct {
	RunningHot     bool    // running meetings keep their rooms hot (everything fits)
	Stretch        float64 // what the poll intervals are multiplied by (1: not stretched)
	ProjectedToday int64   // used plus what the plan spends until midnight
	Projected24h   int64   // what the plan spends over a day from now
}

// PlanDay fits the polls of rooms rooms into the budget: what is left of today's (limit less
// used, and the rooms' overhead till midnight) and a full day's from now, whichever is
// tighter. perRoomOverhead is a room's daily requests besides polls (the window roll's read
// and a few changes: each source says why its number).
func PlanDay(now time.Time, limit, used int64, rooms int, perRoomOverhead float64, cost Cost) Plan {
	midnight := NextMidnight(now)
	n := float64(rooms)
	overheadToday := n * perRoomOverhead * midnight.Sub(now).Hours() / 24
	full, lean := cost(now, midnight, true), cost(now, midnight, false)
	hot, stretch := FitPlan(full, lean, BudgetHeadroom*float64(limit)-float64(used)-overheadToday, float64(limit-used))
	tomorrow := now.Add(24 * time.Hour)
	hot24, stretch24 := FitPlan(cost(now, tomorrow, true), cost(now, tomorrow, false),
		BudgetHeadroom*float64(limit)-n*perRoomOverhead, float64(limit))
	p := Plan{RunningHot: hot && hot24, Stretch: max(stretch, stretch24)}
	today := lean
	if p.RunningHot {
		today = full
	}
	p.ProjectedToday = used + int64(today/p.Stretch+overheadToday)
	p.Projected24h = int64(cost(now, tomorrow, p.RunningHot)/p.Stretch + n*perRoomOverhead)
	return p
}

// PollCost is how many polls rooms (each its status word and its meeting spans, by start)
// make in [from, to) at pace's shortest intervals. A room a person must fix polls only at
// pace.Fix, whatever its meetings.
func PollCost(rooms iter.Seq2[string, []store.Span], from, to time.Time, pace Pace, runningHot bool) float64 {
	total := to.Sub(from).Seconds()
	hotI, coldI := pace.Hot.Seconds(), pace.Cold.Seconds()
	cost := 0.0
	for status, spans := range rooms {
		switch status {
		case store.RoomPolicyDenied, store.RoomNotFound, store.RoomAuthFailed:
			cost += total / pace.Fix.Seconds()
			continue
		}
		hot := HotSeconds(spans, from, to, pace.Lead, runningHot)
		cost += hot/hotI + (total-hot)/coldI
	}
	return cost
}

// Hot reports whether a meeting of spans starts within lead of now or (runningHot) runs.
func Hot(spans []store.Span, now time.Time, lead time.Duration, runningHot bool) bool {
	for _, sp := range spans {
		st, en := HotPeriod(sp, lead, runningHot)
		if !now.Before(st) && now.Before(en) {
			return true
		}
	}
	return false
}

// NextHot is when the next hot period of spans after now begins (zero: none), so a cold
// room's next poll is not later than that.
func NextHot(spans []store.Span, now time.Time, lead time.Duration, runningHot bool) time.Time {
	var at time.Time
	for _, sp := range spans {
		t, _ := HotPeriod(sp, lead, runningHot)
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	return at
}

// RollOffset is when after midnight a room's window rolls: spread over spread by a hash of
// its mailbox, so a thousand rooms do not all read their windows again at 00:00.
func RollOffset(mailbox string, spread time.Duration) time.Duration {
	return clock.SpreadOffset(mailbox, spread)
}

// Rolled reports whether the window [ws, we) a room's last full read covered is no longer the
// one a round reads now. Yesterday's window still counts until the room's turn (offset) past
// midnight: the day that enters the window is far off, and the rooms' rereads spread.
func Rolled(ws, we time.Time, upcomingDays int, now time.Time, offset time.Duration) bool {
	cws, cwe := Window(upcomingDays, now)
	if ws.Equal(cws) && we.Equal(cwe) {
		return false
	}
	yesterday := ws.Equal(cws.AddDate(0, 0, -1)) && we.Equal(cwe.AddDate(0, 0, -1))
	return !yesterday || !now.Before(DayStart(now).Add(offset))
}

// Earliest is the earliest of due and the non-zero times of also (due on a tie): a room's next
// poll, brought forward to its next hot period or window roll.
func Earliest(due time.Time, also ...time.Time) time.Time {
	for _, t := range also {
		if !t.IsZero() && t.Before(due) {
			due = t
		}
	}
	return due
}

// ReplanAfterChange is how soon the budget is planned again after a room's meeting times
// changed. A plan walks every room's meeting times several times (today's and the next 24 h's
// costs, hot and lean): at 1,000 rooms in business hours, when some room's times change every
// few seconds, planning within 5 s of each change was about 5 % of the agent's steady CPU. The
// plan only sets how far the intervals stretch, and a day's budget does not move in 30 s.
const ReplanAfterChange = 30 * time.Second

// Replan is when the budget is planned again after a room's meeting times changed: within
// ReplanAfterChange, or sooner when already due.
func Replan(now, next time.Time) time.Time {
	if soon := now.Add(ReplanAfterChange); soon.Before(next) {
		return soon
	}
	return next
}

// SpanWindow is the span of meeting times a source keeps per room for its schedule: from an
// hour ago (a running meeting) to two days on (tomorrow's plan).
func SpanWindow(now time.Time) (time.Time, time.Time) {
	return now.Add(-time.Hour), now.Add(48 * time.Hour)
}

package google

import (
	"context"
	"fmt"

	"github.com/otj-edge/otj-edge/sync/source"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// The integration's health line, Stats, and what a read that changed something refreshes:
// the room's meeting times (the scheduler) and its calendar processing diagnosis (the same
// sync/exchange findings as for Graph rooms: they read the
// neutral events, whichever source filled them).

// updateHealth sets the integration's health line (the words are poll.Tally's, the same for
// every polling source).
func (s *Syncer) updateHealth() {
	s.mu.Lock()
	var t poll.Tally
	for _, n := range s.order {
		t.Add(n, s.rooms[n].state.Status)
	}
	exhausted := ""
	if s.budget.exhausted {
		exhausted = fmt.Sprintf("the daily budget of %d Calendar API requests is used up; rooms show what they have until midnight", s.budget.limit)
	}
	s.mu.Unlock()
	t.Report(s.health, s.component, exhausted, "")
}

// Stats reports the source's accounting and its rooms' statuses.
func (s *Syncer) Stats() source.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	st := source.Stats{Integration: s.name, Type: Type, Budget: s.budget.limit, UsedToday: s.budget.used,
		ProjectedToday: s.budget.projectedToday, Projected24h: s.budget.projected24h, HotInterval: s.hotInterval(&room{}, now),
		ColdInterval: s.coldInterval(&room{}, now), Rooms: map[string]int{}, BudgetExhausted: s.budget.exhausted}
	for _, n := range s.order {
		r := s.rooms[n]
		poll.CountRoom(&st, r.state.Status, s.hot(r, now), r.cur.token != "")
	}
	if s.pushing() {
		// The same block Graph's notifications fill, so the page, the API, the MQTT metrics and
		// /metrics show push channels without knowing the source's type.
		st.Notifications = &source.NotifyStats{Rooms: len(s.order), Live: len(s.channels),
			Received: s.nstats.received.Load(), Ignored: s.nstats.ignored.Load(), Failures: s.nstats.failures.Load()}
	}
	return st
}

// refresh rereads the room's meeting times (the scheduler's hot periods) after a read that
// changed something. Exchange's calendar processing diagnosis (sync/exchange) is not run:
// its signs are Exchange's settings, which a Google resource calendar does not have.
func (s *Syncer) refresh(ctx context.Context, r *room) {
	now := s.clk.Now()
	from, to := poll.SpanWindow(now)
	spans, err := s.st.EventSpans(ctx, r.spec.Mailbox, from, to)
	if err != nil {
		return
	}
	s.mu.Lock()
	r.spans = spans
	s.budget.nextPlan = poll.Replan(now, s.budget.nextPlan)
	s.mu.Unlock()
}

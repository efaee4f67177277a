package ews

import (
	"context"
	"fmt"

	"github.com/otj-edge/otj-edge/sync/source"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// The integration's health line, Stats, and what a read that changed something refreshes:
// the room's meeting times (the scheduler). Its calendar processing diagnosis is the agent's,
// from the events the processor decodes (agent/diagnose.go, sync/exchange.Save).

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
		exhausted = fmt.Sprintf("the daily quota of %d EWS requests is used up; rooms show what they have until midnight", s.budget.limit)
	}
	note := s.stream.note
	s.mu.Unlock()
	t.Report(s.health, s.component, exhausted, note)
}

// Stats reports the source's accounting and its rooms' statuses.
func (s *Syncer) Stats() source.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	st := source.Stats{Integration: s.name, Type: Type, Budget: s.budget.limit, UsedToday: s.budget.used,
		ProjectedToday: s.budget.projectedToday, Projected24h: s.budget.projected24h, HotInterval: s.hotInterval(),
		ColdInterval: s.coldInterval(), Rooms: map[string]int{}, BudgetExhausted: s.budget.exhausted}
	for _, n := range s.order {
		r := s.rooms[n]
		poll.CountRoom(&st, r.state.Status, s.hot(r, now), r.cur.state != "")
	}
	return st
}

// refresh rereads the room's meeting times after a read that changed something.
func (s *Syncer) refresh(ctx context.Context, r *room) {
	mailbox := r.spec.Mailbox
	now := s.clk.Now()
	from, to := poll.SpanWindow(now)
	spans, err := s.st.EventSpans(ctx, mailbox, from, to)
	if err != nil {
		return
	}
	s.mu.Lock()
	r.spans = spans
	s.budget.nextPlan = poll.Replan(now, s.budget.nextPlan)
	s.mu.Unlock()
}

package ews

import (
	"context"
	"fmt"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/exchange"
	"github.com/otj-edge/otj-edge/sync/source"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// The integration's health line, Stats, and what a read that changed something refreshes:
// the room's meeting times (the scheduler) and its calendar processing diagnosis (the same
// sync/exchange findings as for Graph rooms).

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

// refresh rereads the room's meeting times and its diagnosis after a read that changed
// something.
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
	old := r.state.Diagnosis
	s.mu.Unlock()
	var events []calendar.Event
	if events, err = stored.Events(ctx, s.st, mailbox); err != nil {
		return
	}
	findings := exchange.Diagnose(mailbox, events)
	if exchange.SameFindings(findings, old) {
		return
	}
	oldFlags := map[string]bool{}
	for _, f := range old {
		oldFlags[f.Flag] = true
	}
	var saved store.RoomState
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		st, ok, err := tx.Room(mailbox)
		if err != nil || !ok {
			return err
		}
		st.Diagnosis = findings
		if err := tx.PutRoom(st); err != nil {
			return err
		}
		saved = st
		for _, f := range findings {
			if oldFlags[f.Flag] {
				continue
			}
			if err := tx.Emit(store.Event{Kind: EventDiagnosis, Level: "warn", Room: mailbox, Message: mailbox + ": " + f.Detail,
				Data: map[string]any{"flag": f.Flag, "fix": f.Fix, "integration": s.name}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	s.mu.Lock()
	r.state.Diagnosis = saved.Diagnosis
	s.mu.Unlock()
}

package ews

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/exchange"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The integration's health line, Stats, and what a read that changed something refreshes:
// the room's meeting times (the scheduler) and its calendar processing diagnosis (the same
// sync/exchange findings as for Graph rooms).

func (s *Syncer) updateHealth() {
	s.mu.Lock()
	var bad []string
	counts := map[string]int{}
	pending := 0
	for _, n := range s.order {
		switch st := s.rooms[n].state.Status; st {
		case store.RoomOK:
		case store.RoomPending, "":
			pending++
		default:
			counts[st]++
			bad = append(bad, n+" "+st)
		}
	}
	total := len(s.order)
	exhausted := s.budget.exhausted
	streamNote := s.stream.note
	s.mu.Unlock()
	switch {
	case total > 0 && len(bad) == total:
		s.health.Fail(s.component, fmt.Sprintf("no room syncs: %s", summarize(counts)))
	case exhausted:
		s.health.Warn(s.component, fmt.Sprintf("the daily quota of %d EWS requests is used up; rooms show what they have until midnight", s.budget.limit))
	case len(bad) > 0:
		sort.Strings(bad)
		s.health.Warn(s.component, fmt.Sprintf("%d of %d rooms not syncing (%s): %s", len(bad), total, summarize(counts), strings.Join(bad[:min(3, len(bad))], ", ")))
	case pending > 0:
		s.health.OK(s.component, fmt.Sprintf("first sync: %d of %d rooms done", total-pending, total))
	case streamNote != "":
		s.health.OK(s.component, fmt.Sprintf("%d rooms in sync; %s", total, streamNote))
	default:
		s.health.OK(s.component, fmt.Sprintf("%d rooms in sync", total))
	}
}

func summarize(counts map[string]int) string {
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
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
		status := r.state.Status
		if status == "" {
			status = store.RoomPending
		}
		st.Rooms[status]++
		if s.hot(r, now) {
			st.HotRooms++
		}
		if r.cur.state != "" {
			st.Synced++
		}
	}
	return st
}

// refresh rereads the room's meeting times and its diagnosis after a read that changed
// something.
func (s *Syncer) refresh(ctx context.Context, r *room) {
	mailbox := r.spec.Mailbox
	now := s.clk.Now()
	spans, err := s.st.EventSpans(ctx, mailbox, now.Add(-time.Hour), now.Add(48*time.Hour))
	if err != nil {
		return
	}
	s.mu.Lock()
	r.spans = spans
	if next := now.Add(5 * time.Second); next.Before(s.budget.nextPlan) {
		s.budget.nextPlan = next
	}
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

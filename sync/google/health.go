package google

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The integration's health line, Stats, and what a read that changed something refreshes:
// the room's meeting times (the scheduler) and its calendar processing diagnosis (the same
// sync/exchange findings as for Graph rooms: they read the
// neutral events, whichever source filled them).

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
	s.mu.Unlock()
	switch {
	case total > 0 && len(bad) == total:
		s.health.Fail(s.component, fmt.Sprintf("no room syncs: %s", summarize(counts)))
	case exhausted:
		s.health.Warn(s.component, fmt.Sprintf("the daily budget of %d Calendar API requests is used up; rooms show what they have until midnight", s.budget.limit))
	case len(bad) > 0:
		sort.Strings(bad)
		s.health.Warn(s.component, fmt.Sprintf("%d of %d rooms not syncing (%s): %s", len(bad), total, summarize(counts), strings.Join(bad[:min(3, len(bad))], ", ")))
	case pending > 0:
		s.health.OK(s.component, fmt.Sprintf("first sync: %d of %d rooms done", total-pending, total))
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
		ProjectedToday: s.budget.projectedToday, Projected24h: s.budget.projected24h, HotInterval: s.hotInterval(&room{}, now),
		ColdInterval: s.coldInterval(&room{}, now), Rooms: map[string]int{}, BudgetExhausted: s.budget.exhausted}
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
		if r.cur.token != "" {
			st.Synced++
		}
	}
	return st
}

// refresh rereads the room's meeting times (the scheduler's hot periods) after a read that
// changed something. Exchange's calendar processing diagnosis (sync/exchange) is not run:
// its signs are Exchange's settings, which a Google resource calendar does not have.
func (s *Syncer) refresh(ctx context.Context, r *room) {
	now := s.clk.Now()
	spans, err := s.st.EventSpans(ctx, r.spec.Mailbox, now.Add(-time.Hour), now.Add(48*time.Hour))
	if err != nil {
		return
	}
	s.mu.Lock()
	r.spans = spans
	if next := now.Add(5 * time.Second); next.Before(s.budget.nextPlan) {
		s.budget.nextPlan = next
	}
	s.mu.Unlock()
}

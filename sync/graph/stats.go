package graph

import (
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// What the syncer reports about itself: Stats (status page, MQTT metrics, bench), and
// Progress and Quiet for tools that drive a fake clock.

// Stats is what the syncer reports about itself (status page, MQTT metrics, bench): the
// figures every source reports, Synced counting the rooms that have a deltaLink.
type Stats = source.Stats

// Stats returns a snapshot.
func (s *Syncer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	st := Stats{Integration: s.name, Type: Type, Budget: s.budget.limit, UsedToday: s.budget.used, ProjectedToday: s.budget.projectedToday,
		Projected24h: s.budget.projected24h, HotInterval: s.hotInterval(), ColdInterval: s.coldInterval(),
		Rooms: map[string]int{}, BudgetExhausted: s.budget.exhausted}
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
		if r.cur.deltaLink != "" {
			st.Synced++
		}
	}
	if s.nt != nil {
		n := s.notifyStats(now)
		st.Notifications = &n
	}
	if s.pr != nil {
		p := s.probeStats(now)
		st.Probe = &p
	}
	return st
}

// Progress is signalled (coalesced) whenever a room's sync step finishes or the budget's plan
// is made; with Quiet it lets tools that drive a fake clock wait until the syncer has caught
// up.
func (s *Syncer) Progress() <-chan struct{} { return s.progress }

// Quiet reports whether no room is mid-step and none is due at the clock's current time, and
// the budget's plan is not due either: a test that advanced the clock past a replan (a room's
// new meeting times ask for one) and read the projection before the loop made it saw the
// plan of before (CI did).
func (s *Syncer) Quiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	if s.steps > 0 || !now.Before(s.budget.nextPlan) || s.notifyBusy(now) || s.probeBusy(now) {
		return false
	}
	for _, r := range s.rooms {
		if !r.due.After(now) {
			return false
		}
	}
	return true
}

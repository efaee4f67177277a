package graph

import (
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// What the syncer reports about itself: Stats (status page, MQTT metrics, bench), and
// Progress and Quiet for tools that drive a fake clock.

// Stats is what the syncer reports about itself (status page, MQTT metrics, bench).
type Stats struct {
	Integration string `json:"integration"`
	// Budget is max_requests_per_day; UsedToday counts Graph requests since local midnight.
	Budget    int64 `json:"budget"`
	UsedToday int64 `json:"used_today"`
	// ProjectedToday is UsedToday plus what the current intervals will spend until midnight;
	// Projected24h is what they spend over a full day from now (never above Budget: the
	// intervals stretch first).
	ProjectedToday int64 `json:"projected_today"`
	Projected24h   int64 `json:"projected_24h"`
	// HotInterval and ColdInterval are the poll intervals in force (after stretching).
	HotInterval  time.Duration  `json:"hot_interval"`
	ColdInterval time.Duration  `json:"cold_interval"`
	Rooms        map[string]int `json:"rooms"` // rooms by status
	HotRooms     int            `json:"hot_rooms"`
	// Synced counts rooms whose last round completed (they have a deltaLink).
	Synced          int  `json:"synced"`
	BudgetExhausted bool `json:"budget_exhausted"`
}

// Stats returns a snapshot.
func (s *Syncer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	st := Stats{Integration: s.name, Budget: s.budget.limit, UsedToday: s.budget.used, ProjectedToday: s.budget.projectedToday,
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
	return st
}

// Progress is signalled (coalesced) whenever a room's sync step finishes; with Quiet it lets
// tools that drive a fake clock wait until the syncer has caught up.
func (s *Syncer) Progress() <-chan struct{} { return s.progress }

// Quiet reports whether no room is mid-step and none is due at the clock's current time.
func (s *Syncer) Quiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	if s.steps > 0 {
		return false
	}
	for _, r := range s.rooms {
		if !r.due.After(now) {
			return false
		}
	}
	return true
}

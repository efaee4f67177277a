package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/otj-edge/otj-edge/agent/telemetry"
)

// fleetFollow is what `fleet --serve` keeps beyond the statuses: each site's retained room
// states (only the sync status word of each) and a count of the events it sent. Its memory is
// bounded per site: the rooms a site has, and a fixed ring of recent event ids.
type fleetFollow struct {
	rooms  map[string]map[string]string // site → room (as in the topic) → sync status
	events map[string]*fleetEvents
}

// eventIDMemory is how many recent event ids per site are remembered to drop duplicates. QoS 1
// delivers a message again only soon after the first time (a PUBACK lost with the link), so a
// short memory catches them without growing.
const eventIDMemory = 64

type fleetEvents struct {
	count, duplicates, errors, warnings int64
	recent                              [eventIDMemory]uint64 // FNV-1a of the ids
	next                                int
	last                                fleetEvent
}

// fleetEvent is the newest event of a site, as served.
type fleetEvent struct {
	Kind  string    `json:"kind"`
	Level string    `json:"level"`
	Time  time.Time `json:"time"`
}

func newFleetFollow() *fleetFollow {
	return &fleetFollow{rooms: map[string]map[string]string{}, events: map[string]*fleetEvents{}}
}

// room applies a retained room state; an empty one clears a room the site no longer has.
func (f *fleetFollow) room(site, room string, payload []byte) {
	if len(payload) == 0 {
		if rs := f.rooms[site]; rs != nil {
			delete(rs, room)
			if len(rs) == 0 {
				delete(f.rooms, site)
			}
		}
		return
	}
	var st struct {
		Sync struct {
			Status string `json:"status"`
		} `json:"sync"`
	}
	status := "invalid"
	if json.Unmarshal(payload, &st) == nil && st.Sync.Status != "" {
		status = st.Sync.Status
	}
	rs := f.rooms[site]
	if rs == nil {
		rs = map[string]string{}
		f.rooms[site] = rs
	}
	rs[room] = status
}

// event counts an event, once per id.
func (f *fleetFollow) event(site string, payload []byte, now time.Time) {
	var e struct {
		ID    string    `json:"id"`
		Kind  string    `json:"kind"`
		Level string    `json:"level"`
		Time  time.Time `json:"time"`
	}
	_ = json.Unmarshal(payload, &e) // an unreadable event still counts: the site sent it
	ev := f.events[site]
	if ev == nil {
		ev = &fleetEvents{}
		f.events[site] = ev
	}
	if e.ID != "" {
		h := fnv.New64a()
		h.Write([]byte(e.ID))
		sum := h.Sum64()
		for _, r := range ev.recent {
			if r == sum {
				ev.duplicates++
				return
			}
		}
		ev.recent[ev.next] = sum
		ev.next = (ev.next + 1) % eventIDMemory
	}
	ev.count++
	switch e.Level {
	case "error":
		ev.errors++
	case "warn", "warning":
		ev.warnings++
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	ev.last = fleetEvent{Kind: e.Kind, Level: e.Level, Time: e.Time}
}

// FleetSummary is what GET /fleet serves: the counts over every site, then the sites.
type FleetSummary struct {
	Sites        int `json:"sites"`
	Online       int `json:"online"`
	Offline      int `json:"offline"`
	Invalid      int `json:"invalid"`
	WithProblems int `json:"with_problems"`
	// Rooms are the retained room states held (every site's, offline ones too);
	// RoomsReported is the sum of the online sites' status "rooms".
	Rooms           int              `json:"rooms"`
	RoomsReported   int              `json:"rooms_reported"`
	RoomsBySync     map[string]int   `json:"rooms_by_sync"`
	Events          int64            `json:"events"`
	EventsDuplicate int64            `json:"events_duplicate"`
	EventsError     int64            `json:"events_error"`
	EventsWarning   int64            `json:"events_warning"`
	StartedAt       time.Time        `json:"started_at"`
	List            []FleetSiteEntry `json:"site_list"`
}

// FleetSiteEntry is one site in GET /fleet.
type FleetSiteEntry struct {
	Site          string      `json:"site"`
	State         string      `json:"state"` // online, offline, invalid, or "" for a site known only from its rooms or events
	Reason        string      `json:"reason,omitempty"`
	Version       string      `json:"version,omitempty"`
	RoomsReported *int        `json:"rooms_reported,omitempty"`
	Rooms         int         `json:"rooms"`
	RoomsNotOK    int         `json:"rooms_not_ok"`
	Problems      int         `json:"problems"`
	Events        int64       `json:"events"`
	LastEvent     *fleetEvent `json:"last_event,omitempty"`
	// StatusUpdatedAt is the status's own updated_at; StatusSeenAt when this view received it.
	StatusUpdatedAt *time.Time `json:"status_updated_at,omitempty"`
	StatusSeenAt    *time.Time `json:"status_seen_at,omitempty"`
}

// summary counts the view; only names the sites listed (every site when it is empty).
func (v *fleetView) summary(only string, started time.Time) FleetSummary {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := FleetSummary{RoomsBySync: map[string]int{}, StartedAt: started}
	names := map[string]bool{}
	for n := range v.sites {
		names[n] = true
	}
	for n := range v.follow.rooms {
		names[n] = true
	}
	for n := range v.follow.events {
		names[n] = true
	}
	for n := range names {
		e := FleetSiteEntry{Site: n}
		if site, ok := v.sites[n]; ok {
			s.Sites++
			seen := site.Seen
			e.StatusSeenAt = &seen
			switch {
			case site.Invalid != "":
				s.Invalid++
				e.State = "invalid"
			default:
				st := site.Status
				e.State, e.Reason, e.Version = st.State, st.Reason, st.Version
				up := st.UpdatedAt
				e.StatusUpdatedAt = &up
				if st.State == telemetry.StateOnline {
					s.Online++
					e.RoomsReported = st.Rooms
					if st.Rooms != nil {
						s.RoomsReported += *st.Rooms
					}
					if st.Health != nil && st.Health.ProblemsTotal > 0 {
						s.WithProblems++
						e.Problems = st.Health.ProblemsTotal
					}
				} else {
					s.Offline++
				}
			}
		}
		for _, status := range v.follow.rooms[n] {
			e.Rooms++
			s.Rooms++
			s.RoomsBySync[status]++
			if status != "ok" {
				e.RoomsNotOK++
			}
		}
		if ev := v.follow.events[n]; ev != nil {
			e.Events = ev.count
			last := ev.last
			e.LastEvent = &last
			s.Events += ev.count
			s.EventsDuplicate += ev.duplicates
			s.EventsError += ev.errors
			s.EventsWarning += ev.warnings
		}
		if only == "" || only == n {
			s.List = append(s.List, e)
		}
	}
	sort.Slice(s.List, func(i, j int) bool { return s.List[i].Site < s.List[j].Site })
	if s.List == nil {
		s.List = []FleetSiteEntry{}
	}
	return s
}

// serve answers GET /fleet (?site=NAME lists that site only, the counts stay the fleet's) on
// addr until ctx ends. The address it listens on goes to stdout first, so a caller that asked
// for port 0 learns the port.
func (v *fleetView) serve(ctx context.Context, stdio IO, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--serve %s: %w", addr, err)
	}
	started := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fleet", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v.summary(r.URL.Query().Get("site"), started))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdio.Stdout, "otj-edge fleet: serving the fleet view on http://%s/fleet\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("--serve %s: %w", addr, err)
	}
}

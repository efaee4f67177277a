package web

import (
	"net/http"
	"strings"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// Page refresh intervals: the overview and lists reload themselves (a technician leaves the
// page open while fixing things); the room page less often; the rules bench never.
const (
	refreshOverview = 30
	refreshLists    = 60
)

type overviewBody struct {
	Status Status
	// Problems is what needs attention, grouped by cause, worst first; Notes need the
	// operator's judgement, not a fix. Each problem shows once, whether a room, an endpoint
	// or a component reports it.
	Problems []Problem
	Notes    []Problem
	Affected int // rooms affected by the problems (each counted once)
	HealthOK int
	Sources  []sourceRow
	Rooms    []countRow // rooms by overall state
	EPStates []countRow
	Events   []Event
}

type sourceRow struct {
	SourceStats
	Over bool // the projection exceeds the budget
}

type countRow struct {
	Key   string
	Count int
}

// levelCounts lists counts of levels best first: ok, pending, warning, error.
func levelCounts(m map[string]int) []countRow {
	var out []countRow
	for _, k := range []string{health.OK, "pending", health.Warning, health.Error} {
		if m[k] > 0 {
			out = append(out, countRow{k, m[k]})
		}
	}
	return out
}

func counts(m map[string]int) []countRow {
	var out []countRow
	for _, k := range sortedKeys(m) {
		out = append(out, countRow{k, m[k]})
	}
	return out
}

func (s *Server) overviewPage(r *http.Request) (*page, error) {
	ctx := r.Context()
	rd := s.reader()
	st, rooms, err := s.status(ctx, rd)
	if err != nil {
		return nil, err
	}
	eps, err := rd.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	events, err := rd.Events(ctx, store.EventFilter{Limit: 10})
	if err != nil {
		return nil, err
	}
	b := overviewBody{Status: st, Rooms: levelCounts(countBy(rooms, func(r Room) string { return r.Overall })), EPStates: counts(st.Endpoints), Events: events}
	for _, it := range st.Health.Items {
		if it.Level == health.OK {
			b.HealthOK++
		}
	}
	for _, g := range st.Sources {
		b.Sources = append(b.Sources, sourceRow{g, g.Budget > 0 && g.Projected24h > g.Budget})
	}
	affected := map[string]bool{}
	for _, p := range Problems(rd.Config, rooms, eps, st.Health.Items) {
		if p.Level == "info" {
			b.Notes = append(b.Notes, p)
			continue
		}
		b.Problems = append(b.Problems, p)
		for _, m := range p.Members {
			if m.Room != "" {
				affected[m.Room] = true
			}
		}
		if p.Kind == "component" && p.Rooms > 0 {
			for _, rm := range rooms { // a component problem that stops rooms: all of its rooms
				if p.Rooms == len(rooms) || "graph/"+rm.Integration == p.Members[0].Name {
					affected[rm.Mailbox] = true
				}
			}
		}
	}
	b.Affected = len(affected)
	return &page{name: "overview", Title: "Overview", Nav: "overview", Refresh: refreshOverview, Age: st.Calendar, Body: b}, nil
}

type roomsBody struct {
	Rooms  []Room
	States []countRow // rooms by overall state
}

func (s *Server) roomsPage(r *http.Request) (*page, error) {
	rd := s.reader()
	rooms, err := rd.Rooms(r.Context())
	if err != nil {
		return nil, err
	}
	return &page{name: "rooms", Title: "Rooms", Nav: "rooms", Refresh: refreshLists, Age: rd.DataAge(rooms),
		Body: roomsBody{Rooms: rooms, States: levelCounts(countBy(rooms, func(r Room) string { return r.Overall }))}}, nil
}

func (s *Server) roomPage(r *http.Request) (*page, error) {
	d, err := s.reader().Room(r.Context(), r.PathValue("room"))
	if err != nil {
		return nil, err
	}
	return &page{name: "room", Title: d.Mailbox, Nav: "rooms", Refresh: refreshLists, Body: d}, nil
}

func (s *Server) endpointsPage(r *http.Request) (*page, error) {
	eps, err := s.reader().Endpoints(r.Context())
	if err != nil {
		return nil, err
	}
	for i := range eps {
		eps[i].Retryable = s.opts.Agent != nil && s.opts.Agent.Pulled(eps[i].Name) == ""
	}
	return &page{name: "endpoints", Title: "Endpoints", Nav: "endpoints", Refresh: refreshOverview, Body: eps}, nil
}

type eventsBody struct {
	Filter store.EventFilter
	Level  string
	Events []Event
}

func (s *Server) eventsPage(r *http.Request) (*page, error) {
	f, err := eventFilter(r)
	if err != nil {
		return nil, err
	}
	if r.URL.Query().Get("n") == "" {
		f.Limit = 200
	}
	events, err := s.reader().Events(r.Context(), f)
	if err != nil {
		return nil, err
	}
	return &page{name: "events", Title: "Events", Nav: "events", Refresh: refreshOverview,
		Body: eventsBody{Filter: f, Level: strings.Join(f.Levels, ","), Events: events}}, nil
}

type rulesBody struct {
	Profiles []string
	Input    RulesInput
	Outcome  *rulesOutcome
	Error    string
}

// maxInvite bounds a pasted invite.
const maxInvite = 4 << 20

func (s *Server) rulesPage(r *http.Request) (*page, error) {
	cfg := s.opts.Agent.Config()
	b := rulesBody{Input: RulesInput{Format: FormatAuto}}
	if cfg != nil {
		for _, p := range cfg.Profiles {
			b.Profiles = append(b.Profiles, p.Name)
		}
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(nil, r.Body, maxInvite)
		if err := r.ParseForm(); err != nil {
			return nil, errBadRequest("the form could not be read: " + err.Error())
		}
		b.Input = RulesInput{
			Profile:  r.PostForm.Get("profile"),
			Format:   r.PostForm.Get("format"),
			Invite:   r.PostForm.Get("invite"),
			Subject:  r.PostForm.Get("subject"),
			Location: r.PostForm.Get("location"),
		}
		out, err := s.rulesTest(r.Context(), cfg, b.Input)
		if err != nil {
			if statusOf(err) >= 500 {
				return nil, err
			}
			b.Error = err.Error()
		} else {
			b.Outcome = &out
		}
	}
	if b.Input.Profile == "" && len(b.Profiles) > 0 {
		b.Input.Profile = b.Profiles[0]
	}
	return &page{name: "rules", Title: "Rules test", Nav: "rules", Body: b}, nil
}

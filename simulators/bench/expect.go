package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// What "a codec shows its right bookings" means: the room's calendar as graphsim holds it,
// read through graphsim's admin API (not through Graph, so it costs the site no request),
// resolved with the same profile rules (sync/rules) and turned into the same Bookings Put
// document (device/cisco) as the agent does, for the codec's firmware. Two strategies that
// deliver the calendar correctly agree with it; the check compares the bookings that start
// from the moment of the check to the end of the pushed window (id, title, start, duration),
// so meetings rolling off the past edge of the window never make it flicker.

// site is what the checks know of one simulated site.
type site struct {
	graphAdmin, ciscoAdmin string
	// ewsAdmin is ewssim's admin API when otj-sim serves the calendars over EWS too ("" when
	// not); it mounts graphsim's, so graphAdmin edits the same calendars.
	ewsAdmin string
	past     time.Duration // cisco.window_past
	days     int           // cisco.window_days
	codecs   []*codecPlan
	byRoom   map[string]*codecPlan
	webex    *webexSite // the Webex devices (scenario_webex.go); nil without
}

// codecPlan is one codec, its room and the room's resolved meetings.
type codecPlan struct {
	name, room string
	profile    *rules.Profile
	fw         cisco.Firmware
	meetings   []calendar.Meeting
	single     map[string]bool // event ids of single-instance events (safe to edit)
}

// loadSite reads the generated agent config (profiles, window, codecs) and each codec's
// firmware from ciscosim.
func loadSite(ctx context.Context, s *harness.Sim) (*site, error) {
	cfg, err := config.Load(s.File.Agent.Config)
	if err != nil {
		return nil, fmt.Errorf("read the generated config: %w", err)
	}
	st := &site{ciscoAdmin: s.File.CiscoAdmin, past: *cfg.Cisco.WindowPast,
		days: *cfg.Cisco.WindowDays, byRoom: map[string]*codecPlan{}}
	if s.File.Graph != nil {
		st.graphAdmin = s.File.Graph.Admin
	}
	if err := ewsSite(s, st); err != nil {
		return nil, err
	}
	profiles := map[string]*rules.Profile{}
	for i := range cfg.Profiles {
		p, err := cfg.Profiles[i].Compile()
		if err != nil {
			return nil, fmt.Errorf("compile profile %s: %w", cfg.Profiles[i].Name, err)
		}
		profiles[cfg.Profiles[i].Name] = p
	}
	var fleet []struct {
		Name    string `json:"name"`
		Profile string `json:"profile"`
	}
	if err := harness.GetJSON(ctx, st.ciscoAdmin+"/codecs", &fleet); err != nil {
		return nil, fmt.Errorf("list codecs: %w", err)
	}
	fw := map[string]cisco.Firmware{}
	for _, c := range fleet {
		p, ok := ciscosim.Profiles[c.Profile]
		if !ok {
			return nil, fmt.Errorf("codec %s has an unknown profile %q", c.Name, c.Profile)
		}
		fw[c.Name] = cisco.ParseFirmware(p.Version, p.DisplayName)
	}
	for _, e := range cfg.Endpoints {
		if e.Type != config.EndpointCisco {
			continue
		}
		f, ok := fw[e.Name]
		if !ok {
			return nil, fmt.Errorf("codec %s is in the config but not in ciscosim", e.Name)
		}
		c := &codecPlan{name: e.Name, room: e.Room, profile: profiles[e.Profile], fw: f}
		if c.profile == nil {
			return nil, fmt.Errorf("codec %s: no profile %q", e.Name, e.Profile)
		}
		st.codecs = append(st.codecs, c)
		if st.byRoom[e.Room] == nil {
			st.byRoom[e.Room] = c
		}
	}
	return st, loadWebexSite(ctx, s, cfg, st)
}

// resolve reads every codec's room calendar from graphsim and resolves it (not timed).
func (st *site) resolve(ctx context.Context, now time.Time) error {
	from, to := now.Add(-24*time.Hour), now.Add(time.Duration(st.days+2)*24*time.Hour)
	q := url.Values{"start": {from.UTC().Format(time.RFC3339)}, "end": {to.UTC().Format(time.RFC3339)}}
	all := st.codecs
	if st.webex != nil {
		all = append(slices.Clip(all), st.webex.plans...)
	}
	return forEach(ctx, all, 8, func(ctx context.Context, c *codecPlan) error {
		var page struct {
			Value []calendar.Event `json:"value"`
		}
		if err := harness.GetJSON(ctx, st.graphAdmin+"/rooms/"+url.PathEscape(c.room)+"/calendarView?"+q.Encode(), &page); err != nil {
			return fmt.Errorf("read %s's calendar: %w", c.room, err)
		}
		c.meetings = c.profile.ResolveRoom(c.room, page.Value, now)
		c.single = map[string]bool{}
		for _, ev := range page.Value {
			if ev.Type == "" || ev.Type == "singleInstance" {
				c.single[ev.ID] = true
			}
		}
		return nil
	})
}

// bookingKey is what the check compares of one booking.
type bookingKey struct {
	id, title string
	start     time.Time
	minutes   int
}

func keyOf(id, title, start string, minutes int) bookingKey {
	t, _ := time.Parse(time.RFC3339, start)
	return bookingKey{id: id, title: title, start: t.UTC(), minutes: minutes}
}

// want is the set of bookings the codec must show at now, from now to the window's end.
func (st *site) want(c *codecPlan, now time.Time) map[bookingKey]bool {
	from, to := cisco.Window(now, time.Local, st.past, st.days)
	var shown []calendar.Meeting
	for _, m := range c.meetings {
		if m.End.After(from) && m.Start.Before(to) {
			shown = append(shown, m)
		}
	}
	out := map[bookingKey]bool{}
	for _, b := range cisco.BuildPayload(shown, c.fw).Bookings {
		k := keyOf(b.ID, b.Title, b.Time.StartTime, b.Time.Duration)
		if !k.start.Before(now) && k.start.Before(to) {
			out[k] = true
		}
	}
	return out
}

// shows is the same set from what the codec holds.
func (st *site) shows(bookings []ciscosim.Booking, now time.Time) map[bookingKey]bool {
	_, to := cisco.Window(now, time.Local, st.past, st.days)
	out := map[bookingKey]bool{}
	for _, b := range bookings {
		k := keyOf(b.Id, b.Title, b.Time.StartTime, b.Time.Duration)
		if !k.start.Before(now) && k.start.Before(to) {
			out[k] = true
		}
	}
	return out
}

func sameSet(a, b map[bookingKey]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// diff describes how two sets differ, for error messages.
func diff(want, got map[bookingKey]bool) string {
	missing, extra := 0, 0
	var first string
	for k := range want {
		if !got[k] {
			missing++
			if first == "" {
				first = fmt.Sprintf("missing %q %q %s", k.id, k.title, k.start.Format(time.RFC3339))
			}
		}
	}
	for k := range got {
		if !want[k] {
			extra++
			if first == "" {
				first = fmt.Sprintf("unexpected %q %q %s", k.id, k.title, k.start.Format(time.RFC3339))
			}
		}
	}
	return fmt.Sprintf("%d missing, %d unexpected (%s)", missing, extra, first)
}

// codecBookings reads a codec's current bookings.
func (st *site) codecBookings(ctx context.Context, name string) ([]ciscosim.Booking, error) {
	var p ciscosim.PutPayload
	err := harness.GetJSON(ctx, st.deviceAdmin(name)+"/bookings", &p)
	return p.Bookings, err
}

// codecPutCounts reads how many Puts each ciscosim codec has received (Webex devices are not
// in it).
func (st *site) codecPutCounts(ctx context.Context) (map[string]int, error) {
	var n map[string]int
	if err := harness.GetJSON(ctx, st.ciscoAdmin+"/codecs/puts", &n); err != nil {
		return nil, fmt.Errorf("read ciscosim's Put counts: %w", err)
	}
	return n, nil
}

// codecPuts reads every Put a codec received.
func (st *site) codecPuts(ctx context.Context, name string) ([]ciscosim.PutRecord, error) {
	var p struct {
		Puts []ciscosim.PutRecord `json:"puts"`
	}
	err := harness.GetJSON(ctx, st.deviceAdmin(name)+"/puts", &p)
	return p.Puts, err
}

// deviceAdmin is the admin API path of a codec or Webex device (webexsim records the same).
func (st *site) deviceAdmin(name string) string {
	if st.webex != nil && st.webex.byName[name] {
		return st.webex.admin + "/devices/" + url.PathEscape(name)
	}
	return st.ciscoAdmin + "/codecs/" + url.PathEscape(name)
}

// forEach runs fn for every item on at most n goroutines and returns the first error.
func forEach[T any](ctx context.Context, items []T, n int, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan T)
	errs := make(chan error, n)
	for range n {
		go func() {
			var first error
			for it := range work {
				if first != nil {
					continue
				}
				if err := fn(ctx, it); err != nil {
					first = err
					cancel()
				}
			}
			errs <- first
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

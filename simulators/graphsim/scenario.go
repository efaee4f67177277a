package graphsim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"
)

// Scenario describes generated calendars: rooms × meetings over the coming days, with realistic
// invites of every provider, private, cancelled and recurring meetings (with exceptions), some
// meetings running or about to start, and optionally two misconfigured rooms. The same seed
// gives the same calendars.
type Scenario struct {
	Rooms    []string  `json:"rooms"`
	Meetings int       `json:"meetings"` // per room, occurrences included; default 40; negative: none
	Days     int       `json:"days"`     // meetings fall in [today, today+days); default 7
	Seed     int64     `json:"seed"`
	Now      time.Time `json:"now"`  // the scenario's "now"; default the simulator's clock
	Zone     string    `json:"zone"` // IANA zone of working hours; default Now's zone
	// ShiftMinutes moves the working day's grid (the single meetings' half hours, the series'
	// start times) by -30..30 minutes; default 0, meetings on the hour and half hour. With Zone
	// it puts "now" at a chosen minute of the simulated working day (the benchmarks).
	ShiftMinutes int `json:"shift_minutes,omitempty"`
	// Problems makes the second-to-last room keep Exchange's default processing (organizer as
	// subject, bodies deleted, private flags cleared, external invites declined) and puts the
	// last room outside the app's access policy (403). Needs at least 3 rooms.
	Problems bool `json:"problems"`
	// Processing overrides the calendar processing of some rooms (by mailbox).
	Processing map[string]Processing `json:"processing,omitempty"`
}

// Summary says what Load generated.
type Summary struct {
	Rooms     int               `json:"rooms"`
	Events    int               `json:"events"`    // single meetings and series posted
	Series    int               `json:"series"`    // recurring series among them
	Instances int               `json:"instances"` // meetings on the calendars in the period, occurrences counted
	Refused   int               `json:"refused"`   // invites the rooms' processing declined
	Cancelled int               `json:"cancelled"` // meetings the organizer cancelled (kept as "Canceled: …")
	Providers map[string]int    `json:"providers"` // invites by provider
	Problems  map[string]string `json:"problems,omitempty"`
	// SoonestStart is the earliest meeting start after Now.
	SoonestStart time.Time `json:"soonest_start"`
}

// Load adds the scenario's rooms (with the recommended processing, except the problem rooms) and
// delivers its invites.
func (s *Server) Load(sc Scenario) (Summary, error) {
	if len(sc.Rooms) == 0 {
		return Summary{}, errors.New("scenario: no rooms")
	}
	if sc.Meetings == 0 {
		sc.Meetings = 40
	}
	if sc.Days <= 0 {
		sc.Days = 7
	}
	if sc.ShiftMinutes < -30 || sc.ShiftMinutes > 30 {
		return Summary{}, fmt.Errorf("scenario: shift_minutes %d: want -30..30", sc.ShiftMinutes)
	}
	sc.Now = s.nowOr(sc.Now)
	loc := sc.Now.Location()
	if sc.Zone != "" {
		var err error
		if loc, err = time.LoadLocation(sc.Zone); err != nil {
			return Summary{}, fmt.Errorf("scenario: zone: %w", err)
		}
	}
	sum := Summary{Providers: map[string]int{}, Problems: map[string]string{}}
	yes, no := true, false
	for i, room := range sc.Rooms {
		r := Room{Mailbox: room, Processing: ptr(Recommended()), InPolicy: &yes}
		if sc.Problems && len(sc.Rooms) >= 3 {
			switch i {
			case len(sc.Rooms) - 2:
				r.Processing = ptr(ExchangeDefaults())
				sum.Problems[room] = "Exchange's default calendar processing (subject replaced by the organizer, body deleted, private flag cleared, external invites declined)"
			case len(sc.Rooms) - 1:
				r.InPolicy = &no
				sum.Problems[room] = "outside the application access policy (Graph answers 403 Access to OData is disabled)"
			}
		}
		if p, ok := sc.Processing[room]; ok {
			r.Processing = ptr(p)
		}
		if err := s.AddRoom(r); err != nil {
			return sum, err
		}
	}
	for i, room := range sc.Rooms {
		if err := s.generateRoom(&sum, sc, loc, i, room); err != nil {
			return sum, fmt.Errorf("scenario: room %s: %w", room, err)
		}
	}
	sum.Rooms = len(sc.Rooms)
	return sum, nil
}

func ptr[T any](v T) *T { return &v }

type span struct{ start, end time.Time }

func overlaps(busy []span, st, en time.Time) bool {
	for _, b := range busy {
		if st.Before(b.end) && en.After(b.start) {
			return true
		}
	}
	return false
}

// generateRoom writes one room's calendar.
func (s *Server) generateRoom(sum *Summary, sc Scenario, loc *time.Location, index int, room string) error {
	h := fnv.New64a()
	h.Write([]byte(room))
	rng := rand.New(rand.NewPCG(uint64(sc.Seed), h.Sum64()))
	now := sc.Now.In(loc)
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	periodEnd := day0.AddDate(0, 0, sc.Days)
	zone := loc.String()
	if zone == "Local" || zone == "" {
		zone, loc = "UTC", time.UTC // post wall times as UTC: the zone has no IANA name here
		now, day0, periodEnd = now.UTC(), day0.UTC(), periodEnd.UTC()
	}
	var busy []span
	count := 0
	shift := time.Duration(sc.ShiftMinutes) * time.Minute
	tenantDomain := s.opts.TenantDomain
	if _, d, ok := cutAt(room); ok {
		tenantDomain = d
	}

	// forced makes the first singles of every room include private and external meetings,
	// as any busy room's week does (so a clean room never looks like one that strips them).
	type forced struct{ private, external bool }
	post := func(start, end time.Time, provider string, rec map[string]any, force forced) (string, error) {
		topic := topics[rng.IntN(len(topics))]
		host := randomPerson(rng, tenantDomain)
		external := force.external
		switch provider {
		case ProviderZoom, ProviderWebex, ProviderMeet:
			external = external || rng.IntN(2) == 0
		case ProviderTeams, ProviderNone:
			external = external || rng.IntN(10) == 0
		}
		if external {
			host = randomPerson(rng, externalDomains[rng.IntN(len(externalDomains))])
		}
		inv := makeInvite(rng, provider, s.opts.Tenant, topic, host)
		ev := map[string]any{
			"subject":    inv.subject,
			"body":       map[string]any{"contentType": "html", "content": inv.body},
			"start":      map[string]any{"dateTime": start.In(loc).Format("2006-01-02T15:04:05.0000000"), "timeZone": zone},
			"end":        map[string]any{"dateTime": end.In(loc).Format("2006-01-02T15:04:05.0000000"), "timeZone": zone},
			"organizer":  map[string]any{"emailAddress": map[string]any{"name": host.name, "address": host.addr}},
			"showAs":     "busy",
			"importance": "normal",
			"sensitivity": func() string {
				if rng.IntN(100) < 10 || force.private {
					return "private"
				}
				return "normal"
			}(),
			"isOnlineMeeting":       inv.online,
			"onlineMeetingProvider": "unknown",
		}
		atts := []any{}
		for range 1 + rng.IntN(4) {
			p := randomPerson(rng, tenantDomain)
			atts = append(atts, map[string]any{"type": "required", "status": map[string]any{"response": "none", "time": "0001-01-01T00:00:00Z"},
				"emailAddress": map[string]any{"name": p.name, "address": p.addr}})
		}
		ev["attendees"] = atts
		if inv.location != "" {
			ev["location"] = map[string]any{"displayName": inv.location, "locationType": "default", "uniqueIdType": "private"}
			ev["locations"] = []any{map[string]any{"displayName": inv.location, "locationType": "default", "uniqueIdType": "private"}}
		}
		if inv.online {
			ev["onlineMeetingProvider"] = "teamsForBusiness"
			ev["onlineMeeting"] = map[string]any{"joinUrl": inv.joinURL, "conferenceId": inv.confID, "tollNumber": "+1 555-555-0100"}
		}
		if rec != nil {
			ev["recurrence"] = rec
		}
		id, err := s.PostEvent(room, ev)
		var refused *InviteRefused
		if errors.As(err, &refused) {
			sum.Refused++
			return "", nil
		}
		if err != nil {
			return "", err
		}
		sum.Events++
		sum.Providers[provider]++
		return id, nil
	}
	place := func(st, en time.Time) {
		busy = append(busy, span{st, en})
		if st.Before(periodEnd) && en.After(day0) {
			count++
		}
		if st.After(sc.Now) && (sum.SoonestStart.IsZero() || st.Before(sum.SoonestStart)) {
			sum.SoonestStart = st
		}
	}

	// Something about to start (the first room always; a quarter of the others), or running.
	minute := now.Truncate(time.Minute)
	switch {
	case sc.Meetings <= 0: // rooms only: the caller brings its own meetings
	case index == 0 || rng.IntN(4) == 0:
		lead := 3 * time.Minute
		if index != 0 {
			lead = time.Duration(2+rng.IntN(20)) * time.Minute
		}
		st := minute.Add(lead)
		en := st.Add(time.Duration(30*(1+rng.IntN(2))) * time.Minute)
		if _, err := post(st, en, pickVideoProvider(rng), nil, forced{}); err != nil {
			return err
		}
		place(st, en)
	case rng.IntN(6) == 0:
		st := minute.Add(-time.Duration(5+rng.IntN(16)) * time.Minute)
		en := st.Add(time.Duration(45+15*rng.IntN(2)) * time.Minute)
		if _, err := post(st, en, pickVideoProvider(rng), nil, forced{}); err != nil {
			return err
		}
		place(st, en)
	}

	// Recurring series: a weekday stand-up and a weekly meeting, each with an exception (moved
	// and renamed) and a deleted occurrence inside the period.
	if sc.Meetings >= 10 {
		series := []struct {
			days   []any
			hour   int
			dur    time.Duration
			chance int
		}{
			{[]any{"monday", "tuesday", "wednesday", "thursday", "friday"}, 9, time.Duration(15*(1+rng.IntN(2))) * time.Minute, 60},
			{[]any{[]string{"monday", "tuesday", "wednesday", "thursday", "friday"}[rng.IntN(5)]}, 14, time.Hour, 50},
		}
		for _, se := range series {
			if rng.IntN(100) >= se.chance {
				continue
			}
			first := day0.AddDate(0, 0, -7).Add(time.Duration(se.hour)*time.Hour + time.Duration(30*rng.IntN(2))*time.Minute + shift)
			for !onDays(se.days, first) {
				first = first.AddDate(0, 0, 1)
			}
			rec := map[string]any{
				"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": se.days, "firstDayOfWeek": "sunday"},
				"range": map[string]any{"type": "endDate", "startDate": first.Format("2006-01-02"),
					"endDate": day0.AddDate(0, 0, 60).Format("2006-01-02"), "recurrenceTimeZone": zone},
			}
			parsed, err := parseRecurrence(rec, first.UTC(), loc)
			if err != nil {
				return err
			}
			var occ []time.Time
			clash := false
			parsed.each(first.UTC(), loc, day0.UTC(), periodEnd.UTC(), func(t time.Time) {
				if !t.Before(day0) {
					occ = append(occ, t)
					clash = clash || overlaps(busy, t, t.Add(se.dur))
				}
			})
			if clash || len(occ) < 3 {
				continue
			}
			id, err := post(first, first.Add(se.dur), pickVideoProvider(rng), rec, forced{})
			if err != nil || id == "" {
				if err != nil {
					return err
				}
				continue
			}
			sum.Series++
			for _, t := range occ {
				place(t, t.Add(se.dur))
			}
			// An exception: one occurrence moved by 30 minutes and renamed.
			moved := occ[1]
			newStart := moved.Add(30 * time.Minute)
			if !overlaps(busy, newStart, newStart.Add(se.dur)) {
				if _, err := s.PatchEvent(room, occurrenceID(id, moved), map[string]any{
					"subject": "Moved: this week's session",
					"start":   map[string]any{"dateTime": newStart.In(loc).Format("2006-01-02T15:04:05.0000000"), "timeZone": zone},
					"end":     map[string]any{"dateTime": newStart.Add(se.dur).In(loc).Format("2006-01-02T15:04:05.0000000"), "timeZone": zone},
				}); err != nil {
					return err
				}
				busy = append(busy, span{newStart, newStart.Add(se.dur)})
			}
			// A deleted occurrence.
			if err := s.DeleteEvent(room, occurrenceID(id, occ[2])); err != nil {
				return err
			}
			count--
		}
	}

	// Single meetings in working hours until the room has its share.
	durations := []time.Duration{30 * time.Minute, 30 * time.Minute, 45 * time.Minute, time.Hour, time.Hour, 90 * time.Minute}
	singles := 0
	for attempts := 0; count < sc.Meetings && attempts < sc.Meetings*50; attempts++ {
		day := day0.AddDate(0, 0, rng.IntN(sc.Days))
		st := day.Add(8*time.Hour + time.Duration(30*rng.IntN(20))*time.Minute + shift)
		en := st.Add(durations[rng.IntN(len(durations))])
		if overlaps(busy, st, en) {
			continue
		}
		provider := pickProvider(rng)
		force := forced{private: singles < 2, external: singles == 2 || singles == 3}
		singles++
		id, err := post(st, en, provider, nil, force)
		if err != nil {
			return err
		}
		if id == "" {
			continue
		}
		place(st, en)
		if rng.IntN(100) < 4 {
			if err := s.CancelEvent(room, id); err != nil {
				return err
			}
			sum.Cancelled++
		}
	}
	sum.Instances += count
	return nil
}

// pickVideoProvider picks a provider with a join address (for meetings about to start).
func pickVideoProvider(rng *rand.Rand) string {
	for {
		if p := pickProvider(rng); p != ProviderNone && p != ProviderAudio {
			return p
		}
	}
}

// onDays reports whether t falls on one of the pattern's days.
func onDays(days []any, t time.Time) bool {
	for _, d := range days {
		if wd, ok := weekdays[fmt.Sprint(d)]; ok && wd == t.Weekday() {
			return true
		}
	}
	return false
}

func cutAt(addr string) (string, string, bool) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[:i], addr[i+1:], true
		}
	}
	return addr, "", false
}

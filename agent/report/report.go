// Package report makes the site's daily report (seed 001's "Send daily report"): once a day,
// for the day before, rooms synced and failing (and why), bookings pushed to Cisco codecs,
// Poly polls, each integration's requests against its budget, and the meetings that had a
// Join button but were not joined from the room. Everything comes from the store: the rooms'
// and endpoints' rows, the requests each source counts there, and the events drivers record
// in its event log (folded into a per-day tally as they happen, because the log keeps only
// the newest events). The report itself is kept in the store, so the status page, `otj-edge
// report` and MQTT (retained) show the same one, with or without the agent running.
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// Store keys (the store's key-value table).
const (
	// KeyLatest holds the newest report as JSON.
	KeyLatest = "report.latest"
	// KeyLastDay is the day (2006-01-02) of the newest report: the one that must not be made
	// twice, across restarts.
	KeyLastDay = "report.last_day"
	// Topic is the store change topic announced when a new report is kept.
	Topic = "report"
)

// Caps on the lists, so a report of a large site stays a reasonable MQTT message; the
// totals still count everything.
const (
	MaxListed = 200
)

// Report is one day's report.
type Report struct {
	ID          string    `json:"id"`
	Site        string    `json:"site"`
	Day         string    `json:"day"`  // the reported day, local: 2006-01-02
	From        time.Time `json:"from"` // the day's span (local midnight to midnight), UTC
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`

	Rooms        Rooms         `json:"rooms"`
	Cisco        Cisco         `json:"cisco"`
	Poly         Poly          `json:"poly"`
	Integrations []Integration `json:"integrations"`
	Meetings     Meetings      `json:"meetings"`
	// Coverage says whether the counts from the event log cover the whole day.
	Coverage Coverage `json:"coverage"`
}

// Rooms are the rooms' calendar sync, as it stands when the report is made.
type Rooms struct {
	Total int `json:"total"`
	// Synced counts rooms whose calendar was read successfully during the day or since.
	Synced  int           `json:"synced"`
	Failing []FailingRoom `json:"failing"` // status word other than ok, worst news first
}

// FailingRoom is a room whose sync is not ok, with the shared status word and its detail.
type FailingRoom struct {
	Room        string     `json:"room"`
	Integration string     `json:"integration"`
	Status      string     `json:"status"`
	Detail      string     `json:"detail,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
}

// Cisco sums up the day's pushes to Cisco codecs.
type Cisco struct {
	Endpoints    int            `json:"endpoints"`
	Pushes       int            `json:"pushes"` // booking lists that changed and were accepted
	PushFailures int            `json:"push_failures"`
	EndpointsOK  int            `json:"endpoints_pushed"` // endpoints with at least one accepted push
	Problems     []EndpointLine `json:"problems"`         // endpoints with refusals or not up now
}

// Poly sums up the day's Poly polls.
type Poly struct {
	Endpoints int `json:"endpoints"`
	// Polled counts endpoints whose last poll is during the day or since (the calendar
	// service records each endpoint's last poll, not every poll).
	Polled     int            `json:"polled"`
	NotPolling int            `json:"not_polling_alarms"` // "endpoint not polling" alarms raised during the day
	Problems   []EndpointLine `json:"problems"`
}

// EndpointLine is an endpoint worth a look.
type EndpointLine struct {
	Name     string     `json:"name"`
	Room     string     `json:"room"`
	State    string     `json:"state"`
	Detail   string     `json:"detail,omitempty"`
	Failures int        `json:"failures,omitempty"`
	Alarms   int        `json:"not_polling_alarms,omitempty"`
	LastPoll *time.Time `json:"last_poll,omitempty"`
}

// Integration is one calendar source's requests of the day against its daily budget.
type Integration struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`
	Requests int64   `json:"requests"`
	Budget   int64   `json:"budget"`
	Percent  float64 `json:"percent"`
}

// Meetings are the day's meetings with a Join button on a Cisco codec, joined or not.
type Meetings struct {
	Joined         int         `json:"joined"`
	NotJoinedTotal int         `json:"not_joined_total"`
	NotJoined      []NotJoined `json:"not_joined"` // the first MaxListed, by start
}

// NotJoined is a meeting that had a Join button and ended without a call from the room.
type NotJoined struct {
	Room     string    `json:"room"`
	Endpoint string    `json:"endpoint"`
	Start    time.Time `json:"start"`
	// Subject is what the codec showed; empty for a private meeting (Private true) or when
	// the event did not say whether it was private.
	Subject  string `json:"subject,omitempty"`
	Private  bool   `json:"private,omitempty"`
	Platform string `json:"platform,omitempty"`
}

// Coverage tells whether the event log's counts cover the whole day.
type Coverage struct {
	Complete bool   `json:"complete"`
	Note     string `json:"note,omitempty"`
}

// Requests returns each integration's requests on the local day starting at day, and its
// budget. The agent fills it from its source table.
type Requests func(ctx context.Context, day time.Time) ([]Integration, error)

// Latest reads the newest report from the store; ok is false when none was made yet.
func Latest(ctx context.Context, st *store.Store) (Report, bool, error) {
	v, ok, err := st.Get(ctx, KeyLatest)
	if err != nil || !ok || v == "" {
		return Report{}, false, err
	}
	var r Report
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return Report{}, false, fmt.Errorf("read the daily report: %w", err)
	}
	return r, true, nil
}

// LatestJSON is the newest report as kept (the MQTT payload); nil when none was made yet.
func LatestJSON(ctx context.Context, st *store.Store) ([]byte, error) {
	v, ok, err := st.Get(ctx, KeyLatest)
	if err != nil || !ok || v == "" {
		return nil, err
	}
	return []byte(v), nil
}

// Compute makes the report of the local day [from, to) with the rooms and endpoints as they
// stand now and the day's tally.
func Compute(ctx context.Context, st *store.Store, site string, from, to, now time.Time, reqs Requests) (Report, error) {
	r := Report{ID: store.NewMessageID(), Site: site, Day: from.Format("2006-01-02"), From: from.UTC(), To: to.UTC(),
		GeneratedAt: now.UTC(), Integrations: []Integration{}}
	rooms, err := st.Rooms(ctx)
	if err != nil {
		return r, fmt.Errorf("daily report: %w", err)
	}
	r.Rooms = roomsOf(rooms, from)
	eps, err := st.Endpoints(ctx)
	if err != nil {
		return r, fmt.Errorf("daily report: %w", err)
	}
	t, err := loadTally(ctx, st, r.Day)
	if err != nil {
		return r, err
	}
	r.Cisco, r.Poly = endpointsOf(eps, t, from)
	r.Meetings = meetingsOf(t)
	r.Coverage = coverageOf(t, from)
	if reqs != nil {
		in, err := reqs(ctx, from)
		if err != nil {
			return r, fmt.Errorf("daily report: requests: %w", err)
		}
		for i := range in {
			if in[i].Budget > 0 {
				in[i].Percent = float64(int64(float64(in[i].Requests)*1000/float64(in[i].Budget))) / 10
			}
		}
		r.Integrations = append(r.Integrations, in...)
	}
	return r, nil
}

func roomsOf(rooms []store.RoomState, from time.Time) Rooms {
	out := Rooms{Total: len(rooms), Failing: []FailingRoom{}}
	for _, rm := range rooms {
		if !rm.LastSuccess.IsZero() && !rm.LastSuccess.Before(from) {
			out.Synced++
		}
		if rm.Status == "ok" {
			continue
		}
		f := FailingRoom{Room: rm.Mailbox, Integration: rm.Integration, Status: rm.Status, Detail: rm.StatusDetail}
		if !rm.LastSuccess.IsZero() {
			ls := rm.LastSuccess.UTC()
			f.LastSuccess = &ls
		}
		out.Failing = append(out.Failing, f)
	}
	// Grouped by status word, so the causes read together.
	sort.SliceStable(out.Failing, func(i, j int) bool {
		a, b := out.Failing[i], out.Failing[j]
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Room < b.Room
	})
	if len(out.Failing) > MaxListed {
		out.Failing = out.Failing[:MaxListed]
	}
	return out
}

func endpointsOf(eps []store.EndpointState, t *tally, from time.Time) (Cisco, Poly) {
	c := Cisco{Problems: []EndpointLine{}}
	p := Poly{Problems: []EndpointLine{}}
	for _, e := range eps {
		switch e.Type {
		case "cisco":
			c.Endpoints++
			pushes, failures := t.Pushes[e.Name], t.PushFailures[e.Name]
			c.Pushes += pushes
			c.PushFailures += failures
			if pushes > 0 {
				c.EndpointsOK++
			}
			if (failures > 0 || e.State != store.EndpointUp) && len(c.Problems) < MaxListed {
				c.Problems = append(c.Problems, EndpointLine{Name: e.Name, Room: e.Room, State: e.State, Detail: e.Detail, Failures: failures})
			}
		case "poly":
			p.Endpoints++
			alarms := t.NotPolling[e.Name]
			p.NotPolling += alarms
			polled := !e.LastPoll.IsZero() && !e.LastPoll.Before(from)
			if polled {
				p.Polled++
			}
			if (!polled || alarms > 0 || e.State != store.EndpointUp) && len(p.Problems) < MaxListed {
				l := EndpointLine{Name: e.Name, Room: e.Room, State: e.State, Detail: e.Detail, Alarms: alarms}
				if !e.LastPoll.IsZero() {
					lp := e.LastPoll.UTC()
					l.LastPoll = &lp
				}
				p.Problems = append(p.Problems, l)
			}
		}
	}
	return c, p
}

func meetingsOf(t *tally) Meetings {
	m := Meetings{Joined: t.Joined, NotJoinedTotal: t.NotJoinedTotal, NotJoined: append([]NotJoined{}, t.NotJoined...)}
	sort.SliceStable(m.NotJoined, func(i, j int) bool {
		a, b := m.NotJoined[i], m.NotJoined[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.Room < b.Room
	})
	return m
}

func coverageOf(t *tally, from time.Time) Coverage {
	switch {
	case t.Missed > 0:
		return Coverage{Note: fmt.Sprintf("about %d events of the day were trimmed from the store's event log before they were counted: the counts are low", t.Missed)}
	case !t.Since.IsZero() && t.Since.After(from):
		return Coverage{Note: "events were counted from " + t.Since.UTC().Format(time.RFC3339) + " on (the agent started counting then)"}
	}
	return Coverage{Complete: true}
}

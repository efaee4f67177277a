package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// The right bookings for a codec, as the soak defines them:
//   - the set of booking ids (iCalUId@start) is the set of the room's events in Graph (graphsim's calendar
//     view, not cancelled) that overlap the pushed window [now-window_past, end of today +
//     window_days) — an event within edgeSlack of either edge may be there or not;
//   - a meeting the agent resolved without a Join button (or with a WebRTC link of a
//     platform other than Teams or Meet) may be there or not: whether a codec can show it
//     depends on its firmware (Protocol None needs RoomOS 26);
//   - each booking's start and duration are the event's in Graph;
//   - each booking's number is the one the agent resolved for that meeting (its store, read
//     through /api/meetings): the rules are tested elsewhere, the soak checks that what was
//     resolved is what the codec has.
// The comparison never reads what the agent pushed, only what the codec holds.

const edgeSlack = 2 * time.Minute

// pushWindow is the Cisco window for the soak's configs (window_past 1h, window_days 1,
// the machine's time zone).
func pushWindow(now time.Time) (time.Time, time.Time) {
	ln := now.Local()
	return now.Add(-time.Hour), time.Date(ln.Year(), ln.Month(), ln.Day()+2, 0, 0, 0, 0, time.Local)
}

// bookingID is the id a codec booking of this occurrence carries: its iCalUId (the Graph id
// when there is none) and its start, hashed when longer than 128 characters
// (sync/rules.BookingID); restated so the check does not call the code it checks.
func bookingID(ev calendar.Event, start time.Time) string {
	base := ev.ICalUID
	if base == "" {
		base = ev.ID
	}
	id := base + "@" + start.UTC().Format("20060102T150405Z")
	if len(id) <= 128 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "otj-" + hex.EncodeToString(sum[:24])
}

// compareBookings lists every way the codec's bookings differ from the right ones; empty
// means they match.
func compareBookings(truth []calendar.Event, resolved []web.Meeting, got []ciscosim.Booking, from, to time.Time) []string {
	numbers := map[string]string{}
	noButton := map[string]bool{}
	for _, m := range resolved {
		numbers[m.ID] = m.Number
		webrtcOther := strings.EqualFold(m.Protocol, calendar.ProtocolWebRTC) && m.Platform != calendar.PlatformTeams && m.Platform != calendar.PlatformMeet
		noButton[m.ID] = !m.Join || m.Number == "" || webrtcOther
	}
	type want struct {
		start    string
		duration int
		optional bool
		subject  string
	}
	wants := map[string]want{}
	for _, ev := range truth {
		if ev.IsCancelled {
			continue
		}
		start, err1 := ev.StartTime()
		end, err2 := ev.EndTime()
		if err1 != nil || err2 != nil || !end.After(from.Add(-edgeSlack)) || !start.Before(to.Add(edgeSlack)) {
			continue
		}
		dur := int((end.Sub(start) + time.Minute - 1) / time.Minute)
		if dur <= 0 {
			dur = 1
		}
		id := bookingID(ev, start)
		optional := absDur(end.Sub(from)) <= edgeSlack || absDur(start.Sub(to)) <= edgeSlack || noButton[id]
		wants[id] = want{start.UTC().Format("2006-01-02T15:04:05Z"), dur, optional, ev.Subject}
	}
	var diffs []string
	seen := map[string]bool{}
	for _, b := range got {
		seen[b.Id] = true
		w, ok := wants[b.Id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("booking %s (%q at %s) is not in Graph's calendar for the window", short(b.Id), b.Title, b.Time.StartTime))
			continue
		case b.Time.StartTime != w.start || b.Time.Duration != w.duration:
			diffs = append(diffs, fmt.Sprintf("booking %s (%q) is at %s for %d min; Graph says %s for %d min", short(b.Id), b.Title, b.Time.StartTime, b.Time.Duration, w.start, w.duration))
		}
		if n, ok := numbers[b.Id]; !ok {
			diffs = append(diffs, fmt.Sprintf("booking %s (%q) is not among the agent's resolved meetings", short(b.Id), b.Title))
		} else if n != b.Number {
			diffs = append(diffs, fmt.Sprintf("booking %s (%q) dials %q; the agent resolved %q", short(b.Id), b.Title, b.Number, n))
		}
	}
	for id, w := range wants {
		if !seen[id] && !w.optional {
			diffs = append(diffs, fmt.Sprintf("meeting %s (%q at %s) is missing from the codec", short(id), w.subject, w.start))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-6:]
	}
	return id
}

// codecBookings reads a codec's current bookings from ciscosim.
func (s *site) codecBookings(ctx context.Context, codec string) ([]ciscosim.Booking, error) {
	var out ciscosim.PutPayload
	err := callJSON(ctx, http.MethodGet, s.sim.File.CiscoAdmin+"/codecs/"+pathEscape(codec)+"/bookings", nil, &out)
	return out.Bookings, err
}

// codecDiffs compares one codec's bookings with the right ones now.
func (s *site) codecDiffs(ctx context.Context, codec, room string) ([]string, error) {
	from, to := pushWindow(time.Now())
	truth, err := s.graph().view(ctx, room, from.Add(-time.Hour), to.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	var resolved []web.Meeting
	u := fmt.Sprintf("%s/api/meetings?room=%s&from=%s&to=%s", s.sim.File.Agent.StatusURL, pathEscape(room),
		from.Add(-time.Hour).UTC().Format(time.RFC3339), to.Add(time.Hour).UTC().Format(time.RFC3339))
	if err := callJSON(ctx, http.MethodGet, u, nil, &resolved); err != nil {
		return nil, err
	}
	got, err := s.codecBookings(ctx, codec)
	if err != nil {
		return nil, err
	}
	return compareBookings(truth, resolved, got, from, to), nil
}

// converged waits up to limit for every codec to hold the right bookings; it returns the
// remaining differences (none when converged) and how long it took.
func (s *site) converged(ctx context.Context, limit time.Duration) ([]string, time.Duration) {
	began := time.Now()
	diffs := s.convergedSome(ctx, func(string) bool { return true }, limit)
	return diffs, time.Since(began)
}

// convergedSome waits up to limit for the codecs which chooses (by name) to hold the right
// bookings; it returns the remaining differences.
func (s *site) convergedSome(ctx context.Context, which func(string) bool, limit time.Duration) []string {
	var diffs []string
	_ = waitFor(ctx, limit, 250*time.Millisecond, func() error {
		diffs = nil
		for _, c := range s.sim.File.Cisco {
			if !which(c.Name) {
				continue
			}
			d, err := s.codecDiffs(ctx, c.Name, c.Room)
			if err != nil {
				d = []string{err.Error()}
			}
			for _, x := range d {
				diffs = append(diffs, c.Name+": "+x)
			}
		}
		if len(diffs) > 0 {
			return fmt.Errorf("%d differences", len(diffs))
		}
		return nil
	})
	return diffs
}

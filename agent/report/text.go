package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Write prints the report for a person (`otj-edge report`), times in loc.
func (r Report) Write(w io.Writer, loc *time.Location) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	hm := func(t time.Time) string { return t.In(loc).Format("15:04") }
	p("Daily report of site %s for %s (made %s)", r.Site, r.Day, r.GeneratedAt.In(loc).Format("2006-01-02 15:04"))
	if !r.Coverage.Complete {
		p("Note: %s", r.Coverage.Note)
	}
	p("")
	p("Rooms: %d, %d synced during the day, %d not ok now", r.Rooms.Total, r.Rooms.Synced, len(r.Rooms.Failing))
	for _, f := range r.Rooms.Failing {
		p("  %s  %s: %s", f.Room, f.Status, f.Detail)
	}
	p("Cisco: %d endpoints, %d booking pushes to %d of them, %d refused", r.Cisco.Endpoints, r.Cisco.Pushes, r.Cisco.EndpointsOK, r.Cisco.PushFailures)
	for _, e := range r.Cisco.Problems {
		p("  %s (%s)  %s, %d refused: %s", e.Name, e.Room, e.State, e.Failures, e.Detail)
	}
	p("Poly: %d endpoints, %d polled during the day, %d not-polling alarms", r.Poly.Endpoints, r.Poly.Polled, r.Poly.NotPolling)
	for _, e := range r.Poly.Problems {
		last := "never polled"
		if e.LastPoll != nil {
			last = "last poll " + e.LastPoll.In(loc).Format("2006-01-02 15:04")
		}
		p("  %s (%s)  %s, %s, %d alarms: %s", e.Name, e.Room, e.State, last, e.Alarms, e.Detail)
	}
	for _, in := range r.Integrations {
		p("Requests: %s (%s): %d of %d (%.1f%% of the daily budget)", in.Name, in.Type, in.Requests, in.Budget, in.Percent)
	}
	p("Meetings with a Join button: %d joined from the room, %d not joined", r.Meetings.Joined, r.Meetings.NotJoinedTotal)
	for _, m := range r.Meetings.NotJoined {
		subject := m.Subject
		if m.Private {
			subject = "(private meeting)"
		}
		p("  %s  %s  %s", hm(m.Start), m.Room, subject)
	}
	if n := r.Meetings.NotJoinedTotal - len(r.Meetings.NotJoined); n > 0 {
		p("  … and %d more", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

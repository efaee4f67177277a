package sourcetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// SameMeetings is the cross-source check: one scenario, served by both rigs' simulators at
// once (they front one graphsim, on clk), resolves through either rig's source to the same
// meetings in every room: the same bookings (iCalUId and start), times, subjects, organizers,
// privacy, join addresses and platforms. The scenario must have every provider, recurring
// series with exceptions, private and cancelled meetings. It returns both envs, synced.
func SameMeetings(t *testing.T, clk *clock.Fake, a, b Rig, sc graphsim.Scenario) (*Env, *Env) {
	t.Helper()
	require.Same(t, a.Sim(), b.Sim(), "both sources read one calendar")
	sum, err := a.Sim().Load(sc)
	require.NoError(t, err)
	require.Positive(t, sum.Series, "the scenario has recurring series")
	require.Positive(t, sum.Cancelled, "the scenario has cancelled meetings")
	require.GreaterOrEqual(t, len(sum.Providers), 4, "the scenario has invites of every provider: %v", sum.Providers)

	ea, eb := NewEnvOn(t, clk, a, sc.Rooms...), NewEnvOn(t, clk, b, sc.Rooms...)
	ea.Start()
	eb.Start()
	ea.WaitFor("every room synced through "+a.Integration(), ea.Synced(sc.Rooms...))
	eb.WaitFor("every room synced through "+b.Integration(), eb.Synced(sc.Rooms...))

	private, series, join := 0, 0, map[string]int{}
	for _, room := range sc.Rooms {
		ma, mb := ea.Meetings(room), eb.Meetings(room)
		require.NotEmpty(t, ma, "%s shows meetings", room)
		if d := Diff(ma, mb); len(d) > 0 {
			t.Errorf("%s: the meetings differ between %s and %s:\n  %s", room, a.Integration(), b.Integration(), strings.Join(d, "\n  "))
		}
		for _, m := range ma {
			if m.Private {
				private++
			}
			if m.SeriesMasterID != "" {
				series++
			}
			if m.Join {
				join[m.Platform]++
			}
		}
	}
	require.Positive(t, private, "private meetings were compared")
	require.Positive(t, series, "occurrences of series were compared")
	for _, p := range []string{calendar.PlatformTeams, calendar.PlatformZoom, calendar.PlatformWebex} {
		require.Positive(t, join[p], "%s meetings with a Join were compared (%v)", p, join)
	}
	return ea, eb
}

// comparable is what a user sees of a meeting, whatever source read it: not the source's
// own ids (EventID, SeriesMasterID are the service's item ids), only whether it belongs to a
// series.
type comparable struct {
	ID, ICalUID                string
	Start, End                 time.Time
	StartBuffer, EndBuffer     calendar.Duration
	AllDay                     bool
	Subject                    string
	Organizer, OrganizerEmail  string
	Private, Tentative, Series bool
	Join                       bool
	Number, Protocol, Platform string
	Rule, Reason               string
}

func comparableOf(m calendar.Meeting) comparable {
	return comparable{ID: m.ID, ICalUID: m.ICalUID, Start: m.Start.UTC(), End: m.End.UTC(), StartBuffer: m.StartBuffer,
		EndBuffer: m.EndBuffer, AllDay: m.AllDay, Subject: m.Subject, Organizer: m.Organizer,
		OrganizerEmail: strings.ToLower(m.OrganizerEmail), Private: m.Private, Tentative: m.Tentative,
		Series: m.SeriesMasterID != "", Join: m.Join, Number: m.Number, Protocol: m.Protocol, Platform: m.Platform,
		Rule: m.Rule, Reason: m.Reason}
}

// Diff lists the differences between two sources' meetings of one room, by booking id (one
// line each; empty when they are the same).
func Diff(a, b []calendar.Meeting) []string {
	index := func(ms []calendar.Meeting) map[string]comparable {
		out := map[string]comparable{}
		for _, m := range ms {
			out[m.ID] = comparableOf(m)
		}
		return out
	}
	ia, ib := index(a), index(b)
	var ids []string
	for id := range ia {
		ids = append(ids, id)
	}
	for id := range ib {
		if _, ok := ia[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []string
	for _, id := range ids {
		x, inA := ia[id]
		y, inB := ib[id]
		switch {
		case !inB:
			out = append(out, fmt.Sprintf("%s (%q at %s): only in the first", id, x.Subject, x.Start.Format(time.RFC3339)))
		case !inA:
			out = append(out, fmt.Sprintf("%s (%q at %s): only in the second", id, y.Subject, y.Start.Format(time.RFC3339)))
		case x != y:
			out = append(out, fmt.Sprintf("%s: %+v\n    vs %+v", id, x, y))
		}
	}
	return out
}

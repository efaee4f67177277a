package ews

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// TestSyncFollowsTheCalendarAsGraphDoes: the first sync stores the window as Exchange shows
// it (occurrences with their series, a moved exception, a deleted occurrence absent, a
// cancelled meeting kept as such), then adds, edits, cancels, deletes and a series edit
// arrive with the next polls; at each point the rooms resolve to exactly the meetings the
// Graph source gives for the same calendars; items whose ChangeKey did not move are not read
// again.
func TestSyncFollowsTheCalendarAsGraphDoes(t *testing.T) {
	r1, r2 := simRoom(1), simRoom(2)
	h := newSimHarness(t, ewssim.Options{}, r1, r2)

	review := h.post(r1, invite("Design review", t0.Add(2*time.Hour), time.Hour))
	private := invite("HR 1:1", t0.Add(4*time.Hour), 30*time.Minute)
	private["sensitivity"] = "private"
	privateID := h.post(r1, private)
	call := h.post(r1, invite("Customer call", t0.Add(26*time.Hour), time.Hour))
	cancelled := h.post(r1, invite("Offsite planning", t0.Add(28*time.Hour), time.Hour))
	require.NoError(t, h.gs.CancelEvent(r1, cancelled))
	standup := invite("Stand-up", time.Date(2026, 11, 16, 8, 0, 0, 0, time.UTC), 15*time.Minute)
	standup["recurrence"] = weekdays()
	master := h.post(r1, standup)
	tuesday := h.instanceAt(r1, master, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	_, err := h.gs.PatchEvent(r1, tuesday, map[string]any{"subject": "Stand-up (moved)",
		"start": map[string]any{"dateTime": "2026-11-24T08:30:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-11-24T08:45:00", "timeZone": "UTC"}})
	require.NoError(t, err)
	wednesday := h.instanceAt(r1, master, time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	require.NoError(t, h.gs.DeleteEvent(r1, wednesday))
	h.post(r2, invite("Room two", t0.Add(time.Hour), time.Hour))

	s, stop := h.start(Tuning{})
	h.waitFor("both rooms synced", h.synced(r1, r2))

	got := h.events(r1)
	occurrences := 0
	for _, ev := range got {
		if ev.Type == calendar.TypeOccurrence {
			occurrences++
			assert.Equal(t, "Stand-up", ev.Subject)
			assert.Contains(t, ev.BodyText(), "Agenda for Stand-up", "GetItem read the HTML body")
			assert.Equal(t, "Alice Berg", ev.OrganizerName())
		}
	}
	assert.Equal(t, 4, occurrences, "Mon 23, Thu 26, Fri 27 and Mon 30 (Tue 24 is an exception, Wed 25 deleted)")
	assert.Equal(t, "Stand-up (moved)", got[tuesday].Subject)
	assert.Equal(t, calendar.TypeException, got[tuesday].Type)
	assert.NotContains(t, got, wednesday)
	priv := got[privateID]
	assert.True(t, priv.IsPrivate())
	assert.True(t, got[cancelled].IsCancelled)
	assert.Len(t, h.events(r2), 1)
	h.sameAsGraph(r1, r2)
	getsBefore := h.ops(r1)["GetItem"]

	// Changes: each arrives within one cold poll interval.
	added := h.post(r1, invite("Added later", t0.Add(30*time.Hour), time.Hour))
	_, err = h.gs.PatchEvent(r1, review, map[string]any{"subject": "Design review (new agenda)"})
	require.NoError(t, err)
	require.NoError(t, h.gs.CancelEvent(r1, call))
	require.NoError(t, h.gs.DeleteEvent(r1, privateID))
	_, err = h.gs.PatchEvent(r1, master, map[string]any{"subject": "Daily stand-up"})
	require.NoError(t, err)
	h.advance(s, 5*time.Minute, 10*time.Second)
	got = h.events(r1)
	assert.Contains(t, got, added)
	assert.NotContains(t, got, privateID)
	assert.Equal(t, "Design review (new agenda)", got[review].Subject)
	assert.True(t, got[call].IsCancelled)
	for _, ev := range got {
		if ev.Type == calendar.TypeOccurrence {
			assert.Equal(t, "Daily stand-up", ev.Subject, "occurrences follow the edited series")
		}
	}
	assert.Equal(t, "Stand-up (moved)", got[tuesday].Subject, "the exception keeps its own subject")
	h.sameAsGraph(r1, r2)
	// The changed items only: the new meeting, the edit, the cancellation, the series'
	// occurrences and its master (never the untouched ones again).
	assert.LessOrEqual(t, h.ops(r1)["GetItem"]-getsBefore, 2, "changed items are read in one batched GetItem (+ the series master)")
	assert.Equal(t, 1, h.ops(r2)["FindItem"], "an unchanged room is only probed (SyncFolderItems): its view was listed once")

	st := s.Stats()
	assert.Equal(t, 2, st.Rooms[store.RoomOK])
	stop()
	counted, err := h.st.Counter(context.Background(), counterKey(h.in.Name, h.clk.Now()))
	require.NoError(t, err)
	assert.Equal(t, int64(h.es.Stats().Requests), counted, "every EWS request is counted in the store")
	assert.Equal(t, health.OK, h.health.Overall())
}

// TestOccurrencesNameTheirSeriesMaster: occurrences and exceptions carry their series' id
// (seriesMasterId, as Graph's do: Poly endpoints show them as recurring, the diagnosis groups
// them), read once per series with GetItem RecurringMasterItemId in the same GetItem as the
// instances (CalendarView names their type and UID), and the master is stored.
func TestOccurrencesNameTheirSeriesMaster(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	standup := invite("Stand-up", time.Date(2026, 11, 16, 8, 0, 0, 0, time.UTC), 15*time.Minute)
	standup["recurrence"] = weekdays()
	master := h.post(r, standup)
	tuesday := h.instanceAt(r, master, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	_, err := h.gs.PatchEvent(r, tuesday, map[string]any{"subject": "Stand-up (moved)"})
	require.NoError(t, err)
	h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	series := 0
	for _, ev := range h.events(r) {
		if ev.Type == calendar.TypeOccurrence || ev.Type == calendar.TypeException {
			series++
			assert.Equal(t, master, graphsimID(t, ev.SeriesMasterID), "%s %s names its series", ev.Type, ev.Start.DateTime)
		}
	}
	assert.Equal(t, 6, series)
	masters, err := stored.Masters(context.Background(), h.st, r)
	require.NoError(t, err)
	require.Len(t, masters, 1)
	assert.Equal(t, 1, h.ops(r)["GetItem"], "the instances and their master in one GetItem")
}

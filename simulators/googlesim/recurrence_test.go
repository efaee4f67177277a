package googlesim

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"
)

// weeklySeries posts a daily stand-up series starting at start for n days with one occurrence
// moved (exception), one deleted and one cancelled by the organizer; it returns the series id
// and the original starts of those three.
func weeklySeries(e *env, start time.Time) (string, time.Time, time.Time, time.Time) {
	e.t.Helper()
	id := e.post(room1, "Stand-up", "<p>daily</p>", start, 15*time.Minute, map[string]any{"recurrence": map[string]any{
		"pattern": map[string]any{"type": "daily", "interval": 1},
		"range":   map[string]any{"type": "numbered", "startDate": start.Format("2006-01-02"), "numberOfOccurrences": 5},
	}})
	moved, deleted, cancelled := start.AddDate(0, 0, 1), start.AddDate(0, 0, 2), start.AddDate(0, 0, 3)
	occ := func(t time.Time) string {
		for _, it := range mustView(e, t) {
			if it.MasterID == id && it.OriginalStart.Equal(t) {
				return it.ID
			}
		}
		e.t.Fatalf("no occurrence at %s", t)
		return ""
	}
	_, err := e.gs.PatchEvent(room1, occ(moved), map[string]any{"subject": "Stand-up (moved)",
		"start": map[string]any{"dateTime": moved.Add(time.Hour).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": moved.Add(time.Hour + 15*time.Minute).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
	require.NoError(e.t, err)
	require.NoError(e.t, e.gs.DeleteEvent(room1, occ(deleted)))
	require.NoError(e.t, e.gs.CancelEvent(room1, occ(cancelled)))
	return id, moved, deleted, cancelled
}

// TestSingleEventsRecurrence: expanded instances carry recurringEventId and originalStartTime,
// the moved exception its own time and summary; deleted and cancelled occurrences show only
// as cancelled instances (with showDeleted); non-expanded, the series is one event with an
// RRULE, the exception a separate event, cancelled instances listed.
func TestSingleEventsRecurrence(t *testing.T) {
	e := newEnv(t, nil)
	start := e.clk.Now().Truncate(24 * time.Hour).Add(9 * time.Hour)
	master, moved, deleted, cancelled := weeklySeries(e, start)
	mg := googleID(master)
	svc := e.admin()
	cal := ResourceEmail(room1)
	tmin := start.Add(-time.Hour).Format(time.RFC3339)

	evs, err := svc.Events.List(cal).SingleEvents(true).OrderBy("startTime").TimeMin(tmin).Do()
	require.NoError(t, err)
	require.Len(t, evs.Items, 3, "5 occurrences, one deleted and one cancelled")
	for _, ev := range evs.Items {
		assert.Equal(t, mg, ev.RecurringEventId)
		require.NotNil(t, ev.OriginalStartTime)
		assert.True(t, strings.HasPrefix(ev.Id, mg+"_"), ev.Id)
	}
	ex := evs.Items[1]
	assert.Equal(t, "Stand-up (moved)", ex.Summary)
	assert.Equal(t, moved.Add(time.Hour).Format(time.RFC3339), ex.Start.DateTime)
	assert.Equal(t, moved.Format(time.RFC3339), ex.OriginalStartTime.DateTime)
	assert.Equal(t, instanceID(mg, moved, false), ex.Id)

	evs, err = svc.Events.List(cal).SingleEvents(true).ShowDeleted(true).TimeMin(tmin).Do()
	require.NoError(t, err)
	got := ids(evs.Items)
	require.Len(t, got, 5)
	for _, orig := range []time.Time{deleted, cancelled} {
		ev := got[instanceID(mg, orig, false)]
		require.NotNil(t, ev, orig)
		assert.Equal(t, "cancelled", ev.Status)
		assert.Equal(t, mg, ev.RecurringEventId)
		assert.Equal(t, orig.Format(time.RFC3339), ev.OriginalStartTime.DateTime)
	}

	// Not expanded: the master with its RRULE, the exception, the cancelled instances.
	evs, err = svc.Events.List(cal).TimeMin(tmin).Do()
	require.NoError(t, err)
	got = ids(evs.Items)
	require.Contains(t, got, mg)
	assert.Equal(t, []string{"RRULE:FREQ=DAILY;COUNT=5"}, got[mg].Recurrence)
	assert.Equal(t, "Stand-up (moved)", got[instanceID(mg, moved, false)].Summary)
	assert.Equal(t, "cancelled", got[instanceID(mg, deleted, false)].Status)
	assert.Equal(t, "cancelled", got[instanceID(mg, cancelled, false)].Status)
	assert.Len(t, got, 4)

	// An edit of one occurrence arrives in the increment as that instance only.
	_, tok, _ := listAll(t, func(pt string) (*calendar.Events, error) {
		return svc.Events.List(cal).SingleEvents(true).TimeMin(tmin).PageToken(pt).Do()
	})
	occ4 := start.AddDate(0, 0, 4)
	var occID string
	for _, it := range mustView(e, occ4) {
		if it.MasterID == master {
			occID = it.ID
		}
	}
	_, err = e.gs.PatchEvent(room1, occID, map[string]any{"subject": "Last stand-up"})
	require.NoError(t, err)
	inc, err := svc.Events.List(cal).SingleEvents(true).SyncToken(tok).Do()
	require.NoError(t, err)
	require.Len(t, inc.Items, 1)
	assert.Equal(t, instanceID(mg, occ4, false), inc.Items[0].Id)
	assert.Equal(t, "Last stand-up", inc.Items[0].Summary)
}

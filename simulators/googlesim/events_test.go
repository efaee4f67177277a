package googlesim

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"
)

// listAll pages through a listing and returns the items and the final sync token.
func listAll(t *testing.T, call func(pageToken string) (*calendar.Events, error)) ([]*calendar.Event, string, int) {
	t.Helper()
	var items []*calendar.Event
	tok, pages := "", 0
	for {
		evs, err := call(tok)
		require.NoError(t, err)
		pages++
		items = append(items, evs.Items...)
		if evs.NextPageToken == "" {
			require.NotEmpty(t, evs.NextSyncToken, "the last page carries the sync token")
			return items, evs.NextSyncToken, pages
		}
		assert.Empty(t, evs.NextSyncToken, "only the last page carries the sync token")
		tok = evs.NextPageToken
	}
}

func ids(evs []*calendar.Event) map[string]*calendar.Event {
	out := map[string]*calendar.Event{}
	for _, e := range evs {
		out[e.Id] = e
	}
	return out
}

// TestFullAndIncrementalSync: a windowed full sync in pages, then syncToken increments with
// the edits, cancels and deletions since (also outside the window), 400 for parameters
// that cannot go with a sync token, and 410 once tokens are expired.
func TestFullAndIncrementalSync(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clk.Now().Truncate(time.Hour)
	var graphIDs []string
	for i := range 12 {
		graphIDs = append(graphIDs, e.post(room1, fmt.Sprintf("Meeting %02d", i), "<p>agenda</p>", now.Add(time.Duration(i)*time.Hour), 30*time.Minute, nil))
	}
	old := e.post(room1, "Last month", "", now.AddDate(0, -1, 0), time.Hour, nil)
	svc := e.admin()
	cal := ResourceEmail(room1)
	timeMin := now.Add(-24 * time.Hour).Format(time.RFC3339)

	items, syncTok, pages := listAll(t, func(pt string) (*calendar.Events, error) {
		c := svc.Events.List(cal).SingleEvents(true).TimeMin(timeMin).MaxResults(5)
		if pt != "" {
			c = c.PageToken(pt)
		}
		return c.Do()
	})
	assert.Equal(t, 3, pages)
	require.Len(t, items, 12, "the meeting before timeMin is not listed")
	first := items[0]
	assert.Equal(t, "Meeting 00", first.Summary)
	assert.Equal(t, "confirmed", first.Status)
	assert.Equal(t, "<p>agenda</p>", first.Description)
	assert.Equal(t, now.Format(time.RFC3339), first.Start.DateTime)
	assert.Equal(t, "UTC", first.Start.TimeZone)
	assert.Equal(t, "ada@contoso.example", first.Organizer.Email)
	assert.NotEmpty(t, first.Etag)
	assert.NotEmpty(t, first.ICalUID)
	var roomAtt *calendar.EventAttendee
	for _, a := range first.Attendees {
		if a.Resource {
			roomAtt = a
		}
	}
	require.NotNil(t, roomAtt, "the room is a resource attendee")
	assert.Equal(t, cal, roomAtt.Email)
	assert.True(t, roomAtt.Self)
	assert.Equal(t, "accepted", roomAtt.ResponseStatus)

	// Nothing changed: an empty increment with a new token.
	inc, err := svc.Events.List(cal).SingleEvents(true).SyncToken(syncTok).Do()
	require.NoError(t, err)
	assert.Empty(t, inc.Items)
	require.NotEmpty(t, inc.NextSyncToken)
	syncTok = inc.NextSyncToken

	// Edits: one renamed, one cancelled by its organizer, one deleted, one added, and the
	// meeting outside the window edited (increments are not windowed).
	_, err = e.gs.PatchEvent(room1, graphIDs[1], map[string]any{"subject": "Renamed"})
	require.NoError(t, err)
	require.NoError(t, e.gs.CancelEvent(room1, graphIDs[2]))
	require.NoError(t, e.gs.DeleteEvent(room1, graphIDs[3]))
	e.post(room1, "New one", "", now.Add(20*time.Hour), time.Hour, nil)
	_, err = e.gs.PatchEvent(room1, old, map[string]any{"subject": "Old, edited"})
	require.NoError(t, err)

	inc, err = svc.Events.List(cal).SingleEvents(true).SyncToken(syncTok).Do()
	require.NoError(t, err)
	got := ids(inc.Items)
	require.Len(t, got, 5)
	assert.Equal(t, "Renamed", got[googleID(graphIDs[1])].Summary)
	for _, gone := range []string{graphIDs[2], graphIDs[3]} {
		ev := got[googleID(gone)]
		require.NotNil(t, ev)
		assert.Equal(t, "cancelled", ev.Status)
		assert.Empty(t, ev.Summary, "cancelled events carry only the guaranteed fields")
		assert.Nil(t, ev.Start)
	}
	assert.Equal(t, "Old, edited", got[googleID(old)].Summary)
	syncTok = inc.NextSyncToken

	// A full listing hides the cancelled ones; showDeleted shows them.
	evs, err := svc.Events.List(cal).SingleEvents(true).TimeMin(timeMin).Do()
	require.NoError(t, err)
	assert.Len(t, evs.Items, 11)
	evs, err = svc.Events.List(cal).SingleEvents(true).TimeMin(timeMin).ShowDeleted(true).Do()
	require.NoError(t, err)
	assert.Len(t, evs.Items, 13)

	// Parameters that cannot go with a sync token.
	for name, c := range map[string]*calendar.EventsListCall{
		"timeMin": svc.Events.List(cal).SyncToken(syncTok).TimeMin(timeMin),
		"orderBy": svc.Events.List(cal).SyncToken(syncTok).SingleEvents(true).OrderBy("startTime"),
		"q":       svc.Events.List(cal).SyncToken(syncTok).Q("x"),
	} {
		_, err := c.Do()
		ge := apiErr(t, err)
		assert.Equal(t, http.StatusBadRequest, ge.Code, name)
		assert.Equal(t, "invalid", reason(ge), name)
	}

	// The admin expires tokens: 410 fullSyncRequired.
	require.NoError(t, e.g.ExpireSyncTokens(room1))
	_, err = svc.Events.List(cal).SingleEvents(true).SyncToken(syncTok).Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusGone, ge.Code)
	assert.Equal(t, "fullSyncRequired", reason(ge))
	assert.Equal(t, 1, e.g.CalendarStats(room1).Gone)
}

// TestListValidation: Google's 400s and 404s.
func TestListValidation(t *testing.T) {
	e := newEnv(t, nil)
	svc := e.admin()
	_, err := svc.Events.List(ResourceEmail(room1)).OrderBy("startTime").Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusBadRequest, ge.Code)
	assert.Equal(t, "The requested ordering is not available for the particular query.", ge.Message)

	now := time.Now()
	_, err = svc.Events.List(room1).TimeMin(now.Format(time.RFC3339)).TimeMax(now.Add(-time.Hour).Format(time.RFC3339)).Do()
	assert.Equal(t, "timeRangeEmpty", reason(apiErr(t, err)))

	_, err = svc.Events.List("c_0000@resource.calendar.google.com").Do()
	ge = apiErr(t, err)
	assert.Equal(t, http.StatusNotFound, ge.Code)
	assert.Equal(t, "notFound", reason(ge))

	// The room's email alias is a calendar id too.
	e.post(room1, "Alias", "", now.Add(time.Hour), time.Hour, nil)
	evs, err := svc.Events.List(room1).Do()
	require.NoError(t, err)
	assert.Len(t, evs.Items, 1)
}

package graph

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// graphEvent is a Graph event as a delta page carries it (the properties graphsim sends).
func graphEvent(id string, n int) string {
	return fmt.Sprintf(`{"@odata.etag":"W/\"ck%[2]d\"","id":%[1]q,"changeKey":"ck%[2]d","type":"singleInstance",`+
		`"subject":"Weekly planning %[2]d","bodyPreview":"Join the meeting: https://teams.microsoft.com/l/meetup-join/19%%3ameeting_%[2]d",`+
		`"body":{"contentType":"html","content":"<html><body><p>Join the meeting now</p><a href=\"https://teams.microsoft.com/l/meetup-join/19%%3ameeting_%[2]d\">Join</a><p>Meeting ID: 123 456 789 %[2]d</p></body></html>"},`+
		`"start":{"dateTime":"2026-12-07T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-07T10:00:00.0000000","timeZone":"UTC"},`+
		`"location":{"displayName":"Room 1","locationType":"conferenceRoom","uniqueId":"room1@example.com","uniqueIdType":"directory"},`+
		`"locations":[{"displayName":"Room 1","locationType":"conferenceRoom","uniqueId":"room1@example.com","uniqueIdType":"directory"}],`+
		`"organizer":{"emailAddress":{"name":"Alex Wilber","address":"alexw@example.com"}},`+
		`"attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"name":"Room 1","address":"room1@example.com"}},`+
		`{"type":"required","status":{"response":"accepted","time":"2026-12-01T08:00:00Z"},"emailAddress":{"name":"Megan Bowen","address":"meganb@example.com"}}],`+
		`"isOnlineMeeting":true,"onlineMeetingProvider":"teamsForBusiness","onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/19%%3ameeting_%[2]d"},`+
		`"isCancelled":false,"isAllDay":false,"sensitivity":"normal","showAs":"busy","importance":"normal","categories":[],"seriesMasterId":null,`+
		`"iCalUId":"040000008200E00074C5B7101A82E008%[2]d","lastModifiedDateTime":"2026-12-01T08:00:00Z"}`, id, n)
}

func deltaPage(events int) []byte {
	parts := make([]string, events)
	for i := range parts {
		parts[i] = graphEvent(fmt.Sprintf("AAMk-%d", i), i)
	}
	return []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(event)","value":[` +
		strings.Join(parts, ",") + `],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/room1/calendarView/delta?$deltatoken=abc"}`)
}

// A delta page's items carry what the step needs before the write (id, type, series, etag,
// removal) and the event's properties exactly as a property map would read them, in the page's
// own copy of its text: the buffer Graph's answer came in (a batch answer holds twenty rooms'
// pages) is not kept alive by a page waiting for the store writer.
func TestParsePageKeepsEachEventAsItsOwnJSON(t *testing.T) {
	body := []byte(`{"value":[` +
		graphEvent("ev1", 1) + `,` +
		`{"@odata.etag":"W/\"s1\"","id":"occ1","type":"occurrence","seriesMasterId":"master1","start":{"dateTime":"2026-12-08T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-08T10:00:00.0000000","timeZone":"UTC"}},` +
		`{"id":"gone1","@removed":{"reason":"deleted"}},` +
		`{"id":"gone2","@removed":null},` +
		`{"subject":"no id: not an item"},` +
		`{"id":42,"subject":"an id that is not a string: not an item"},` +
		`{"id":"odd1","type":7,"subject":"a type that is not a string reads as none"}` +
		`],"@odata.nextLink":"https://graph.example/next"}`)
	want, err := parseDoc([]byte(graphEvent("ev1", 1)))
	require.NoError(t, err)

	pg, err := parsePage(body)
	require.NoError(t, err)
	assert.Equal(t, "https://graph.example/next", pg.nextLink)
	assert.Empty(t, pg.deltaLink)
	require.Len(t, pg.items, 5)

	ev, occ, gone1, gone2, odd := pg.items[0], pg.items[1], pg.items[2], pg.items[3], pg.items[4]
	assert.Equal(t, "ev1", ev.id)
	assert.Equal(t, "singleInstance", ev.typ)
	assert.Equal(t, `W/"ck1"`, ev.etag)
	assert.Empty(t, ev.masterID, "seriesMasterId null is no series")
	assert.False(t, ev.removed)
	assert.False(t, ev.stub())

	assert.True(t, occ.stub())
	assert.Equal(t, "master1", occ.masterID)
	assert.Equal(t, `W/"s1"`, occ.etag)

	assert.True(t, gone1.removed)
	assert.True(t, gone2.removed, "@removed present, even as null, is a removal (as the property map read it)")
	assert.Equal(t, "odd1", odd.id)
	assert.Empty(t, odd.typ)

	for i := range body { // the page's buffer reused (or freed): the items do not change
		body[i] = ' '
	}
	assert.Equal(t, want, ev.document())
	assert.Equal(t, string(withoutNulls(want).encode()), string(withoutNulls(ev.document()).encode()), "what the store gets")
	assert.Equal(t, "master1", occ.document().str("seriesMasterId"))
}

func TestParsePageRefusesGarbage(t *testing.T) {
	for _, body := range []string{`{"value":[{"id":"a"}]}`, `{"value":[{"id":"a"`, `<html>`, `{"value":"x","@odata.deltaLink":"d"}`} {
		_, err := parsePage([]byte(body))
		assert.Error(t, err, body)
	}
}

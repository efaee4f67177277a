package calendar

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDateTimeTimeZoneForms(t *testing.T) {
	want := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	for _, d := range []DateTimeTimeZone{
		{DateTime: "2026-11-23T09:30:00.0000000", TimeZone: "UTC"},
		{DateTime: "2026-11-23T09:30:00", TimeZone: ""},
		{DateTime: "2026-11-23T10:30:00.0000000", TimeZone: "W. Europe Standard Time"},
		{DateTime: "2026-11-23T04:30:00", TimeZone: "America/New_York"},
		{DateTime: "2026-11-23T09:30:00Z", TimeZone: "UTC"},
	} {
		got, err := d.Time()
		require.NoError(t, err, d)
		assert.Equal(t, want, got, d)
	}
	_, err := DateTimeTimeZone{DateTime: "tomorrow", TimeZone: "UTC"}.Time()
	assert.ErrorContains(t, err, `dateTime "tomorrow" is not an ISO 8601 date-time`)
	_, err = DateTimeTimeZone{DateTime: "2026-11-23T09:30:00", TimeZone: "Mars Standard Time"}.Time()
	assert.ErrorContains(t, err, `unknown time zone "Mars Standard Time"`)
}

func TestEventDecodesGraphJSON(t *testing.T) {
	var ev Event
	require.NoError(t, json.Unmarshal([]byte(`{
		"@odata.etag": "W/\"x\"", "id": "AAMk=", "type": "occurrence", "seriesMasterId": "AAMm=",
		"subject": "Standup", "sensitivity": "private",
		"start": {"dateTime": "2026-11-23T09:00:00.0000000", "timeZone": "UTC"},
		"end": {"dateTime": "2026-11-23T09:15:00.0000000", "timeZone": "UTC"},
		"organizer": {"emailAddress": {"name": "", "address": "ada@contoso.example"}},
		"location": {"displayName": "sip:1234@vmr.example.com"},
		"locations": [{"displayName": "Room 1", "locationEmailAddress": "room-1@contoso.example"}],
		"@removed": {"reason": "deleted"}
	}`), &ev))
	assert.Equal(t, "AAMm=", ev.SeriesMasterID)
	assert.True(t, ev.IsPrivate())
	assert.Equal(t, "ada@contoso.example", ev.OrganizerName(), "no display name: the address")
	assert.Equal(t, "sip:1234@vmr.example.com\nRoom 1", ev.LocationText())
	require.NotNil(t, ev.Removed)
	start, err := ev.StartTime()
	require.NoError(t, err)
	assert.Equal(t, 9, start.Hour())
}

func TestMeetingHashFollowsContent(t *testing.T) {
	m := Meeting{ID: "a", Subject: "x", Start: time.Unix(0, 0).UTC(), StartBuffer: Duration(5 * time.Minute)}
	h := m.Hash()
	m2 := m
	assert.Equal(t, h, m2.Hash())
	m2.Number = "1@zoomcrc.com"
	assert.NotEqual(t, h, m2.Hash())
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"startBuffer":"5m0s"`)
	var back Meeting
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, m, back)
	assert.Equal(t, m.Start.Add(-5*time.Minute), back.JoinFrom())
}

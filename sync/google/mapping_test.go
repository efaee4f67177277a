package google

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gcal "google.golang.org/api/calendar/v3"

	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

const sampleRoom = "c_18832tc9g2iechmehr7goqp9bsali@resource.calendar.google.com"

// sampleEvents decodes testdata/events-list.json: an events.list answer shaped as the
// Calendar API reference documents the Events and Event resources (a Meet occurrence whose
// description was emptied, a Zoom add-on meeting with a SIP entry point, a moved instance,
// an all-day event the room declined, a cancelled instance).
func sampleEvents(t *testing.T) (*gcal.Events, map[string][]byte, map[string]calendar.Event) {
	t.Helper()
	raw, err := os.ReadFile("testdata/events-list.json")
	require.NoError(t, err)
	var list gcal.Events
	require.NoError(t, json.Unmarshal(raw, &list))
	zone, err := time.LoadLocation(list.TimeZone)
	require.NoError(t, err)
	docs, evs := map[string][]byte{}, map[string]calendar.Event{}
	for _, it := range list.Items {
		if it.Status == "cancelled" {
			continue
		}
		data, idx, err := eventDoc(it, sampleRoom, zone)
		require.NoError(t, err, it.Id)
		var ev calendar.Event
		require.NoError(t, json.Unmarshal(data, &ev))
		require.Equal(t, idx.ID, ev.ID)
		docs[it.Id], evs[it.Id] = data, ev
	}
	return &list, docs, evs
}

func TestGoogleEventsMapToTheGraphShapedEventTheProcessorReads(t *testing.T) {
	_, _, evs := sampleEvents(t)
	meet := evs["7cbh8rpc10lrc0ckih9tafss99_20261123T090000Z"]
	require.Equal(t, calendar.TypeOccurrence, meet.Type)
	require.Equal(t, "7cbh8rpc10lrc0ckih9tafss99", meet.SeriesMasterID)
	require.Equal(t, "7cbh8rpc10lrc0ckih9tafss99@google.com", meet.ICalUID)
	require.Equal(t, `"3181161784712000"`, meet.ChangeKey)
	require.Equal(t, "Weekly sync", meet.Subject)
	st, err := meet.StartTime()
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), st)
	require.True(t, meet.IsPrivate(), "visibility private is sensitivity private")
	require.Equal(t, "Ada Lovelace", meet.OrganizerName())
	require.Equal(t, "Room 1A", meet.LocationText())
	require.Len(t, meet.Attendees, 3)
	require.Equal(t, "organizer", meet.Attendees[0].Status.Response)
	require.Equal(t, "declined", meet.Attendees[1].Status.Response)
	require.Equal(t, "resource", meet.Attendees[2].Type)
	require.Equal(t, "accepted", meet.ResponseStatus.Response, "the room's own answer")
	require.Equal(t, "https://meet.google.com/abc-defg-hij", meet.OnlineMeeting.JoinURL)
	require.Equal(t, "abc-defg-hij", meet.OnlineMeeting.ConferenceID)
	require.Equal(t, "+1-234-567-8900", meet.OnlineMeeting.TollNumber)
	require.True(t, meet.IsOnlineMeeting)
	// The emptied description is replaced by the conference block Google writes itself.
	require.Contains(t, meet.BodyText(), "Join with Google Meet: https://meet.google.com/abc-defg-hij")
	require.Contains(t, meet.BodyText(), "Join by phone: tel:+1-234-567-8900 PIN: 123456789#")

	zoom := evs["0zoomaddon1"]
	require.Equal(t, calendar.TypeSingleInstance, zoom.Type)
	require.Equal(t, "free", zoom.ShowAs)
	require.Equal(t, "html", zoom.Body.ContentType)
	require.Contains(t, zoom.BodyText(), "<p>Agenda: pricing</p><br><br>")
	require.Contains(t, zoom.BodyText(), "Join by SIP: sip:81234567890@zoomcrc.com")
	require.Equal(t, "https://example.zoom.us/j/81234567890?pwd=abc", zoom.OnlineMeeting.JoinURL)

	moved := evs["7cbh8rpc10lrc0ckih9tafss99_20261124T090000Z"]
	require.Equal(t, calendar.TypeException, moved.Type, "an instance moved from its originalStartTime is an exception")

	allDay := evs["allday1"]
	require.True(t, allDay.IsAllDay)
	st, err = allDay.StartTime()
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC), st, "midnight in the calendar's zone (Europe/Berlin)")
	require.Equal(t, "tentative", allDay.ShowAs)
	require.Equal(t, "declined", allDay.ResponseStatus.Response)
}

func TestMappingIsStableSoAnUnchangedEventNeverRewritesItsRow(t *testing.T) {
	list, docs, _ := sampleEvents(t)
	zone, _ := time.LoadLocation(list.TimeZone)
	for _, it := range list.Items {
		if it.Status == "cancelled" {
			continue
		}
		again, _, err := eventDoc(it, sampleRoom, zone)
		require.NoError(t, err)
		require.Equal(t, string(docs[it.Id]), string(again))
	}
}

// The "Done when": a Meet meeting whose description was emptied still gets a Join
// button, from conferenceData; an add-on's SIP entry point is dialled; a Meet interop SIP
// entry point is what a google_meet rule with the interop domain dials.
func TestMeetWithAnEmptiedDescriptionStillResolvesToAJoinAddressFromConferenceData(t *testing.T) {
	list, _, evs := sampleEvents(t)
	p, err := rules.Compile(rules.Settings{}, []rules.Spec{{Name: "meet", Type: rules.TypeGoogleMeet, Priority: 10}, {Name: "zoom", Type: rules.TypeZoom, Priority: 20}})
	require.NoError(t, err)
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	m, d := p.Resolve(sampleRoom, evs["7cbh8rpc10lrc0ckih9tafss99_20261123T090000Z"], now)
	require.True(t, d.Show(), d.Status.String())
	require.True(t, m.Join, m.Reason)
	require.Equal(t, "https://meet.google.com/abc-defg-hij", m.Number)
	require.Equal(t, "WebRTC", m.Protocol)

	m, _ = p.Resolve(sampleRoom, evs["0zoomaddon1"], now)
	require.True(t, m.Join, m.Reason)
	require.Equal(t, "SIP", m.Protocol)
	require.Contains(t, m.Number, "81234567890")

	_, d = p.Resolve(sampleRoom, evs["allday1"], now)
	require.Equal(t, rules.Declined, d.Status, "the room declined it")

	// Interop: Calendar lists the gateway's SIP entry point in conferenceData only.
	interop := *list.Items[0]
	cd := *interop.ConferenceData
	cd.EntryPoints = append([]*gcal.EntryPoint{{EntryPointType: "sip", Uri: "sip:8471029384@meet.example.com"}}, cd.EntryPoints...)
	interop.ConferenceData = &cd
	data, _, err := eventDoc(&interop, sampleRoom, time.UTC)
	require.NoError(t, err)
	var ev calendar.Event
	require.NoError(t, json.Unmarshal(data, &ev))
	pi, err := rules.Compile(rules.Settings{}, []rules.Spec{{Name: "meet", Type: rules.TypeGoogleMeet, Domain: rules.Domains{"meet.example.com"}, Priority: 10}})
	require.NoError(t, err)
	m, _ = pi.Resolve(sampleRoom, ev, now)
	require.True(t, m.Join, m.Reason)
	require.Equal(t, "8471029384@meet.example.com", m.Number)
	require.Equal(t, "SIP", m.Protocol)
}

package googlesim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

func entry(c *calendar.ConferenceData, typ string) *calendar.EntryPoint {
	for _, e := range c.EntryPoints {
		if e.EntryPointType == typ {
			return e
		}
	}
	return nil
}

// TestConferenceData: Meet invites carry hangoutsMeet conferenceData and hangoutLink; Zoom and
// Webex invites carry add-on conferencing; an overlay gives a meeting with an emptied
// description Meet conferenceData (with the SIP entry point of interop), and the change
// arrives in the increment.
func TestConferenceData(t *testing.T) {
	e := newEnv(t, nil)
	at := e.clk.Now().Truncate(time.Hour).Add(time.Hour)
	meet := e.post(room1, "Meet", `<p>Join with Google Meet: <a href="https://meet.google.com/abc-defg-hij">https://meet.google.com/abc-defg-hij</a></p>`, at, time.Hour, nil)
	zoom := e.post(room1, "Zoom", `<p>Join Zoom Meeting <a href="https://us02web.zoom.us/j/85012345678?pwd=Xyz.1">link</a><br>Passcode: 424242<br>85012345678@zoomcrc.com</p>`, at.Add(2*time.Hour), time.Hour, nil)
	webex := e.post(room1, "Webex", `<p><a href="https://acme.webex.com/acme/j.php?MTID=m0123abc">Join meeting</a><br>Dial 26512345678@acme.webex.com</p>`, at.Add(4*time.Hour), time.Hour, nil)
	plain := e.post(room1, "Plain", `<p>Bring the slides.</p>`, at.Add(6*time.Hour), time.Hour, nil)
	svc := e.admin()
	cal := ResourceEmail(room1)
	evs, tok, _ := listAll(t, func(pt string) (*calendar.Events, error) {
		return svc.Events.List(cal).SingleEvents(true).PageToken(pt).Do()
	})
	got := ids(evs)

	m := got[googleID(meet)]
	require.NotNil(t, m.ConferenceData)
	assert.Equal(t, "hangoutsMeet", m.ConferenceData.ConferenceSolution.Key.Type)
	assert.Equal(t, "abc-defg-hij", m.ConferenceData.ConferenceId)
	assert.Equal(t, "https://meet.google.com/abc-defg-hij", entry(m.ConferenceData, "video").Uri)
	assert.NotNil(t, entry(m.ConferenceData, "phone"))
	assert.Equal(t, "https://meet.google.com/abc-defg-hij", m.HangoutLink)

	z := got[googleID(zoom)]
	require.NotNil(t, z.ConferenceData)
	assert.Equal(t, "addOn", z.ConferenceData.ConferenceSolution.Key.Type)
	assert.Equal(t, "Zoom Meeting", z.ConferenceData.ConferenceSolution.Name)
	v := entry(z.ConferenceData, "video")
	assert.Equal(t, "https://us02web.zoom.us/j/85012345678?pwd=Xyz.1", v.Uri)
	assert.Equal(t, "85012345678", v.MeetingCode)
	assert.Equal(t, "424242", v.Passcode)
	assert.Equal(t, "sip:85012345678@zoomcrc.com", entry(z.ConferenceData, "sip").Uri)
	assert.Empty(t, z.HangoutLink)

	w := got[googleID(webex)]
	require.NotNil(t, w.ConferenceData)
	assert.Equal(t, "Webex", w.ConferenceData.ConferenceSolution.Name)
	assert.Equal(t, "sip:26512345678@acme.webex.com", entry(w.ConferenceData, "sip").Uri)

	assert.Nil(t, got[googleID(plain)].ConferenceData)

	// The plain meeting becomes a Meet meeting created in Google Calendar: no description.
	require.NoError(t, e.g.SetOverlay(cal, googleID(plain), Overlay{Conference: MeetConference("xyz-abcd-efg", true), EmptyDescription: true}))
	inc, err := svc.Events.List(cal).SingleEvents(true).SyncToken(tok).Do()
	require.NoError(t, err)
	require.Len(t, inc.Items, 1)
	p := inc.Items[0]
	assert.Empty(t, p.Description)
	assert.Equal(t, "https://meet.google.com/xyz-abcd-efg", p.HangoutLink)
	assert.Regexp(t, `^sip:\d{13}@gmeet\.redclient\.com$`, entry(p.ConferenceData, "sip").Uri)
}

// TestMeetShare: the scenario option gives a share of meetings without links Meet
// conferenceData, the same for the same event every time.
func TestMeetShare(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MeetShare = 0.5 })
	at := e.clk.Now().Truncate(time.Hour).Add(time.Hour)
	for i := range 20 {
		e.post(room1, "Plain", "<p>no link</p>", at.Add(time.Duration(i)*time.Hour), 30*time.Minute, nil)
	}
	svc := e.admin()
	list := func() map[string]string {
		evs, err := svc.Events.List(ResourceEmail(room1)).Do()
		require.NoError(t, err)
		out := map[string]string{}
		for _, ev := range evs.Items {
			if ev.ConferenceData != nil {
				out[ev.Id] = ev.HangoutLink
			}
		}
		return out
	}
	first := list()
	assert.Greater(t, len(first), 3)
	assert.Less(t, len(first), 17)
	for _, link := range first {
		assert.Regexp(t, `^https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}$`, link)
	}
	assert.Equal(t, first, list(), "deterministic")
}

// TestScenarioProviders: graphsim's generated calendars (every provider) come out with
// conferenceData for their Meet, Zoom and Webex meetings.
func TestScenarioProviders(t *testing.T) {
	e := newEnv(t, nil)
	sum, err := e.gs.Load(graphsim.Scenario{Rooms: []string{"room-10@contoso.example"}, Meetings: 60, Seed: 7})
	require.NoError(t, err)
	evs, err := e.admin().Events.List("room-10@contoso.example").SingleEvents(true).MaxResults(2500).Do()
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, ev := range evs.Items {
		if ev.ConferenceData != nil {
			kinds[ev.ConferenceData.ConferenceSolution.Name]++
		}
	}
	if sum.Providers[graphsim.ProviderMeet] > 0 {
		assert.Positive(t, kinds["Google Meet"])
	}
	if sum.Providers[graphsim.ProviderZoom] > 0 {
		assert.Positive(t, kinds["Zoom Meeting"])
	}
}

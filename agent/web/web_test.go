package web

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./agent/web -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got, "differs from %s (go test ./agent/web -update rewrites it)", path)
}

func TestPagesMatchGolden(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, tc := range []struct{ path, file string }{
		{"/", "overview.html"},
		{"/rooms", "rooms.html"},
		{"/rooms/room-b@example.com", "room.html"},
		{"/endpoints", "endpoints.html"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			code, body := f.get(tc.path)
			require.Equal(t, http.StatusOK, code, body)
			assert.NotContains(t, body, "<script", "the pages work without JavaScript")
			golden(t, tc.file, body)
		})
	}
}

// TestAPIStatusMatchesGolden pins GET /api/status, the document scripts and the MQTT status
// command read: a change to it is a contract change (README, "JSON API").
func TestAPIStatusMatchesGolden(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/api/status")
	require.Equal(t, http.StatusOK, code, body)
	golden(t, "api-status.json", body)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	assert.NotContains(t, doc, "graph", "the calendar sources are under sources, each with its type")
	assert.JSONEq(t, `[{"type": "graph", "name": "m365", "requests_today": 41250, "budget": 1000000, "projected_24h": 99000}]`, string(doc["sources"]))
}

func TestOverviewShowsTheSite(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		"calendar data 2 minutes old",
		// what needs attention, grouped: the failing codec once, the ok components folded away
		"Needs attention (4)", "codec-c (room-c@example.com): certificate changed", "otj-edge endpoints trust codec-c", "4 components ok",
		// Graph quota used and projected
		"41250", "1000000", "4.1%", "99000", "9.9%",
		// MQTT and the outbox
		"connected", "tcp://127.0.0.1:1883", "Outbox: 4 messages waiting",
		// what needs attention, with the room's advice and the command to check it
		"room-c@example.com", "policy_denied", "Test-ApplicationAccessPolicy -Identity room-c@example.com -AppId 11111111-2222-3333-4444-555555555555",
		"add_organizer_to_subject",
	} {
		assert.Contains(t, body, htmlText(want))
	}
	assert.Less(t, strings.Index(body, "codec-c (room-c@example.com): certificate changed"), strings.Index(body, "graph/m365-room-c"), "worst first")
	assert.Equal(t, 1, strings.Count(body, "codec-c (room-c@example.com)"), "the codec's state and its health item are one problem, listed once")
	assert.NotContains(t, body, "cisco/codec-c", "not again as a component")
	assert.Contains(t, body, "<th>Calendar source</th><th>Type</th>", "the budget table lists calendar sources, not Graph alone")
	assert.Contains(t, body, "<tr><td>m365</td><td>graph</td>", "each source with its type")
}

// htmlText is s as html/template writes it in text.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "+", "&#43;").Replace(s)
}

func TestCalendarDataAgeWhenMicrosoft365IsUnreachable(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	// No sync succeeds for 45 minutes: the rooms keep their meetings, the page says how old
	// they are instead of failing.
	f.clock.Advance(45 * time.Minute)
	code, body := f.get("/rooms")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Calendar data 47 minutes old: Microsoft 365 last answered at 09:58. The rooms keep their meetings from the local store.")
	assert.Contains(t, body, "Customer call", "meetings are still shown from the store")

	var st Status
	getJSON(t, f, "/api/status", &st)
	assert.True(t, st.Calendar.Stale)
	require.NotNil(t, st.Calendar.AgeSeconds)
	assert.Equal(t, int64(47*60), *st.Calendar.AgeSeconds)
	assert.Equal(t, "calendar data 47 minutes old", st.Calendar.Text)
	assert.Equal(t, 2, st.Calendar.StaleRooms, "the two rooms that once synced; room-c never did")
}

func TestCalendarDataAgeBeforeTheFirstSync(t *testing.T) {
	f := newFixture(t, fixtureOpts{empty: true})
	code, body := f.get("/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "No calendar data yet: 3 rooms waiting for a first successful sync.")
	code, body = f.get("/rooms")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 3, strings.Count(body, "never synced"))
}

func getJSON(t *testing.T, f *fixture, path string, v any) {
	t.Helper()
	code, body := f.get(path)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), v), body)
}

func TestAPIStatus(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var st Status
	getJSON(t, f, "/api/status", &st)
	assert.Equal(t, "oslo-hq", st.Site)
	assert.Equal(t, "1.2.3-test", st.Version)
	assert.Equal(t, "error", st.Health.Overall)
	assert.Equal(t, "cisco/codec-c", st.Health.Items[0].Component)
	assert.Equal(t, map[string]int{"ok": 2, "policy_denied": 1}, st.Rooms)
	assert.Equal(t, map[string]int{"up": 2, "cert_changed": 1}, st.Endpoints)
	assert.Equal(t, []SourceStats{{Type: "graph", Name: "m365", RequestsToday: 41250, Budget: 1000000, Projected24h: 99000}}, st.Sources)
	assert.True(t, st.MQTT.Connected)
	assert.Equal(t, int64(4), st.MQTT.OutboxDepth, "the four seeded events wait in the outbox")
	assert.Equal(t, "calendar data 2 minutes old", st.Calendar.Text)
	assert.False(t, st.Calendar.Stale)
	assert.Equal(t, 2, st.Calendar.Synced)
	assert.Equal(t, 0, st.Calendar.StaleRooms, "room-c never synced: it has no data to be stale")
}

func TestAPIRoomsAndMeetings(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var rooms []Room
	getJSON(t, f, "/api/rooms", &rooms)
	require.Len(t, rooms, 3)
	a := rooms[0]
	assert.Equal(t, "room-a@example.com", a.Mailbox)
	assert.Equal(t, []string{"codec-a"}, a.Endpoints)
	assert.Equal(t, "default", a.Profile)
	assert.Equal(t, 3, a.MeetingsToday)
	require.NotNil(t, a.Current)
	assert.Equal(t, "Project Falcon", a.Current.Subject)
	assert.Equal(t, MeetingRunning, a.Current.State)
	require.NotNil(t, a.Next)
	assert.Equal(t, "Customer call", a.Next.Subject)
	assert.Equal(t, "85512345678@zoomcrc.com", a.Next.Number)
	assert.Equal(t, "zoom", a.Next.Rule)
	require.NotNil(t, a.DataAgeSeconds)
	assert.Equal(t, int64(120), *a.DataAgeSeconds)

	c := rooms[2]
	assert.Equal(t, store.RoomPolicyDenied, c.Status)
	assert.Contains(t, c.Advice, "RBAC for Applications")
	assert.Equal(t, `New-ServicePrincipal -AppId 11111111-2222-3333-4444-555555555555 -ObjectId <enterprise-app-object-id> -DisplayName otj-edge
New-ManagementScope -Name "otj-edge rooms" -RecipientRestrictionFilter "RecipientTypeDetails -eq 'RoomMailbox'"
New-ManagementRoleAssignment -App 11111111-2222-3333-4444-555555555555 -Role "Application Calendars.Read" -CustomResourceScope "otj-edge rooms"
Test-ServicePrincipalAuthorization -Identity 11111111-2222-3333-4444-555555555555 -Resource room-c@example.com
Test-ApplicationAccessPolicy -Identity room-c@example.com -AppId 11111111-2222-3333-4444-555555555555`, c.AdviceCommand,
		"RBAC for Applications first, the access-policy check last")
	assert.True(t, c.Stale)
	assert.Nil(t, c.DataAgeSeconds)

	var b RoomDetail
	getJSON(t, f, "/api/rooms/"+url.PathEscape("ROOM-B@example.com"), &b)
	assert.Equal(t, "room-b@example.com", b.Mailbox)
	require.Len(t, b.Diagnosis, 1)
	assert.Equal(t, fixtureFix, b.Diagnosis[0].Fix)
	require.Len(t, b.Today, 1)
	assert.False(t, b.Today[0].Join)
	assert.Equal(t, "no rule matched and no sip:/h323: address", b.Today[0].Reason)
	require.Len(t, b.EndpointStates, 1)
	assert.Equal(t, "poly-b", b.EndpointStates[0].Name)

	var ad RoomDetail
	getJSON(t, f, "/api/rooms/room-a@example.com", &ad)
	var today, upcoming []string
	for _, m := range ad.Today {
		today = append(today, m.Subject+" "+m.State)
	}
	for _, m := range ad.Upcoming {
		upcoming = append(upcoming, m.Subject+" "+m.State)
	}
	assert.Equal(t, []string{"Standup ended", "Project Falcon running", "Customer call scheduled"}, today)
	assert.Equal(t, []string{"Board prep scheduled"}, upcoming)
	require.Len(t, ad.Events, 2)
	assert.Equal(t, "pushed 3 bookings", ad.Events[0].Message)

	var ms []Meeting
	getJSON(t, f, "/api/meetings?days=1", &ms)
	assert.Len(t, ms, 4, "today's meetings of every room")
	getJSON(t, f, "/api/meetings?room=room-a@example.com", &ms)
	assert.Len(t, ms, 4, "from the start of today, no end")
	getJSON(t, f, "/api/meetings?room=room-a@example.com&from="+url.QueryEscape(at(10, 45).Format(time.RFC3339)), &ms)
	require.Len(t, ms, 2)
	assert.Equal(t, "Customer call", ms[0].Subject)

	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/api/rooms/nobody@example.com", http.StatusNotFound, "room nobody@example.com: not found"},
		{"/api/meetings?room=nobody@example.com", http.StatusNotFound, "not found"},
		{"/api/meetings?days=0", http.StatusBadRequest, "days must be a number from 1 to 366"},
		{"/api/meetings?from=yesterday", http.StatusBadRequest, "from must be an RFC 3339 time"},
		{"/api/events?level=debug", http.StatusBadRequest, "level must be info, warn or error"},
		{"/api/nothing", http.StatusNotFound, "no such API endpoint"},
	} {
		code, body := f.get(tc.path)
		assert.Equal(t, tc.code, code, tc.path)
		var e apiError
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		assert.Contains(t, e.Error, tc.msg, tc.path)
	}
}

func TestAPIEndpointsAndEvents(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var eps []Endpoint
	getJSON(t, f, "/api/endpoints", &eps)
	require.Len(t, eps, 3)
	byName := map[string]Endpoint{}
	for _, e := range eps {
		byName[e.Name] = e
	}
	a := byName["codec-a"]
	assert.Equal(t, "ce11.14.1.5", a.Software)
	assert.Equal(t, strings.TrimSuffix(strings.Repeat("AB:", 32), ":"), a.Fingerprint)
	assert.Equal(t, fixtureNow.Add(-10*time.Minute).UTC(), a.LastPush)
	assert.Empty(t, a.Alarms)

	p := byName["poly-b"]
	assert.Equal(t, 60.0, p.PollEverySeconds)
	assert.Empty(t, p.Alarms)

	c := byName["codec-c"]
	require.Len(t, c.Alarms, 1, "the health item says the same as the state")
	assert.Equal(t, "certificate changed: presented certificate does not match the pinned fingerprint", c.Alarms[0].Message)
	assert.Equal(t, "otj-edge endpoints trust codec-c", c.Alarms[0].Command)
	assert.Equal(t, strings.TrimSuffix(strings.Repeat("FE:", 32), ":"), c.Presented)

	var evs []Event
	getJSON(t, f, "/api/events", &evs)
	require.Len(t, evs, 4)
	assert.Equal(t, "certificate changed", evs[0].Message, "newest first")
	getJSON(t, f, "/api/events?level=warn,error", &evs)
	assert.Len(t, evs, 2)
	getJSON(t, f, "/api/events?endpoint=codec-a&n=1", &evs)
	require.Len(t, evs, 1)
	assert.Equal(t, "push.ok", evs[0].Kind)

	var h Health
	getJSON(t, f, "/api/health", &h)
	assert.Equal(t, "error", h.Overall)
	assert.Len(t, h.Items, 6)
}

func TestRoomPageShowsMeetingsAndFixes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/rooms/room-a@example.com")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"Project Falcon", "09:30–10:30", "1234567890.abcd@teams.example.vc", "SIP · MicrosoftTeams",
		"teams", "Customer call", "Board prep", "Wed 11 Mar 09:00–10:00", "codec-a"} {
		assert.Contains(t, body, want)
	}
	code, body = f.get("/rooms/room-b@example.com")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<pre id="cp-fix"><code>`+htmlText(fixtureFix)+"</code></pre>", "the exact PowerShell fix, ready to copy")
	assert.Contains(t, body, "no rule matched and no sip:/h323: address")

	code, body = f.get("/rooms/nobody@example.com")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "room nobody@example.com: not found")
	code, _ = f.get("/no/such/page")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestEventsPageFilters(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/events?level=warn,error")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "certificate changed")
	assert.Contains(t, body, "access denied by the application access policy")
	assert.NotContains(t, body, "pushed 3 bookings")
	assert.Contains(t, body, `<option value="warn,error" selected>`)
}

func TestRulesBench(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, body := f.get("/rules")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "<option selected>default</option>")
	assert.Contains(t, body, "<option>strict</option>")

	form := url.Values{"profile": {"strict"}, "format": {"auto"}, "subject": {"Quarterly review"},
		"invite": {"<html><body><p>Join: <a href=\"sip:4711@vmr.example.com\">sip:4711@vmr.example.com</a></p></body></html>"}}
	code, body = f.post("/rules", "application/x-www-form-urlencoded", form.Encode())
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Result (profile strict, read as html)")
	assert.Contains(t, body, `<code class="addr">4711@vmr.example.com</code>`)
	assert.Contains(t, body, "fallback")
	assert.Contains(t, body, "Quarterly review")
	assert.Contains(t, body, "sip:4711@vmr.example.com&lt;/a&gt;&lt;/p&gt;&lt;/body&gt;&lt;/html&gt;</textarea>", "the form keeps what was pasted")
	require.Len(t, f.agent.rulesSeen, 1)
	ev := f.agent.rulesSeen[0]
	assert.Equal(t, "html", ev.Body.ContentType)
	start, err := ev.StartTime()
	require.NoError(t, err)
	assert.Equal(t, at(11, 0).UTC(), start, "a pasted body becomes a meeting at the next full hour")

	graphEvent := `{"subject": "From Graph", "body": {"contentType": "text", "content": "nothing to dial"},
	  "start": {"dateTime": "2026-03-10T14:00:00.0000000", "timeZone": "UTC"}, "end": {"dateTime": "2026-03-10T15:00:00.0000000", "timeZone": "UTC"}}`
	code, body = f.post("/rules", "application/x-www-form-urlencoded", url.Values{"profile": {"default"}, "invite": {graphEvent}}.Encode())
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "read as json")
	assert.Contains(t, body, "no rule matched and no sip:/h323: address (profile default)")
	assert.Equal(t, "From Graph", f.agent.rulesSeen[1].Subject)

	code, body = f.post("/rules", "application/x-www-form-urlencoded", url.Values{"profile": {"default"}, "invite": {"{\"subject\": \"x\",\n \"body\": }"}}.Encode())
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `id="rules-error"`)
	assert.Contains(t, body, "the invite is not a Microsoft Graph event in JSON: line 2, column")

	code, body = f.post("/rules", "application/x-www-form-urlencoded", url.Values{"profile": {"nope"}, "invite": {"sip:1@x"}}.Encode())
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, htmlText(`profile "nope" is not configured (there are: default, strict)`))
}

func TestRulesInputFormats(t *testing.T) {
	now := at(10, 0)
	for _, tc := range []struct {
		name    string
		in      RulesInput
		format  string
		subject string
		body    string
		err     string
	}{
		{name: "text", in: RulesInput{Invite: "Dial sip:1@x", Subject: "S"}, format: "text", subject: "S", body: "Dial sip:1@x"},
		{name: "html", in: RulesInput{Invite: "<div>Dial</div>"}, format: "html", body: "<div>Dial</div>"},
		{name: "json", in: RulesInput{Invite: ` {"subject": "J"}`}, format: "json", subject: "J"},
		{name: "forced text", in: RulesInput{Format: "text", Invite: "{not json"}, format: "text", body: "{not json"},
		{name: "empty", in: RulesInput{Invite: "  "}, err: "paste an invite"},
		{name: "bad format", in: RulesInput{Format: "pdf", Invite: "x"}, err: `format "pdf" is not one of auto, text, html, json`},
		{name: "bad start", in: RulesInput{Invite: `{"start": {"dateTime": "tomorrow"}}`}, err: `the event's start: dateTime "tomorrow" is not an ISO 8601 date-time`},
		{name: "wrong type", in: RulesInput{Invite: `{"subject": 7}`}, err: `field "subject"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := tc.in.Event(now)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.format, tc.in.format())
			assert.Equal(t, tc.subject, ev.Subject)
			assert.Equal(t, tc.body, ev.BodyText())
			start, _ := ev.StartTime()
			end, _ := ev.EndTime()
			assert.Equal(t, time.Hour, end.Sub(start))
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:               "less than a minute",
		time.Minute:                    "1 minute",
		47 * time.Minute:               "47 minutes",
		time.Hour:                      "1 hour",
		2*time.Hour + 5*time.Minute:    "2 hours 5 minutes",
		47*time.Hour + 59*time.Minute:  "47 hours 59 minutes",
		72 * time.Hour:                 "3 days",
		400*24*time.Hour + time.Minute: "400 days",
	} {
		assert.Equal(t, want, HumanDuration(d), d.String())
	}
}

func TestMeetingStates(t *testing.T) {
	rd := &Reader{Now: at(10, 0), Location: oslo}
	m := func(start, end time.Time, join bool) calendar.Meeting {
		return calendar.Meeting{Start: start, End: end, Join: join, StartBuffer: calendar.Duration(5 * time.Minute)}
	}
	assert.Equal(t, MeetingEnded, rd.meeting(m(at(9, 0), at(10, 0), true)).State)
	assert.Equal(t, MeetingRunning, rd.meeting(m(at(9, 30), at(10, 30), true)).State)
	assert.Equal(t, MeetingJoinable, rd.meeting(m(at(10, 5), at(11, 0), true)).State)
	assert.Equal(t, MeetingScheduled, rd.meeting(m(at(10, 5), at(11, 0), false)).State, "no Join button, nothing to join")
	assert.Equal(t, MeetingScheduled, rd.meeting(m(at(10, 6), at(11, 0), true)).State)
}

func TestStripUserinfo(t *testing.T) {
	assert.Equal(t, "ssl://broker.example.com:8883", stripUserinfo("ssl://user:pw@broker.example.com:8883"))
	assert.Equal(t, "tcp://127.0.0.1:1883", stripUserinfo("tcp://127.0.0.1:1883"))
	assert.Equal(t, "wss://b.example.com/mqtt?x=a@b", stripUserinfo("wss://b.example.com/mqtt?x=a@b"))
}

// TestRemoteClientsCannotRunActions checks the rule for a client on another machine (an
// address the test cannot reach for real, so the request is built by hand).
func TestRemoteClientsCannotRunActions(t *testing.T) {
	f := newFixture(t, fixtureOpts{credentials: true})
	req := httptest.NewRequest(http.MethodPost, "http://10.1.2.3:8787/api/actions/reload", strings.NewReader("{}"))
	req.RemoteAddr = "10.9.9.9:50000"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, f.server.Token())
	req.SetBasicAuth("tech", "status-page-password-999")
	rec := httptest.NewRecorder()
	f.server.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "control actions are accepted only from this machine")
	assert.Zero(t, f.agent.reloads)
}

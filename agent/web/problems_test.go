package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

var problemRE = regexp.MustCompile(`(?s)<details class="problem (\w+)">\s*<summary>(.*?)</summary>(.*?)</details>`)

// problemRows returns the overview's problem rows: each summary's text and its body.
func problemRows(body string) (summaries, bodies []string) {
	for _, m := range problemRE.FindAllStringSubmatch(body, -1) {
		summaries = append(summaries, tagRE.ReplaceAllString(m[2], ""))
		bodies = append(bodies, m[3])
	}
	return summaries, bodies
}

var tagRE = regexp.MustCompile(`<[^>]+>`)

// TestOutageIsOneRowSortedAboveACodec: 19 rooms failing with the same Graph 503 are one row,
// "19 rooms: Graph 503 since 02:03", that opens to list them; it sorts above the one codec
// that refuses connections, whose advice is about its session limit, not power or VLANs. The
// heading's count is the number of rows, and no room or codec shows twice.
func TestOutageIsOneRowSortedAboveACodec(t *testing.T) {
	f := newFixture(t, fixtureOpts{outage: true})
	code, body := f.get("/")
	require.Equal(t, http.StatusOK, code)
	summaries, bodies := problemRows(body)
	require.Len(t, summaries, 3, "%q", summaries)
	assert.Contains(t, body, "<h2>Needs attention (3)</h2>", "the heading counts the rows")
	assert.Equal(t, "warning 19 rooms: Graph 503 since 02:03", summaries[0])
	assert.Equal(t, "error codec-20 (room-20@example.com): session limit (HTTP 503) since 09:12", summaries[1])
	assert.Equal(t, "warning codec-21 (room-21@example.com): another system pushes bookings", summaries[2])

	for i := 1; i <= 19; i++ {
		assert.Equal(t, 1, strings.Count(bodies[0], `href="/rooms/`+outageRoom(i)+`"`), "room %d listed once, in the row", i)
	}
	assert.Equal(t, 1, strings.Count(body, htmlText(graph503)), "the shared detail shows once, not per room")
	assert.Contains(t, bodies[0], "Microsoft Graph answers with a server error")

	assert.Contains(t, bodies[1], "RoomOS allows a limited number of sessions")
	for _, wrong := range []string{"powered", "VLAN", "firewall"} {
		assert.NotContains(t, bodies[1], wrong, "a codec that answers 503 is on the network")
	}
	assert.Contains(t, bodies[2], "only one system should push bookings to a codec")
	assert.Equal(t, 1, strings.Count(body, "codec-20 (room-20@example.com)"), "the codec's state and health item are one problem")
	assert.NotContains(t, body, "19 of 21 rooms not syncing", "the Graph integration's summary of the rooms is not a second problem")
}

// TestCodecFleetDownIsOneRow: codecs unreachable at different addresses are one problem.
func TestCodecFleetDownIsOneRow(t *testing.T) {
	f := newFixture(t, fixtureOpts{outage: true})
	require.NoError(t, f.store.Write(t.Context(), func(tx *store.Tx) error {
		for i := 1; i <= 6; i++ {
			e, _, err := tx.Endpoint(outageCodec(i))
			if err != nil {
				return err
			}
			e.State, e.Detail = store.EndpointDown, "unreachable: dial tcp 10.1.0."+string(rune('0'+i))+":443: connect: no route to host"
			e.LastContact = at(1, 50+i).UTC()
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
		}
		return nil
	}))
	rd := f.server.reader()
	rooms, err := rd.Rooms(t.Context())
	require.NoError(t, err)
	eps, err := rd.Endpoints(t.Context())
	require.NoError(t, err)
	ps := Problems(f.cfg, rooms, eps, f.health.Snapshot())
	var fleet *Problem
	for i := range ps {
		if ps[i].Cause == causeUnreachable {
			require.Nil(t, fleet, "one row for the unreachable codecs")
			fleet = &ps[i]
		}
	}
	require.NotNil(t, fleet)
	assert.Equal(t, "6 codecs: unreachable", fleet.Summary)
	assert.Equal(t, 6, fleet.Rooms)
	assert.Equal(t, at(1, 56), fleet.Since.In(oslo), "down since the last answer of any of them")
	assert.Contains(t, fleet.Advice, "powered")
	assert.Equal(t, "19 rooms: Graph 503", ps[0].Summary, "19 rooms affected sort above 6")
	assert.Equal(t, fleet.Summary, ps[1].Summary)
}

// TestAdviceMatchesTheDeviceAndTheError: a Poly's wrong calendar password is not a codec
// lockout, a codec's 503 is not a network problem, and a codec's wrong password is.
func TestAdviceMatchesTheDeviceAndTheError(t *testing.T) {
	alarm := func(e store.EndpointState) Alarm {
		t.Helper()
		as := endpointAlarms(e, nil)
		require.Len(t, as, 1)
		return as[0]
	}
	poly := alarm(store.EndpointState{Name: "poly-b", Type: "poly", State: store.EndpointAuthFailed, Detail: "wrong calendar password from 127.0.0.1"})
	assert.Contains(t, poly.Advice, "calendar_password")
	assert.NotContains(t, poly.Advice, "lock")
	assert.NotContains(t, poly.Advice, "5 minutes")
	assert.Equal(t, "wrong calendar password from 127.0.0.1", poly.Message)

	cisco := alarm(store.EndpointState{Name: "codec-a", Type: "cisco", State: store.EndpointAuthFailed,
		Detail: `wrong username or password (HTTP 403) for user "admin"`})
	assert.Contains(t, cisco.Advice, "lock an account after repeated failures")
	assert.Contains(t, cisco.Advice, "otj-edge reload")
	assert.Equal(t, "otj-edge endpoints retry codec-a", cisco.Command, "one attempt now, not a loop of logins")

	waiting := alarm(store.EndpointState{Name: "codec-w", Type: "cisco", State: store.EndpointWaiting, Detail: "waiting for the room's first sync: …"})
	assert.Contains(t, waiting.Advice, "keeps the bookings it has")
	assert.Equal(t, "warn", levelClass(store.EndpointWaiting), "a waiting codec is not grey")

	busy := alarm(store.EndpointState{Name: "codec-b", Type: "cisco", State: store.EndpointDown, Detail: codec503})
	assert.Contains(t, busy.Advice, "RoomOS allows a limited number of sessions")
	assert.NotContains(t, busy.Advice, "VLAN")
	assert.Equal(t, "session limit (HTTP 503): "+codec503, busy.Message)

	gone := alarm(store.EndpointState{Name: "codec-c", Type: "cisco", State: store.EndpointDown, Detail: "unreachable: dial tcp 10.0.0.9:443: i/o timeout"})
	assert.Contains(t, gone.Advice, "VLAN")
	assert.Equal(t, "unreachable: dial tcp 10.0.0.9:443: i/o timeout", gone.Message, "not \"unreachable: unreachable: …\"")

	foreign := alarm(store.EndpointState{Name: "codec-d", Type: "cisco", State: store.EndpointDegraded, Detail: codecForeign})
	assert.Contains(t, foreign.Advice, "only one system should push bookings")

	// A room's auth_failed: a sign-in failure, or a missing permission, each its own advice.
	signIn, _ := roomAdvice(store.RoomAuthFailed, "token endpoint: HTTP 401: AADSTS7000215: Invalid client secret provided. — …",
		[]string{"room-a@example.com"}, "m365", "app")
	assert.Contains(t, signIn, "could not sign in")
	perm, _ := roomAdvice(store.RoomAuthFailed, "Graph denied access (403 ErrorAccessDenied: Access is denied.): …", []string{"room-a@example.com"}, "m365", "app")
	assert.Contains(t, perm, `"Application Calendars.Read" on a scope of the rooms`)
	assert.Less(t, strings.Index(perm, "RBAC for Applications"), strings.Index(perm, "tenant-wide"), "RBAC first")
	assert.NotContains(t, perm, "could not sign in")
}

// TestPolicyDeniedAdviceGivesRBACFirst: the commands set up RBAC for Applications, then check
// it, and only last check an application access policy; for several rooms, one pipeline.
func TestPolicyDeniedAdviceGivesRBACFirst(t *testing.T) {
	advice, cmd := roomAdvice(store.RoomPolicyDenied, "", []string{"room-a@example.com", "room-b@example.com"}, "m365", "app-id")
	assert.Contains(t, advice, "Microsoft says not to create new application access policies")
	lines := strings.Split(cmd, "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, "New-ServicePrincipal -AppId app-id -ObjectId <enterprise-app-object-id> -DisplayName otj-edge", lines[0])
	assert.Equal(t, `New-ManagementScope -Name "otj-edge rooms" -RecipientRestrictionFilter "RecipientTypeDetails -eq 'RoomMailbox'"`, lines[1])
	assert.Equal(t, `New-ManagementRoleAssignment -App app-id -Role "Application Calendars.Read" -CustomResourceScope "otj-edge rooms"`, lines[2])
	assert.Equal(t, `'room-a@example.com','room-b@example.com' | ForEach-Object { Test-ServicePrincipalAuthorization -Identity app-id -Resource $_ }`, lines[3])
	assert.Equal(t, `'room-a@example.com','room-b@example.com' | ForEach-Object { Test-ApplicationAccessPolicy -Identity $_ -AppId app-id }`, lines[4])
}

// TestOneCalendarProcessingFixPerRoom: the wrong settings of a room are one command, each
// parameter once, and the informational ProcessExternalMeetingMessages finding never goes in.
func TestOneCalendarProcessingFixPerRoom(t *testing.T) {
	const room = "room-b@example.com"
	fix := func(args string) string { return "Set-CalendarProcessing -Identity " + room + " " + args }
	findings := []store.Finding{
		{Flag: "add_organizer_to_subject", Detail: "10 of 10 meetings show the organizer's name as their subject", Fix: fix("-AddOrganizerToSubject $false -DeleteSubject $false")},
		{Flag: "delete_comments", Detail: "10 of 10 meetings have an empty body", Fix: fix("-DeleteComments $false")},
		{Flag: "remove_private_property", Detail: "none of 25 meetings is private", Fix: fix("-RemovePrivateProperty $false")},
		{Flag: flagProcessExternal, Detail: "none of 25 meetings has an organizer outside the room's domain", Fix: fix("-ProcessExternalMeetingMessages $true")},
	}
	assert.Equal(t, fix("-AddOrganizerToSubject $false -DeleteSubject $false -DeleteComments $false -RemovePrivateProperty $false"),
		CalendarProcessingFix(room, findings))
	assert.Empty(t, CalendarProcessingFix(room, findings[3:]), "a note alone is nothing to fix")

	f := newFixture(t, fixtureOpts{})
	require.NoError(t, f.store.Write(t.Context(), func(tx *store.Tx) error {
		r, _, err := tx.Room(room)
		if err != nil {
			return err
		}
		r.Diagnosis = findings
		return tx.PutRoom(r)
	}))
	code, body := f.get("/rooms/" + room)
	require.Equal(t, http.StatusOK, code)
	pre := regexp.MustCompile(`(?s)<pre id="cp-fix"><code>(.*?)</code></pre>`).FindStringSubmatch(body)
	require.NotNil(t, pre)
	assert.Equal(t, htmlText(CalendarProcessingFix(room, findings)), pre[1])
	assert.Equal(t, 1, strings.Count(body, "<pre"), "one command block for the room")

	code, body = f.get("/")
	require.Equal(t, http.StatusOK, code)
	summaries, bodies := problemRows(body)
	var notes int
	for i, s := range summaries {
		if strings.Contains(s, "no external organizers seen") {
			notes++
			assert.True(t, strings.HasPrefix(s, "info "), s)
			assert.Contains(t, bodies[i], "a security setting")
			assert.NotContains(t, bodies[i], "<pre", "a note has nothing to paste")
		} else {
			assert.NotContains(t, bodies[i], "ProcessExternalMeetingMessages", "never in a fix block")
		}
	}
	assert.Equal(t, 1, notes)
	assert.Contains(t, body, "<h3>Notes (1)</h3>")
	assert.Contains(t, body, "<h2>Needs attention (4)</h2>", "the note is not counted")
}

// TestRoomsShowTheirEndpointsBesideTheCalendar: a room whose calendar syncs but whose codec
// holds another system's bookings is not green; the list shows the codec's state, the next
// meeting's date when it is not today, and why it gets no Join button.
func TestRoomsShowTheirEndpointsBesideTheCalendar(t *testing.T) {
	f := newFixture(t, fixtureOpts{outage: true})
	code, body := f.get("/rooms")
	require.Equal(t, http.StatusOK, code)
	row := regexp.MustCompile(`(?s)<tr id="room-room-21@example.com"[^>]*>(.*?)</tr>`).FindStringSubmatch(body)
	require.NotNil(t, row)
	assert.Contains(t, row[0], `class="r-warn"`)
	assert.Contains(t, row[1], `<span class="badge warn" title="the room overall">warning</span>`)
	assert.Contains(t, row[1], `<span class="badge ok">ok</span>`, "the calendar itself syncs")
	assert.Contains(t, row[1], `<span class="badge warn">degraded</span> <a href="/endpoints#ep-codec-21">codec-21</a>`)
	assert.Contains(t, row[1], "another system pushes bookings to this codec")
	assert.Contains(t, row[1], "Wed 11 Mar 08:30–09:30 Budget review")
	assert.Contains(t, row[1], "no Join button: no rule matched and no sip:/h323: address")

	var rooms []Room
	getJSON(t, f, "/api/rooms", &rooms)
	require.Len(t, rooms, outageRooms)
	r21 := rooms[20]
	assert.Equal(t, store.RoomOK, r21.Status)
	assert.Equal(t, health.Warning, r21.Overall)
	require.Len(t, r21.Devices, 1)
	assert.Equal(t, DeviceState{Name: "codec-21", Type: "cisco", State: store.EndpointDegraded, Detail: codecForeign, Level: health.Warning}, r21.Devices[0])
	assert.Equal(t, health.Error, rooms[19].Overall, "room 20's codec refuses connections")

	code, body = f.get("/rooms/" + outageRoom(21))
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<span class="badge warn" title="the room overall">warning</span>`)
	assert.Contains(t, body, "Next meeting: <strong>Wed 11 Mar 08:30–09:30</strong> Budget review · no Join button: no rule matched and no sip:/h323: address")
	assert.Contains(t, body, "only one system should push bookings to a codec")
}

// TestNotSyncedCountsOnlyRoomsThatOnceSynced: a room still waiting for its first sync is not
// "not synced for over 30 minutes".
func TestNotSyncedCountsOnlyRoomsThatOnceSynced(t *testing.T) {
	f := newFixture(t, fixtureOpts{}) // room-c never synced; a and b did minutes ago
	_, body := f.get("/rooms")
	assert.NotContains(t, body, "not synced for over")
	f.clock.Advance(40 * time.Minute)
	_, body = f.get("/rooms")
	assert.Contains(t, body, "Calendar data 42 minutes old")
	var st Status
	getJSON(t, f, "/api/status", &st)
	assert.Equal(t, 2, st.Calendar.StaleRooms)
}

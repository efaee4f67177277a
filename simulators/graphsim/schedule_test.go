package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scheduleBody is a getSchedule body over [from, to) in UTC.
func scheduleBody(rooms []string, from, to time.Time, interval int) map[string]any {
	b := map[string]any{
		"schedules": rooms,
		"startTime": map[string]any{"dateTime": from.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"endTime":   map[string]any{"dateTime": to.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	}
	if interval > 0 {
		b["availabilityViewInterval"] = interval
	}
	return b
}

// postSchedule POSTs a getSchedule of mailbox (the URL's) over HTTPS.
func postSchedule(t *testing.T, s *Server, tok, mailbox string, body any, prefer ...string) answer {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.GraphURL()+"/users/"+mailbox+"/calendar/getSchedule", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	for _, p := range prefer {
		req.Header.Add("Prefer", p)
	}
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func scheduleItems(t *testing.T, info map[string]any) []map[string]any {
	t.Helper()
	raw, ok := info["scheduleItems"].([]any)
	require.True(t, ok, "scheduleItems of %v", info["scheduleId"])
	out := make([]map[string]any, 0, len(raw))
	for _, it := range raw {
		out = append(out, it.(map[string]any))
	}
	return out
}

func itemSpan(item map[string]any) string {
	st, en := item["start"].(map[string]any), item["end"].(map[string]any)
	return fmt.Sprint(st["dateTime"], "–", en["dateTime"])
}

// TestGetScheduleMatchesCalendarView: for a generated site (series, exceptions, cancelled and
// private meetings), each room's schedule items are its calendarView over the same window minus
// the cancelled meetings, with the event's showAs as status, and availabilityView marks their
// slots.
func TestGetScheduleMatchesCalendarView(t *testing.T) {
	s, _ := start(t, Options{})
	rooms := []string{"room-01@contoso.example", "room-02@contoso.example", "room-03@contoso.example"}
	sum, err := s.Load(Scenario{Rooms: rooms, Meetings: 40, Days: 8, Seed: 7, Now: t0})
	require.NoError(t, err)
	require.Positive(t, sum.Cancelled, "the scenario has cancelled meetings to leave out")
	tok := token(t, s)
	from, to := t0.Truncate(24*time.Hour), t0.Truncate(24*time.Hour).Add(8*24*time.Hour)

	a := postSchedule(t, s, tok, rooms[0], scheduleBody(rooms, from, to, 0))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	infos := values(a)
	require.Len(t, infos, len(rooms))
	for i, info := range infos {
		assert.Equal(t, rooms[i], info["scheduleId"], "answers come in the order asked")
		view, err := s.CalendarView(rooms[i], from, to)
		require.NoError(t, err)
		var want, got []string
		busy := 0
		for _, ev := range view {
			if ev["isCancelled"] == true {
				continue
			}
			want = append(want, fmt.Sprint(itemSpan(ev), " ", ev["showAs"]))
		}
		for _, it := range scheduleItems(t, info) {
			got = append(got, fmt.Sprint(itemSpan(it), " ", it["status"]))
			if it["status"] == "busy" {
				busy++
			}
			assert.NotContains(t, it, "subject", "Exchange's default permission shows availability only")
			assert.NotContains(t, it, "location")
			assert.NotContains(t, it, "isPrivate")
		}
		sort.Strings(want)
		sort.Strings(got)
		require.NotEmpty(t, want)
		assert.Equal(t, want, got, rooms[i])
		av, _ := info["availabilityView"].(string)
		assert.Len(t, av, 8*48, "8 days of 30-minute slots")
		assert.Contains(t, av, "2", "busy meetings mark their slots")
		assert.Contains(t, info, "workingHours")
	}
}

// TestGetScheduleAvailabilityView: slots take the busiest status overlapping them; free and
// cancelled meetings leave them free; a cancelled meeting is not listed, a free one is.
func TestGetScheduleAvailabilityView(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	day := t0.Truncate(24 * time.Hour)
	_, err := s.PostEvent(room, newInvite("Busy", day.Add(9*time.Hour), 45*time.Minute)) // 09:00–09:45
	require.NoError(t, err)
	free := newInvite("Free", day.Add(11*time.Hour), time.Hour)
	free["showAs"] = "free"
	_, err = s.PostEvent(room, free)
	require.NoError(t, err)
	cancelled, err := s.PostEvent(room, newInvite("Gone", day.Add(13*time.Hour), time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.CancelEvent(room, cancelled))
	require.NoError(t, s.PatchRoom(room, RoomPatch{Processing: &ProcessingPatch{AutomateProcessing: ptr(AutoUpdate)}}))
	_, err = s.PostEvent(room, newInvite("Maybe", day.Add(15*time.Hour), time.Hour)) // tentative
	require.NoError(t, err)

	tok := token(t, s)
	a := postSchedule(t, s, tok, room, scheduleBody([]string{room}, day.Add(8*time.Hour), day.Add(17*time.Hour), 60))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	info := values(a)[0]
	// slots from 08:00: busy at 9, free at 11, cancelled at 13, tentative at 15
	assert.Equal(t, "020000010", info["availabilityView"])
	var statuses []string
	for _, it := range scheduleItems(t, info) {
		statuses = append(statuses, fmt.Sprint(it["status"]))
	}
	assert.Equal(t, []string{"busy", "free", "tentative"}, statuses)
}

func adminCall(t *testing.T, s *Server, method, path string, body any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, s.AdminURL()+path, bytes.NewReader(b))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestGetScheduleDetailLevels: Exchange's default shows times and status only; limited details
// (set per room or for the app through the admin API) add subject, location and isPrivate, and
// a private meeting still shows only its times.
func TestGetScheduleDetailLevels(t *testing.T) {
	s, _ := start(t, Options{})
	room, other := "room-01@contoso.example", "room-02@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	require.NoError(t, s.AddRoom(Room{Mailbox: other, Processing: ptr(Recommended())}))
	day := t0.Truncate(24 * time.Hour)
	for _, r := range []string{room, other} {
		open := newInvite("Quarterly review", day.Add(10*time.Hour), time.Hour)
		open["location"] = map[string]any{"displayName": "Board room"}
		_, err := s.PostEvent(r, open)
		require.NoError(t, err)
		secret := newInvite("Reorg", day.Add(12*time.Hour), time.Hour)
		secret["sensitivity"] = "private"
		_, err = s.PostEvent(r, secret)
		require.NoError(t, err)
	}
	tok := token(t, s)
	ask := func() (map[string]any, map[string]any) {
		a := postSchedule(t, s, tok, room, scheduleBody([]string{room, other}, day, day.Add(24*time.Hour), 0))
		require.Equal(t, http.StatusOK, a.status, a.raw)
		v := values(a)
		return v[0], v[1]
	}
	info, _ := ask()
	for _, it := range scheduleItems(t, info) {
		assert.ElementsMatch(t, []string{"status", "start", "end"}, keys(it), "availability only")
	}

	require.Equal(t, http.StatusOK, adminCall(t, s, http.MethodPatch, "/rooms/"+room, map[string]any{"free_busy_details": "limited_details"}))
	ri, err := s.RoomInfo(room)
	require.NoError(t, err)
	assert.Equal(t, FreeBusyLimitedDetails, ri.FreeBusyDetails)
	info, otherInfo := ask()
	items := scheduleItems(t, info)
	require.Len(t, items, 2)
	assert.Equal(t, false, items[0]["isPrivate"])
	assert.Contains(t, items[0]["subject"], "Quarterly review")
	assert.Contains(t, items[0]["location"], "Board room")
	assert.Equal(t, true, items[1]["isPrivate"])
	assert.NotContains(t, items[1], "subject", "a private meeting's subject is never shown")
	assert.NotContains(t, items[1], "location")
	for _, it := range scheduleItems(t, otherInfo) {
		assert.NotContains(t, it, "subject", "the other room keeps the default")
	}

	require.Equal(t, http.StatusBadRequest, adminCall(t, s, http.MethodPatch, "/rooms/"+room, map[string]any{"free_busy_details": "reviewer"}))
	require.Equal(t, http.StatusNoContent, adminCall(t, s, http.MethodPatch, "/app", map[string]any{"free_busy_details": "limited_details"}))
	_, otherInfo = ask()
	assert.Contains(t, scheduleItems(t, otherInfo)[0], "subject", "the app's level applies to rooms without their own")
	require.Equal(t, http.StatusOK, adminCall(t, s, http.MethodPatch, "/rooms/"+other, map[string]any{"free_busy_details": "availability_only"}))
	_, otherInfo = ask()
	assert.NotContains(t, scheduleItems(t, otherInfo)[0], "subject", "a room's own level wins over the app's")
}

// TestGetScheduleRefusalsAndItemErrors: more than 20 schedules, more than 62 days or an interval
// outside 5–1440 fail the request; an address Graph cannot resolve fails only its own item.
func TestGetScheduleRefusalsAndItemErrors(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	require.NoError(t, s.AddRoom(Room{Mailbox: "legacy@contoso.example", RESTEnabled: ptr(false)}))
	_, err := s.PostEvent(room, newInvite("Standup", t0.Add(time.Hour), 30*time.Minute))
	require.NoError(t, err)
	tok := token(t, s)
	day := t0.Truncate(24 * time.Hour)

	many := make([]string, 21)
	for i := range many {
		many[i] = room
	}
	a := postSchedule(t, s, tok, room, scheduleBody(many, day, day.Add(24*time.Hour), 0))
	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Equal(t, "ErrorMailboxDataArrayTooBig", errCode(a))
	a = postSchedule(t, s, tok, room, scheduleBody(many[:20], day, day.Add(24*time.Hour), 0))
	assert.Equal(t, http.StatusOK, a.status, "20 is allowed")
	assert.Len(t, values(a), 20)

	a = postSchedule(t, s, tok, room, scheduleBody([]string{room}, day, day.Add(63*24*time.Hour), 0))
	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Equal(t, "ErrorTimeIntervalTooBig", errCode(a))
	a = postSchedule(t, s, tok, room, scheduleBody([]string{room}, day, day.Add(62*24*time.Hour), 1440))
	require.Equal(t, http.StatusOK, a.status, "62 days is allowed: %s", a.raw)
	assert.Len(t, values(a)[0]["availabilityView"], 62)

	for _, bad := range []int{4, 1441} {
		a = postSchedule(t, s, tok, room, scheduleBody([]string{room}, day, day.Add(24*time.Hour), bad))
		assert.Equal(t, http.StatusBadRequest, a.status, "interval %d", bad)
	}
	a = postSchedule(t, s, tok, room, scheduleBody([]string{room}, day.Add(time.Hour), day, 0))
	assert.Equal(t, http.StatusBadRequest, a.status, "end before start")
	a = postSchedule(t, s, tok, room, scheduleBody(nil, day, day.Add(time.Hour), 0))
	assert.Equal(t, http.StatusBadRequest, a.status, "no schedules")
	assert.Equal(t, http.StatusMethodNotAllowed, get(t, s, tok, "/users/"+room+"/calendar/getSchedule").status)

	// The concept page's spelling: capitalised names and the interval as a string.
	a = postSchedule(t, s, tok, room, map[string]any{"Schedules": []string{room},
		"StartTime": map[string]any{"dateTime": "2026-11-23T09:00:00", "timeZone": "Pacific Standard Time"},
		"EndTime":   map[string]any{"dateTime": "2026-11-23T18:00:00", "timeZone": "Pacific Standard Time"}, "availabilityViewInterval": "15"})
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Len(t, values(a)[0]["availabilityView"], 36)

	a = postSchedule(t, s, tok, room, scheduleBody([]string{"nobody@contoso.example", room, "legacy@contoso.example", "bob@fabrikam.example"},
		day, day.Add(24*time.Hour), 0))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	v := values(a)
	require.Len(t, v, 4)
	for i, code := range map[int]string{0: "5016", 2: "5016", 3: "5009"} {
		assert.Nil(t, v[i]["scheduleItems"], v[i]["scheduleId"])
		assert.NotContains(t, v[i], "availabilityView")
		e, _ := v[i]["error"].(map[string]any)
		assert.Equal(t, code, e["responseCode"], v[i]["scheduleId"])
		assert.NotEmpty(t, e["message"])
	}
	assert.Len(t, scheduleItems(t, v[1]), 1, "the known room is answered")
	assert.NotContains(t, v[1], "error")
}

// TestGetScheduleTimeZone: items come in UTC unless Prefer: outlook.timezone names a zone.
func TestGetScheduleTimeZone(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	_, err := s.PostEvent(room, newInvite("Standup", t0, 30*time.Minute)) // 09:00 UTC
	require.NoError(t, err)
	tok := token(t, s)
	body := scheduleBody([]string{room}, t0.Add(-time.Hour), t0.Add(time.Hour), 0)
	it := scheduleItems(t, values(postSchedule(t, s, tok, room, body))[0])[0]
	assert.Equal(t, map[string]any{"dateTime": "2026-11-23T09:00:00.0000000", "timeZone": "UTC"}, it["start"])
	a := postSchedule(t, s, tok, room, body, `outlook.timezone="Europe/Berlin"`)
	it = scheduleItems(t, values(a)[0])[0]
	assert.Equal(t, map[string]any{"dateTime": "2026-11-23T10:00:00.0000000", "timeZone": "Europe/Berlin"}, it["start"])
	assert.Contains(t, a.header.Get("Preference-Applied"), "outlook.timezone")
}

// TestGetScheduleIsOneRequestOfTheURLMailbox: a getSchedule for 3 rooms is one request, charged
// to the URL's mailbox: counted (total, per kind), refused over that mailbox's rate limit with
// Retry-After, and subject to faults injected for it.
func TestGetScheduleIsOneRequestOfTheURLMailbox(t *testing.T) {
	s, clk := start(t, Options{})
	rooms := []string{"room-01@contoso.example", "room-02@contoso.example", "room-03@contoso.example"}
	for _, r := range rooms {
		require.NoError(t, s.AddRoom(Room{Mailbox: r, Processing: ptr(Recommended()), RateLimit: 3}))
	}
	tok := token(t, s)
	day := t0.Truncate(24 * time.Hour)
	body := scheduleBody(rooms, day, day.Add(8*24*time.Hour), 0)
	before := s.Stats().Requests
	require.Equal(t, http.StatusOK, postSchedule(t, s, tok, rooms[0], body).status)
	st := s.Stats()
	assert.Equal(t, 1, st.Requests-before, "one request for three rooms")
	assert.Equal(t, 1, st.GetSchedules)
	assert.Equal(t, 1, st.Mailboxes[rooms[0]].GetSchedules)
	assert.Equal(t, 1, st.Mailboxes[rooms[0]].Requests)
	assert.Zero(t, st.Mailboxes[rooms[1]].Requests, "the rooms asked about are not charged")
	assert.Equal(t, 1, st.Mailboxes[rooms[1]].FreeBusyLookups)

	require.Equal(t, http.StatusOK, postSchedule(t, s, tok, rooms[0], body).status)
	require.Equal(t, http.StatusOK, postSchedule(t, s, tok, rooms[0], body).status)
	over := postSchedule(t, s, tok, rooms[0], body)
	require.Equal(t, http.StatusTooManyRequests, over.status, "the 4th request within 10 minutes, limit 3")
	assert.Equal(t, "TooManyRequests", errCode(over))
	assert.NotEmpty(t, over.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, postSchedule(t, s, tok, rooms[1], body).status, "another URL mailbox has its own budget")
	clk.Add(RateWindow)
	assert.Equal(t, http.StatusOK, postSchedule(t, s, tok, rooms[0], body).status)
	assert.Equal(t, 1, s.MailboxStats(rooms[0]).Throttled)

	_, err := s.AddFault(Fault{Kind: FaultStatus, Path: "getSchedule", Status: http.StatusServiceUnavailable, Count: 1})
	require.NoError(t, err)
	failed := postSchedule(t, s, tok, rooms[2], body)
	assert.Equal(t, http.StatusServiceUnavailable, failed.status)
	assert.Equal(t, "ServiceNotAvailable", errCode(failed))
	assert.Equal(t, http.StatusOK, postSchedule(t, s, tok, rooms[2], body).status, "the fault fired once")

	require.NoError(t, s.PatchRoom(rooms[2], RoomPatch{InPolicy: ptr(false)}))
	assert.Equal(t, http.StatusForbidden, postSchedule(t, s, tok, rooms[2], body).status, "the URL's mailbox must be in the access policy")
	assert.Equal(t, http.StatusNotFound, postSchedule(t, s, tok, "nobody@contoso.example", body).status)
	assert.Equal(t, http.StatusUnauthorized, postSchedule(t, s, "bogus", rooms[1], body).status)
}

// TestGetScheduleMe: /me/calendar/getSchedule is the signed-in user's with a delegated token
// and a 400 with an app-only one.
func TestGetScheduleMe(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	require.NoError(t, s.AddRoom(Room{Mailbox: svc}))
	_, err := s.PostEvent(room, newInvite("Standup", t0, 30*time.Minute))
	require.NoError(t, err)
	body := scheduleBody([]string{room}, t0.Add(-time.Hour), t0.Add(time.Hour), 0)
	status, out := graphCall(t, s, signIn(t, s)["access_token"].(string), http.MethodPost, "/me/calendar/getSchedule", body)
	require.Equal(t, http.StatusOK, status, out)
	assert.Len(t, out["value"], 1)
	assert.Equal(t, 1, s.MailboxStats(svc).GetSchedules, "charged to the signed-in user's mailbox")
	status, out = graphCall(t, s, token(t, s), http.MethodPost, "/me/calendar/getSchedule", body)
	assert.Equal(t, http.StatusBadRequest, status, out)
}

// BenchmarkGetSchedule20Rooms is the probe's request: 20 rooms × 8 days of ~40 meetings each,
// served and encoded (the HTTP and TLS layers excluded).
func BenchmarkGetSchedule20Rooms(b *testing.B) {
	s, err := New(Options{Now: func() time.Time { return t0 }})
	require.NoError(b, err)
	rooms := make([]string, 20)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("room-%02d@contoso.example", i+1)
	}
	_, err = s.Load(Scenario{Rooms: rooms, Meetings: 40, Days: 8, Seed: 1, Now: t0})
	require.NoError(b, err)
	s.app.rateLimit = 1 << 30
	day := t0.Truncate(24 * time.Hour)
	body, err := json.Marshal(scheduleBody(rooms, day, day.Add(8*24*time.Hour), 0))
	require.NoError(b, err)
	req := gReq{method: http.MethodPost, path: "/users/" + rooms[0] + "/calendar/getSchedule", body: body}
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		resp := s.do(context.Background(), req)
		if resp.status != http.StatusOK {
			b.Fatalf("status %d: %v", resp.status, resp.body)
		}
		out, err := json.Marshal(resp.body)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/answer")
}

// TestGetScheduleShowsOnlyWhatFreeBusyShows: with Exchange's default detail level a new subject
// or join link leaves the answer byte for byte the same (a probe cannot see it), while a move,
// a new meeting or a cancellation changes it.
func TestGetScheduleShowsOnlyWhatFreeBusyShows(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: ptr(Recommended())}))
	day := t0.Truncate(24 * time.Hour)
	id, err := s.PostEvent(room, newInvite("Standup", day.Add(10*time.Hour), 30*time.Minute))
	require.NoError(t, err)
	tok := token(t, s)
	body := scheduleBody([]string{room}, day, day.Add(8*24*time.Hour), 0)
	answer := func() string {
		a := postSchedule(t, s, tok, room, body)
		require.Equal(t, http.StatusOK, a.status, a.raw)
		v, err := json.Marshal(a.body["value"])
		require.NoError(t, err)
		return string(v)
	}
	before := answer()
	_, err = s.PatchEvent(room, id, map[string]any{"subject": "Standup (moved to Teams)",
		"body": map[string]any{"contentType": "html", "content": "<a href=\"https://teams.microsoft.com/l/meetup-join/x\">Join</a>"}})
	require.NoError(t, err)
	assert.Equal(t, before, answer(), "subject and body are not free/busy")

	_, err = s.PatchEvent(room, id, map[string]any{"start": map[string]any{"dateTime": day.Add(11 * time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end": map[string]any{"dateTime": day.Add(11*time.Hour + 30*time.Minute).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
	require.NoError(t, err)
	moved := answer()
	assert.NotEqual(t, before, moved, "a move shows")
	_, err = s.PostEvent(room, newInvite("Lunch", day.Add(12*time.Hour), time.Hour))
	require.NoError(t, err)
	added := answer()
	assert.NotEqual(t, moved, added, "a new meeting shows")
	require.NoError(t, s.CancelEvent(room, id))
	assert.NotEqual(t, added, answer(), "a cancellation shows")
}

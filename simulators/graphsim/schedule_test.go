package graphsim

import (
	"bytes"
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

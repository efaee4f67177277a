package cisco

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// providerMeetings are resolved meetings as the rules produce them for each provider, an hour
// apart from base.
func providerMeetings(room string, base time.Time) []calendar.Meeting {
	m := func(i int, id, subject string, join bool, number, protocol, platform string) calendar.Meeting {
		start := base.Add(time.Duration(i) * time.Hour)
		return calendar.Meeting{
			Room: room, ID: id, EventID: "AAMk-" + id, Start: start, End: start.Add(30 * time.Minute),
			StartBuffer: calendar.Duration(5 * time.Minute), Subject: subject, Organizer: "Ada Lovelace",
			OrganizerEmail: "ada@contoso.example", Join: join, Number: number, Protocol: protocol, Platform: platform,
		}
	}
	return []calendar.Meeting{
		m(0, "teams-cvi", "Teams over CVI", true, "1234567890.acme@m.webex.com", calendar.ProtocolSIP, calendar.PlatformTeams),
		m(1, "teams-webrtc", "Teams direct guest join", true,
			"https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjM2%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d",
			calendar.ProtocolWebRTC, calendar.PlatformTeams),
		m(2, "zoom", "Zoom & friends", true, "81234567890.Ab12Cd@zoomcrc.com", calendar.ProtocolSIP, calendar.PlatformZoom),
		m(3, "webex", "Webex", true, "26401234567@acme.webex.com", calendar.ProtocolSpark, calendar.PlatformWebex),
		m(4, "meet", "Google Meet", true, "https://meet.google.com/abc-defg-hij", calendar.ProtocolWebRTC, calendar.PlatformMeet),
		m(5, "pexip", "Pexip VMR", true, "meet.alice@vc.example.com", calendar.ProtocolSIP, calendar.PlatformOther),
		m(6, "h323", "Zoom over H.323", true, "162.255.37.11##81234567890", calendar.ProtocolH323, calendar.PlatformZoom),
		m(7, "lunch", "Lunch", false, "", "", ""),
	}
}

type want struct {
	number, protocol, platform string
}

func TestPushesEveryProviderWithTheRightFields(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room11, room26 := "room-11@contoso.example", "room-26@contoso.example"
	c11, ep11 := h.codec("codec-11", room11, ciscosim.CodecConfig{Profile: ciscosim.RoomOS11})
	c26, ep26 := h.codec("codec-26", room26, ciscosim.CodecConfig{Profile: ciscosim.RoomOS26})
	base := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Minute)
	h.meetings(room11, providerMeetings(room11, base)...)
	h.meetings(room26, providerMeetings(room26, base)...)
	h.start([]Endpoint{ep11, ep26}, nil)

	expect := map[string]want{
		"teams-cvi":    {"1234567890.acme@m.webex.com", "SIP", "MicrosoftTeams"},
		"teams-webrtc": {"https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjM2%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d", "WebRTC", "MicrosoftTeams"},
		"zoom":         {"81234567890.Ab12Cd@zoomcrc.com", "SIP", "Zoom"},
		"webex":        {"26401234567@acme.webex.com", "Spark", "Webex"},
		"meet":         {"https://meet.google.com/abc-defg-hij", "WebRTC", "GoogleMeet"},
		"pexip":        {"meet.alice@vc.example.com", "SIP", "Other"},
		"h323":         {"162.255.37.11##81234567890", "H323", "Zoom"},
	}

	h.waitPuts(c11, 1)
	got := byID(c11.Bookings())
	require.Len(t, got, 7, "RoomOS 11 cannot list a meeting without a join address (no Protocol None)")
	for id, w := range expect {
		b := got[id]
		assert.Equal(t, w, want{b.Number, b.Protocol, b.MeetingPlatform}, id)
		assert.Equal(t, "Video", b.CallType, id)
	}
	zoom := got["zoom"]
	assert.Equal(t, "Zoom & friends", zoom.Title)
	assert.Equal(t, "Ada Lovelace", zoom.Organizer.Name)
	assert.Equal(t, "ada@contoso.example", zoom.Organizer.Email)
	assert.Equal(t, base.Add(2*time.Hour).Format("2006-01-02T15:04:05Z"), zoom.Time.StartTime)
	assert.Equal(t, 30, zoom.Time.Duration)
	require.NotNil(t, zoom.Time.StartTimeBuffer)
	assert.Equal(t, 300, *zoom.Time.StartTimeBuffer, "seconds")
	assert.Equal(t, []string{"teams-cvi", "teams-webrtc", "zoom", "webex", "meet", "pexip", "h323"}, ids(c11.Bookings()), "sorted by start")

	h.waitPuts(c26, 1)
	got = byID(c26.Bookings())
	require.Len(t, got, 8)
	assert.Equal(t, want{"", "None", "None"}, want{got["lunch"].Number, got["lunch"].Protocol, got["lunch"].MeetingPlatform},
		"RoomOS 26 shows the lunch as booked, without a Join button")
	assert.Empty(t, got["lunch"].CallType)

	// The store keeps what was pushed: the SHA-256 of exactly the body the codec received.
	e := h.waitEndpoint("codec-11", func(e store.EndpointState) bool { return e.PushHash != "" && e.State == store.EndpointUp })
	sum := sha256.Sum256([]byte(c11.Puts()[0].Body))
	assert.Equal(t, hex.EncodeToString(sum[:]), e.PushHash)
	assert.Equal(t, "Cisco Webex Room Kit Pro", e.Product)
	assert.Equal(t, "RoomOS 11.14.4.0", e.Software)
	assert.Equal(t, c11.Fingerprint(), e.CertSHA256, "pinned on first use")
	assert.False(t, e.LastPush.IsZero())
	assert.False(t, e.LastContact.IsZero())
	assert.Contains(t, e.Detail, "7 bookings pushed")
	assert.Contains(t, e.Detail, "1 meetings without a join address not shown")
	h.waitEvent("codec-11", KindCertPinned)
	h.waitEvent("codec-11", KindPushOK)

	e26 := h.waitEndpoint("codec-26", func(e store.EndpointState) bool { return e.PushHash != "" })
	assert.Equal(t, store.EndpointUp, e26.State)
	assert.Equal(t, "8 bookings pushed", e26.Detail)

	st := h.mgr.Stats()
	assert.Equal(t, 2, st.Codecs)
	assert.Equal(t, 2, st.Connected)
	assert.Equal(t, 2, st.States[store.EndpointUp])
	assert.GreaterOrEqual(t, st.Pushes, int64(2))
	assert.Positive(t, st.LatencyMax)

	item := findHealth(h.health, "cisco/codec-11")
	assert.Equal(t, health.OK, item.Level)

	// Nothing secret in the logs.
	assert.NotContains(t, h.logs.String(), testPassword)
}

func findHealth(tr *health.Tracker, comp string) health.Item {
	for _, it := range tr.Snapshot() {
		if it.Component == comp {
			return it
		}
	}
	return health.Item{}
}

func TestChangesCancellationsAndUnchangedState(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	base := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Minute)
	ms := providerMeetings(room, base)[:3]
	h.meetings(room, ms...)
	h.start([]Endpoint{ep}, nil)
	h.waitPuts(c, 1)
	assert.Equal(t, []string{"teams-cvi", "teams-webrtc", "zoom"}, ids(c.Bookings()))

	// A change: the Zoom meeting moves and gets a new subject.
	ms[2].Start = ms[2].Start.Add(15 * time.Minute)
	ms[2].End = ms[2].End.Add(45 * time.Minute)
	ms[2].Subject = "Zoom, moved"
	h.meetings(room, ms...)
	h.waitPuts(c, 2)
	zoom := byID(c.Bookings())["zoom"]
	assert.Equal(t, "Zoom, moved", zoom.Title)
	assert.Equal(t, 60, zoom.Time.Duration)
	assert.Equal(t, ms[2].Start.Format("2006-01-02T15:04:05Z"), zoom.Time.StartTime)

	// A cancellation.
	h.meetings(room, ms[0], ms[2])
	h.waitPuts(c, 3)
	assert.Equal(t, []string{"teams-cvi", "zoom"}, ids(c.Bookings()))

	// The room's meetings announced again without a change: no Put.
	unchangedBefore := h.mgr.Stats().Unchanged
	h.st.Notify(store.TopicMeetings, room)
	waitFor(t, "the unchanged payload to be noticed", func() bool { return h.mgr.Stats().Unchanged > unchangedBefore })
	assert.Len(t, c.Puts(), 3, "an unchanged state is not pushed again")

	// A burst of changes becomes one push.
	for i := range 5 {
		ms[0].Subject = "burst " + string(rune('a'+i))
		h.meetings(room, ms[0], ms[2])
	}
	puts := h.waitPuts(c, 4)
	assert.Equal(t, "burst e", byID(puts[len(puts)-1].Bookings)["teams-cvi"].Title)
	waitFor(t, "the burst to settle", func() bool {
		e, _, _ := h.st.Endpoint(context.Background(), "codec-1")
		return e.PushHash == puts[len(puts)-1].Hash
	})
	assert.LessOrEqual(t, len(c.Puts()), 5, "five changes in a burst are not five pushes")

	// Nothing left: Bookings Clear, not an empty Put.
	putsBefore := len(c.Puts())
	h.meetings(room)
	e := h.waitEndpoint("codec-1", func(e store.EndpointState) bool { return e.Detail == "no meetings in the window; bookings cleared" })
	assert.Empty(t, c.Bookings())
	assert.Len(t, c.Puts(), putsBefore, "cleared with Bookings Clear")
	assert.Equal(t, c.Stats().Requests["xCommand/Bookings/Clear"], 1)
	assert.Equal(t, store.EndpointUp, e.State)

	// PushNow pushes even when nothing changed.
	h.meetings(room, ms[0])
	h.waitPuts(c, putsBefore+1)
	require.NoError(t, h.mgr.PushNow("codec-1"))
	h.waitPuts(c, putsBefore+2)
	assert.Equal(t, c.Puts()[putsBefore].Hash, c.Puts()[putsBefore+1].Hash)
	assert.ErrorContains(t, h.mgr.PushNow("nope"), `no Cisco endpoint named "nope"`)
}

// waitFor polls real state where the code under test has no signal to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDayRollAndSafetyPushInVirtualTime(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	start := time.Date(2026, 3, 4, 23, 50, 0, 0, loc) // 10 minutes before local midnight
	h := newHarness(t, true, start)
	h.loc = loc
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	mk := func(id string, at time.Time) calendar.Meeting {
		return calendar.Meeting{Room: room, ID: id, Start: at, End: at.Add(30 * time.Minute), Subject: id, Organizer: "Ada",
			Join: true, Number: id + "@vc.example.com", Protocol: "SIP", Platform: "Other"}
	}
	h.meetings(room,
		mk("ended-earlier", start.Add(-3*time.Hour)),  // 20:50–21:20, over an hour ago
		mk("just-ended", start.Add(-40*time.Minute)),  // 23:10–23:40: inside the hour
		mk("tomorrow", start.Add(10*time.Hour)),       // 09:50 tomorrow
		mk("day-after", start.Add(34*time.Hour)),      // 09:50 the day after tomorrow
		mk("two-days-after", start.Add(58*time.Hour)), // not yet in any window
	)
	h.start([]Endpoint{ep}, func(o *Options) { o.SafetyInterval = 3 * time.Hour })
	h.waitPuts(c, 1)
	h.waitIdle("codec-1", 1)
	assert.Equal(t, []string{"just-ended", "tomorrow"}, ids(c.Bookings()), "from an hour ago to the end of tomorrow")

	// "just-ended" leaves the window at 00:40; the day's roll comes first and brings in the day
	// after tomorrow: 30 s after midnight plus the codec's own offset in the ten minutes after
	// (a site's codecs do not all push at once). Not a second before.
	roll := bookings.MidnightPush(start, loc, 30*time.Second, bookings.DefaultMidnightSpread, "codec-1")
	require.True(t, roll.After(start.Add(10*time.Minute+30*time.Second-time.Second)) && roll.Before(start.Add(20*time.Minute+30*time.Second)), roll)
	h.fake.Advance(roll.Sub(start) - time.Second)
	h.waitTimer(time.Second-time.Millisecond, time.Second) // the roll is still ahead, due in a second
	require.Len(t, c.Puts(), 1, "no push before the codec's own time")
	h.fake.Advance(time.Second)
	puts := h.waitPuts(c, 2)
	assert.Equal(t, roll, puts[1].At.In(loc), "the roll's push comes at the codec's own time")
	h.waitIdle("codec-1", 2)
	assert.Equal(t, []string{"day-after", "just-ended", "tomorrow"}, sorted(ids(c.Bookings())))
	h.fake.Advance(40 * time.Minute)
	h.waitPuts(c, 3)
	h.waitIdle("codec-1", 3)
	assert.Equal(t, []string{"day-after", "tomorrow"}, sorted(ids(c.Bookings())), "past meetings roll off")

	// The safety timer pushes the same payload again.
	h.fake.Advance(3 * time.Hour)
	puts = h.waitPuts(c, 4)
	assert.Equal(t, puts[2].Hash, puts[3].Hash)
	assert.Len(t, puts, 4, "nothing else pushed in between")
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A codec keeps how many meetings its last push left out and the first of each kind, which is
// all its status detail says, not the meetings themselves (issue 22: at 1,000 codecs the
// whole lists were about 0.6 MB of the steady heap).
func TestSkipSummaryKeepsTheCountsAndTheFirstOfEachKind(t *testing.T) {
	at := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	sk := summarizeSkips([]Skip{
		{ID: "AAMk-1", Subject: "Lunch", Start: at, Reason: "no join address"},
		{ID: "AAMk-2", Subject: "Teams guest", Start: at.Add(time.Hour), Reason: "WebRTC only", LostJoin: true},
		{ID: "AAMk-3", Subject: "Walk", Start: at.Add(2 * time.Hour), Reason: "no join address"},
		{ID: "AAMk-4", Subject: "Meet guest", Start: at.Add(3 * time.Hour), Reason: "WebRTC only", LostJoin: true},
		{ID: "AAMk-5", Subject: "Coffee", Start: at.Add(4 * time.Hour), Reason: "no join address"},
	})
	assert.Equal(t, 2, sk.lost)
	assert.Equal(t, 3, sk.unlisted)
	assert.Equal(t, Skip{Subject: "Teams guest", Start: at.Add(time.Hour), Reason: "WebRTC only", LostJoin: true}, sk.firstLost)
	assert.Equal(t, Skip{Subject: "Lunch", Start: at, Reason: "no join address"}, sk.firstUnlisted)
	assert.Equal(t, skipSummary{}, summarizeSkips(nil))
}

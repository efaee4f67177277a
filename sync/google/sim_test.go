package google

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/googlesim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The source against googlesim (in process, HTTPS, the JWT-bearer grant with delegation)
// through google.golang.org/api, as production runs it. The simulators and the syncer share
// a fake clock that starts at the real time (x/oauth2 signs assertions with the real time,
// which googlesim checks against its clock), and the tests move it by minutes only.

type simEnv struct {
	t     *testing.T
	clk   *clock.Fake
	gs    *graphsim.Server
	g     *googlesim.Server
	st    *store.Store
	key   []byte
	rooms []string // resource calendar ids
	mbx   []string // graphsim mailboxes
}

func newSimEnv(t *testing.T, mod func(*googlesim.Options)) *simEnv {
	t.Helper()
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	e := &simEnv{t: t, clk: clk, gs: gs}
	for _, mb := range []string{"room-01@" + gs.TenantDomain(), "room-02@" + gs.TenantDomain()} {
		p := graphsim.Recommended()
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: mb, Processing: &p}))
		e.mbx = append(e.mbx, mb)
		e.rooms = append(e.rooms, googlesim.ResourceEmail(mb))
	}
	opts := googlesim.Options{Calendar: gs, Now: clk.Now}
	if mod != nil {
		mod(&opts)
	}
	e.g, err = googlesim.New(opts)
	require.NoError(t, err)
	require.NoError(t, e.g.Start())
	t.Cleanup(e.g.Close)
	e.key, err = e.g.KeyFile("")
	require.NoError(t, err)
	e.st, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "db"), store.Options{Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { e.st.Close() })
	return e
}

func (e *simEnv) integration() Integration {
	return Integration{Name: "workspace", ServiceAccountKey: e.key, Subject: e.g.AdminUser(), Endpoint: e.g.CalendarEndpoint()}
}

// start runs a syncer over the env's rooms until the test ends (or stop is called).
func (e *simEnv) start(in Integration) (*Syncer, func()) {
	e.t.Helper()
	var rooms []source.Room
	for _, r := range e.rooms {
		rooms = append(rooms, source.Room{Mailbox: r, UpcomingDays: 7})
	}
	s, err := New(Options{Integration: in, Rooms: rooms, Store: e.st, Clock: e.clk, Health: health.New(e.clk.Now),
		HTTPClient: e.g.HTTPClient(), Tuning: Tuning{Seed: 1},
		Logger: slog.New(slog.NewTextHandler(e.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(e.t, <-done)
		}
	}
	e.t.Cleanup(stop)
	return s, stop
}

// waitFor waits for cond, re-checking whenever a room's step ends (a bound, not a sleep).
func (e *simEnv) waitFor(s *Syncer, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-s.Progress():
		case <-deadline.C:
			e.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *simEnv) room(id string) store.RoomState {
	r, _, err := e.st.Room(context.Background(), id)
	require.NoError(e.t, err)
	return r
}

func (e *simEnv) events(id string) map[string]calendar.Event {
	evs, err := stored.Events(context.Background(), e.st, id)
	require.NoError(e.t, err)
	out := map[string]calendar.Event{}
	for _, ev := range evs {
		out[ev.Subject] = ev
	}
	return out
}

func (e *simEnv) post(mb, subject, body string, start time.Time, extra map[string]any) string {
	e.t.Helper()
	ev := map[string]any{
		"subject":   subject,
		"body":      map[string]any{"contentType": "html", "content": body},
		"start":     map[string]any{"dateTime": start.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": start.Add(30 * time.Minute).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada Lovelace", "address": "ada@" + e.gs.TenantDomain()}},
	}
	for k, v := range extra {
		ev[k] = v
	}
	id, err := e.gs.PostEvent(mb, ev)
	require.NoError(e.t, err)
	return id
}

// synced waits until the room's last success is after since.
func (e *simEnv) synced(s *Syncer, id string, since time.Time) {
	e.t.Helper()
	e.waitFor(s, id+" synced", func() bool {
		r := e.room(id)
		return r.Status == store.RoomOK && !r.LastSuccess.Before(since) && s.Quiet()
	})
}

// TestSyncAgainstGooglesimFollowsAddsEditsCancelsDeletesAndRecurringExceptions: the first
// sync lists the window in full; then every change arrives through the syncToken: an edit, an
// organizer's cancel, a deletion, a new meeting, an occurrence moved (an exception) and one
// deleted — with one full list in all, per googlesim's counters.
func TestSyncAgainstGooglesimFollowsAddsEditsCancelsDeletesAndRecurringExceptions(t *testing.T) {
	e := newSimEnv(t, nil)
	mb, id := e.mbx[0], e.rooms[0]
	now := e.clk.Now()
	base := now.Truncate(time.Hour).Add(2 * time.Hour)
	edit := e.post(mb, "Budget", "<p>Join https://meet.google.com/abc-defg-hij</p>", base, nil)
	cancel := e.post(mb, "Offsite prep", "", base.Add(time.Hour), nil)
	del := e.post(mb, "Retro", "", base.Add(2*time.Hour), nil)
	series := e.post(mb, "Stand-up", "<p>daily</p>", base.Add(3*time.Hour), map[string]any{"recurrence": map[string]any{
		"pattern": map[string]any{"type": "daily", "interval": 1},
		"range":   map[string]any{"type": "numbered", "startDate": base.Add(3 * time.Hour).Format("2006-01-02"), "numberOfOccurrences": 4},
	}})
	s, _ := e.start(e.integration())
	e.synced(s, id, now)
	require.Nil(t, s.Stats().Notifications, "a source without notifications_url shows no push block")
	got := e.events(id)
	require.Contains(t, got, "Budget")
	require.Contains(t, got, "Offsite prep")
	require.Contains(t, got, "Retro")
	evs, err := stored.Events(context.Background(), e.st, id)
	require.NoError(t, err)
	occ := 0
	for _, ev := range evs {
		if ev.Subject == "Stand-up" {
			occ++
			require.Equal(t, calendar.TypeOccurrence, ev.Type)
			require.NotEmpty(t, ev.SeriesMasterID)
		}
	}
	require.Equal(t, 4, occ, "the series is expanded into its occurrences")
	require.Equal(t, "https://meet.google.com/abc-defg-hij", got["Budget"].OnlineMeeting.JoinURL, "Meet link in the body becomes conferenceData")

	// Changes.
	_, err = e.gs.PatchEvent(mb, edit, map[string]any{"subject": "Budget (v2)"})
	require.NoError(t, err)
	require.NoError(t, e.gs.CancelEvent(mb, cancel))
	require.NoError(t, e.gs.DeleteEvent(mb, del))
	e.post(mb, "Added", "", base.Add(30*time.Minute), nil)
	inst, err := e.gs.Instances(mb, series, base, base.AddDate(0, 0, 5))
	require.NoError(t, err)
	require.Len(t, inst, 4)
	second, third := inst[1]["id"].(string), inst[2]["id"].(string)
	moved := base.Add(3*time.Hour).AddDate(0, 0, 1).Add(time.Hour)
	_, err = e.gs.PatchEvent(mb, second, map[string]any{"subject": "Stand-up (moved)",
		"start": map[string]any{"dateTime": moved.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": moved.Add(15 * time.Minute).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
	require.NoError(t, err)
	require.NoError(t, e.gs.DeleteEvent(mb, third))

	e.clk.Advance(time.Second)
	at := e.clk.Now()
	require.NoError(t, s.SyncNow(id, false))
	e.synced(s, id, at)
	got = e.events(id)
	require.Contains(t, got, "Budget (v2)")
	require.NotContains(t, got, "Budget")
	require.NotContains(t, got, "Offsite prep", "an organizer's cancel removes the meeting")
	require.NotContains(t, got, "Retro")
	require.Contains(t, got, "Added")
	require.Equal(t, calendar.TypeException, got["Stand-up (moved)"].Type)
	mev := got["Stand-up (moved)"]
	ms, _ := mev.StartTime()
	require.Equal(t, moved, ms)
	evs, err = stored.Events(context.Background(), e.st, id)
	require.NoError(t, err)
	occ = 0
	for _, ev := range evs {
		if ev.SeriesMasterID != "" {
			occ++
		}
	}
	require.Equal(t, 3, occ, "4 occurrences, one deleted")
	cs := e.g.CalendarStats(mb)
	require.Equal(t, 1, cs.FullSyncs, "one full list; the rest through the syncToken")
	require.Positive(t, cs.Incremental)
	require.Equal(t, int64(e.g.Stats().Requests), s.Stats().UsedToday, "every API request is counted against the budget")
}

// TestRestartGoesOnFromTheStoredSyncTokenAnd410ReadsInFull: a new syncer on the same store
// polls with the stored syncToken (no second full list); when Google expires the token (410
// fullSyncRequired) the room is read in full once and keeps its meetings.
func TestRestartGoesOnFromTheStoredSyncTokenAnd410ReadsInFull(t *testing.T) {
	e := newSimEnv(t, nil)
	mb, id := e.mbx[0], e.rooms[0]
	now := e.clk.Now()
	e.post(mb, "Board", "", now.Add(time.Hour), nil)
	s, stop := e.start(e.integration())
	e.synced(s, id, now)
	stop()
	require.Equal(t, 1, e.g.CalendarStats(mb).FullSyncs)

	e.post(mb, "Later", "", now.Add(2*time.Hour), nil)
	e.clk.Advance(time.Second)
	at := e.clk.Now()
	s, _ = e.start(e.integration())
	e.synced(s, id, at)
	require.Contains(t, e.events(id), "Later")
	cs := e.g.CalendarStats(mb)
	require.Equal(t, 1, cs.FullSyncs, "a restart never lists the room again")
	require.Positive(t, cs.Incremental)

	require.NoError(t, e.g.ExpireSyncTokens(mb))
	e.clk.Advance(time.Second)
	at = e.clk.Now()
	require.NoError(t, s.SyncNow(id, false))
	e.synced(s, id, at)
	cs = e.g.CalendarStats(mb)
	require.Equal(t, 1, cs.Gone)
	require.Equal(t, 2, cs.FullSyncs, "410 → one full list")
	require.Contains(t, e.events(id), "Board")
	require.Contains(t, e.events(id), "Later")
}

// TestRateLimitBacksOffTheRoomAloneAndIsObeyed: 403 rateLimitExceeded on one room puts it in
// "throttled" and waits it out with exponential backoff (no request before the wait is over,
// per googlesim's counters), while the other room syncs on; the room recovers afterwards.
func TestRateLimitBacksOffTheRoomAloneAndIsObeyed(t *testing.T) {
	e := newSimEnv(t, nil)
	now := e.clk.Now()
	e.post(e.mbx[1], "Good room", "", now.Add(time.Hour), nil)
	_, err := e.g.AddFault(googlesim.Fault{Calendar: e.mbx[0], Method: "events.list", Reason: "rateLimitExceeded", Count: 2})
	require.NoError(t, err)
	s, _ := e.start(e.integration())
	e.synced(s, e.rooms[1], now)
	e.waitFor(s, "room 1 throttled", func() bool { return e.room(e.rooms[0]).Status == store.RoomThrottled && s.Quiet() })
	r := e.room(e.rooms[0])
	require.Contains(t, r.StatusDetail, "rateLimitExceeded")
	require.Equal(t, 1, limited(e.g.CalendarStats(e.mbx[0])))
	require.Contains(t, e.events(e.rooms[1]), "Good room", "the good room is not held up")

	// SyncNow does not go before the back-off; the clock passing it does.
	require.NoError(t, s.SyncNow(e.rooms[0], false))
	e.waitFor(s, "quiet", s.Quiet)
	require.Equal(t, 1, limited(e.g.CalendarStats(e.mbx[0])), "no request inside the back-off")
	e.clk.Advance(3 * time.Second) // first back-off: 2 s + up to 1 s
	e.waitFor(s, "second rate limit", func() bool { return limited(e.g.CalendarStats(e.mbx[0])) == 2 && s.Quiet() })
	e.clk.Advance(3 * time.Second) // the second is 4 s: not over yet
	e.waitFor(s, "quiet", s.Quiet)
	require.Equal(t, store.RoomThrottled, e.room(e.rooms[0]).Status)
	e.clk.Advance(3 * time.Second)
	e.synced(s, e.rooms[0], now)
	require.Equal(t, 2, limited(e.g.CalendarStats(e.mbx[0])))
}

// TestStatusesNameTheFix: no delegation → auth_failed naming the admin console step with the
// client id; 404 → not_found; 403 forbidden → policy_denied saying what to share with whom.
func TestStatusesNameTheFix(t *testing.T) {
	e := newSimEnv(t, func(o *googlesim.Options) { o.NoDelegation = true })
	s, stop := e.start(e.integration())
	e.waitFor(s, "auth_failed", func() bool { return e.room(e.rooms[0]).Status == store.RoomAuthFailed })
	d := e.room(e.rooms[0]).StatusDetail
	require.Contains(t, d, "unauthorized_client")
	require.Contains(t, d, "Security → Access and data control → API controls → Domain-wide delegation")
	require.Contains(t, d, "client ID "+e.g.ClientID(""))
	require.Contains(t, d, ScopeReadOnly)
	stop()

	e = newSimEnv(t, nil)
	_, err := e.g.AddFault(googlesim.Fault{Calendar: e.mbx[0], Reason: "notFound"})
	require.NoError(t, err)
	_, err = e.g.AddFault(googlesim.Fault{Calendar: e.mbx[1], Reason: "forbidden"})
	require.NoError(t, err)
	s, _ = e.start(e.integration())
	e.waitFor(s, "statuses", func() bool {
		return e.room(e.rooms[0]).Status == store.RoomNotFound && e.room(e.rooms[1]).Status == store.RoomPolicyDenied
	})
	require.Contains(t, e.room(e.rooms[0]).StatusDetail, "Buildings and resources")
	require.Contains(t, e.room(e.rooms[1]).StatusDetail, "share the resource calendar "+e.rooms[1]+" with "+e.g.AdminUser())
}

// TestMeetWithAnEmptiedDescriptionGetsItsJoinAddressThroughTheSource: a Meet meeting whose
// description is empty (created in Google Calendar: the link lives in conferenceData only)
// is stored with the Meet link as onlineMeeting.joinUrl.
func TestMeetWithAnEmptiedDescriptionGetsItsJoinAddressThroughTheSource(t *testing.T) {
	e := newSimEnv(t, nil)
	now := e.clk.Now()
	ev := e.post(e.mbx[0], "Design review", "", now.Add(time.Hour), nil)
	require.NoError(t, e.g.SetOverlay(e.mbx[0], ev, googlesim.Overlay{Conference: googlesim.MeetConference("xyz-abcd-efg", false), EmptyDescription: true}))
	s, _ := e.start(e.integration())
	e.synced(s, e.rooms[0], now)
	got := e.events(e.rooms[0])["Design review"]
	require.NotNil(t, got.OnlineMeeting)
	require.Equal(t, "https://meet.google.com/xyz-abcd-efg", got.OnlineMeeting.JoinURL)
	require.Contains(t, got.BodyText(), "Join with Google Meet: https://meet.google.com/xyz-abcd-efg")
}

// TestCheckSaysTheTokenGrantAndEachRoom: `otj-edge check` lines.
func TestCheckSaysTheTokenGrantAndEachRoom(t *testing.T) {
	e := newSimEnv(t, nil)
	e.post(e.mbx[0], "Soon", "", e.clk.Now().Add(time.Hour), nil)
	_, err := e.g.AddFault(googlesim.Fault{Calendar: e.mbx[1], Reason: "notFound"})
	require.NoError(t, err)
	res := Check(context.Background(), e.integration(), e.rooms, e.g.HTTPClient())
	require.Len(t, res.Lines, 3, res.Lines)
	require.Contains(t, res.Lines[0], "google/workspace: token grant ok ("+e.g.ServiceAccountEmail()+" as "+e.g.AdminUser()+" (domain-wide delegation)")
	require.Contains(t, res.Lines[1], e.rooms[0]+": ok, readable (1 meetings in the next 24 h)")
	require.Contains(t, res.Lines[2], e.rooms[1]+": not_found")
	require.Equal(t, 1, res.Failed)
}

// limited counts a calendar's rate-limit answers, from the limiter or injected as faults.
func limited(cs googlesim.CalendarStats) int { return cs.RateLimited + cs.Faults }

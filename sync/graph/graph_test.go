package graph

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/exchange"
)

// weekdays is a recurrence on every weekday, from the week before t0 to the end of the year.
func weekdays() map[string]any {
	return map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday", "tuesday", "wednesday", "thursday", "friday"}},
		"range":   map[string]any{"type": "endDate", "startDate": "2026-11-16", "endDate": "2026-12-31"},
	}
}

// TestSyncFollowsTheCalendar: the initial sync stores what Graph's calendar view shows
// (occurrences filled from their series, an exception with its own data, a deleted occurrence
// absent, a cancelled meeting kept as such), then adds, edits, cancels, deletes and a series
// edit arrive with the next poll, without a full resync, with the series master fetched once
// per change.
func TestSyncFollowsTheCalendar(t *testing.T) {
	r1, r2 := roomName(1), roomName(2)
	h := newHarness(t, graphsim.Options{}, r1, r2)
	h.addRoom(r1, graphsim.Recommended())
	h.addRoom(r2, graphsim.Recommended())

	review := h.post(r1, invite("Design review", t0.Add(2*time.Hour), time.Hour))
	private := invite("HR 1:1", t0.Add(4*time.Hour), 30*time.Minute)
	private["sensitivity"] = "private"
	privateID := h.post(r1, private)
	call := h.post(r1, invite("Customer call", t0.Add(26*time.Hour), time.Hour))
	cancelled := h.post(r1, invite("Offsite planning", t0.Add(28*time.Hour), time.Hour))
	require.NoError(t, h.sim.CancelEvent(r1, cancelled))
	standup := invite("Stand-up", time.Date(2026, 11, 16, 8, 0, 0, 0, time.UTC), 15*time.Minute)
	standup["recurrence"] = weekdays()
	master := h.post(r1, standup)
	tuesday := h.instanceAt(r1, master, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	_, err := h.sim.PatchEvent(r1, tuesday, map[string]any{"subject": "Stand-up (moved)",
		"start": map[string]any{"dateTime": "2026-11-24T08:30:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-11-24T08:45:00", "timeZone": "UTC"}})
	require.NoError(t, err)
	wednesday := h.instanceAt(r1, master, time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	require.NoError(t, h.sim.DeleteEvent(r1, wednesday))
	h.post(r2, invite("Room two", t0.Add(time.Hour), time.Hour))

	s, stop := h.start(Tuning{})
	h.waitFor("both rooms synced", h.synced(r1, r2))

	// The store holds exactly the calendar view of the window.
	want, err := h.sim.CalendarView(r1, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	got := h.events(r1)
	require.Len(t, got, len(want))
	for _, w := range want {
		ev, ok := got[w["id"].(string)]
		require.True(t, ok, "event %s (%s) stored", w["id"], w["subject"])
		assert.Equal(t, w["subject"], ev.Subject)
		assert.Equal(t, w["type"], ev.Type)
		assert.Equal(t, w["start"].(map[string]any)["dateTime"], ev.Start.DateTime)
	}
	occurrences := 0
	for _, ev := range got {
		if ev.Type == calendar.TypeOccurrence {
			occurrences++
			assert.Equal(t, "Stand-up", ev.Subject, "occurrence filled from its series master")
			assert.Contains(t, ev.BodyText(), "Agenda for Stand-up")
			assert.Equal(t, "Alice Berg", ev.OrganizerName())
			assert.Equal(t, master, ev.SeriesMasterID)
		}
	}
	assert.Equal(t, 4, occurrences, "Mon 23, Thu 26, Fri 27 and Mon 30 (Tue 24 is an exception, Wed 25 deleted)")
	assert.Equal(t, "Stand-up (moved)", got[tuesday].Subject)
	assert.Equal(t, calendar.TypeException, got[tuesday].Type)
	assert.NotContains(t, got, wednesday)
	priv := got[privateID]
	assert.True(t, priv.IsPrivate())
	assert.True(t, got[cancelled].IsCancelled)
	assert.Equal(t, "Canceled: Offsite planning", got[cancelled].Subject)
	assert.Equal(t, 1, h.stats(r1).EventGets, "the series master is fetched once for all its occurrences")
	assert.Len(t, h.events(r2), 1)

	// Changes.
	added := h.post(r1, invite("Added later", t0.Add(30*time.Hour), time.Hour))
	_, err = h.sim.PatchEvent(r1, review, map[string]any{"subject": "Design review (new agenda)"})
	require.NoError(t, err)
	require.NoError(t, h.sim.CancelEvent(r1, call))
	require.NoError(t, h.sim.DeleteEvent(r1, privateID))
	_, err = h.sim.PatchEvent(r1, master, map[string]any{"subject": "Daily stand-up"})
	require.NoError(t, err)
	h.advance(s, 5*time.Minute, 10*time.Second)
	h.waitFor("the changes", func() bool {
		got := h.events(r1)
		_, hasAdded := got[added]
		_, hasPrivate := got[privateID]
		return hasAdded && !hasPrivate && got[review].Subject == "Design review (new agenda)" && got[call].IsCancelled
	})
	got = h.events(r1)
	for _, ev := range got {
		if ev.Type == calendar.TypeOccurrence {
			assert.Equal(t, "Daily stand-up", ev.Subject, "occurrences refilled from the edited series")
		}
	}
	assert.Equal(t, "Stand-up (moved)", got[tuesday].Subject, "the exception keeps its own subject")
	assert.Equal(t, 2, h.stats(r1).EventGets, "the edited master is fetched once more, not once per occurrence")
	assert.Equal(t, 1, h.stats(r1).FullSyncs, "changes come through the deltaLink")
	for _, m := range []string{r1, r2} {
		assert.LessOrEqual(t, h.stats(m).MaxInFlight, 4)
		assert.Zero(t, h.stats(m).EarlyRetries)
	}
	st := s.Stats()
	assert.Equal(t, 2, st.Rooms[store.RoomOK])
	assert.Positive(t, st.UsedToday)
	stop() // polls that found nothing are counted in the store every pollFlush and at stop
	counted, err := h.st.Counter(context.Background(), counterKey("m365", h.clk.Now()))
	require.NoError(t, err)
	assert.Equal(t, int64(h.sim.Stats().Requests), counted, "every Graph request is counted in the store")
	assert.Equal(t, health.OK, h.health.Overall())
}

// TestPartialUpdatesAreMerged: when Graph sends only the changed properties, the rest of the
// stored event stays.
func TestPartialUpdatesAreMerged(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{PartialUpdates: true}, r)
	h.addRoom(r, graphsim.Recommended())
	id := h.post(r, invite("Before", t0.Add(2*time.Hour), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	_, err := h.sim.PatchEvent(r, id, map[string]any{"subject": "After"})
	require.NoError(t, err)
	h.advance(s, 5*time.Minute, 10*time.Second)
	h.waitFor("the edit", func() bool { return h.events(r)[id].Subject == "After" })
	ev := h.events(r)[id]
	assert.Contains(t, ev.BodyText(), "Agenda for Before", "the body Graph did not resend is kept")
	assert.Equal(t, "Alice Berg", ev.OrganizerName())
	assert.NotNil(t, ev.OnlineMeeting)
}

// TestSyncStateExpiryResyncs: a 410 SyncStateNotFound makes the room sync in full, and nothing
// is lost or left stale.
func TestSyncStateExpiryResyncs(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{}, r)
	h.addRoom(r, graphsim.Recommended())
	keep := h.post(r, invite("Keep", t0.Add(2*time.Hour), time.Hour))
	drop := h.post(r, invite("Drop", t0.Add(3*time.Hour), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))

	h.sim.ExpireDeltaTokens(r)
	require.NoError(t, h.sim.DeleteEvent(r, drop))
	added := h.post(r, invite("Added", t0.Add(5*time.Hour), time.Hour))
	h.advance(s, 5*time.Minute, 10*time.Second)
	h.waitFor("the resync", func() bool { return h.stats(r).FullSyncs == 2 && h.synced(r)() })
	got := h.events(r)
	assert.Contains(t, got, keep)
	assert.Contains(t, got, added)
	assert.NotContains(t, got, drop, "the full round sweeps what no longer exists")
	assert.Equal(t, 1, h.stats(r).Statuses["410"])
	assert.Equal(t, store.RoomOK, h.room(r).Status)
	assert.Empty(t, h.recentEvents(EventSyncError), "a 410 is routine, not an error")

	// A full sync on request (the `sync` command).
	require.NoError(t, s.SyncNow("", true))
	h.waitFor("the requested full round", func() bool { return h.stats(r).FullSyncs == 3 && h.synced(r)() })
}

// TestDailyWindowRoll: after midnight each room starts a fresh round over the new window: the
// day that fell out of it goes, the day that came in arrives.
func TestDailyWindowRoll(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{}, r)
	h.addRoom(r, graphsim.Recommended())
	yesterday := h.post(r, invite("Yesterday", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Hour))
	farAhead := h.post(r, invite("Nine days ahead", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	got := h.events(r)
	assert.Contains(t, got, yesterday)
	assert.NotContains(t, got, farAhead, "outside [yesterday, today+7]")

	// To 00:30 on Tuesday: every room has rolled by then (spread over 20 minutes).
	h.advance(s, 15*time.Hour+30*time.Minute, time.Minute)
	h.waitFor("the roll", func() bool { _, ok := h.events(r)[farAhead]; return ok })
	got = h.events(r)
	assert.NotContains(t, got, yesterday, "Sunday fell out of the window")
	room := h.room(r)
	assert.Equal(t, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), h.cursor(r).ws)
	assert.Equal(t, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), h.cursor(r).we)
	assert.Equal(t, 2, h.stats(r).FullSyncs, "one full round a day")
	assert.Equal(t, store.RoomOK, room.Status)
	assert.Greater(t, h.sim.Stats().TokenRequests, 1, "the access token expired on the way and was replaced")
	assert.Empty(t, h.recentEvents(EventSyncError), "a token refresh is routine")
}

// TestHotRoomsPollOften: a room whose meeting starts within 30 minutes is polled every ~15 s,
// so a change to that meeting lands within seconds; a room with nothing soon is polled every
// ~4 minutes; a room becomes hot when its meeting comes within 30 minutes.
func TestHotRoomsPollOften(t *testing.T) {
	hot, cold, later := roomName(1), roomName(2), roomName(3)
	h := newHarness(t, graphsim.Options{}, hot, cold, later)
	for _, m := range []string{hot, cold, later} {
		h.addRoom(m, graphsim.Recommended())
	}
	soon := h.post(hot, invite("Starts in 20 minutes", t0.Add(20*time.Minute), time.Hour))
	afternoon := h.post(cold, invite("This afternoon", t0.Add(5*time.Hour), time.Hour))
	h.post(later, invite("Starts in 40 minutes", t0.Add(40*time.Minute), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(hot, cold, later))
	h.settle(s) // the rounds' ends (meeting times reread, next polls planned) follow the store writes
	assert.Equal(t, 1, s.Stats().HotRooms)

	_, err := h.sim.PatchEvent(hot, soon, map[string]any{"subject": "Starts in 20 minutes (new link)"})
	require.NoError(t, err)
	_, err = h.sim.PatchEvent(cold, afternoon, map[string]any{"subject": "This afternoon (moved)"})
	require.NoError(t, err)
	h.advance(s, 16*time.Second, time.Second)
	assert.Equal(t, "Starts in 20 minutes (new link)", h.events(hot)[soon].Subject, "within one hot interval")
	assert.Equal(t, "This afternoon", h.events(cold)[afternoon].Subject, "a cold room waits for its interval")
	h.advance(s, 4*time.Minute+14*time.Second, time.Second)
	assert.Equal(t, "This afternoon (moved)", h.events(cold)[afternoon].Subject, "within one cold interval")

	// Twenty minutes in all: the hot room polled about every 15 s, the cold one about every
	// 4 minutes, and the third room turned hot at 10 minutes.
	h.advance(s, 15*time.Minute+30*time.Second, time.Second)
	assert.InDelta(t, 80, h.stats(hot).DeltaPolls, 6)
	assert.InDelta(t, 5, h.stats(cold).DeltaPolls, 1)
	assert.InDelta(t, 2+40, h.stats(later).DeltaPolls, 6)
	assert.Equal(t, 2, s.Stats().HotRooms)
}

// TestBadRoomsDoNotHoldUpTheOthers: with a single request in flight for the whole site, a room
// outside the access policy, a throttled room, a missing mailbox and an on-premises mailbox do
// not delay the good rooms; each gets a status that says what to do, one event, and retries
// at its own pace; the throttled room is never asked again before its Retry-After.
func TestBadRoomsDoNotHoldUpTheOthers(t *testing.T) {
	good := []string{roomName(1), roomName(2), roomName(3)}
	denied, throttled, missing, onprem := roomName(4), roomName(5), roomName(6), roomName(7)
	h := newHarness(t, graphsim.Options{}, append(good, denied, throttled, missing, onprem)...)
	h.in.MaxInFlight = 1
	for _, m := range good {
		h.addRoom(m, graphsim.Recommended())
		h.post(m, invite("Meeting in "+m, t0.Add(3*time.Hour), time.Hour))
	}
	no := false
	require.NoError(t, h.sim.AddRoom(graphsim.Room{Mailbox: denied, InPolicy: &no}))
	require.NoError(t, h.sim.AddRoom(graphsim.Room{Mailbox: onprem, RESTEnabled: &no}))
	h.addRoom(throttled, graphsim.Recommended())
	h.post(throttled, invite("Busy room", t0.Add(3*time.Hour), time.Hour))
	require.NoError(t, h.sim.PatchRoom(throttled, graphsim.RoomPatch{RateLimit: ptr(1)}))

	s, _ := h.start(Tuning{})
	// No time passes: the good rooms sync while the others fail.
	h.waitFor("the good rooms", h.synced(good...))
	h.waitFor("every status", func() bool {
		return h.status(denied)() == store.RoomPolicyDenied && h.status(missing)() == store.RoomNotFound &&
			h.status(onprem)() == store.RoomNotRESTEnabled && h.status(throttled)() == store.RoomOK
	})
	assert.Contains(t, h.room(denied).StatusDetail, "Test-ApplicationAccessPolicy -Identity "+denied)
	assert.Contains(t, h.room(missing).StatusDetail, "no mailbox "+missing)
	assert.Contains(t, h.room(onprem).StatusDetail, "not in Exchange Online")

	// Over the next hour: the rate-limited room is throttled, waits, syncs again; a change to
	// a good room arrives within one poll interval meanwhile.
	changed := h.post(good[0], invite("Added while others fail", t0.Add(5*time.Hour), time.Hour))
	h.advance(s, 5*time.Minute, 10*time.Second)
	_, ok := h.events(good[0])[changed]
	assert.True(t, ok, "the good room's change arrived within 5 minutes")
	h.advance(s, 55*time.Minute, 10*time.Second)
	st := h.stats(throttled)
	assert.Positive(t, st.Throttled, "the room was throttled")
	assert.Zero(t, st.EarlyRetries, "and never asked again before Retry-After")
	// Limited to 1 request per 10 minutes, polled every ~4: one poll, a 429 asking ~10 minutes,
	// one poll after it… about 2 per 14 minutes, not a retry every few seconds.
	assert.LessOrEqual(t, st.Requests, 10, "a throttled room is polled at Graph's pace, not the scheduler's")
	for _, m := range append(good, throttled) {
		assert.LessOrEqual(t, h.stats(m).MaxInFlight, 4)
	}
	assert.LessOrEqual(t, h.stats(denied).Requests, 3, "a policy-denied room is retried every 30 minutes")

	// One event per problem room, not one per retry.
	perRoom := map[string]int{}
	for _, e := range h.recentEvents(EventSyncError) {
		perRoom[e.Room]++
	}
	assert.Equal(t, map[string]int{denied: 1, missing: 1, onprem: 1}, perRoom)
	item := findHealth(h.health, "graph/m365")
	assert.Equal(t, health.Warning, item.Level)
	assert.Contains(t, item.Message, "3 of 7 rooms not syncing")

	// Fixing the policy and asking for a sync brings the room back at once.
	require.NoError(t, h.sim.PatchRoom(denied, graphsim.RoomPatch{InPolicy: ptr(true)}))
	require.NoError(t, s.SyncNow(denied, false))
	h.waitFor("the fixed room", h.synced(denied))
	assert.Len(t, h.recentEvents(EventSyncRecovered), 1)
	assert.Error(t, s.SyncNow("nobody@contoso.example", false))
}

func findHealth(tr *health.Tracker, component string) health.Item {
	for _, it := range tr.Snapshot() {
		if it.Component == component {
			return it
		}
	}
	return health.Item{}
}

// TestConcurrencyAndBatching: a cold start of many rooms with series fills the in-flight slots
// and batches the backlog, and no mailbox ever sees more than 4 requests at once; without
// batching the same sync is done with single requests.
func TestConcurrencyAndBatching(t *testing.T) {
	for _, batching := range []bool{true, false} {
		name := "batching"
		if !batching {
			name = "single requests"
		}
		t.Run(name, func(t *testing.T) {
			var rooms []string
			for i := 1; i <= 30; i++ {
				rooms = append(rooms, roomName(i))
			}
			h := newHarness(t, graphsim.Options{Latency: 20 * time.Millisecond}, rooms...)
			h.in.MaxInFlight = 2
			for i, m := range rooms {
				h.addRoom(m, graphsim.Recommended())
				for j := range 1 + i%6 { // up to 6 series: master fetches go in parallel
					ev := invite("Series", time.Date(2026, 11, 16, 8+j, 0, 0, 0, time.UTC), 30*time.Minute)
					ev["recurrence"] = weekdays()
					h.post(m, ev)
				}
			}
			h.start(Tuning{NoBatch: !batching})
			h.waitFor("every room", h.synced(rooms...))
			maxSeen := 0
			for _, m := range rooms {
				st := h.stats(m)
				assert.LessOrEqual(t, st.MaxInFlight, 4, m)
				assert.Zero(t, st.Throttled, m)
				maxSeen = max(maxSeen, st.MaxInFlight)
			}
			assert.Greater(t, maxSeen, 1, "series masters were fetched concurrently")
			if batching {
				assert.Positive(t, h.sim.Stats().Batches, "the backlog went out in batches")
			} else {
				assert.Zero(t, h.sim.Stats().Batches)
			}
			for i, m := range rooms {
				assert.Equal(t, 1+i%6, h.stats(m).EventGets, "each master fetched once")
			}
		})
	}
}

// TestWrongSecret: a wrong secret fails every room with one line that says what is wrong, one
// event for the integration, few token requests, and recovery once the secret is right.
func TestWrongSecret(t *testing.T) {
	rooms := []string{roomName(1), roomName(2), roomName(3)}
	h := newHarness(t, graphsim.Options{}, rooms...)
	for _, m := range rooms {
		h.addRoom(m, graphsim.Recommended())
	}
	h.in.ClientSecret = configSecret(graphsim.DefaultSecretID) // the Secret ID, not the value
	s, _ := h.start(Tuning{})
	h.waitFor("auth failures", func() bool {
		for _, m := range rooms {
			if h.status(m)() != store.RoomAuthFailed {
				return false
			}
		}
		return true
	})
	detail := h.room(rooms[0]).StatusDetail
	assert.Contains(t, detail, "token endpoint: HTTP 401: AADSTS7000215: Invalid client secret provided.", "the cause as Entra gave it")
	assert.Contains(t, detail, "client secret value is wrong")
	assert.Contains(t, detail, "not its Secret ID")
	assert.NotContains(t, detail, "\n")
	assert.NotContains(t, detail, graphsim.DefaultSecretID, "the secret never shows")
	// Health is updated just after the rooms' statuses are written: wait for it too.
	h.waitFor("health names the cause", func() bool {
		item := findHealth(h.health, "graph/m365")
		return item.Level == health.Error && strings.Contains(item.Message, "AADSTS7000215")
	})

	h.advance(s, 30*time.Minute, 10*time.Second)
	assert.LessOrEqual(t, h.sim.Stats().TokenRequests, 12, "the token endpoint is not hammered")
	errs := h.recentEvents(EventSyncError)
	require.Len(t, errs, 1, "one event for the integration, not one per room or retry")
	assert.Empty(t, errs[0].Room)

	// The operator fixes the secret (here: the simulator accepts what the agent sends).
	h.sim.SetApp(graphsim.AppSettings{ClientSecret: ptr(graphsim.DefaultSecretID)})
	h.advance(s, 16*time.Minute, 10*time.Second)
	h.waitFor("recovery", h.synced(rooms...))
	assert.Equal(t, health.OK, findHealth(h.health, "graph/m365").Level)
}

// TestTransientFaults: 503s and a garbage body are retried with backoff; the room ends ok, and
// a short blip raises no event.
func TestTransientFaults(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{}, r)
	h.addRoom(r, graphsim.Recommended())
	id := h.post(r, invite("Survives", t0.Add(2*time.Hour), time.Hour))
	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Mailbox: r, Status: 503, Count: 1})
	require.NoError(t, err)
	_, err = h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultGarbage, Mailbox: r, Count: 1})
	require.NoError(t, err)
	s, _ := h.start(Tuning{})
	h.waitFor("the first failure", func() bool { return h.status(r)() == store.RoomTransient })
	h.advance(s, 2*time.Minute, 5*time.Second)
	h.waitFor("recovery", h.synced(r))
	assert.Contains(t, h.events(r), id)
	assert.Empty(t, h.recentEvents(EventSyncError), "two failures in a row are a blip")
	assert.Equal(t, 1, h.stats(r).Statuses["503"])
}

// TestBudgetIsNeverExceeded: with a budget far too small, the intervals stretch, sending stops
// at the budget, the health says so, and polling resumes after midnight.
func TestBudgetIsNeverExceeded(t *testing.T) {
	rooms := []string{roomName(1), roomName(2), roomName(3), roomName(4)}
	h := newHarness(t, graphsim.Options{}, rooms...)
	for _, m := range rooms {
		h.addRoom(m, graphsim.Recommended())
		h.post(m, invite("Meeting", t0.Add(time.Hour), time.Hour))
	}
	h.in.MaxRequestsPerDay = 40
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(rooms...))
	st := s.Stats()
	assert.Greater(t, st.HotInterval, 15*time.Second, "intervals stretched to fit the budget")
	assert.LessOrEqual(t, st.ProjectedToday, int64(40))

	h.advance(s, 14*time.Hour, time.Minute) // to 23:00
	assert.LessOrEqual(t, h.sim.Stats().Requests, 40, "the budget holds")
	used := s.Stats().UsedToday
	assert.Equal(t, int64(h.sim.Stats().Requests), used)

	before := h.sim.Stats().Requests
	h.advance(s, 2*time.Hour, time.Minute) // past midnight
	assert.Greater(t, h.sim.Stats().Requests, before, "a new day, a new budget")
	assert.Less(t, s.Stats().UsedToday, used)
}

// TestDiagnosis: the flags fire on rooms whose processing settings show in the events Graph
// gives, each with its fix, and not on clean rooms (the agent's diagnosis from the stored
// events, as once the processor has resolved each room: h.diagnose).
func TestDiagnosis(t *testing.T) {
	clean, defaults, tentative, noSubject, noBody := roomName(1), roomName(2), roomName(3), roomName(4), roomName(5)
	rooms := []string{clean, defaults, tentative, noSubject, noBody, roomName(6)}
	h := newHarness(t, graphsim.Options{}, rooms...)
	with := func(mod func(*graphsim.Processing)) graphsim.Processing {
		p := graphsim.Recommended()
		mod(&p)
		return p
	}
	_, err := h.sim.Load(graphsim.Scenario{Rooms: rooms, Meetings: 40, Seed: 3, Now: t0, Processing: map[string]graphsim.Processing{
		defaults:  graphsim.ExchangeDefaults(),
		tentative: with(func(p *graphsim.Processing) { p.AutomateProcessing = graphsim.AutoUpdate }),
		noSubject: with(func(p *graphsim.Processing) { p.DeleteSubject = true }),
		noBody:    with(func(p *graphsim.Processing) { p.DeleteComments = true }),
	}})
	require.NoError(t, err)
	h.start(Tuning{})
	h.waitFor("every room", h.synced(rooms...))
	h.diagnose(rooms...)

	flags := func(m string) []string {
		var out []string
		for _, f := range h.room(m).Diagnosis {
			out = append(out, f.Flag)
			assert.True(t, strings.HasPrefix(f.Fix, "Set-CalendarProcessing -Identity "+m+" -"), f.Fix)
		}
		return out
	}
	assert.Empty(t, flags(clean))
	assert.Empty(t, flags(roomName(6)))
	assert.ElementsMatch(t, []string{exchange.FlagAddOrganizerToSubject, exchange.FlagDeleteComments, exchange.FlagRemovePrivateProperty, exchange.FlagProcessExternal}, flags(defaults))
	assert.Equal(t, []string{exchange.FlagAutomateProcessing}, flags(tentative))
	assert.Equal(t, []string{exchange.FlagDeleteSubject}, flags(noSubject))
	assert.Equal(t, []string{exchange.FlagDeleteComments}, flags(noBody))
	fix := map[string]string{}
	for _, f := range h.room(defaults).Diagnosis {
		fix[f.Flag] = f.Fix
	}
	assert.Equal(t, "Set-CalendarProcessing -Identity "+defaults+" -AddOrganizerToSubject $false -DeleteSubject $false", fix[exchange.FlagAddOrganizerToSubject])
	assert.Equal(t, "Set-CalendarProcessing -Identity "+defaults+" -DeleteComments $false", fix[exchange.FlagDeleteComments])
	assert.Len(t, h.recentEvents(exchange.EventDiagnosis), 4+1+1+1, "one event per flag found")
}

func ptr[T any](v T) *T { return &v }

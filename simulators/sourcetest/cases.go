package sourcetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Run runs the table against one source type.
func Run(t *testing.T, newRig NewRig) {
	for _, c := range []struct {
		name string
		run  func(*testing.T, NewRig)
	}{
		{"FollowsTheCalendar", FollowsTheCalendar},
		{"RestartWithoutResync", RestartWithoutResync},
		{"WindowRollsAtMidnight", WindowRollsAtMidnight},
		{"BadRoomsDoNotDelayOthers", BadRoomsDoNotDelayOthers},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, newRig) })
	}
}

// FollowsTheCalendar: the first sync shows what the room's calendar holds (a Teams meeting
// with its Join, a private meeting marked private, a cancelled meeting not shown, a weekday
// series with one occurrence moved and renamed, one cancelled and one deleted); then adds,
// edits, moves, cancels, deletes, a series rename and an occurrence cancelled later all reach
// the meetings with the next polls, without the calendar being read again from scratch.
func FollowsTheCalendar(t *testing.T, newRig NewRig) {
	r1, r2 := RoomName(1), RoomName(2)
	e := NewEnv(t, newRig, r1, r2)
	e.AddRoom(r1)
	e.AddRoom(r2)
	review := e.Post(r1, Invite("Design review", T0.Add(2*time.Hour), time.Hour))
	private := e.Post(r1, Private("HR 1:1", T0.Add(4*time.Hour), 30*time.Minute))
	budget := e.Post(r1, Invite("Budget sync", T0.Add(6*time.Hour), time.Hour))
	call := e.Post(r1, Invite("Customer call", T0.Add(26*time.Hour), time.Hour))
	offsite := e.Post(r1, Invite("Offsite planning", T0.Add(28*time.Hour), time.Hour))
	require.NoError(t, e.Sim.CancelEvent(r1, offsite))
	master := e.Post(r1, Weekdays("Stand-up", Day(16, 8, 0), 15*time.Minute))
	e.Patch(r1, e.InstanceAt(r1, master, Day(24, 8, 0)), map[string]any{"subject": "Stand-up (moved)",
		"start": GraphTime(Day(24, 8, 30)), "end": GraphTime(Day(24, 8, 45))})
	require.NoError(t, e.Sim.CancelEvent(r1, e.InstanceAt(r1, master, Day(25, 8, 0))))
	require.NoError(t, e.Sim.DeleteEvent(r1, e.InstanceAt(r1, master, Day(26, 8, 0))))
	e.Post(r2, Invite("Room two", T0.Add(time.Hour), time.Hour))

	e.Start()
	e.WaitFor("both rooms synced", e.Synced(r1, r2))

	rv := one(t, e, r1, "Design review")
	assert.Equal(t, T0.Add(2*time.Hour), rv.Start)
	assert.Equal(t, T0.Add(3*time.Hour), rv.End)
	assert.True(t, rv.Join, "a Teams meeting has a Join button")
	assert.Equal(t, calendar.PlatformTeams, rv.Platform)
	assert.Equal(t, "Alice Berg", rv.Organizer)
	priv := at(e, r1, T0.Add(4*time.Hour))
	require.NotNil(t, priv, "the private meeting is shown")
	assert.True(t, priv.Private)
	assert.NotEqual(t, "HR 1:1", priv.Subject, "a private meeting's subject is not shown")
	assert.True(t, e.Has(r1, "Budget sync", T0.Add(6*time.Hour)))
	assert.True(t, e.Has(r1, "Customer call", T0.Add(26*time.Hour)))
	assert.Nil(t, at(e, r1, T0.Add(28*time.Hour)), "a cancelled meeting is not shown")
	assert.Equal(t, []time.Time{Day(23, 8, 0), Day(27, 8, 0), Day(30, 8, 0)}, starts(e.Titled(r1, "Stand-up")),
		"the series' occurrences: Tue 24 is an exception, Wed 25 cancelled, Thu 26 deleted")
	for _, m := range e.Titled(r1, "Stand-up") {
		assert.True(t, m.Join, "occurrences carry the series' join details")
		assert.Equal(t, "Alice Berg", m.Organizer)
	}
	assert.Equal(t, []time.Time{Day(24, 8, 30)}, starts(e.Titled(r1, "Stand-up (moved)")), "the moved exception")
	assert.Len(t, e.Meetings(r2), 1)

	// Changes, all at once.
	added := e.Post(r1, Invite("Added later", T0.Add(30*time.Hour), time.Hour))
	e.Patch(r1, review, map[string]any{"subject": "Design review (new agenda)"})
	e.Patch(r1, budget, Move(T0.Add(7*time.Hour), time.Hour))
	require.NoError(t, e.Sim.CancelEvent(r1, call))
	require.NoError(t, e.Sim.DeleteEvent(r1, private))
	e.Patch(r1, master, map[string]any{"subject": "Daily stand-up"})
	require.NoError(t, e.Sim.CancelEvent(r1, e.InstanceAt(r1, master, Day(27, 8, 0))))
	_ = added
	e.Advance(5*time.Minute, 10*time.Second)
	e.WaitFor("the changes", func() bool {
		return e.Has(r1, "Added later", T0.Add(30*time.Hour)) && e.Has(r1, "Design review (new agenda)", T0.Add(2*time.Hour)) &&
			e.Has(r1, "Budget sync", T0.Add(7*time.Hour)) && len(e.Titled(r1, "Customer call")) == 0 &&
			at(e, r1, T0.Add(4*time.Hour)) == nil && len(e.Titled(r1, "Daily stand-up")) == 2
	})
	assert.Empty(t, e.Titled(r1, "Design review"), "the old subject is gone")
	assert.Equal(t, []time.Time{T0.Add(7 * time.Hour)}, starts(e.Titled(r1, "Budget sync")), "the moved meeting shows once, at its new time")
	assert.Equal(t, []time.Time{Day(23, 8, 0), Day(30, 8, 0)}, starts(e.Titled(r1, "Daily stand-up")),
		"the renamed series, without the occurrence cancelled since")
	assert.Empty(t, e.Titled(r1, "Stand-up"))
	assert.Equal(t, []time.Time{Day(24, 8, 30)}, starts(e.Titled(r1, "Stand-up (moved)")), "the exception keeps its own subject")
	for _, m := range []string{r1, r2} {
		c := e.Rig.Counters(m)
		assert.Equal(t, 1, c.FullReads, "%s: changes come incrementally, not by reading the calendar again", m)
		assert.Zero(t, c.Throttled, m)
		assert.Equal(t, store.RoomOK, e.Status(m))
	}
}

// RestartWithoutResync: a new source on the same store goes on from where the last one
// stopped: what changed meanwhile arrives, and the calendar is not read again from scratch.
func RestartWithoutResync(t *testing.T, newRig NewRig) {
	r := RoomName(1)
	e := NewEnv(t, newRig, r)
	e.AddRoom(r)
	e.Post(r, Invite("Before the restart", T0.Add(2*time.Hour), time.Hour))
	stop := e.Start()
	e.WaitFor("the first sync", e.Synced(r))
	stop()
	before := e.Rig.Counters(r)
	require.Equal(t, 1, before.FullReads)

	e.Post(r, Invite("While stopped", T0.Add(3*time.Hour), time.Hour))
	// Restarted a little later: the room's next poll is due.
	e.Clock.Advance(5 * time.Minute)
	e.Start()
	assert.True(t, e.Has(r, "Before the restart", T0.Add(2*time.Hour)), "the room's meetings stay while the source starts")
	e.Advance(5*time.Minute, 10*time.Second)
	e.WaitFor("the change made while stopped", func() bool { return e.Has(r, "While stopped", T0.Add(3*time.Hour)) })
	assert.True(t, e.Has(r, "Before the restart", T0.Add(2*time.Hour)))
	after := e.Rig.Counters(r)
	assert.Equal(t, 1, after.FullReads, "no full read after the restart")
	assert.Less(t, after.Requests-before.Requests, before.Requests+3, "the restart costs a poll, not a cold sync")
}

// WindowRollsAtMidnight: after midnight the room's window moves on a day: yesterday's
// meeting leaves the room's meetings, and a meeting that was beyond the window arrives.
func WindowRollsAtMidnight(t *testing.T, newRig NewRig) {
	r := RoomName(1)
	e := NewEnv(t, newRig, r)
	e.AddRoom(r)
	e.Post(r, Invite("Yesterday", Day(22, 10, 0), time.Hour))
	e.Post(r, Invite("Today", T0.Add(time.Hour), time.Hour))
	// Tuesday a week later, 00:15: outside [Sunday, Tuesday a week later 00:00) on Monday,
	// inside [Monday, Wednesday a week later) from Tuesday.
	beyond := Day(31, 0, 15) // 1 December
	e.Post(r, Invite("Beyond the window", beyond, time.Hour))
	e.Start()
	e.WaitFor("the first sync", e.Synced(r))
	assert.True(t, e.Has(r, "Yesterday", Day(22, 10, 0)))
	assert.True(t, e.Has(r, "Today", T0.Add(time.Hour)))
	assert.Empty(t, e.Titled(r, "Beyond the window"))
	requests := e.Rig.Counters(r).Requests

	// To 01:30 on Tuesday: the room has rolled (rooms' rolls spread over the first minutes
	// after midnight) and its meetings were resolved again since.
	e.Advance(16*time.Hour+30*time.Minute, time.Minute)
	e.WaitFor("the roll", func() bool { return e.Has(r, "Beyond the window", beyond) && len(e.Titled(r, "Yesterday")) == 0 })
	assert.True(t, e.Has(r, "Today", T0.Add(time.Hour)), "the roll keeps what stays in the window")
	assert.Equal(t, store.RoomOK, e.Status(r))
	assert.Less(t, e.Rig.Counters(r).Requests-requests, 600, "16 hours of polling a quiet room, not a busy loop")
}

// BadRoomsDoNotDelayOthers: with one request in flight for the whole site, a room denied by
// policy and a throttled room do not delay the good rooms: they sync at once and their
// changes arrive within one poll interval; the denied room says what to do, raises one event
// and is retried at its own slow pace; the throttled room is never asked again before the
// wait the service asked for and still syncs at the service's pace; fixing the policy and
// asking for a sync brings the denied room back at once.
func BadRoomsDoNotDelayOthers(t *testing.T, newRig NewRig) {
	good := []string{RoomName(1), RoomName(2), RoomName(3)}
	denied, throttled := RoomName(4), RoomName(5)
	e := NewEnv(t, newRig, append(append([]string{}, good...), denied, throttled)...)
	e.MaxInFlight = 1
	for _, m := range good {
		e.AddRoom(m)
		e.Post(m, Invite("Meeting in "+m, T0.Add(3*time.Hour), time.Hour))
	}
	e.AddRoom(denied)
	e.Post(denied, Invite("Hidden", T0.Add(3*time.Hour), time.Hour))
	e.AddRoom(throttled)
	e.Post(throttled, Invite("Busy room", T0.Add(3*time.Hour), time.Hour))
	// Once every room exists (a rig may deny one by granting access to all the others).
	require.NoError(t, e.Rig.Deny(denied, true))
	require.NoError(t, e.Rig.Throttle(throttled))

	e.Start()
	// No time passes: the good rooms sync while the others fail.
	e.WaitFor("the good rooms", e.Synced(good...))
	e.WaitFor("the denied room's status", func() bool { return e.Status(denied) == store.RoomPolicyDenied })
	assert.Contains(t, e.Room(denied).StatusDetail, e.Rig.DenyFix(denied), "the status names the fix")
	assert.NotContains(t, e.Room(denied).StatusDetail, "\n")

	// Over the next hour: a change to a good room arrives within one poll interval while the
	// throttled room waits and syncs at the service's pace.
	changed := T0.Add(5 * time.Hour)
	e.Post(good[0], Invite("Added while others fail", changed, time.Hour))
	e.Advance(5*time.Minute, 10*time.Second)
	// The source is quiet at +5 min: what it stored by then is all that can arrive (the
	// processor resolves it just after).
	e.WaitFor("the good room's change within 5 minutes", func() bool { return e.Has(good[0], "Added while others fail", changed) })
	e.Advance(55*time.Minute, 10*time.Second)
	e.WaitFor("the throttled room's meeting", func() bool { return e.Has(throttled, "Busy room", T0.Add(3*time.Hour)) })
	c := e.Rig.Counters(throttled)
	assert.Positive(t, c.Throttled, "the room was throttled")
	assert.Zero(t, c.EarlyRetries, "and never asked again before the wait the service asked for")
	// One request allowed per ten minutes: about one answer and one refusal per ten minutes,
	// not a retry every few seconds.
	assert.LessOrEqual(t, c.Requests, 14, "a throttled room is asked at the service's pace, not the scheduler's")
	assert.LessOrEqual(t, e.Rig.Counters(denied).Requests, 4, "a policy-denied room is retried rarely")
	assert.Empty(t, e.Titled(denied, "Hidden"))
	for _, m := range good {
		assert.Zero(t, e.Rig.Counters(m).EarlyRetries, m)
		assert.Equal(t, store.RoomOK, e.Status(m), m)
	}
	perRoom := map[string]int{}
	for _, x := range e.RecentEvents("sync.error") {
		perRoom[x.Room]++
	}
	assert.Equal(t, 1, perRoom[denied], "one event for the denied room, not one per retry")

	require.NoError(t, e.Rig.Deny(denied, false))
	require.NoError(t, e.Source().SyncNow(denied, false))
	e.WaitFor("the fixed room", func() bool { return e.Synced(denied)() && e.Has(denied, "Hidden", T0.Add(3*time.Hour)) })
	assert.Error(t, e.Source().SyncNow("nobody@contoso.example", false), "a room not of this source is refused")
}

// one is the single meeting with that subject.
func one(t *testing.T, e *Env, room, subject string) calendar.Meeting {
	t.Helper()
	ms := e.Titled(room, subject)
	require.Len(t, ms, 1, "one meeting %q in %s; the room shows %v", subject, room, subjects(e.Meetings(room)))
	return ms[0]
}

// at is the meeting starting at start (nil: none).
func at(e *Env, room string, start time.Time) *calendar.Meeting {
	for _, m := range e.Meetings(room) {
		if m.Start.Equal(start) {
			return &m
		}
	}
	return nil
}

func starts(ms []calendar.Meeting) []time.Time {
	out := []time.Time{}
	for _, m := range ms {
		out = append(out, m.Start.UTC())
	}
	return out
}

func subjects(ms []calendar.Meeting) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject+" @ "+m.Start.UTC().Format("Mon 02 15:04"))
	}
	return out
}

package graph

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// The change probe against graphsim's getSchedule, through the real client, on a fake clock.

// probeTuning makes the probe the only fast path: a probe-live room polls every 10 minutes
// while hot, so a change seen within seconds can only have come through the probe.
func probeTuning() Tuning {
	return Tuning{Probe: ProbeTuning{PollHot: 10 * time.Minute, PollCold: 30 * time.Minute}}
}

// probeHarness is a harness with the probe on, and room's first sync done and its probe live.
func probeHarness(t *testing.T, opts graphsim.Options, tune Tuning, room string, events ...map[string]any) (*harness, *Syncer, []string) {
	t.Helper()
	h := newHarness(t, opts, room)
	h.in.Probe.Mode = graphconf.ProbeOn
	h.addRoom(room, graphsim.Recommended())
	var ids []string
	for _, ev := range events {
		ids = append(ids, h.post(room, ev))
	}
	s, _ := h.start(tune)
	h.waitFor("the first sync", h.synced(room))
	h.advance(s, 30*time.Second, time.Second)
	require.Equal(t, 1, s.ProbeStats().Live, "the probe watches the room")
	return h, s, ids
}

// untilStored advances the fake clock a second at a time until cond holds, and returns how
// long that took (fails after limit).
func untilStored(t *testing.T, h *harness, s *Syncer, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := h.clk.Now()
	for !cond() {
		require.Less(t, h.clk.Now().Sub(start), limit, "not found within %s", limit)
		h.advance(s, time.Second, time.Second)
	}
	return h.clk.Now().Sub(start)
}

func storedSubject(h *harness, room, id string) string { return h.events(room)[id].Subject }

// TestProbeFindsSubjectChangeInHotRoom: with the room sharing LimitedDetails, a subject edit
// to the meeting about to start is seen by the probe and the room polls at once, within the
// 10 s target, although its own poll is 10 minutes away.
func TestProbeFindsSubjectChangeInHotRoom(t *testing.T) {
	const room = "room-1@contoso.example"
	h, s, ids := probeHarness(t, graphsim.Options{FreeBusyDetails: graphsim.FreeBusyLimitedDetails}, probeTuning(), room,
		invite("Stand-up", t0.Add(20*time.Minute), 30*time.Minute))
	require.Equal(t, 1, s.ProbeStats().DetailsVisible, "subjects are visible")
	polls := h.stats(room).DeltaPolls

	_, err := h.sim.PatchEvent(room, ids[0], map[string]any{"subject": "Stand-up (moved to the big screen)"})
	require.NoError(t, err)
	took := untilStored(t, h, s, 11*time.Second, func() bool { return storedSubject(h, room, ids[0]) == "Stand-up (moved to the big screen)" })
	assert.LessOrEqual(t, took, 10*time.Second)
	assert.Equal(t, int64(1), s.ProbeStats().Changes)
	assert.Equal(t, polls+1, h.stats(room).DeltaPolls, "one poll, triggered by the probe")
}

// TestProbeFindsTimeMoveWithAvailabilityOnly: free/busy without details still shows a
// meeting moved by two minutes (the default room permission).
func TestProbeFindsTimeMoveWithAvailabilityOnly(t *testing.T) {
	const room = "room-1@contoso.example"
	start := t0.Add(20 * time.Minute)
	h, s, ids := probeHarness(t, graphsim.Options{}, probeTuning(), room, invite("Stand-up", start, 30*time.Minute))
	assert.Zero(t, s.ProbeStats().DetailsVisible, "AvailabilityOnly shows no subjects")

	moved := start.Add(-2 * time.Minute)
	_, err := h.sim.PatchEvent(room, ids[0], map[string]any{"start": graphTimeOf(moved), "end": graphTimeOf(moved.Add(30 * time.Minute))})
	require.NoError(t, err)
	took := untilStored(t, h, s, 11*time.Second, func() bool {
		ev := h.events(room)[ids[0]]
		st, err := ev.StartTime()
		return err == nil && st.Equal(moved)
	})
	assert.LessOrEqual(t, took, 10*time.Second)
	assert.Equal(t, int64(1), s.ProbeStats().Changes)
}

// TestProbeSlidingWindowIsNoChange: meetings leaving the hot window behind and entering it
// ahead, while time passes, make no poll.
func TestProbeSlidingWindowIsNoChange(t *testing.T) {
	const room = "room-1@contoso.example"
	h, s, _ := probeHarness(t, graphsim.Options{FreeBusyDetails: graphsim.FreeBusyLimitedDetails}, probeTuning(), room,
		invite("Soon", t0.Add(20*time.Minute), 30*time.Minute),
		invite("Ending behind the window", t0.Add(-90*time.Minute), 32*time.Minute), // ends at now - 1 h + 2 min
		invite("Entering ahead", t0.Add(3*time.Hour+time.Minute), time.Hour))
	polls := h.stats(room).DeltaPolls
	h.advance(s, 4*time.Minute, time.Second)
	assert.Zero(t, s.ProbeStats().Changes, "a sliding window is no change")
	assert.Equal(t, polls, h.stats(room).DeltaPolls, "no poll within the 10-minute safety net")
	assert.Greater(t, s.ProbeStats().Requests, int64(20), "the room was probed all along")
}

// TestPollFindsBodyOnlyEdit: an added Teams link changes nothing free/busy shows; the room's
// own poll (the safety net, 20 s while hot by default) finds it.
func TestPollFindsBodyOnlyEdit(t *testing.T) {
	const room = "room-1@contoso.example"
	h, s, ids := probeHarness(t, graphsim.Options{FreeBusyDetails: graphsim.FreeBusyLimitedDetails}, Tuning{}, room,
		invite("Stand-up", t0.Add(20*time.Minute), 30*time.Minute))
	_, err := h.sim.PatchEvent(room, ids[0], map[string]any{"body": map[string]any{"contentType": "html",
		"content": "<html><body>Join: https://teams.microsoft.com/l/meetup-join/19%3ameeting_y%40thread.v2/0</body></html>"}})
	require.NoError(t, err)
	took := untilStored(t, h, s, 25*time.Second, func() bool {
		ev := h.events(room)[ids[0]]
		return strings.Contains(ev.BodyText(), "meeting_y")
	})
	assert.LessOrEqual(t, took, 21*time.Second, "at the safety net's 20 s")
	assert.Zero(t, s.ProbeStats().Changes, "free/busy does not show a body edit")
}

// TestProbeFailuresKeepPolling: a 429 with Retry-After pauses the probe for exactly that
// long (and the polls of the mailbox it was sent as), 503s pause it with backoff; meanwhile
// the rooms poll at the plain hot interval and stay ok, and the probe takes over again.
func TestProbeFailuresKeepPolling(t *testing.T) {
	r1, r2 := roomName(1), roomName(2)
	h := newHarness(t, graphsim.Options{}, r1, r2)
	h.in.Probe.Mode = graphconf.ProbeOn
	for _, m := range []string{r1, r2} {
		h.addRoom(m, graphsim.Recommended())
		h.post(m, invite("Stand-up", t0.Add(25*time.Minute), 30*time.Minute))
	}
	s, _ := h.start(probeTuning())
	h.waitFor("the first sync", h.synced(r1, r2))
	h.advance(s, 30*time.Second, time.Second)
	require.Equal(t, 2, s.ProbeStats().Live)

	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 429, RetryAfter: 60, Path: "getSchedule", Count: 1})
	require.NoError(t, err)
	h.advance(s, 8*time.Second, time.Second) // the next hot probe meets the 429
	require.Equal(t, int64(1), s.ProbeStats().Failures)
	require.Zero(t, s.ProbeStats().Live, "a failing probe does not watch the rooms")
	require.Contains(t, s.ProbeStats().LastError, "TooManyRequests")
	throttled, other := r1, r2
	if h.stats(r2).Throttled == 1 {
		throttled, other = r2, r1
	}
	probes := h.stats(r1).GetSchedules + h.stats(r2).GetSchedules
	polls, held := h.stats(other).DeltaPolls, h.stats(throttled).DeltaPolls

	h.advance(s, 50*time.Second, time.Second)
	assert.Equal(t, held, h.stats(throttled).DeltaPolls, "the mailbox the 429 was for waits for Retry-After")
	assert.Equal(t, probes, h.stats(r1).GetSchedules+h.stats(r2).GetSchedules, "no probe while Retry-After runs")
	assert.GreaterOrEqual(t, h.stats(other).DeltaPolls-polls, 3, "the other room polls at the plain 15 s meanwhile")

	_, err = h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 503, Path: "getSchedule", Count: 2})
	require.NoError(t, err)
	h.advance(s, 60*time.Second, time.Second)
	assert.Equal(t, int64(3), s.ProbeStats().Failures, "the 503s were retried with backoff")
	for _, m := range []string{r1, r2} {
		assert.Equal(t, store.RoomOK, h.status(m)(), "a failing probe never fails a room")
		assert.Zero(t, h.stats(m).EarlyRetries, "Retry-After honoured by probes and polls")
	}
	assert.Equal(t, 2, s.ProbeStats().Live, "live again once getSchedule answers")
}

// TestProbeOffPollsAsBefore: probe: off sends no getSchedule and keeps the plain intervals.
func TestProbeOffPollsAsBefore(t *testing.T) {
	const room = "room-1@contoso.example"
	h := newHarness(t, graphsim.Options{}, room)
	h.in.Probe.Mode = graphconf.ProbeOff
	h.addRoom(room, graphsim.Recommended())
	h.post(room, invite("Stand-up", t0.Add(20*time.Minute), 30*time.Minute))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(room))
	polls := h.stats(room).DeltaPolls
	h.advance(s, 61*time.Second, time.Second)
	assert.Zero(t, h.stats(room).GetSchedules)
	assert.Nil(t, s.Stats().Probe, "no probe block")
	assert.Equal(t, 15*time.Second, s.Stats().HotInterval)
	assert.InDelta(t, 4, h.stats(room).DeltaPolls-polls, 1, "polled every 15 s as without a probe")
}

func graphTimeOf(t time.Time) map[string]any {
	return map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
}

// TestDelegatedProbe: a delegated integration (probe on) probes the rooms it reads as the
// signed-in account and finds a move.
func TestDelegatedProbe(t *testing.T) {
	room := roomName(1)
	h := delegatedHarness(t, room)
	h.in.Probe.Mode = graphconf.ProbeOn
	start := t0.Add(20 * time.Minute)
	id := h.post(room, invite("Stand-up", start, 30*time.Minute))
	require.NoError(t, h.sim.GrantDelegate(room, svcUser, true))
	h.login()
	s, _ := h.start(probeTuning())
	h.waitFor("the first sync", h.synced(room))
	h.advance(s, 30*time.Second, time.Second)
	require.Equal(t, 1, s.ProbeStats().Live)

	moved := start.Add(-2 * time.Minute)
	_, err := h.sim.PatchEvent(room, id, map[string]any{"start": graphTimeOf(moved), "end": graphTimeOf(moved.Add(30 * time.Minute))})
	require.NoError(t, err)
	untilStored(t, h, s, 11*time.Second, func() bool {
		ev := h.events(room)[id]
		st, err := ev.StartTime()
		return err == nil && st.Equal(moved)
	})
	assert.Equal(t, int64(1), s.ProbeStats().Changes)
}

// TestProbeUnknownMailbox: a room getSchedule names an error for (or cannot be sent as) is
// left to its polls; the other rooms of its chunk are probed as usual.
func TestProbeUnknownMailbox(t *testing.T) {
	known, unknown := roomName(1), roomName(2)
	h := newHarness(t, graphsim.Options{}, known, unknown)
	h.in.Probe.Mode = graphconf.ProbeOn
	h.addRoom(known, graphsim.Recommended()) // the other mailbox does not exist
	start := t0.Add(20 * time.Minute)
	id := h.post(known, invite("Stand-up", start, 30*time.Minute))
	s, _ := h.start(probeTuning())
	h.waitFor("the known room synced", h.synced(known))
	h.advance(s, 30*time.Second, time.Second)
	st := s.ProbeStats()
	assert.Equal(t, 1, st.Live)
	assert.Equal(t, 1, st.Unavailable)
	assert.Contains(t, st.LastError, unknown)
	assert.Equal(t, store.RoomNotFound, h.status(unknown)(), "its polls say what is wrong")

	moved := start.Add(-2 * time.Minute)
	_, err := h.sim.PatchEvent(known, id, map[string]any{"start": graphTimeOf(moved), "end": graphTimeOf(moved.Add(30 * time.Minute))})
	require.NoError(t, err)
	untilStored(t, h, s, 11*time.Second, func() bool {
		ev := h.events(known)[id]
		st, err := ev.StartTime()
		return err == nil && st.Equal(moved)
	})
}

// TestProbeFailingForAQuarterHourShowsInHealth: a probe that keeps failing fails no room, but
// after a quarter of an hour the integration's health line says changes are slow and why;
// it clears once getSchedule answers again.
func TestProbeFailingForAQuarterHourShowsInHealth(t *testing.T) {
	room := roomName(1)
	h, s, _ := probeHarness(t, graphsim.Options{}, probeTuning(), room, invite("Stand-up", t0.Add(25*time.Minute), 30*time.Minute))
	component := s.component
	line := func() (string, string) {
		for _, it := range h.health.Snapshot() {
			if it.Component == component {
				return it.Level, it.Message
			}
		}
		return "", ""
	}
	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 503, Path: "getSchedule", Count: 1000})
	require.NoError(t, err)

	h.advance(s, 10*time.Minute, 5*time.Second)
	require.Positive(t, s.ProbeStats().Failures)
	level, msg := line()
	assert.Equal(t, health.OK, level, "a few minutes of failures are the probe's own business: %s", msg)

	h.advance(s, 6*time.Minute, 5*time.Second)
	level, msg = line()
	assert.Equal(t, health.Warning, level)
	assert.Contains(t, msg, "the change probe (getSchedule) has failed since")
	assert.Contains(t, msg, "ServiceNotAvailable", "the last error is in the line")
	assert.Equal(t, store.RoomOK, h.status(room)(), "the room still syncs")

	h.sim.ClearFaults()
	h.advance(s, 6*time.Minute, 5*time.Second)
	level, msg = line()
	assert.Equal(t, health.OK, level, "cleared once the probe is answered: %s", msg)
	assert.Equal(t, 1, s.ProbeStats().Live)
}

package graph

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// syncedBeforeFirstProbe runs a syncer on one room (LimitedDetails, the probe on) with the
// events posted, and its first getSchedule failing: whichever of the first sync and the first
// probe starts first, the probe's first answer comes after the room's first sync (after the
// probe's back-off on the fake clock). It returns once the sync is done and the 503 met.
func syncedBeforeFirstProbe(t *testing.T, tune Tuning, events ...map[string]any) (*harness, *Syncer, []string) {
	t.Helper()
	const room = "room-1@contoso.example"
	h := newHarness(t, graphsim.Options{FreeBusyDetails: graphsim.FreeBusyLimitedDetails}, room)
	h.in.Probe.Mode = graphconf.ProbeOn
	h.addRoom(room, graphsim.Recommended())
	var ids []string
	for _, ev := range events {
		ids = append(ids, h.post(room, ev))
	}
	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 503, Path: "getSchedule", Count: 1})
	require.NoError(t, err)
	s, _ := h.start(tune)
	h.waitFor("the first sync", h.synced(room))
	h.settle(s)
	require.Equal(t, int64(1), s.ProbeStats().Failures, "the first probe met the 503")
	require.Zero(t, s.ProbeStats().Live)
	return h, s, ids
}

// TestProbeFirstAnswerAfterTheReadPollsOnce: an edit made between a room's first sync and its
// first probe answer is in the probe's baseline, so no later probe can see it; the room polls
// once when that baseline comes, and the edit is stored then, not at the room's next poll (its
// plain 4 minutes, then the 30 minutes a live probe allows here, 5 by default).
func TestProbeFirstAnswerAfterTheReadPollsOnce(t *testing.T) {
	const room = "room-1@contoso.example"
	// The room is not hot: the first answer comes with the next cold probe, a minute later.
	h, s, ids := syncedBeforeFirstProbe(t, probeTuning(), invite("Quarterly review", t0.Add(3*time.Hour), time.Hour))
	id := ids[0]

	_, err := h.sim.PatchEvent(room, id, map[string]any{"subject": "Quarterly review (moved to the big screen)"})
	require.NoError(t, err)
	polls := h.stats(room).DeltaPolls
	took := untilStored(t, h, s, 90*time.Second, func() bool {
		return storedSubject(h, room, id) == "Quarterly review (moved to the big screen)"
	})
	assert.LessOrEqual(t, took, 70*time.Second, "the next cold probe (a jittered minute), then one poll (not the plain 4 minutes)")
	assert.Equal(t, 1, s.ProbeStats().Live, "the probe watches the room")
	assert.Zero(t, s.ProbeStats().Changes, "the baseline is no change the probe saw")
	assert.Equal(t, polls+1, h.stats(room).DeltaPolls, "one poll")

	h.advance(s, 3*time.Minute, time.Second)
	assert.Equal(t, polls+1, h.stats(room).DeltaPolls, "only once: later answers are compared with the baseline")
}

// TestProbeWideningFromHotToColdPollsOnce: a room hot since the start has only the hot
// probe's few hours as its baseline. An edit to tomorrow's meeting, made while it is hot, is
// beyond what the hot probe sees (the hot polls would find it, but they are an hour apart
// here); when the room turns cold, the first cold probe covers tomorrow without a baseline for
// it, so the room polls once, and the edit is stored then, not at the next hourly poll.
func TestProbeWideningFromHotToColdPollsOnce(t *testing.T) {
	const room = "room-1@contoso.example"
	// The first answer after the sync: a probe answered before it, which knows no meeting yet,
	// would be a cold one, and the days beyond would have a baseline after all (the hot
	// fingerprints keep it: TestHotFingerprintKeepsTheColdDays).
	h, s, ids := syncedBeforeFirstProbe(t, Tuning{Probe: ProbeTuning{PollHot: time.Hour, PollCold: time.Hour}},
		invite("Stand-up", t0.Add(20*time.Minute), 10*time.Minute), // hot until t0+30m
		invite("Partner workshop", t0.Add(13*time.Hour+30*time.Minute), time.Hour))
	id := ids[1]
	h.advance(s, time.Minute, time.Second) // hot probes every 7 s from t0+5s
	require.Equal(t, 1, s.ProbeStats().Live)

	const renamed = "Partner workshop (moved to the big screen)"
	_, err := h.sim.PatchEvent(room, id, map[string]any{"subject": renamed})
	require.NoError(t, err)
	polls := h.stats(room).DeltaPolls
	h.advance(s, 28*time.Minute, 5*time.Second) // to t0+29m: still hot
	require.NotEqual(t, renamed, storedSubject(h, room, id), "the hot probe does not reach tomorrow")
	require.Equal(t, polls, h.stats(room).DeltaPolls)

	took := untilStored(t, h, s, 10*time.Minute, func() bool { return storedSubject(h, room, id) == renamed })
	assert.LessOrEqual(t, took, 3*time.Minute, "the first cold probe, within its jittered minute of the room turning cold")
	assert.Zero(t, s.ProbeStats().Changes, "a widened baseline is no change the probe saw")
	assert.Equal(t, polls+1, h.stats(room).DeltaPolls, "one poll")
	h.advance(s, 5*time.Minute, 5*time.Second)
	assert.Equal(t, polls+1, h.stats(room).DeltaPolls, "only once: the cold days have a baseline now")
}

// TestProbeFirstAnswerInAHotRoomMakesNoPoll: a hot room's first probe answer after its sync
// makes no extra poll: the room's hot polls (15 s) close the gap anyway, and in a cold start an
// extra poll of a hot room would go before the rooms not read yet.
func TestProbeFirstAnswerInAHotRoomMakesNoPoll(t *testing.T) {
	const room = "room-1@contoso.example"
	h, s, _ := syncedBeforeFirstProbe(t, Tuning{}, invite("Stand-up", t0.Add(20*time.Minute), 30*time.Minute)) // hot
	polls := h.stats(room).DeltaPolls

	for start := h.clk.Now(); s.ProbeStats().Live != 1; {
		require.Less(t, h.clk.Now().Sub(start), 12*time.Second, "the hot probe's first answer")
		h.advance(s, time.Second, time.Second)
	}
	assert.Less(t, h.clk.Now().Sub(t0), 13*time.Second, "before the room's first hot poll")
	assert.Equal(t, polls, h.stats(room).DeltaPolls, "no poll for the hot room's baseline")
}

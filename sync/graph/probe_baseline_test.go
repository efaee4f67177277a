package graph

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// TestProbeFirstAnswerAfterTheReadPollsOnce: an edit made between a room's first sync and its
// first probe answer is in the probe's baseline, so no later probe can see it; the room polls
// once when that baseline comes, and the edit is stored then, not at the room's next poll (its
// plain 4 minutes, then the 30 minutes a live probe allows here, 5 by default).
func TestProbeFirstAnswerAfterTheReadPollsOnce(t *testing.T) {
	const room = "room-1@contoso.example"
	h := newHarness(t, graphsim.Options{FreeBusyDetails: graphsim.FreeBusyLimitedDetails}, room)
	h.in.Probe.Mode = graphconf.ProbeOn
	h.addRoom(room, graphsim.Recommended())
	id := h.post(room, invite("Quarterly review", t0.Add(3*time.Hour), time.Hour)) // not hot
	// The first probe fails, so its first answer comes with the next cold probe, a minute
	// later on the fake clock, after the room's first sync whichever of the two started first.
	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 503, Path: "getSchedule", Count: 1})
	require.NoError(t, err)
	s, _ := h.start(probeTuning())
	h.waitFor("the first sync", h.synced(room))
	h.settle(s)
	require.Equal(t, int64(1), s.ProbeStats().Failures, "the first probe met the 503")
	require.Zero(t, s.ProbeStats().Live)

	_, err = h.sim.PatchEvent(room, id, map[string]any{"subject": "Quarterly review (moved to the big screen)"})
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

package graph

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestProbeFindsEveryKindOfChangeInColdRoom: in a room with nothing soon (probed every 60 s
// over its whole window), a new meeting, a cancellation, a move and (LimitedDetails) a
// subject edit days ahead each make the room poll within about a cold interval, although its
// own poll is 30 minutes away; minutes of unchanged answers make none. (The fingerprints are
// built from the scanned answer and kept cut to their window: they must still see each.)
func TestProbeFindsEveryKindOfChangeInColdRoom(t *testing.T) {
	const room = "room-1@contoso.example"
	tomorrow := t0.Add(24 * time.Hour)
	h, s, ids := probeHarness(t, graphsim.Options{FreeBusyDetails: graphsim.FreeBusyLimitedDetails}, probeTuning(), room,
		invite("Planning", tomorrow, time.Hour), invite("Review", tomorrow.Add(3*time.Hour), time.Hour))
	quiet := func(what string) {
		t.Helper()
		changes, polls := s.ProbeStats().Changes, h.stats(room).DeltaPolls
		h.advance(s, 3*time.Minute, time.Second)
		assert.Equal(t, changes, s.ProbeStats().Changes, "%s: an unchanged calendar is no change", what)
		assert.Equal(t, polls, h.stats(room).DeltaPolls, "%s: and makes no poll", what)
	}
	found := func(what string, cond func() bool) {
		t.Helper()
		changes := s.ProbeStats().Changes
		took := untilStored(t, h, s, 90*time.Second, cond)
		assert.LessOrEqual(t, took, 75*time.Second, what)
		assert.Equal(t, changes+1, s.ProbeStats().Changes, "%s: found by the probe", what)
	}
	quiet("at first")

	added := h.post(room, invite("Offsite prep", t0.Add(2*24*time.Hour), time.Hour))
	found("a new meeting", func() bool { _, ok := h.events(room)[added]; return ok })
	quiet("after the new meeting")

	require.NoError(t, h.sim.CancelEvent(room, ids[1]))
	found("a cancellation", func() bool { ev, ok := h.events(room)[ids[1]]; return !ok || ev.IsCancelled })

	moved := tomorrow.Add(-30 * time.Minute)
	_, err := h.sim.PatchEvent(room, ids[0], map[string]any{"start": graphTimeOf(moved), "end": graphTimeOf(moved.Add(time.Hour))})
	require.NoError(t, err)
	found("a move", func() bool {
		ev := h.events(room)[ids[0]]
		st, err := ev.StartTime()
		return err == nil && st.Equal(moved)
	})

	_, err = h.sim.PatchEvent(room, ids[0], map[string]any{"subject": "Planning (Q3)"})
	require.NoError(t, err)
	found("a subject edit", func() bool { return storedSubject(h, room, ids[0]) == "Planning (Q3)" })
	quiet("at the end")
}

package graph

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestCancelledMeetingDoesNotMakeTheRoomHot: a meeting cancelled in Outlook stays stored (the
// processor shows it as cancelled) but is no meeting time for the scheduler: the room does not
// turn hot for it. The store knows cancelled events from what the syncer gives it, not from
// Graph's JSON.
func TestCancelledMeetingDoesNotMakeTheRoomHot(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{}, r)
	h.addRoom(r, graphsim.Recommended())
	kept := t0.Add(3 * time.Hour)
	h.post(r, invite("Review", kept, time.Hour))
	off := h.post(r, invite("Offsite planning", t0.Add(5*time.Minute), time.Hour))
	require.NoError(t, h.sim.CancelEvent(r, off))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	h.settle(s)
	require.True(t, h.events(r)[off].IsCancelled, "the cancelled meeting is stored")

	spans, err := h.st.EventSpans(t.Context(), r, t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []store.Span{{Start: kept, End: kept.Add(time.Hour)}}, spans)
	assert.Zero(t, s.Stats().HotRooms, "the cancelled meeting in five minutes does not make the room hot")
}

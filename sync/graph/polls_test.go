package graph

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestUnchangedPollsAreSavedTogether: polls that find nothing write no transaction of their
// own (no room change notice), yet the store follows: the deltaLink and last_success move on
// within pollFlush, and every request is counted once the syncer stops.
func TestUnchangedPollsAreSavedTogether(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{}, r)
	h.addRoom(r, graphsim.Recommended())
	h.post(r, invite("Tomorrow", t0.Add(26*time.Hour), time.Hour))
	s, stop := h.start(Tuning{ColdInterval: time.Minute})
	h.waitFor("the room synced", h.synced(r))
	h.settle(s)
	before, beforeCur := h.room(r), h.cursor(r)
	polls := h.stats(r).DeltaPolls

	notices := h.st.Subscribe(store.TopicRooms)
	defer notices.Close()
	h.advance(s, 5*time.Minute, 5*time.Second)
	assert.GreaterOrEqual(t, h.stats(r).DeltaPolls-polls, 4, "the room kept polling")
	assert.Empty(t, notices.Take(), "no poll that found nothing wrote the room's state")

	// The next flush, at most pollFlush of fake time later, writes what the polls so far found
	// (a poll made meanwhile may be saved with them: the store is then newer still).
	s.mu.Lock()
	last, lastCur := s.rooms[r].state, s.rooms[r].cur // what the last poll found
	s.mu.Unlock()
	require.True(t, last.LastSuccess.After(before.LastSuccess.Add(3*time.Minute)))
	assert.NotEqual(t, beforeCur.deltaLink, lastCur.deltaLink)
	h.clk.Advance(pollFlush)
	require.Eventually(t, func() bool {
		return !h.room(r).LastSuccess.Before(last.LastSuccess) && h.cursor(r).deltaLink != beforeCur.deltaLink
	}, 10*time.Second, 5*time.Millisecond, "the store follows the polls within pollFlush")
	if saved := h.room(r); saved.LastSuccess.Equal(last.LastSuccess) {
		assert.Equal(t, lastCur.deltaLink, h.cursor(r).deltaLink, "a poll's time and deltaLink are saved together")
	}
	assert.Equal(t, store.RoomOK, h.room(r).Status)

	h.clk.Advance(30 * time.Second) // a poll that only the stop's flush saves
	h.settle(s)
	stop()
	counted, err := h.st.Counter(context.Background(), counterKey("m365", h.clk.Now()))
	require.NoError(t, err)
	assert.Equal(t, int64(h.sim.Stats().Requests), counted, "every Graph request is counted in the store")
}

// TestRestartFromAnOlderDeltaLinkLosesNothing is what a kill -9 leaves: the store holds a
// deltaLink up to pollFlush older than the last poll's. The next run polls from it, with no
// full resync, and gets every change made since.
func TestRestartFromAnOlderDeltaLinkLosesNothing(t *testing.T) {
	r := roomName(1)
	h := newHarness(t, graphsim.Options{}, r)
	h.addRoom(r, graphsim.Recommended())
	first := h.post(r, invite("Tomorrow", t0.Add(26*time.Hour), time.Hour))
	s, stop := h.start(Tuning{ColdInterval: time.Minute})
	h.waitFor("the room synced", h.synced(r))
	h.settle(s)
	older := h.cursor(r)
	h.advance(s, 2*time.Minute, 5*time.Second) // polls that find nothing
	stop()
	require.NotEqual(t, older.deltaLink, h.cursor(r).deltaLink, "the stop saved the newer deltaLink")

	// The crash: the newer deltaLink never reached the store.
	h.putCursor(r, older)
	added := h.post(r, invite("Added while down", t0.Add(28*time.Hour), time.Hour))

	h.start(Tuning{ColdInterval: time.Minute})
	h.waitFor("the new meeting", func() bool { _, ok := h.events(r)[added]; return ok })
	got := h.events(r)
	assert.Contains(t, got, first)
	assert.Len(t, got, 2)
	assert.Equal(t, 1, h.stats(r).FullSyncs, "the older deltaLink still works: no full resync")
	assert.Equal(t, store.RoomOK, h.room(r).Status)
}

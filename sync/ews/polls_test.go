package ews

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/store"
)

// TestUnchangedPollsAreSavedTogether: probes that find nothing write no transaction of their
// own: right after one, the store still holds the previous progress; the next flush (within
// pollFlush) saves every room's newest SyncState and time together, and every request is
// counted once the syncer stops.
func TestUnchangedPollsAreSavedTogether(t *testing.T) {
	rooms := []string{simRoom(1), simRoom(2), simRoom(3)}
	h := newSimHarness(t, ewssim.Options{}, rooms...)
	for _, r := range rooms {
		h.post(r, invite("Tomorrow", t0.Add(26*time.Hour), time.Hour))
	}
	s, stop := h.start(Tuning{ColdInterval: time.Minute})
	h.waitFor("the rooms synced", h.synced(rooms...))
	h.settle(s)
	h.clk.Advance(pollFlush) // the first flush: nothing pending yet
	h.settle(s)
	before := map[string]store.RoomState{}
	for _, r := range rooms {
		before[r] = h.room(r)
	}

	// The rooms' polls come round about a minute later: they only probe.
	probes := h.es.Stats().Requests
	notices := h.st.Subscribe(store.TopicRooms)
	defer notices.Close()
	for h.es.Stats().Requests < probes+len(rooms) {
		h.clk.Advance(time.Second)
		h.settle(s)
	}
	s.mu.Lock()
	polled := map[string]time.Time{}
	for _, r := range rooms {
		polled[r] = s.rooms[r].state.LastSuccess
	}
	s.mu.Unlock()
	unsaved := 0
	for _, r := range rooms {
		require.True(t, polled[r].After(before[r].LastSuccess), "%s polled", r)
		if h.room(r).LastSuccess.Before(polled[r]) {
			unsaved++
		}
	}
	// A flush may fall between the rooms' polls (they are spread by jitter), never after the
	// last one: at least that room's poll is not in the store yet.
	assert.Positive(t, unsaved, "a poll that found nothing wrote nothing of its own")
	assert.Empty(t, notices.Take(), "no poll that found nothing announced a room change")

	// The next flush saves them all.
	h.clk.Advance(pollFlush)
	for _, r := range rooms {
		for h.room(r).LastSuccess.Before(polled[r]) {
			select {
			case <-s.Progress():
			case <-time.After(30 * time.Second): // a failure guard, not a wait
				t.Fatal("the flush did not save the polls")
			}
		}
	}
	stop()
	counted, err := h.st.Counter(context.Background(), counterKey(h.in.Name, h.clk.Now()))
	require.NoError(t, err)
	assert.Equal(t, int64(h.es.Stats().Requests), counted, "every EWS request is counted in the store")
}

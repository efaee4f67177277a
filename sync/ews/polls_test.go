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

	// The rooms' polls come round about a minute later: they only probe. Flushes are held
	// back meanwhile (a flush takes writeMu exclusively; settle does not wait for the flush
	// goroutine, so one due in the same fake second as the last poll, or one late on a busy
	// machine, could otherwise save that poll before it is looked at). A probe that wrote a
	// transaction of its own would still show in the store; one that took writeRoom would
	// hang behind the held flush and fail settle.
	probes := h.es.Stats().Requests
	notices := h.st.Subscribe(store.TopicRooms)
	defer notices.Close()
	s.writeMu.RLock()
	held := true
	release := func() {
		if held {
			held = false
			s.writeMu.RUnlock()
		}
	}
	defer release()
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
	for _, r := range rooms {
		require.True(t, polled[r].After(before[r].LastSuccess), "%s polled", r)
		assert.Equal(t, before[r].LastSuccess, h.room(r).LastSuccess, "%s: a poll that found nothing wrote nothing of its own", r)
	}
	assert.Empty(t, notices.Take(), "no poll that found nothing announced a room change")

	// The next flush saves them all (a flush held back above may be the one).
	release()
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

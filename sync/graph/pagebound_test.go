package graph

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/goroutines"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

// parkedAtAnswerSlot counts the steps waiting for an answer slot (they have sent nothing).
func parkedAtAnswerSlot() int { return goroutines.Parked(".takeAnswerSlot(") }

// While the store's writer is busy, only answerSlots(max_in_flight) rooms get Graph's answer
// and wait with it; the other due rooms wait without sending, so the pages held in memory are
// bounded however many rooms a cold start has due. When the writer frees up, every room syncs.
func TestStepsHoldingAnAnswerAreBoundedWhileTheWriterIsBusy(t *testing.T) {
	var rooms []string
	for i := range 12 {
		rooms = append(rooms, fmt.Sprintf("room%02d@contoso.example", i))
	}
	h := newHarness(t, graphsim.Options{}, rooms...)
	for _, m := range rooms {
		h.addRoom(m, graphsim.Recommended())
		h.post(m, invite("Planning", t0.Add(2*time.Hour), time.Hour))
	}
	h.in.MaxInFlight = 1 // 20 steps at once (maxActive), answerSlots(1) = 4 of them with an answer
	require.Equal(t, 4, answerSlots(h.in.MaxInFlight))

	s, _ := h.start(Tuning{})
	h.waitFor("every room synced", h.synced(rooms...))
	before := h.sim.Stats().Requests

	entered, unblock := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() { // another writer holds the store: the syncer's writes wait
		blocked <- h.st.Write(context.Background(), func(*store.Tx) error { close(entered); <-unblock; return nil })
	}()
	<-entered
	released := false
	defer func() {
		if !released {
			close(unblock)
		}
	}()
	require.NoError(t, s.SyncNow("", true)) // every room due at once, as at a cold start

	deadline := time.Now().Add(30 * time.Second) // a failure guard, not a wait
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for h.sim.Stats().Requests-before < 4 || parkedAtAnswerSlot() < len(rooms)-4 {
		require.True(t, time.Now().Before(deadline), "the steps did not settle: %d requests, %d parked", h.sim.Stats().Requests-before, parkedAtAnswerSlot())
		<-tick.C
	}
	// The 8 parked steps have sent nothing and cannot until a page is written.
	assert.Equal(t, 4, h.sim.Stats().Requests-before, "Graph answered 4 rooms while the writer was busy")
	s.mu.Lock()
	assert.Equal(t, len(rooms), s.steps, "every room is stepping")
	s.mu.Unlock()

	close(unblock)
	released = true
	require.NoError(t, <-blocked)
	h.waitFor("every room synced again", func() bool { return h.sim.Stats().Requests-before >= len(rooms) && h.synced(rooms...)() })
	assert.Equal(t, len(rooms), h.sim.Stats().Requests-before, "one request per room")
}

package ews

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/simulators/goroutines"
	"github.com/otj-edge/otj-edge/store"
)

// parkedAtReadSlot counts the steps waiting for a read slot (they hold no answer).
func parkedAtReadSlot() int { return goroutines.Parked(".takeReadSlot(") }

// sum adds an operation's requests over the rooms.
func (h *simHarness) sum(op string, rooms []string) int {
	n := 0
	for _, m := range rooms {
		n += h.ops(m)[op]
	}
	return n
}

// While the store's writer is busy, only readSlots(max_in_flight) rooms list their window and
// read their items (and wait with them); the other rooms mid-step probe and then wait holding
// nothing, and only maxSteps rooms are mid-step (a goroutine each): the rest wait in the
// heap without sending. So the answers and goroutines held in memory are bounded however many
// rooms a cold start reads at once. When the writer frees up, every room is read with the
// same requests as before.
func TestRoomsHoldingAnswersAreBoundedWhileTheWriterIsBusy(t *testing.T) {
	var rooms []string
	for i := range 25 {
		rooms = append(rooms, simRoom(i))
	}
	h := newSimHarness(t, ewssim.Options{}, rooms...)
	ids := map[string]string{}
	for _, m := range rooms {
		ids[m] = h.post(m, invite("Planning", t0.Add(2*time.Hour), time.Hour))
	}
	h.in.MaxInFlight = 1 // readSlots(1) = 4 rooms mid-read, of 20 mid-step
	require.Equal(t, 4, readSlots(h.in.MaxInFlight))
	s, _ := h.start(Tuning{})
	require.Equal(t, 20, s.maxSteps())
	h.waitFor("every room synced", h.synced(rooms...))
	h.settle(s)
	finds, gets, probes := h.sum("FindItem", rooms), h.sum("GetItem", rooms), h.sum("SyncFolderItems", rooms)
	for _, m := range rooms { // every room has an item to read again
		_, err := h.gs.PatchEvent(m, ids[m], map[string]any{"subject": "Planning (moved)"})
		require.NoError(t, err)
	}

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
	require.NoError(t, s.SyncNow("", true)) // every room due and read in full at once, as at a cold start

	deadline := time.Now().Add(30 * time.Second) // a failure guard, not a wait
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for h.sum("SyncFolderItems", rooms)-probes < 20 || h.sum("GetItem", rooms)-gets < 4 || parkedAtReadSlot() < 20-4 {
		require.True(t, time.Now().Before(deadline), "the steps did not settle: %d probes, %d GetItem, %d parked",
			h.sum("SyncFolderItems", rooms)-probes, h.sum("GetItem", rooms)-gets, parkedAtReadSlot())
		<-tick.C
	}
	// 20 rooms are mid-step and probed; 4 read their window and items and wait for the writer
	// with them; the 16 parked rooms have listed nothing and cannot until a room is written;
	// the 5 others wait in the heap and have sent nothing.
	assert.Equal(t, 4, h.sum("FindItem", rooms)-finds, "rooms that listed their window while the writer was busy")
	assert.Equal(t, 4, h.sum("GetItem", rooms)-gets, "rooms that read their items while the writer was busy")
	assert.Equal(t, 16, parkedAtReadSlot())
	assert.Equal(t, 20, h.sum("SyncFolderItems", rooms)-probes, "rooms that probed while the writer was busy")
	s.mu.Lock()
	assert.Equal(t, 20, s.steps, "rooms mid-step")
	s.mu.Unlock()

	close(unblock)
	released = true
	require.NoError(t, <-blocked)
	h.waitFor("every room read again", func() bool { return h.sum("GetItem", rooms)-gets >= len(rooms) })
	h.settle(s)
	assert.Equal(t, len(rooms), h.sum("SyncFolderItems", rooms)-probes, "one SyncFolderItems per room")
	assert.Equal(t, len(rooms), h.sum("FindItem", rooms)-finds, "one FindItem per room")
	assert.Equal(t, len(rooms), h.sum("GetItem", rooms)-gets, "one GetItem per room")
	for _, m := range rooms {
		assert.Equal(t, store.RoomOK, h.status(m), m)
		evs := h.events(m)
		require.Len(t, evs, 1, m)
		for _, ev := range evs {
			assert.Equal(t, "Planning (moved)", ev.Subject, m)
		}
	}
}

// Stopping the source while rooms wait for a read slot (and others for the busy writer)
// returns at once: nothing waits for a slot past the end of its context, and no room is
// written half-read.
func TestStopWhileRoomsWaitForAReadSlot(t *testing.T) {
	var rooms []string
	for i := range 8 {
		rooms = append(rooms, simRoom(i))
	}
	h := newSimHarness(t, ewssim.Options{}, rooms...)
	ids := map[string]string{}
	for _, m := range rooms {
		ids[m] = h.post(m, invite("Planning", t0.Add(2*time.Hour), time.Hour))
	}
	h.in.MaxInFlight = 1
	s, err := New(Options{Integration: h.in, Rooms: h.rooms, Store: h.st, Clock: h.clk, Health: h.health, Tuning: Tuning{Seed: 1}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	h.waitFor("every room synced", h.synced(rooms...))
	h.settle(s)
	for _, m := range rooms {
		_, err := h.gs.PatchEvent(m, ids[m], map[string]any{"subject": "Planning (moved)"})
		require.NoError(t, err)
	}
	entered, unblock := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- h.st.Write(context.Background(), func(*store.Tx) error { close(entered); <-unblock; return nil })
	}()
	<-entered
	require.NoError(t, s.SyncNow("", true))

	deadline := time.Now().Add(30 * time.Second) // a failure guard, not a wait
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for parkedAtReadSlot() < len(rooms)-readSlots(1) {
		require.True(t, time.Now().Before(deadline), "%d parked", parkedAtReadSlot())
		<-tick.C
	}
	cancel()
	for parkedAtReadSlot() > 0 { // the writer is still busy: they leave on the context alone
		require.True(t, time.Now().Before(deadline), "%d still parked after the stop", parkedAtReadSlot())
		<-tick.C
	}
	close(unblock) // Run's last flush of unchanged polls waits for the writer
	require.NoError(t, <-blocked)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // a failure guard, not a wait
		t.Fatal("Run did not return after its context ended")
	}
	for _, m := range rooms {
		for _, ev := range h.events(m) {
			assert.Equal(t, "Planning", ev.Subject, "%s: nothing written after the stop", m)
		}
	}
}

package ews

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/store"
)

// TestRestartProbesOnWithoutReadingAgain: a new syncer on the same store probes from the
// stored SyncState: with nothing changed it lists no view and reads no item again (ewssim's
// counters), and a change made while it was stopped arrives with one view and one GetItem of
// that item alone.
func TestRestartProbesOnWithoutReadingAgain(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	h.post(r, invite("Before the restart", t0.Add(2*time.Hour), time.Hour))
	h.post(r, invite("Also before", t0.Add(5*time.Hour), time.Hour))
	_, stop := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	stop()
	require.NotEmpty(t, h.cursor(r).state)
	before := h.ops(r)

	s, stop := h.start(Tuning{})
	h.advance(s, 10*time.Minute, 10*time.Second)
	after := h.ops(r)
	assert.Greater(t, after["SyncFolderItems"], before["SyncFolderItems"], "the restarted syncer probes")
	assert.Equal(t, before["FindItem"], after["FindItem"], "no CalendarView after a restart with nothing changed")
	assert.Equal(t, before["GetItem"], after["GetItem"], "no item read again")
	stop()

	added := h.post(r, invite("While stopped", t0.Add(3*time.Hour), time.Hour))
	s, _ = h.start(Tuning{})
	h.waitFor("the change", func() bool { _, ok := h.events(r)[added]; return ok })
	h.settle(s)
	assert.Equal(t, before["FindItem"]+1, h.ops(r)["FindItem"], "one view for the change")
	assert.Equal(t, before["GetItem"]+1, h.ops(r)["GetItem"], "one GetItem, of the new item")
	assert.Len(t, h.events(r), 3)
}

// TestDailyWindowRoll: after midnight each room reads its new window (spread over 20
// minutes): the day that fell out goes, the day that came in arrives; before its turn a room
// only probes.
func TestDailyWindowRoll(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	yesterday := h.post(r, invite("Yesterday", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Hour))
	farAhead := h.post(r, invite("Nine days ahead", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	got := h.events(r)
	assert.Contains(t, got, yesterday)
	assert.NotContains(t, got, farAhead, "outside [yesterday, today+7]")

	// To 23:50: polls only probe.
	h.advance(s, 14*time.Hour+50*time.Minute, time.Minute)
	assert.Equal(t, 1, h.ops(r)["FindItem"], "no view while nothing changes")
	// To 00:30 on Tuesday: the room has rolled by then.
	h.advance(s, 40*time.Minute, time.Minute)
	got = h.events(r)
	assert.Contains(t, got, farAhead, "the new day came in")
	assert.NotContains(t, got, yesterday, "Sunday fell out of the window")
	assert.Equal(t, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), h.cursor(r).ws)
	assert.Equal(t, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), h.cursor(r).we)
	assert.Equal(t, 2, h.ops(r)["FindItem"], "one view a day")
	assert.Equal(t, store.RoomOK, h.room(r).Status)
}

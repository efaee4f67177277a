package process

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// TestAStartWritesNothingForRoomsNotYetSynced: the first pass over rooms that have neither
// synced nor stored anything resolves each and writes none (a transaction each on the store's
// one writer, for nothing); a room with events, or with meetings stored while its events are gone, is
// written, and those stale meetings go.
func TestAStartWritesNothingForRoomsNotYetSynced(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	rooms, refs, profiles := numberedRooms(t, 6)
	withEvent, stale := rooms[4], rooms[5]
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		// A round cut short stored an event (not synced yet).
		if err := stored.PutEvent(tx, withEvent, event("e-1", "Planning", "<p>Join: sip:4455@vmr.example.com</p>", now.Add(time.Hour)), nil); err != nil {
			return err
		}
		// Meetings resolved from events that are gone since.
		_, err := tx.ReplaceMeetings(stale, []store.MeetingRow{{ID: "old", Start: now, End: now.Add(time.Hour), Hash: "h", Data: []byte(`{}`)}}, nil)
		return err
	}))
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: profiles})
	p.resolve(t.Context(), rooms)

	assert.Equal(t, int64(len(rooms)), p.Passes(), "every room resolved")
	assert.Equal(t, int64(2), p.Writes(), "only the room with an event and the one with stale meetings written")
	ms, err := stored.Meetings(t.Context(), st, withEvent, time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.Len(t, ms, 1, "the room's meeting resolved")
	has, err := st.HasMeetings(t.Context(), stale)
	require.NoError(t, err)
	assert.False(t, has, "the stale meetings removed")

	// Once the rooms sync, each is written (the mark that tells the drivers it is known).
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		for _, r := range rooms {
			if err := tx.PutRoom(store.RoomState{Mailbox: r, Integration: "m365", Status: store.RoomOK, LastSuccess: now}); err != nil {
				return err
			}
		}
		return nil
	}))
	p.resolve(t.Context(), rooms)
	assert.Equal(t, int64(2+len(rooms)), p.Writes())
	for _, r := range rooms {
		known, _, err := st.RoomResolved(t.Context(), r)
		require.NoError(t, err)
		assert.True(t, known, r)
	}
}

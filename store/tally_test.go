package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTallyCountsWhatTheRowsSay: the overview's counts from the store are those of the rows:
// rooms by status, synced and stale to the millisecond, the newest sync, endpoints by state.
func TestTallyCountsWhatTheRowsSay(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := t.Context()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	staleBefore := now.Add(-30*time.Minute + 500*time.Microsecond) // not on a millisecond
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		require.NoError(t, tx.SyncRooms([]RoomRef{{Mailbox: "a@x"}, {Mailbox: "b@x"}, {Mailbox: "c@x"}, {Mailbox: "d@x"}, {Mailbox: "e@x"}}))
		set := func(m, status string, last time.Time) {
			rs, ok, err := tx.Room(m)
			require.NoError(t, err)
			require.True(t, ok)
			rs.Status, rs.LastSuccess = status, last
			require.NoError(t, tx.PutRoom(rs))
		}
		set("a@x", RoomOK, now.Add(-time.Minute))
		set("b@x", RoomOK, staleBefore.Truncate(time.Millisecond)) // before staleBefore by 0.5 ms: stale
		set("c@x", RoomThrottled, now.Add(-2*time.Hour))           // stale
		set("d@x", RoomThrottled, staleBefore.Add(time.Millisecond).Truncate(time.Millisecond))
		// e@x: pending, never synced
		require.NoError(t, tx.SyncEndpoints([]EndpointRef{{Name: "c1", Type: "cisco", Room: "a@x"}, {Name: "c2", Type: "cisco", Room: "b@x"}, {Name: "p1", Type: "poly", Room: "c@x"}}))
		for name, state := range map[string]string{"c1": EndpointUp, "c2": EndpointDown, "p1": EndpointUp} {
			e, _, err := tx.Endpoint(name)
			require.NoError(t, err)
			e.State = state
			require.NoError(t, tx.PutEndpoint(e))
		}
		return nil
	}))
	got, err := s.Tally(ctx, staleBefore)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{RoomOK: 2, RoomThrottled: 2, RoomPending: 1}, got.Rooms)
	assert.Equal(t, 5, got.RoomCount)
	assert.Equal(t, 4, got.Synced, "the pending room has not synced")
	assert.Equal(t, 2, got.Stale, "b (half a millisecond before the cut) and c")
	assert.Equal(t, now.Add(-time.Minute), got.Newest)
	assert.Equal(t, map[string]int{EndpointUp: 2, EndpointDown: 1}, got.Endpoints)

	empty, _ := openTemp(t, Options{})
	got, err = empty.Tally(ctx, staleBefore)
	require.NoError(t, err)
	assert.Zero(t, got.RoomCount)
	assert.True(t, got.Newest.IsZero())
}

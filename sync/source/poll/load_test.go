package poll

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

// TestLoadRoomsKeepsWhatIsStoredAndAddsNewRoomsPending: a restart reads the rooms' stored
// states, cursors and the day's count as they are; a room seen for the first time is written
// as pending (the page lists it before its first sync), and nothing stored is overwritten.
func TestLoadRoomsKeepsWhatIsStoredAndAddsNewRoomsPending(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "otj.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	day := time.Date(2026, 12, 6, 10, 0, 0, 0, time.Local)
	key := CounterKey("ews", "onprem", day)
	require.NoError(t, st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.PutRoom(store.RoomState{Mailbox: "a@x", Integration: "onprem", Status: store.RoomOK}); err != nil {
			return err
		}
		if err := tx.PutCursor("a@x", "onprem", "cursor-a"); err != nil {
			return err
		}
		_, err := tx.Add(key, 42)
		return err
	}))

	ld, err := LoadRooms(ctx, st, "ews syncer", "onprem", []string{"a@x", "b@x"}, key)
	require.NoError(t, err)
	assert.Equal(t, store.RoomOK, ld.Rooms["a@x"].Status, "a stored state is kept")
	assert.Equal(t, store.RoomPending, ld.Rooms["b@x"].Status, "a new room starts pending")
	assert.Equal(t, map[string]string{"a@x": "cursor-a"}, ld.Cursors)
	assert.EqualValues(t, 42, ld.Used)
	b, ok, err := st.Room(ctx, "b@x")
	require.NoError(t, err)
	require.True(t, ok, "the new room is written")
	assert.Equal(t, "onprem", b.Integration)
}

package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoomResolvedOnlyAfterASyncAndGoesWithTheRoom: the mark that lets drivers push a room's
// meetings needs a completed sync, is announced once, and is gone when the room is removed
// from the config (a room added again later starts unknown).
func TestRoomResolvedOnlyAfterASyncAndGoesWithTheRoom(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := t.Context()
	const room = "room-1@example.com"
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.SyncRooms([]RoomRef{{Mailbox: room, Integration: "m365"}}) }))
	sub := s.Subscribe(TopicMeetings)
	defer sub.Close()

	// Resolved before any sync: nothing is known yet.
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.MarkResolved(room, time.Time{}) }))
	ok, _, err := s.RoomResolved(ctx, room)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, sub.Take())

	synced := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.MarkResolved(room, synced) }))
	ok, at, err := s.RoomResolved(ctx, room)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, synced, at)
	assert.Equal(t, []string{room}, sub.Take(), "the first mark is announced")

	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.MarkResolved(room, synced.Add(time.Hour)) }))
	assert.Empty(t, sub.Take(), "later resolutions announce nothing new")
	_, at, err = s.RoomResolved(ctx, room)
	require.NoError(t, err)
	assert.Equal(t, synced, at, "the first sync is kept")

	// A mark for a room that is not configured is not kept.
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.MarkResolved("other@example.com", synced) }))
	ok, _, err = s.RoomResolved(ctx, "other@example.com")
	require.NoError(t, err)
	assert.False(t, ok)

	// Removed from the config, then added again: unknown until it syncs again.
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.SyncRooms(nil) }))
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.SyncRooms([]RoomRef{{Mailbox: room, Integration: "m365"}}) }))
	ok, _, err = s.RoomResolved(ctx, room)
	require.NoError(t, err)
	assert.False(t, ok)
}

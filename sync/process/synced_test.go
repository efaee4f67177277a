package process

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// TestARoomIsKnownOnceResolvedFromACompletedSync: the processor marks a room's meetings as
// known only after the room's calendar completed a sync, also when that sync changed no event
// (an empty room), and announces it, so the Cisco driver pushes then and never before.
func TestARoomIsKnownOnceResolvedFromACompletedSync(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}})
	}))
	meetings := st.Subscribe(store.TopicMeetings)
	defer meetings.Close()
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: map[string]*rules.Profile{room: compile(t)}})
	// Resolving before any sync leaves the room unknown.
	require.NoError(t, p.ResolveRoom(t.Context(), room))
	known, _, err := st.RoomResolved(t.Context(), room)
	require.NoError(t, err)
	assert.False(t, known, "no sync yet: the empty meetings list means nothing")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	// The first round completes with no event at all: only the room's state changes.
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return tx.PutRoom(store.RoomState{Mailbox: room, Integration: "m365", Status: store.RoomOK, LastSuccess: now})
	}))
	select {
	case <-meetings.C:
	case <-time.After(10 * time.Second):
		t.Fatal("the room's first sync was not announced to the drivers")
	}
	assert.Equal(t, []string{room}, meetings.Take())
	known, syncedAt, err := st.RoomResolved(t.Context(), room)
	require.NoError(t, err)
	assert.True(t, known)
	assert.Equal(t, now, syncedAt)
}

package process

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// TestObserveIsGivenTheEventsOfEachResolve: once a room's meetings are written, Observe gets
// the room's state and the events the processor decoded (the agent diagnoses the room from
// them, so nothing decodes them again); a skipped resolve decoded nothing and reports nothing.
func TestObserveIsGivenTheEventsOfEachResolve(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}); err != nil {
			return err
		}
		return stored.PutEvent(tx, room, event("e-1", "Planning", "<p>Agenda</p>", now.Add(time.Hour)), nil)
	}))
	type seen struct {
		state    store.RoomState
		subjects []string
		meetings int
	}
	var got []seen
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: map[string]*rules.Profile{room: compile(t)},
		Observe: func(ctx context.Context, state store.RoomState, events []calendar.Event) {
			ms, err := stored.Meetings(ctx, st, room, time.Time{}, time.Time{})
			require.NoError(t, err)
			s := seen{state: state, meetings: len(ms)}
			for _, ev := range events {
				s.subjects = append(s.subjects, ev.Subject)
			}
			got = append(got, s)
		}})

	require.NoError(t, p.ResolveRoom(t.Context(), room))
	require.Len(t, got, 1)
	assert.Equal(t, room, got[0].state.Mailbox)
	assert.Equal(t, "m365", got[0].state.Integration)
	assert.Equal(t, []string{"Planning"}, got[0].subjects)
	assert.Equal(t, 1, got[0].meetings, "after the meetings are written")

	require.NoError(t, p.ResolveRoom(t.Context(), room))
	assert.Len(t, got, 1, "a skipped resolve")

	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return stored.PutEvent(tx, room, event("e-2", "Retro", "<p>Notes</p>", now.Add(2*time.Hour)), nil)
	}))
	require.NoError(t, p.ResolveRoom(t.Context(), room))
	require.Len(t, got, 2)
	assert.ElementsMatch(t, []string{"Planning", "Retro"}, got[1].subjects)
}

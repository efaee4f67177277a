package exchange

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Save keeps a room's findings in the store: written with an event per new flag when they
// change, left alone (no write, no event) when they do not, and cleared for a room whose
// source reads no Exchange mailbox. A source's own writes of the room's sync state leave them.
func TestSaveKeepsTheFindingsAndSaysWhatIsNew(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	const room = "room@contoso.example"
	require.NoError(t, st.Write(ctx, func(tx *store.Tx) error {
		return tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "onprem"}})
	}))
	state := func() store.RoomState {
		s, ok, err := st.Room(ctx, room)
		require.NoError(t, err)
		require.True(t, ok)
		return s
	}
	diagnosisEvents := func() []store.LoggedEvent {
		evs, err := st.RecentEvents(ctx, 100)
		require.NoError(t, err)
		var out []store.LoggedEvent
		for _, ev := range evs {
			if ev.Kind == EventDiagnosis {
				out = append(out, ev)
			}
		}
		return out
	}
	organizerSubjects := meetings(10, func(_ int, ev *calendar.Event) { ev.Subject = ev.OrganizerName() })

	wrote, err := Save(ctx, st, state(), true, organizerSubjects)
	require.NoError(t, err)
	assert.True(t, wrote)
	assert.Equal(t, []string{FlagAddOrganizerToSubject}, flagsOf(state().Diagnosis))
	evs := diagnosisEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, room, evs[0].Room)
	assert.Equal(t, "onprem", evs[0].Data["integration"])
	assert.Equal(t, FlagAddOrganizerToSubject, evs[0].Data["flag"])

	wrote, err = Save(ctx, st, state(), true, organizerSubjects)
	require.NoError(t, err)
	assert.False(t, wrote, "the same findings: nothing to write")
	// A stale copy of the state (read before the first save) does not write them twice.
	wrote, err = Save(ctx, st, store.RoomState{Mailbox: room}, true, organizerSubjects)
	require.NoError(t, err)
	assert.False(t, wrote)
	assert.Len(t, diagnosisEvents(), 1)

	// A source writing the room's sync state from its own copy keeps the findings.
	s := state()
	s.Diagnosis, s.Status = nil, store.RoomOK
	require.NoError(t, st.Write(ctx, func(tx *store.Tx) error { return tx.PutSyncState(s) }))
	assert.Equal(t, []string{FlagAddOrganizerToSubject}, flagsOf(state().Diagnosis))
	assert.Equal(t, store.RoomOK, state().Status)

	// Bodies stripped too: one more flag, one more event.
	stripped := meetings(10, func(_ int, ev *calendar.Event) { ev.Subject, ev.Body = ev.OrganizerName(), nil })
	_, err = Save(ctx, st, state(), true, stripped)
	require.NoError(t, err)
	assert.Equal(t, []string{FlagAddOrganizerToSubject, FlagDeleteComments}, flagsOf(state().Diagnosis))
	assert.Len(t, diagnosisEvents(), 2)

	// The room moves to a source that reads no Exchange mailbox: no findings, no event.
	wrote, err = Save(ctx, st, state(), false, stripped)
	require.NoError(t, err)
	assert.True(t, wrote)
	assert.Empty(t, state().Diagnosis)
	assert.Len(t, diagnosisEvents(), 2)

	// A room the store does not hold is not added.
	wrote, err = Save(ctx, st, store.RoomState{Mailbox: "gone@contoso.example"}, true, stripped)
	require.NoError(t, err)
	assert.False(t, wrote)
	_, ok, err := st.Room(ctx, "gone@contoso.example")
	require.NoError(t, err)
	assert.False(t, ok)
}

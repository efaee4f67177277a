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

// TestResolvesThatCannotChangeTheMeetingsAreSkipped: the processor decodes and resolves a room
// again only when what its meetings depend on changed (events, profile, first completed sync,
// an event crossing the upcoming_days edge); a notice that changed none of these (a round that
// rewrote the same events, a status change of a room not yet synced, the hourly tick, a config
// reload with the same profile) costs no decode and no write, and the meetings stay right.
func TestResolvesThatCannotChangeTheMeetingsAreSkipped(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	prof := compile(t)
	soon := event("e-soon", "Planning", "<p>Agenda</p>", now.Add(time.Hour))
	// Starts 30 minutes after the 7-day window's edge: shown once the clock moved an hour.
	late := event("e-late", "Retro", "<p>Agenda</p>", now.Add(7*24*time.Hour+30*time.Minute))
	put := func(evs ...calendar.Event) {
		require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
			for _, ev := range evs {
				if err := stored.PutEvent(tx, room, ev, nil); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	putRoom := func(rs store.RoomState) {
		rs.Mailbox, rs.Integration = room, "m365"
		require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error { return tx.PutRoom(rs) }))
	}
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}})
	}))
	put(soon, late)
	p := New(Options{Store: st, Clock: clk, Rooms: map[string]*rules.Profile{room: prof}})
	meetings := st.Subscribe(store.TopicMeetings)
	defer meetings.Close()
	subjects := func() []string {
		ms, err := stored.Meetings(t.Context(), st, room, time.Time{}, time.Time{})
		require.NoError(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.Subject)
		}
		return out
	}
	// step resolves the room as a notice would and reports whether it was decoded and resolved
	// (not skipped) and whether its meetings were announced.
	step := func() (resolved, announced bool) {
		t.Helper()
		passes, skipped := p.Passes(), p.Skipped()
		meetings.Take()
		require.NoError(t, p.ResolveRoom(t.Context(), room))
		require.Equal(t, passes+1, p.Passes())
		return p.Skipped() == skipped, len(meetings.Take()) > 0
	}

	resolved, announced := step()
	assert.True(t, resolved, "the first resolve")
	assert.True(t, announced)
	assert.Equal(t, []string{"Planning"}, subjects())

	resolved, _ = step()
	assert.False(t, resolved, "nothing changed")

	put(soon, late) // a round that wrote the same events again
	resolved, _ = step()
	assert.False(t, resolved, "the same events rewritten")

	putRoom(store.RoomState{Status: store.RoomThrottled, StatusDetail: "429"}) // not synced yet
	resolved, _ = step()
	assert.False(t, resolved, "a status change of a room that has not synced")

	putRoom(store.RoomState{Status: store.RoomOK, LastSuccess: now}) // the first completed sync
	resolved, announced = step()
	assert.True(t, resolved, "the first completed sync marks the room")
	assert.True(t, announced, "the mark announces the room's meetings")
	ok, _, err := st.RoomResolved(t.Context(), room)
	require.NoError(t, err)
	assert.True(t, ok)

	putRoom(store.RoomState{Status: store.RoomOK, LastSuccess: now, Diagnosis: []store.Finding{{Flag: "delete_comments"}}})
	resolved, _ = step()
	assert.False(t, resolved, "a diagnosis written to the room's state")

	edited := soon
	edited.Subject = "Planning (moved)"
	put(edited)
	resolved, announced = step()
	assert.True(t, resolved, "an edit")
	assert.True(t, announced)
	assert.Equal(t, []string{"Planning (moved)"}, subjects())

	clk.Advance(10 * time.Minute) // the window moved, but no event crossed its edge
	resolved, _ = step()
	assert.False(t, resolved, "ten minutes later, nothing entered the window")

	clk.Advance(50 * time.Minute) // the late meeting is inside the window now
	resolved, announced = step()
	assert.True(t, resolved, "an event entered the upcoming_days window")
	assert.True(t, announced)
	assert.Equal(t, []string{"Planning (moved)", "Retro"}, subjects())

	p.SetRooms(map[string]*rules.Profile{room: prof}) // a reload that kept the profile
	resolved, _ = step()
	assert.False(t, resolved, "the same profile")

	other := compile(t, rules.Spec{Name: "zoom", Type: rules.TypeZoom, Priority: 10})
	p.SetRooms(map[string]*rules.Profile{room: other}) // a reload with another profile
	resolved, _ = step()
	assert.True(t, resolved, "a new profile")

	p.SetRooms(map[string]*rules.Profile{}) // the room leaves the config ...
	p.SetRooms(map[string]*rules.Profile{room: other})
	resolved, _ = step()
	assert.True(t, resolved, "... and comes back: resolved afresh")
}

// TestAPollThatChangedNothingDoesNotResolveAgain: in the running processor, notices that change
// nothing the meetings depend on (the same events written again, a diagnosis saved to the
// room's state) resolve no room: counted, with an edit as the control.
func TestAPollThatChangedNothingDoesNotResolveAgain(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ev := event("e-1", "Planning", "<p>Agenda</p>", now.Add(time.Hour))
	round := func(ev calendar.Event, diag []store.Finding) {
		require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
			if err := stored.PutEvent(tx, room, ev, nil); err != nil {
				return err
			}
			return tx.PutRoom(store.RoomState{Mailbox: room, Integration: "m365", Status: store.RoomOK, LastSuccess: now, Diagnosis: diag})
		}))
	}
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}})
	}))
	round(ev, nil)
	meetings := st.Subscribe(store.TopicMeetings)
	defer meetings.Close()
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: map[string]*rules.Profile{room: compile(t)}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	assert.Equal(t, "Planning", waitMeetings(t, st, meetings)[0].Subject)

	for i := range 5 {
		round(ev, []store.Finding{{Flag: "delete_comments", Detail: string(rune('a' + i))}})
	}
	ev.Subject = "Planning (moved)" // the control: an edit, which is announced once resolved
	round(ev, nil)
	assert.Equal(t, "Planning (moved)", waitMeetings(t, st, meetings)[0].Subject)
	// Decoded, not Passes − Skipped: a pass taking the edit's own notice may still be
	// deciding (counted in Passes, not yet in Skipped) when the announcement arrives.
	assert.Equal(t, int64(2), p.Decoded(), "the first resolve and the edit's; %d passes, %d skipped", p.Passes(), p.Skipped())
}

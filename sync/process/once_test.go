package process

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// TestARoundResolvesEachRoomOnce: a sync round writes a room's events and its sync state in one
// transaction; the processor resolves the room once for it, not once per notice (each pass
// re-reads and decodes every event of the room: at a cold start that was twice the work).
func TestARoundResolvesEachRoomOnce(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const batches, perBatch = 4, 10
	sentinel := "zz-sentinel@contoso.example" // sorts last: the first pass over every room ends with it
	refs := []store.RoomRef{{Mailbox: sentinel, Integration: "m365"}}
	profiles := map[string]*rules.Profile{sentinel: compile(t)}
	for i := range batches * perBatch {
		r := fmt.Sprintf("room-%02d@contoso.example", i)
		refs = append(refs, store.RoomRef{Mailbox: r, Integration: "m365"})
		profiles[r] = profiles[sentinel]
	}
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error { return tx.SyncRooms(refs) }))
	meetings := st.Subscribe(store.TopicMeetings)
	defer meetings.Close()
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: profiles})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	// round writes one room's sync round: an event and its sync state, in one transaction.
	round := func(rooms []string, subject string) {
		require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
			for _, r := range rooms {
				if err := stored.PutEvent(tx, r, event("e-"+r, subject, "<p>Agenda</p>", now.Add(time.Hour)), nil); err != nil {
					return err
				}
				if err := tx.PutRoom(store.RoomState{Mailbox: r, Integration: "m365", Status: store.RoomOK, LastSuccess: now}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	// waitAnnounced waits until every room's meetings were announced (first resolve from a sync).
	waitAnnounced := func(rooms []string) {
		want := map[string]bool{}
		for _, r := range rooms {
			want[r] = true
		}
		deadline := time.After(10 * time.Second)
		for len(want) > 0 {
			select {
			case <-meetings.C:
			case <-deadline:
				t.Fatalf("rooms never resolved: %v", want)
			}
			for _, r := range meetings.Take() {
				delete(want, r)
			}
		}
	}
	// The sentinel's resolve from a notice is a barrier: the processor has taken every notice
	// written before it. (Its first round may land during the processor's first pass over
	// every room, whose resolve of it is then not from the notice: hence a second round.)
	for i := range 2 {
		round([]string{sentinel}, fmt.Sprintf("Sentinel start %d", i))
		waitAnnounced([]string{sentinel})
	}
	for b := range batches {
		before := p.Passes()
		var rooms []string
		for i := range perBatch {
			rooms = append(rooms, fmt.Sprintf("room-%02d@contoso.example", b*perBatch+i))
		}
		round(rooms, "Planning")
		waitAnnounced(rooms)
		round([]string{sentinel}, fmt.Sprintf("Sentinel %d", b+1)) // changes its meeting: announced
		waitAnnounced([]string{sentinel})
		assert.Equal(t, int64(perBatch+1), p.Passes()-before, "batch %d: one pass per room and one for the sentinel", b)
	}
}

// TestAPassResolvesManyRoomsAndReportsTheOnesThatFail: a pass over many rooms (a cold start's
// backlog, resolved several at a time) resolves every room it can, and the processor's health
// names how many could not be resolved and why.
func TestAPassResolvesManyRoomsAndReportsTheOnesThatFail(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	rooms, refs, profiles := numberedRooms(t, 12)
	bad := rooms[7]
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		for _, r := range rooms {
			if r == bad { // a row whose JSON cannot be read
				if err := tx.PutEvent(r, store.EventRow{ID: "x", Type: "singleInstance", Start: now, End: now.Add(time.Hour), Data: []byte("{not json")}); err != nil {
					return err
				}
				continue
			}
			if err := stored.PutEvent(tx, r, event("e-"+r, "Planning "+r, "<p>Join: sip:4455@vmr.example.com</p>", now.Add(time.Hour)), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	hl := health.New(func() time.Time { return now })
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: profiles, Health: hl})
	p.resolve(t.Context(), rooms)

	assert.Equal(t, int64(len(rooms)), p.Passes())
	for _, r := range rooms {
		ms, err := stored.Meetings(t.Context(), st, r, time.Time{}, time.Time{})
		require.NoError(t, err)
		if r == bad {
			assert.Empty(t, ms)
			continue
		}
		require.Len(t, ms, 1, r)
		assert.Equal(t, "Planning "+r, ms[0].Subject)
	}
	problems := hl.Problems()
	require.Len(t, problems, 1)
	assert.Contains(t, problems[0].Message, "1 room(s) could not be resolved: resolve "+bad)
}

package process

import (
	"fmt"
	"path/filepath"
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

const room = "room-1@contoso.example"

func event(id, subject, body string, start time.Time) calendar.Event {
	return calendar.Event{
		ID: id, ICalUID: "uid-" + id, Type: calendar.TypeSingleInstance, Subject: subject,
		Body:  &calendar.ItemBody{ContentType: "html", Content: body},
		Start: calendar.FromTime(start), End: calendar.FromTime(start.Add(30 * time.Minute)),
		Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Ada Lovelace", Address: "ada@contoso.example"}},
		ShowAs:    "busy",
	}
}

func compile(t *testing.T, specs ...rules.Spec) *rules.Profile {
	t.Helper()
	p, err := rules.Compile(rules.Settings{}.WithDefaults(), specs)
	require.NoError(t, err)
	return p
}

// waitMeetings waits for the processor to announce a room's meetings and returns them.
func waitMeetings(t *testing.T, st *store.Store, sub *store.Sub) []calendar.Meeting {
	t.Helper()
	select {
	case <-sub.C:
	case <-time.After(10 * time.Second):
		t.Fatal("no meetings written")
	}
	assert.Equal(t, []string{room}, sub.Take())
	ms, err := stored.Meetings(t.Context(), st, room, time.Time{}, time.Time{})
	require.NoError(t, err)
	return ms
}

func TestProcessorResolvesOnChangesReloadAndClock(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}); err != nil {
			return err
		}
		return stored.PutEvent(tx, room, event("e1", "Vendor call", `<p>Join: sip:4455@vmr.example.com</p>`, now.Add(time.Hour)), nil)
	}))
	meetings := st.Subscribe(store.TopicMeetings)
	defer meetings.Close()

	p := New(Options{Store: st, Clock: clk, Rooms: map[string]*rules.Profile{room: compile(t)}})
	done := make(chan error, 1)
	go func() { done <- p.Run(t.Context()) }()

	ms := waitMeetings(t, st, meetings)
	require.Len(t, ms, 1)
	assert.Equal(t, "4455@vmr.example.com", ms[0].Number, "the fallback finds the SIP address")
	assert.True(t, ms[0].Join)

	// An edit in the raw events is resolved again.
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return stored.PutEvent(tx, room, event("e1", "Vendor call", `<p>Join: https://zoom.us/j/81234567890?pwd=abc</p>`, now.Add(time.Hour)), nil)
	}))
	ms = waitMeetings(t, st, meetings)
	require.Len(t, ms, 1)
	assert.False(t, ms[0].Join, "no zoom rule in this profile, no SIP address")

	// A reload with a Zoom rule resolves every room with the new profile.
	p.SetRooms(map[string]*rules.Profile{room: compile(t, rules.Spec{Name: "zoom", Type: rules.TypeZoom, Priority: 10})})
	ms = waitMeetings(t, st, meetings)
	require.Len(t, ms, 1)
	assert.Equal(t, "81234567890@zoomcrc.com", ms[0].Number)
	assert.Equal(t, "zoom", ms[0].Rule)

	// The hourly pass runs on the clock; with nothing changed it writes nothing.
	before := p.Passes()
	rearmed := clk.TimerCreated() // the pass re-arms its timer when done
	clk.Advance(time.Hour)
	<-rearmed
	assert.Greater(t, p.Passes(), before)
	select {
	case <-meetings.C:
		t.Fatal("an unchanged room must not be announced")
	default:
	}
}

// openStore opens a new store for a test; it is closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// numberedRooms names n rooms of the m365 integration (room-00@contoso.example, …), their refs
// for SyncRooms and a profile each.
func numberedRooms(t *testing.T, n int) ([]string, []store.RoomRef, map[string]*rules.Profile) {
	t.Helper()
	var rooms []string
	var refs []store.RoomRef
	profiles := map[string]*rules.Profile{}
	for i := range n {
		r := fmt.Sprintf("room-%02d@contoso.example", i)
		rooms = append(rooms, r)
		refs = append(refs, store.RoomRef{Mailbox: r, Integration: "m365"})
		profiles[r] = compile(t)
	}
	return rooms, refs, profiles
}

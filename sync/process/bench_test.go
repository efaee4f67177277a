package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// BenchmarkFirstPass measures the processor's first pass at a cold start: 1,000 configured rooms
// that have not synced yet (no events, no meetings).
func BenchmarkFirstPass(b *testing.B) {
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	prof, err := rules.Compile(rules.Settings{}.WithDefaults(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var rooms []string
	var refs []store.RoomRef
	profiles := map[string]*rules.Profile{}
	for i := range 1000 {
		r := fmt.Sprintf("room-%04d@contoso.example", i)
		rooms = append(rooms, r)
		refs = append(refs, store.RoomRef{Mailbox: r, Integration: "m365"})
		profiles[r] = prof
	}
	if err := st.Write(b.Context(), func(tx *store.Tx) error { return tx.SyncRooms(refs) }); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// A new processor each time: one that resolved these rooms before finds them unchanged.
		p := New(Options{Store: st, Clock: clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), Rooms: profiles})
		p.resolve(b.Context(), rooms)
	}
}

// BenchmarkHourlyPass measures the hourly pass over 100 resolved rooms of 40 invites in which
// nothing changed and no meeting entered the upcoming_days window: nothing is decoded or
// written.
func BenchmarkHourlyPass(b *testing.B) {
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	profiles := map[string]*rules.Profile{}
	var rooms []string
	for i := range 100 {
		r := fmt.Sprintf("room-%04d@contoso.example", i)
		maps.Copy(profiles, roomOfInvites(b, st, r, now))
		rooms = append(rooms, r)
	}
	clk := clock.NewFake(now)
	p := New(Options{Store: st, Clock: clk, Rooms: profiles})
	p.resolve(b.Context(), rooms)
	for b.Loop() {
		clk.Advance(time.Hour)
		p.resolve(b.Context(), rooms)
	}
}

// roomOfInvites stores 40 Teams-like invites (an HTML body of ~3 KB each, attendees,
// locations) for room, synced, as Graph's JSON (HTML not escaped), and returns the profile
// map for it.
func roomOfInvites(b *testing.B, st *store.Store, room string, now time.Time) map[string]*rules.Profile {
	prof, err := rules.Compile(rules.Settings{}.WithDefaults(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Added to the rooms configured already (SyncRooms removes the rooms not listed).
	have, err := st.Rooms(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	refs := []store.RoomRef{{Mailbox: room, Integration: "m365"}}
	for _, r := range have {
		refs = append(refs, store.RoomRef{Mailbox: r.Mailbox, Integration: r.Integration})
	}
	body := `<html><head><style>.x{color:#242424}</style></head><body><div>Quarterly review.</div>` +
		strings.Repeat(`<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F">________________</span></div>`, 12) +
		`<div><a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_Y2geCiwcEX5bSDmXyGJFm2NvKVxiyxd6udXzXVkqkFDuj2pS%40thread.v2/0?context=%7b%22Tid%22%3a%228f2c%22%7d">Join the meeting now</a></div>` +
		`<div>Meeting ID: 540 277 441 538</div><div>Passcode: CdLmQVn5</div></body></html>`
	err = st.Write(b.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		for i := range 40 {
			ev := event(fmt.Sprintf("AAMkAGLN5XMLDiUMvOEgPs4f-%04d", i), fmt.Sprintf("Quarterly review %d", i), body, now.Add(time.Duration(i)*4*time.Hour))
			ev.BodyPreview = "Quarterly review. ________ Microsoft Teams Need help? Join the meeting now Meeting ID: 540 277 441 538"
			ev.Attendees = []calendar.Attendee{
				{Type: "required", EmailAddress: calendar.EmailAddress{Name: "Wen Andersen", Address: "wen.andersen@contoso.example"}},
				{Type: "resource", EmailAddress: calendar.EmailAddress{Name: "Room", Address: room}, Status: &calendar.ResponseStatus{Response: "accepted"}}}
			ev.Locations = []calendar.Location{{DisplayName: "Microsoft Teams Meeting"}, {DisplayName: "Room", LocationEmailAddress: room, LocationType: "conferenceRoom"}}
			ev.IsOnlineMeeting, ev.OnlineMeetingProvider = true, "teamsForBusiness"
			ev.OnlineMeeting = &calendar.OnlineMeetingInfo{JoinURL: "https://teams.microsoft.com/l/meetup-join/19%3ameeting_Y2geCiwcEX5bSDmXyGJFm2NvKVxiyxd6udXzXVkqkFDuj2pS%40thread.v2/0"}
			ev.ResponseStatus = &calendar.ResponseStatus{Response: "accepted"}
			buf.Reset()
			if err := enc.Encode(ev); err != nil {
				return err
			}
			if err := stored.PutEvent(tx, room, ev, bytes.TrimSpace(buf.Bytes())); err != nil {
				return err
			}
		}
		return tx.PutRoom(store.RoomState{Mailbox: room, Integration: "m365", Status: store.RoomOK, LastSuccess: now})
	})
	if err != nil {
		b.Fatal(err)
	}
	return map[string]*rules.Profile{room: prof}
}

// BenchmarkResolveUnchanged measures a resolve of a synced room of 40 invites whose events,
// profile and window did not change since its last resolve (a notice that changed nothing).
func BenchmarkResolveUnchanged(b *testing.B) {
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: roomOfInvites(b, st, room, now)})
	for b.Loop() {
		if err := p.ResolveRoom(b.Context(), room); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveEdited measures an edit of one of a synced room's 40 invites (its write
// included) and the room's resolve after it: the work a changed poll costs the processor.
func BenchmarkResolveEdited(b *testing.B) {
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: roomOfInvites(b, st, room, now)})
	for i := 0; b.Loop(); i++ {
		err := st.Write(b.Context(), func(tx *store.Tx) error {
			return stored.PutEvent(tx, room, event("AAMkAGLN5XMLDiUMvOEgPs4f-0001", fmt.Sprintf("Edited %d", i), "<p>Agenda</p>", now.Add(4*time.Hour)), nil)
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.ResolveRoom(b.Context(), room); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstResolve measures a room's resolve after its first sync (a cold start's, once
// per room): 40 invites read and decoded, resolved and written as 40 new meetings. The sync's
// own write is not timed.
func BenchmarkFirstResolve(b *testing.B) {
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	p := New(Options{Store: st, Clock: clock.NewFake(now), Rooms: map[string]*rules.Profile{}})
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		r := fmt.Sprintf("room-%06d@contoso.example", i)
		profiles := roomOfInvites(b, st, r, now)
		p.mu.Lock()
		p.rooms[r] = profiles[r]
		p.mu.Unlock()
		b.StartTimer()
		if err := p.ResolveRoom(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

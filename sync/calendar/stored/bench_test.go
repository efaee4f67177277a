package stored

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// BenchmarkReplaceMeetings measures the processor's write for one room with 40 meetings, one
// of which changed (the common case after a sync round).
func BenchmarkReplaceMeetings(b *testing.B) {
	s, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "b.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	room := "room-1@example.com"
	if err := s.Write(b.Context(), func(tx *store.Tx) error { return tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}) }); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	ms := make([]calendar.Meeting, 40)
	for i := range ms {
		ms[i] = calendar.Meeting{ID: fmt.Sprintf("m%d", i), Start: start.Add(time.Duration(i) * time.Hour),
			End: start.Add(time.Duration(i)*time.Hour + 30*time.Minute), Subject: "Weekly sync", Join: true,
			Number: "81234567890@zoomcrc.com", Protocol: "SIP", Platform: "Zoom", Rule: "zoom"}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ms[i%40].Subject = fmt.Sprintf("Weekly sync %d", i)
		if err := s.Write(b.Context(), func(tx *store.Tx) error { _, err := ReplaceMeetings(tx, room, ms); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

// teamsBody is a Teams invite's HTML body as Graph sends it (about 3 KB: most of an event's JSON).
var teamsBody = `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style>.me-email-text{color:#242424}</style></head><body><div><div>Hi all, let's use this slot for the quarterly review.</div>` +
	strings.Repeat(`<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">________________________________________</span></div>`, 4) +
	`<div class="me-email-text" lang="en-US" style="color:#242424;font-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif"><div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">Microsoft Teams</span> <a href="https://aka.ms/JoinTeamsMeeting?omkt=en-US" class="me-email-link">Need help?</a></div>` +
	`<div style="margin-bottom:20px"><a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_Y2geCiwcEX5bSDmXyGJFm2NvKVxiyxd6udXzXVkqkFDuj2pS%40thread.v2/0?context=%7b%22Tid%22%3a%228f2c6a1e-4b7d-4e59-9c3a-1d2e3f405162%22%2c%22Oid%22%3a%225b5bd9f7-ac8d-4481-a9c8-a81c61a46021%22%7d" class="me-email-headline" title="Meeting join link" style="font-size:20px;font-weight:600;color:#5B5FC7">Join the meeting now</a></div>` +
	`<div><span class="me-email-text-secondary">Meeting ID: </span><span class="me-email-text">540 277 441 538</span></div><div><span class="me-email-text-secondary">Passcode: </span><span class="me-email-text">CdLmQVn5</span></div>` +
	`<div><a href="tel:+15555550100,,657898034#" class="me-email-link">+1 555-555-0100,,657898034#</a> United States, Seattle</div><div><span class="me-email-text-secondary">Phone conference ID: </span><span class="me-email-text">657 898 034#</span></div>` +
	`<div style="margin-top:24px"><span class="me-email-text-secondary">For organizers: </span><a href="https://teams.microsoft.com/meetingOptions/?organizerId=3e71a77c-6911-4305-af9d-29de95050504" class="me-email-link">Meeting options</a> | <a href="https://dialin.teams.microsoft.com/usp/pstnconferencing" class="me-email-link">Reset dial-in PIN</a></div></div></div></body></html>`

// putRoomOfInvites stores 40 Teams invites for room, as the Graph source does (Graph's JSON,
// HTML as is), and returns the bytes stored.
func putRoomOfInvites(b *testing.B, s *store.Store, room string) int {
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	n := 0
	err := s.Write(b.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}); err != nil {
			return err
		}
		for i := range 40 {
			at := start.Add(time.Duration(i) * 4 * time.Hour)
			ev := calendar.Event{ID: fmt.Sprintf("AAMkAGLN5XMLDiUMvOEgPs4f-%04d", i), Type: calendar.TypeSingleInstance,
				ICalUID: fmt.Sprintf("040000008200E00074C5B7101A82E0089E2316C4DE85EE14DC0C9382E9D0%04d", i), ChangeKey: "DwAAABYAAAAkENB+twGtbY0duxl",
				LastModified: "2026-12-06T08:45:55.4425519Z", Subject: fmt.Sprintf("Quarterly review %d", i),
				BodyPreview: "Hi all, let's use this slot for the quarterly review. ________ Microsoft Teams Need help? Join the meeting now Meeting ID: 540 277 441 538",
				Body:        &calendar.ItemBody{ContentType: "html", Content: teamsBody},
				Start:       calendar.FromTime(at), End: calendar.FromTime(at.Add(time.Hour)), ShowAs: "busy", Sensitivity: "normal",
				Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Priya García", Address: "priya.garcia@contoso.example"}},
				Attendees: []calendar.Attendee{
					{Type: "required", EmailAddress: calendar.EmailAddress{Name: "Wen Andersen", Address: "wen.andersen@contoso.example"}},
					{Type: "resource", EmailAddress: calendar.EmailAddress{Name: "Room", Address: room}, Status: &calendar.ResponseStatus{Response: "accepted"}}},
				Location:        &calendar.Location{DisplayName: "Microsoft Teams Meeting; Room", LocationType: "default"},
				Locations:       []calendar.Location{{DisplayName: "Microsoft Teams Meeting"}, {DisplayName: "Room", LocationEmailAddress: room, LocationType: "conferenceRoom"}},
				IsOnlineMeeting: true, OnlineMeetingProvider: "teamsForBusiness",
				OnlineMeeting:  &calendar.OnlineMeetingInfo{JoinURL: "https://teams.microsoft.com/l/meetup-join/19%3ameeting_Y2geCiwcEX5bSDmXyGJFm2NvKVxiyxd6udXzXVkqkFDuj2pS%40thread.v2/0"},
				ResponseStatus: &calendar.ResponseStatus{Response: "accepted"}}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(ev); err != nil {
				return err
			}
			n += buf.Len()
			if err := PutEvent(tx, room, ev, bytes.TrimSpace(buf.Bytes())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkEvents measures reading and decoding a room of 40 Teams invites (~150 KB of JSON),
// which the processor and the diagnosis each do after a room's calendar changed.
func BenchmarkEvents(b *testing.B) {
	s, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "b.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	room := "room-1@contoso.example"
	b.SetBytes(int64(putRoomOfInvites(b, s, room)))
	for b.Loop() {
		evs, err := Events(b.Context(), s, room)
		if err != nil || len(evs) != 40 {
			b.Fatal(len(evs), err)
		}
	}
}

// BenchmarkPutEvents measures storing a room's first sync: 40 Teams invites in one transaction.
func BenchmarkPutEvents(b *testing.B) {
	s, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "b.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; b.Loop(); i++ {
		b.SetBytes(int64(putRoomOfInvites(b, s, fmt.Sprintf("room-%d@contoso.example", i%1000))))
	}
}

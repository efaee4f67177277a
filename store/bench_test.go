package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkEmit measures recording one event (event log + outbox) in its own transaction.
func BenchmarkEmit(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "b.db"), Options{Outbox: OutboxLimits{MaxMessages: 100000, MaxBytes: 64 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if err := s.Write(b.Context(), func(tx *Tx) error {
			return tx.Emit(Event{Kind: "push.ok", Endpoint: "codec-1", Message: "pushed 12 bookings"})
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAgendas measures the status API's summary of every room's day: 200 rooms with 40
// meetings each over a week, at noon.
func BenchmarkAgendas(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "b.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var refs []RoomRef
	for i := range 200 {
		refs = append(refs, RoomRef{Mailbox: fmt.Sprintf("room-%03d@contoso.example", i), Integration: "m365"})
	}
	data := []byte(`{"subject":"` + strings.Repeat("x", 600) + `"}`)
	err = s.Write(b.Context(), func(tx *Tx) error {
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		for _, r := range refs {
			var ms []MeetingRow
			for j := range 40 {
				start := day.Add(time.Duration(j) * 4 * time.Hour)
				ms = append(ms, MeetingRow{ID: fmt.Sprintf("m%d", j), Start: start, End: start.Add(time.Hour), Hash: "h", Data: data})
			}
			if _, err := tx.ReplaceMeetings(r.Mailbox, ms, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ags, err := s.Agendas(b.Context(), day, day.Add(24*time.Hour), day.Add(12*time.Hour+30*time.Minute))
		if err != nil || len(ags) != 200 || ags["room-000@contoso.example"].Current == nil {
			b.Fatal(len(ags), err)
		}
	}
}

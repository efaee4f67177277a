package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// BenchmarkReplaceMeetings measures the processor's write for one room with 40 meetings, one
// of which changed (the common case after a sync round).
func BenchmarkReplaceMeetings(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "b.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	room := "room-1@example.com"
	if err := s.Write(b.Context(), func(tx *Tx) error { return tx.SyncRooms([]RoomRef{{room, "m365"}}) }); err != nil {
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
		if err := s.Write(b.Context(), func(tx *Tx) error { _, err := tx.ReplaceMeetings(room, ms); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

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

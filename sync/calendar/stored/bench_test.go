package stored

import (
	"fmt"
	"path/filepath"
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

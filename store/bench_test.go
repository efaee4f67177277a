package store

import (
	"path/filepath"
	"testing"
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

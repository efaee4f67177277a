package process

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
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
	p := New(Options{Store: st, Clock: clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), Rooms: profiles})
	for b.Loop() {
		p.resolve(b.Context(), rooms)
	}
}

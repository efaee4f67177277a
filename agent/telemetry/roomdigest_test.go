package telemetry

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/store"
)

// heapAfterGC is the live heap once the collector has run.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// After the rooms are published, what telemetry keeps to tell a changed room from an unchanged
// one is a small record per room, not the room's document: 1,000 rooms with 4 KB of findings
// each (4 MB of content) leave under 2 MB behind (5.4 MB when the documents were kept). The whole documents stayed for as long
// as the agent ran (~3 MB at the bench's 1,000 rooms).
func TestRoomChangeDetectionKeepsABoundedRecordPerRoom(t *testing.T) {
	const rooms, detail = 1000, 4 << 10
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	ctx := context.Background()
	refs := make([]store.RoomRef, rooms)
	for i := range refs {
		refs[i] = store.RoomRef{Mailbox: fmt.Sprintf("room-%04d@example.com", i), Integration: "m365"}
	}
	require.NoError(t, s.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		for i, r := range refs {
			// Each room's content differs, so none could share a string with another.
			d := fmt.Sprintf("%04d", i) + strings.Repeat("x", detail)
			if err := tx.PutRoom(store.RoomState{Mailbox: r.Mailbox, Integration: "m365", Status: store.RoomOK,
				Diagnosis: []store.Finding{{Flag: "add_organizer_to_subject", Detail: d}}}); err != nil {
				return err
			}
		}
		return nil
	}))
	before := heapAfterGC()

	r := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL())})
	require.Eventually(t, func() bool { return r.stats.roomPublishes.Load() >= rooms }, wait, 10*time.Millisecond)
	// Let the state loop finish its flush (it records a room once the broker acknowledged it)
	// by asking for one more room change and waiting for its publish.
	require.NoError(t, s.Write(ctx, func(tx *store.Tx) error {
		return tx.PutRoom(store.RoomState{Mailbox: refs[0].Mailbox, Integration: "m365", Status: store.RoomThrottled})
	}))
	require.Eventually(t, func() bool { return r.stats.roomPublishes.Load() >= rooms+1 }, wait, 10*time.Millisecond)

	after := heapAfterGC()
	grew := int64(after) - int64(before)
	t.Logf("live heap grew by %d KB with %d rooms published (%d KB of content)", grew>>10, rooms, rooms*detail>>10)
	require.Less(t, grew, int64(2<<20), "telemetry keeps each room's published document")
	runtime.KeepAlive(r)
}

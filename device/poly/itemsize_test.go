package poly

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// graphLikeMeetings are n meetings with the sizes Graph gives them: ids of ~150 characters,
// 112-character iCalUIds, join numbers, rules and reasons.
func graphLikeMeetings(room string, n int) []calendar.Meeting {
	ms := make([]calendar.Meeting, n)
	for i := range ms {
		start := t0.Add(time.Duration(i*4) * time.Hour)
		uid := fmt.Sprintf("040000008200E00074C5B7101A82E00800000000%072d", i)
		ms[i] = calendar.Meeting{Room: room, ID: uid + start.Format("20060102T150405Z"),
			EventID: "AAMkAGI2TG93AAA=" + strings.Repeat("x", 120) + fmt.Sprint(i), ICalUID: uid,
			Start: start, End: start.Add(30 * time.Minute), StartBuffer: calendar.Duration(5 * time.Minute),
			Subject: fmt.Sprintf("Project review %d", i), Organizer: "Alice Example", OrganizerEmail: "alice@contoso.example",
			Join: true, Number: fmt.Sprintf("8%09d@zoomcrc.com", i), Protocol: calendar.ProtocolSIP, Platform: calendar.PlatformZoom,
			Rule: "zoom", Reason: "matched the Zoom rule on the location"}
	}
	return ms
}

// What the item cache keeps per served meeting is what a Poly endpoint is shown (ids, change
// key, dial string, body, subject, times, organizer), not the whole stored meeting: 100 rooms
// of 40 meetings held ~2.5 MB when every item kept its calendar.Meeting (here: 1,164 bytes a
// meeting then, 600 now).
func TestItemCacheKeepsWhatItServes(t *testing.T) {
	const rooms, meetings = 100, 40
	f := newFixture(t)
	var names []string
	require.NoError(t, f.st.Write(t.Context(), func(tx *store.Tx) error {
		var refs []store.RoomRef
		for i := range rooms {
			names = append(names, fmt.Sprintf("room-%03d@contoso.example", i))
			refs = append(refs, store.RoomRef{Mailbox: names[i]})
		}
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		for _, r := range names {
			if _, err := stored.ReplaceMeetings(tx, r, graphLikeMeetings(r, meetings)); err != nil {
				return err
			}
		}
		return nil
	}))
	svc, err := NewService(f.opts)
	require.NoError(t, err)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, r := range names {
		v, err := svc.cache.room(t.Context(), r)
		require.NoError(t, err)
		require.Len(t, v.items, meetings)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / (rooms * meetings)
	t.Logf("item cache: %d bytes per served meeting (%d rooms x %d meetings)", per, rooms, meetings)
	require.Less(t, per, int64(850), "the cache keeps more than what it serves (1,164 bytes with the whole meeting)")
	runtime.KeepAlive(svc)
}

package web

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// seedSite adds rooms rooms, each with a codec and meetings meetings today, to the fixture's store.
func (f *fixture) seedSite(tb testing.TB, rooms, meetings int) {
	tb.Helper()
	ctx := tb.Context()
	now := fixtureNow.UTC()
	require.NoError(tb, f.store.Write(ctx, func(tx *store.Tx) error {
		var refs []store.RoomRef
		for _, r := range f.cfg.Rooms() {
			refs = append(refs, store.RoomRef{Mailbox: r.Mailbox, Integration: r.Integration})
		}
		var eps []store.EndpointRef
		for _, e := range f.cfg.Endpoints {
			eps = append(eps, store.EndpointRef{Name: e.Name, Type: e.Type, Room: e.Room})
		}
		configured := len(refs)
		for i := range rooms {
			room := fmt.Sprintf("bulk-%04d@example.com", i)
			refs = append(refs, store.RoomRef{Mailbox: room, Integration: "m365"})
			eps = append(eps, store.EndpointRef{Name: fmt.Sprintf("bulk-codec-%04d", i), Type: "cisco", Room: room})
		}
		if err := tx.SyncRooms(refs); err != nil {
			return err
		}
		if err := tx.SyncEndpoints(eps); err != nil {
			return err
		}
		for i, r := range refs[configured:] {
			if err := tx.PutRoom(store.RoomState{Mailbox: r.Mailbox, Integration: "m365", Status: store.RoomOK,
				LastAttempt: now.Add(-time.Minute), LastSuccess: now.Add(-time.Duration(i%40) * time.Minute)}); err != nil {
				return err
			}
			ms := make([]calendar.Meeting, 0, meetings)
			for j := range meetings {
				start := at(8+j%12, 0)
				ms = append(ms, calendar.Meeting{ID: fmt.Sprintf("m%d", j), EventID: fmt.Sprintf("ev-%d-%d", i, j), Subject: "Weekly sync",
					Organizer: "Kari Nordmann", Start: start.UTC(), End: start.Add(30 * time.Minute).UTC(), Join: true,
					Number: "123456789@m.webex.com", Protocol: "SIP", Platform: "Webex", Rule: "webex"})
			}
			if _, err := stored.ReplaceMeetings(tx, r.Mailbox, ms); err != nil {
				return err
			}
			if err := tx.PutEndpoint(store.EndpointState{Name: eps[len(eps)-rooms+i].Name, Type: "cisco", Room: r.Mailbox, State: store.EndpointUp,
				Product: "Cisco Room Kit", Software: "ce11.14", LastContact: now}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// allocated is what fn allocates (all goroutines; the fixture is idle meanwhile).
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// The status document (GET /api/status, the MQTT status command) counts rooms and endpoints:
// what it costs does not grow with the rooms' meetings. It decoded every room's agenda, and
// built every room's and endpoint's page document, on every poll: ~9 MB in flight per request
// at 1,000 rooms and 1,000 codecs.
func TestStatusDocumentDoesNotReadTheRoomsMeetings(t *testing.T) {
	cost := func(meetings int) (uint64, Status) {
		f := newFixture(t, fixtureOpts{})
		f.seedSite(t, 200, meetings)
		var st Status
		var err error
		n := allocated(func() { st, err = f.server.Status(t.Context()) })
		require.NoError(t, err)
		return n, st
	}
	bare, st0 := cost(0)
	busy, st := cost(10)
	t.Logf("status document at 203 rooms: %d KB allocated without meetings, %d KB with 10 a room", bare>>10, busy>>10)
	assert.Less(t, busy, bare+bare/4, "the status document reads the rooms' meetings")
	assert.Equal(t, 203, st.Calendar.Rooms)
	assert.Equal(t, st0.Rooms, st.Rooms)
	assert.Equal(t, 202, st.Rooms[store.RoomOK])
	assert.Equal(t, 202, st.Endpoints[store.EndpointUp])
}

// The overview page counts from the rooms' documents, the API from the store's rows: both say
// the same, on the healthy and on the outage site.
func TestStatusDocumentAgreesWithTheOverviewsCounts(t *testing.T) {
	for _, o := range []fixtureOpts{{}, {outage: true}} {
		f := newFixture(t, o)
		want, _, err := f.server.status(t.Context(), f.server.reader())
		require.NoError(t, err)
		got, err := f.server.Status(t.Context())
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

// BenchmarkAPIStatus is one GET /api/status at 1,000 rooms with a codec (and its health item)
// and 8 meetings each.
func BenchmarkAPIStatus(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	f.seedSite(b, 1000, 8)
	for i := range 1000 { // a health item per codec, as the agent has
		f.health.OK(fmt.Sprintf("cisco/bulk-codec-%04d", i), "connected; 8 bookings pushed")
	}
	b.ReportAllocs()
	for b.Loop() {
		code, _ := f.get("/api/status")
		if code != 200 {
			b.Fatal(code)
		}
	}
}

package stored

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

func openTemp(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEventsKeepTheModelsJSON: an event goes into the store as the model's JSON, indexed by
// its own columns, and comes back as it went in; series masters and occurrences likewise.
func TestEventsKeepTheModelsJSON(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const room = "room-01@contoso.example"
	at := func(h int) *calendar.DateTimeTimeZone {
		return calendar.FromTime(time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC))
	}
	single := calendar.Event{ID: "a", Type: calendar.TypeSingleInstance, Subject: "Budget", Start: at(9), End: at(10), ChangeKey: "ck-a"}
	occ := calendar.Event{ID: "o1", Type: calendar.TypeOccurrence, SeriesMasterID: "M", Start: at(13), End: at(14)}
	exc := calendar.Event{ID: "x", Type: calendar.TypeException, SeriesMasterID: "M", Start: at(15), End: at(16), IsCancelled: true}
	master := calendar.Event{ID: "M", Type: calendar.TypeSeriesMaster, ChangeKey: "ck-M", Subject: "Weekly"}
	require.NoError(t, s.Write(ctx, func(tx *store.Tx) error {
		require.NoError(t, tx.PutRoom(store.RoomState{Mailbox: room}))
		for _, ev := range []calendar.Event{single, occ, exc} {
			require.NoError(t, PutEvent(tx, room, ev, nil))
		}
		return PutMaster(tx, room, master, nil)
	}))

	evs, err := Events(ctx, s, room)
	require.NoError(t, err)
	assert.Equal(t, []calendar.Event{single, occ, exc}, evs)
	rows, err := s.Events(ctx, room)
	require.NoError(t, err)
	want, err := json.Marshal(single)
	require.NoError(t, err)
	assert.Equal(t, store.EventRow{ID: "a", Type: calendar.TypeSingleInstance, ChangeKey: "ck-a", Start: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
		End: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Data: want}, rows[0], "the event's own JSON, as the store always kept it")
	assert.True(t, rows[2].Cancelled, "the cancelled flag is indexed")

	got, ok, err := Master(ctx, s, room, "M")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, master, got)
	_, ok, err = Master(ctx, s, room, "none")
	require.NoError(t, err)
	assert.False(t, ok)
	masters, err := Masters(ctx, s, room)
	require.NoError(t, err)
	assert.Equal(t, map[string]calendar.Event{"M": master}, masters)

	require.NoError(t, s.Write(ctx, func(tx *store.Tx) error {
		series, err := SeriesEvents(tx, room, "M")
		require.NoError(t, err)
		assert.Equal(t, []string{"o1"}, keys(series), "the occurrences, not the exception")
		return nil
	}))

	err = s.Write(ctx, func(tx *store.Tx) error {
		return PutEvent(tx, room, calendar.Event{ID: "bad", Start: &calendar.DateTimeTimeZone{DateTime: "soon"}}, nil)
	})
	assert.ErrorContains(t, err, "store event bad", "a time the store cannot index is refused, naming the event")
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestReplaceMeetingsOnlyAnnouncesRealChanges: a meeting whose content (Meeting.Hash) did not
// change is not rewritten, so endpoints hear of a change only when what they show changed.
func TestReplaceMeetingsOnlyAnnouncesRealChanges(t *testing.T) {
	s := openTemp(t)
	room := "room-1@example.com"
	require.NoError(t, s.Write(t.Context(), func(tx *store.Tx) error { return tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}) }))
	sub := s.Subscribe(store.TopicMeetings)
	defer sub.Close()
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ms := []calendar.Meeting{
		{ID: "a", Start: start, End: start.Add(time.Hour), Subject: "A", Join: true, Number: "1@zoomcrc.com", Protocol: "SIP"},
		{ID: "b", Start: start.Add(2 * time.Hour), End: start.Add(3 * time.Hour), Subject: "B"},
	}
	replace := func(m []calendar.Meeting) int {
		var n int
		require.NoError(t, s.Write(t.Context(), func(tx *store.Tx) error {
			var err error
			n, err = ReplaceMeetings(tx, room, m)
			return err
		}))
		return n
	}
	assert.Equal(t, 2, replace(ms))
	<-sub.C
	assert.Equal(t, []string{room}, sub.Take())

	assert.Equal(t, 0, replace(append([]calendar.Meeting(nil), ms...)), "same content, nothing written")
	select {
	case <-sub.C:
		t.Fatal("unchanged meetings must not be announced")
	default:
	}
	changed := append([]calendar.Meeting(nil), ms[:1]...)
	changed[0].Subject = "A (moved)"
	assert.Equal(t, 2, replace(changed), "one changed, one removed")
	got, err := Meetings(t.Context(), s, room, start, time.Time{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "A (moved)", got[0].Subject)
	assert.Equal(t, room, got[0].Room)
	all, err := AllMeetings(t.Context(), s, start, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, got, all)
	// The hash stored is Meeting.Hash (the drivers and the web compare it), though computed
	// from the JSON ReplaceMeetings stores.
	rows, err := s.Meetings(t.Context(), room, start, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, got[0].Hash(), rows[0].Hash)
}

// TestDaysDecodeTheMeetings: the status page's agendas and telemetry's room day carry whole
// meetings, decoded.
func TestDaysDecodeTheMeetings(t *testing.T) {
	s := openTemp(t)
	room := "room-1@example.com"
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	standup := calendar.Meeting{ID: "standup", Room: room, Subject: "Standup", Start: at(9, 0), End: at(9, 15)}
	review := calendar.Meeting{ID: "review", Room: room, Subject: "Review", Start: at(10, 0), End: at(11, 0), Join: true, Platform: "Zoom"}
	require.NoError(t, s.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}}); err != nil {
			return err
		}
		_, err := ReplaceMeetings(tx, room, []calendar.Meeting{standup, review})
		return err
	}))
	want := Day{Today: 2, Current: &standup, Next: &review}

	d, err := RoomDay(t.Context(), s, room, day, day.AddDate(0, 0, 1), at(9, 5))
	require.NoError(t, err)
	assert.Equal(t, want, d)
	ags, err := Agendas(t.Context(), s, day, day.AddDate(0, 0, 1), at(9, 5))
	require.NoError(t, err)
	assert.Equal(t, map[string]Day{room: want}, ags)

	d, err = RoomDay(t.Context(), s, "none@example.com", day, day.AddDate(0, 0, 1), at(9, 5))
	require.NoError(t, err)
	assert.Equal(t, Day{}, d)
}

// TestReadsAStoreOfSchemaV1: the typed reads decode events a version-1 store holds (the
// store's own fixture), so moving the model out of the store needed no migration.
func TestReadsAStoreOfSchemaV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otj-edge.db")
	f, err := os.Open(filepath.Join("..", "..", "..", "store", "testdata", "otj-edge-v1.db.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	out, err := os.Create(path)
	require.NoError(t, err)
	_, err = io.Copy(out, zr)
	require.NoError(t, err)
	require.NoError(t, out.Close())

	s, err := store.Open(t.Context(), path, store.Options{AppVersion: "test"})
	require.NoError(t, err)
	defer s.Close()
	evs, err := Events(t.Context(), s, "room-1@example.com")
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, "Fixture meeting", evs[0].Subject)
}

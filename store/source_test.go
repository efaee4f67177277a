package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// TestSourceSyncHelpers: what a calendar source reads back while syncing, from the neutral
// columns and the data it stored.
func TestSourceSyncHelpers(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := context.Background()
	const room = "room-01@contoso.example"
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	put := func(tx *Tx, id, typ, master string, h int, extra string) error {
		ev := calendar.Event{ID: id, Type: typ, SeriesMasterID: master, Start: calendar.FromTime(at(h)), End: calendar.FromTime(at(h + 1)),
			IsCancelled: extra != ""}
		data := fmt.Sprintf(`{"id":%q,"type":%q,"seriesMasterId":%q,"@odata.etag":"W/\"%s\"","start":{"dateTime":%q},"end":{"dateTime":%q}%s}`,
			id, typ, master, id, ev.Start.DateTime, ev.End.DateTime, extra)
		return tx.PutEvent(room, ev, []byte(data))
	}
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		require.NoError(t, tx.PutRoom(RoomState{Mailbox: room}))
		require.NoError(t, put(tx, "a", calendar.TypeSingleInstance, "", 9, ""))
		require.NoError(t, put(tx, "b", calendar.TypeSingleInstance, "", 11, `,"isCancelled":true`))
		require.NoError(t, put(tx, "o1", calendar.TypeOccurrence, "M", 13, ""))
		require.NoError(t, put(tx, "o2", calendar.TypeOccurrence, "M", 15, ""))
		require.NoError(t, put(tx, "x", calendar.TypeException, "M", 17, ""))
		require.NoError(t, tx.PutMaster(room, calendar.Event{ID: "M", ChangeKey: "ck1"}, []byte(`{"id":"M","changeKey":"ck1"}`)))
		return tx.PutMaster(room, calendar.Event{ID: "Old", ChangeKey: "ck"}, []byte(`{"id":"Old"}`))
	}))

	spans, err := s.EventSpans(ctx, room, at(10), at(16))
	require.NoError(t, err)
	assert.Equal(t, []Span{{at(13), at(14)}, {at(15), at(16)}}, spans, "overlapping events, cancelled ones left out")

	data, err := s.EventData(ctx, room, []string{"a", "o1", "missing"})
	require.NoError(t, err)
	require.Len(t, data, 2, "the stored ones")
	assert.Contains(t, string(data["o1"]), `"@odata.etag":"W/\"o1\""`, "the data as the source stored it")
	assert.Contains(t, string(data["a"]), `"id":"a"`)

	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		_, ck, ok, err := tx.MasterJSON(room, "M")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, "ck1", ck)
		occ, err := tx.SeriesEvents(room, "M")
		require.NoError(t, err)
		assert.Len(t, occ, 2, "occurrences only, not the exception")
		n, err := tx.SweepEvents(room, map[string]bool{"a": true, "x": true})
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		return nil
	}))
	left, err := s.Events(ctx, room)
	require.NoError(t, err)
	assert.Len(t, left, 2)
	_, ok, err := s.Master(ctx, room, "M")
	require.NoError(t, err)
	assert.True(t, ok, "the exception still refers to M")
	_, ok, err = s.Master(ctx, room, "Old")
	require.NoError(t, err)
	assert.False(t, ok, "a master nothing refers to is swept")
}

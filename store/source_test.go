package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSourceSyncHelpers: what a calendar source reads back while syncing, from the neutral
// columns and the data it stored.
func TestSourceSyncHelpers(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := context.Background()
	const room = "room-01@contoso.example"
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	put := func(tx *Tx, id, typ, master string, h int, extra string) error {
		data := fmt.Sprintf(`{"id":%q,"type":%q,"seriesMasterId":%q,"@odata.etag":"W/\"%s\""%s}`, id, typ, master, id, extra)
		return tx.PutEvent(room, EventRow{ID: id, Type: typ, SeriesMasterID: master, Start: at(h), End: at(h + 1),
			Cancelled: extra != "", Data: []byte(data)})
	}
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		require.NoError(t, tx.PutRoom(RoomState{Mailbox: room}))
		require.NoError(t, put(tx, "a", "singleInstance", "", 9, ""))
		require.NoError(t, put(tx, "b", "singleInstance", "", 11, `,"isCancelled":true`))
		require.NoError(t, put(tx, "o1", "occurrence", "M", 13, ""))
		require.NoError(t, put(tx, "o2", "occurrence", "M", 15, ""))
		require.NoError(t, put(tx, "x", "exception", "M", 17, ""))
		require.NoError(t, tx.PutMaster(room, EventRow{ID: "M", ChangeKey: "ck1", Data: []byte(`{"id":"M","changeKey":"ck1"}`)}))
		return tx.PutMaster(room, EventRow{ID: "Old", ChangeKey: "ck", Data: []byte(`{"id":"Old"}`)})
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
		occ, err := tx.SeriesEvents(room, "M", "occurrence")
		require.NoError(t, err)
		assert.Len(t, occ, 2, "occurrences only, not the exception")
		n, err := tx.SweepEvents(room, map[string]bool{"a": true, "x": true})
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		return nil
	}))
	left, err := s.Events(ctx, room)
	require.NoError(t, err)
	require.Len(t, left, 2)
	assert.Equal(t, EventRow{ID: "x", Type: "exception", SeriesMasterID: "M", Start: at(17), End: at(18),
		Data: []byte(`{"id":"x","type":"exception","seriesMasterId":"M","@odata.etag":"W/\"x\""}`)}, left[1], "the row as stored")
	m, ok, err := s.Master(ctx, room, "M")
	require.NoError(t, err)
	assert.True(t, ok, "the exception still refers to M")
	assert.Equal(t, EventRow{ID: "M", ChangeKey: "ck1", Data: []byte(`{"id":"M","changeKey":"ck1"}`)}, m)
	masters, err := s.Masters(ctx, room)
	require.NoError(t, err)
	assert.Equal(t, []EventRow{m}, masters)
	_, ok, err = s.Master(ctx, room, "Old")
	require.NoError(t, err)
	assert.False(t, ok, "a master nothing refers to is swept")
}

// TestEachEventWalksTheRowsAsEventsLists: EachEvent hands over the same rows as Events, in the
// same order (by start time), each row's data whole; an error from the callback stops the walk.
func TestEachEventWalksTheRowsAsEventsLists(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := context.Background()
	const room = "room-01@contoso.example"
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		require.NoError(t, tx.PutRoom(RoomState{Mailbox: room}))
		for i, h := range []int{15, 9, 12} { // written out of order, with data of different sizes
			data := fmt.Sprintf(`{"id":"e%d","body":%q}`, i, strings.Repeat("x", 1000*(3-i)))
			require.NoError(t, tx.PutEvent(room, EventRow{ID: fmt.Sprintf("e%d", i), Type: "singleInstance", Start: at(h), End: at(h + 1),
				Cancelled: i == 2, Data: []byte(data)}))
		}
		return nil
	}))
	want, err := s.Events(ctx, room)
	require.NoError(t, err)
	var got []EventRow
	require.NoError(t, s.EachEvent(ctx, room, func(ev EventRow) error {
		ev.Data = bytes.Clone(ev.Data) // valid only during the call
		got = append(got, ev)
		return nil
	}))
	assert.Equal(t, want, got)
	assert.Equal(t, []string{"e1", "e2", "e0"}, []string{got[0].ID, got[1].ID, got[2].ID}, "by start time")

	stop := errors.New("enough")
	calls := 0
	err = s.EachEvent(ctx, room, func(EventRow) error { calls++; return stop })
	assert.Same(t, stop, err, "the callback's error, as it is")
	assert.Equal(t, 1, calls)
}

package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgendasFindCurrentAndNextPerRoom(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := t.Context()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	meet := func(id string, start, end time.Time) MeetingRow {
		return MeetingRow{ID: id, Start: start, End: end, Hash: "h-" + id, Data: []byte(`{"id":"` + id + `"}`)}
	}
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		require.NoError(t, tx.SyncRooms([]RoomRef{{Mailbox: "a@x"}, {Mailbox: "b@x"}, {Mailbox: "c@x"}}))
		// a: one ended, two overlapping running (the earlier start is current), two upcoming,
		// one tomorrow.
		if _, err := tx.ReplaceMeetings("a@x", []MeetingRow{
			meet("a-ended", at(9, 0), at(10, 0)),
			meet("a-running-late", at(11, 30), at(12, 30)),
			meet("a-running", at(11, 0), at(13, 0)),
			meet("a-later", at(15, 0), at(16, 0)),
			meet("a-next", at(12, 15), at(12, 45)),
			meet("a-tomorrow", at(33, 0), at(34, 0)),
		}, nil); err != nil {
			return err
		}
		// b: only upcoming tomorrow.
		if _, err := tx.ReplaceMeetings("b@x", []MeetingRow{meet("b-tomorrow", at(30, 0), at(31, 0))}, nil); err != nil {
			return err
		}
		return nil
	}))

	got, err := s.Agendas(ctx, day, day.Add(24*time.Hour), now)
	require.NoError(t, err)
	require.Contains(t, got, "a@x")
	a := got["a@x"]
	assert.Equal(t, 5, a.Today)
	require.NotNil(t, a.Current)
	assert.Equal(t, "a-running", a.Current.ID)
	require.NotNil(t, a.Next)
	assert.Equal(t, "a-next", a.Next.ID)
	assert.Equal(t, MeetingRow{Room: "a@x", ID: "a-next", Start: at(12, 15), End: at(12, 45), Hash: "h-a-next", Data: []byte(`{"id":"a-next"}`)},
		*a.Next, "the whole row")

	b := got["b@x"]
	assert.Equal(t, 0, b.Today)
	assert.Nil(t, b.Current)
	require.NotNil(t, b.Next)
	assert.Equal(t, "b-tomorrow", b.Next.ID)

	assert.NotContains(t, got, "c@x", "a room without meetings has no agenda")
}

func TestEventLogFilters(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := t.Context()
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		for _, e := range []Event{
			{Kind: "sync.ok", Room: "a@x", Message: "one"},
			{Kind: "sync.error", Level: "error", Room: "b@x", Message: "two"},
			{Kind: "push.ok", Endpoint: "codec-a", Room: "a@x", Message: "three"},
			{Kind: "endpoint.down", Level: "warn", Endpoint: "codec-b", Room: "b@x", Message: "four", Data: map[string]any{"n": 1}},
		} {
			if err := tx.Emit(e); err != nil {
				return err
			}
		}
		return nil
	}))
	messages := func(f EventFilter) []string {
		evs, err := s.EventLog(ctx, f)
		require.NoError(t, err)
		var out []string
		for _, e := range evs {
			out = append(out, e.Message)
		}
		return out
	}
	assert.Equal(t, []string{"four", "three", "two", "one"}, messages(EventFilter{}))
	assert.Equal(t, []string{"three", "one"}, messages(EventFilter{Room: "a@x"}))
	assert.Equal(t, []string{"four"}, messages(EventFilter{Endpoint: "codec-b"}))
	assert.Equal(t, []string{"four", "two"}, messages(EventFilter{Levels: []string{"warn", "error"}}))
	assert.Equal(t, []string{"four", "three"}, messages(EventFilter{Limit: 2}))

	evs, err := s.EventLog(ctx, EventFilter{Endpoint: "codec-b"})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"n": float64(1)}, evs[0].Data)
}

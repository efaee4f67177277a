package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiscardOutboxRemovesAndCounts(t *testing.T) {
	s, _ := openTemp(t, Options{Outbox: OutboxLimits{MaxMessages: 100}})
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		for _, p := range []string{"poison", "next"} {
			if _, err := tx.Enqueue(Message{Topic: "events", Payload: []byte(p)}); err != nil {
				return err
			}
		}
		return nil
	}))
	msgs, err := s.PeekOutbox(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, msgs, 2)

	found, err := s.DiscardOutbox(t.Context(), msgs[0].Seq)
	require.NoError(t, err)
	assert.True(t, found)
	found, err = s.DiscardOutbox(t.Context(), msgs[0].Seq)
	require.NoError(t, err)
	assert.False(t, found, "a message already gone is not counted twice")

	st, err := s.OutboxStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, OutboxStats{Depth: 1, Bytes: 4}, st)
	n, err := s.Counter(t.Context(), KeyOutboxDiscarded)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	left, err := s.PeekOutbox(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, "next", string(left[0].Payload))
}

// meetRow is a meeting row of room-1@example.com whose data and hash name it.
func meetRow(id string, start, end time.Time) MeetingRow {
	return MeetingRow{Room: "room-1@example.com", ID: id, Start: start, End: end, Hash: "h-" + id, Data: []byte(`{"id":"` + id + `"}`)}
}

func TestRoomDayCountsTodayAndFindsCurrentAndNext(t *testing.T) {
	s, _ := openTemp(t, Options{})
	room := "room-1@example.com"
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		if err := tx.SyncRooms([]RoomRef{{room, "m365"}, {"other@example.com", "m365"}}); err != nil {
			return err
		}
		if _, err := tx.ReplaceMeetings("other@example.com", []MeetingRow{meetRow("o", at(9, 0), at(10, 0))}, nil); err != nil {
			return err
		}
		_, err := tx.ReplaceMeetings(room, []MeetingRow{
			meetRow("overnight", at(-2, 0), at(1, 0)), // started yesterday: counts today
			meetRow("standup", at(9, 0), at(9, 15)),
			meetRow("review", at(10, 0), at(11, 0)),
			meetRow("tomorrow", at(24+9, 0), at(24+10, 0)),
		}, nil)
		return err
	}))

	d, err := s.RoomDay(t.Context(), room, day, day.AddDate(0, 0, 1), at(9, 5))
	require.NoError(t, err)
	assert.Equal(t, 3, d.Today)
	require.NotNil(t, d.Current)
	assert.Equal(t, "standup", d.Current.ID)
	require.NotNil(t, d.Next)
	assert.Equal(t, "review", d.Next.ID)
	assert.Equal(t, meetRow("review", at(10, 0), at(11, 0)), *d.Next, "the whole row, its room filled in")

	d, err = s.RoomDay(t.Context(), room, day, day.AddDate(0, 0, 1), at(23, 0))
	require.NoError(t, err)
	assert.Nil(t, d.Current)
	require.NotNil(t, d.Next)
	assert.Equal(t, "tomorrow", d.Next.ID)

	d, err = s.RoomDay(t.Context(), "none@example.com", day, day.AddDate(0, 0, 1), at(9, 5))
	require.NoError(t, err)
	assert.Equal(t, RoomDay{}, d)
}

func TestRetainedRoomsRoundTrip(t *testing.T) {
	s, _ := openTemp(t, Options{})
	rooms, err := s.RetainedRooms(t.Context())
	require.NoError(t, err)
	assert.Empty(t, rooms)
	require.NoError(t, s.SetRetainedRooms(t.Context(), []string{"b@x", "a@x"}))
	rooms, err = s.RetainedRooms(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"a@x", "b@x"}, rooms)
}

// TestRoomsNamedAndEndpointsInRooms: telemetry reads only the rooms that changed and their
// endpoints; unknown names are left out, and nothing of another room comes back.
func TestRoomsNamedAndEndpointsInRooms(t *testing.T) {
	s, _ := openTemp(t, Options{})
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		if err := tx.SyncRooms([]RoomRef{{"a@x", "m365"}, {"b@x", "m365"}, {"c@x", "m365"}}); err != nil {
			return err
		}
		return tx.SyncEndpoints([]EndpointRef{{"a-codec", "cisco", "a@x"}, {"a-poly", "poly", "a@x"}, {"c-codec", "cisco", "c@x"}})
	}))
	rooms, err := s.RoomsNamed(t.Context(), []string{"c@x", "a@x", "gone@x"})
	require.NoError(t, err)
	var names []string
	for _, r := range rooms {
		names = append(names, r.Mailbox)
	}
	assert.Equal(t, []string{"a@x", "c@x"}, names)

	eps, err := s.EndpointsInRooms(t.Context(), []string{"a@x", "b@x"})
	require.NoError(t, err)
	names = nil
	for _, e := range eps {
		names = append(names, e.Name+" "+e.Room)
	}
	assert.Equal(t, []string{"a-codec a@x", "a-poly a@x"}, names)

	none, err := s.RoomsNamed(t.Context(), nil)
	require.NoError(t, err)
	assert.Empty(t, none)
}

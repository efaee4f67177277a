package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// createAtVersion writes a database the way otj-edge of that schema version left it: the
// shipped migrations up to version (they never change once shipped), the version recorded,
// then rows inserted by SQL in that version's columns (what its code wrote).
func createAtVersion(t *testing.T, path string, version int, rows ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	require.NoError(t, err)
	defer db.Close()
	for _, m := range migrations()[:version] {
		_, err := db.Exec(m.sql)
		require.NoError(t, err, m.name)
		_, err = db.Exec("INSERT INTO schema_history VALUES (?, 1764000000000, 'old')", m.version)
		require.NoError(t, err)
	}
	_, err = db.Exec(fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", version, ApplicationID))
	require.NoError(t, err)
	for _, q := range rows {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
}

// TestUpgradeKeepsEachRoomsSyncPosition: a store written by schema 1, 2 (b129881) or 3 opens
// with each room's delta link, next link and window as its integration's cursor (so the source
// goes on from there instead of syncing every room again), the rooms keep what the page shows,
// and a cancelled event stays out of the scheduler's meeting times.
func TestUpgradeKeepsEachRoomsSyncPosition(t *testing.T) {
	const (
		synced  = "room-1@example.com"
		midway  = "room-2@example.com"
		pending = "room-3@example.com"
	)
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
	event := func(id string, h int, extra string) string {
		return fmt.Sprintf(`INSERT INTO raw_events VALUES ('%s', '%s', 'singleInstance', '', 'ck', %d, %d,
			'{"id":"%s","start":{"dateTime":"%s"},"end":{"dateTime":"%s"}%s}', 1764000000000)`,
			synced, id, at(h).UnixMilli(), at(h+1).UnixMilli(), id,
			at(h).Format("2006-01-02T15:04:05"), at(h+1).Format("2006-01-02T15:04:05"), extra)
	}
	for version := 1; version < SchemaVersion(); version++ {
		t.Run("schema "+strconv.Itoa(version), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "otj-edge.db")
			createAtVersion(t, path,
				version,
				`INSERT INTO rooms(mailbox, integration, status, status_detail, delta_link, next_link, window_start, window_end,
					last_attempt, last_success, last_full_sync, retry_after, diagnosis) VALUES
				('`+synced+`', 'm365', 'ok', '', 'https://graph.example/d?$deltatoken=1', '', 1763856000000, 1764633600000,
					1764000000000, 1764000000000, 1763900000000, 0, '[]'),
				('`+midway+`', 'm365', 'throttled', 'Graph asked to wait', 'https://graph.example/d?$deltatoken=2',
					'https://graph.example/d?$skiptoken=3', 1763856000000, 1764633600000, 1764000000000, 1763990000000, 0, 1764000060000, '[]'),
				('`+pending+`', 'm365', 'pending', '', '', '', 0, 0, 0, 0, 0, 0, '[]')`,
				event("kept", 9, ""),
				event("called-off", 11, `,"isCancelled":true`),
			)
			s, err := Open(t.Context(), path, Options{AppVersion: "test"})
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))

			cur, err := s.Cursor(t.Context(), synced, "m365")
			require.NoError(t, err)
			assert.JSONEq(t, `{"delta_link":"https://graph.example/d?$deltatoken=1","next_link":"","window_start":1763856000000,"window_end":1764633600000}`, cur)
			cur, err = s.Cursor(t.Context(), midway, "m365")
			require.NoError(t, err)
			assert.JSONEq(t, `{"delta_link":"https://graph.example/d?$deltatoken=2","next_link":"https://graph.example/d?$skiptoken=3","window_start":1763856000000,"window_end":1764633600000}`, cur,
				"a round interrupted by the upgrade goes on from its next link")
			all, err := s.Cursors(t.Context(), "m365")
			require.NoError(t, err)
			assert.Len(t, all, 2, "a room that never synced has no cursor: it starts over, as before")

			rooms, err := s.Rooms(t.Context())
			require.NoError(t, err)
			require.Len(t, rooms, 3)
			assert.Equal(t, RoomState{Mailbox: midway, Integration: "m365", Status: RoomThrottled, StatusDetail: "Graph asked to wait",
				LastAttempt: fromMS(1764000000000), LastSuccess: fromMS(1763990000000),
				RetryAfter: fromMS(1764000060000), Diagnosis: []Finding{}}, rooms[1])

			spans, err := s.EventSpans(t.Context(), synced, at(0), at(23))
			require.NoError(t, err)
			assert.Equal(t, []Span{{at(9), at(10)}}, spans, "the cancelled event is not a meeting")

			var cols int
			require.NoError(t, s.r.QueryRow(`SELECT count(*) FROM pragma_table_info('rooms')
				WHERE name IN ('delta_link', 'next_link', 'window_start', 'window_end')`).Scan(&cols))
			assert.Zero(t, cols, "the rooms table holds no source's position any more")
		})
	}
}

// TestCursorsAreKeptPerIntegration: two integrations keep their own cursor for the same room
// (a shadow next to the live source); a batch of unchanged polls moves cursors that exist
// and only the live integration's times; moving the room to another integration starts it
// over; removing it takes its cursors.
func TestCursorsAreKeptPerIntegration(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s, _ := openTemp(t, Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	const room, other = "room-1@example.com", "room-2@example.com"
	cursor := func(room, in string) string {
		c, err := s.Cursor(ctx, room, in)
		require.NoError(t, err)
		return c
	}
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		require.NoError(t, tx.SyncRooms([]RoomRef{{room, "ews"}, {other, "ews"}}))
		require.NoError(t, tx.PutCursor(room, "ews", "sync-state-1"))
		require.NoError(t, tx.PutCursor(room, "m365", `{"delta_link":"d1"}`))
		require.NoError(t, tx.PutCursor(room, "google", "page-token"))
		return tx.PutCursor(other, "ews", "sync-state-9")
	}))
	assert.Equal(t, "sync-state-1", cursor(room, "ews"))
	assert.Equal(t, `{"delta_link":"d1"}`, cursor(room, "m365"))
	assert.Empty(t, cursor(room, "webcal"), "no cursor: start over")
	ews, err := s.Cursors(ctx, "ews")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{room: "sync-state-1", other: "sync-state-9"}, ews)

	// Unchanged polls by the live integration and by the shadow, and one for a room the
	// shadow holds no cursor for.
	later := now.Add(time.Minute)
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		return tx.TouchRooms(map[string]RoomPoll{room: {Integration: "ews", Cursor: "sync-state-2", At: later}})
	}))
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		return tx.TouchRooms(map[string]RoomPoll{
			room:  {Integration: "m365", Cursor: `{"delta_link":"d2"}`, At: later.Add(time.Minute)},
			other: {Integration: "m365", Cursor: `{"delta_link":"x"}`, At: later.Add(time.Minute)},
		})
	}))
	assert.Equal(t, "sync-state-2", cursor(room, "ews"))
	assert.Equal(t, `{"delta_link":"d2"}`, cursor(room, "m365"))
	assert.Empty(t, cursor(other, "m365"), "a poll batch never creates a cursor")
	st, _, err := s.Room(ctx, room)
	require.NoError(t, err)
	assert.True(t, st.LastSuccess.Equal(later), "only the live integration's polls move the room's times")

	// The room moves from ews to m365: both their cursors go (the stored events are ews's),
	// the third integration's stays; the other room keeps its cursor.
	require.NoError(t, s.Write(ctx, func(tx *Tx) error {
		return tx.SyncRooms([]RoomRef{{room, "m365"}, {other, "ews"}})
	}))
	assert.Empty(t, cursor(room, "ews"))
	assert.Empty(t, cursor(room, "m365"), "the new integration starts with a full sync")
	assert.Equal(t, "page-token", cursor(room, "google"))
	assert.Equal(t, "sync-state-9", cursor(other, "ews"))
	st, _, err = s.Room(ctx, room)
	require.NoError(t, err)
	assert.Equal(t, RoomPending, st.Status)

	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.PutCursor(other, "ews", "") }))
	assert.Empty(t, cursor(other, "ews"), `"" removes the cursor`)
	require.NoError(t, s.Write(ctx, func(tx *Tx) error { return tx.SyncRooms([]RoomRef{{other, "ews"}}) }))
	assert.Empty(t, cursor(room, "google"), "a removed room's cursors go with it")
	var n int
	require.NoError(t, s.r.QueryRow("SELECT count(*) FROM sync_cursors").Scan(&n))
	assert.Zero(t, n)
}

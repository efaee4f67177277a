package graph

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestUpgradedStoreKeepsPollingItsDeltaLink: a store written by b129881 (schema 2) or by the
// agent of schema 3, which kept each room's deltaLink and window in the rooms table, opens
// with this version (the store migrates it) and the syncer goes on polling that deltaLink:
// the meeting added while the agent was being upgraded arrives with no full sync.
func TestUpgradedStoreKeepsPollingItsDeltaLink(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprintf("schema %d", version), func(t *testing.T) {
			r := roomName(1)
			h := newHarness(t, graphsim.Options{}, r)
			h.addRoom(r, graphsim.Recommended())
			first := h.post(r, invite("Before the upgrade", t0.Add(2*time.Hour), time.Hour))
			s, stop := h.start(Tuning{})
			h.waitFor("the first sync", h.synced(r))
			h.settle(s)
			stop()
			cur := h.cursor(r)
			require.NotEmpty(t, cur.deltaLink)
			require.NoError(t, h.st.Close())

			// The same state as the older agent left it, and its file opened by this one.
			old := filepath.Join(t.TempDir(), "otj-edge.db")
			writeOldStore(t, old, version, h.dbPath, map[string]cursor{r: cur})
			h.dbPath = old
			h.openStore()
			assert.Equal(t, cur, h.cursor(r), "the deltaLink and window, now the room's cursor")

			added := h.post(r, invite("Added during the upgrade", t0.Add(4*time.Hour), time.Hour))
			s, _ = h.start(Tuning{})
			h.waitFor("the new meeting", func() bool { _, ok := h.events(r)[added]; return ok })
			h.settle(s)
			assert.Contains(t, h.events(r), first, "what the old store held is kept")
			assert.Equal(t, 1, h.stats(r).FullSyncs, "no full resync after the upgrade")
			assert.Equal(t, 1, h.stats(r).DeltaPolls, "the stored deltaLink was polled")
			assert.Equal(t, store.RoomOK, h.room(r).Status)
			assert.NotEqual(t, cur.deltaLink, h.cursor(r).deltaLink, "the poll's deltaLink is saved in the cursor")
		})
	}
}

// writeOldStore writes at path the store an agent of the given schema version would have
// left with the state of the store at from: the schema from the store's shipped migration
// files up to version (they never change once shipped), the rooms with each room's sync
// position in the rooms table's delta_link, next_link and window columns (Unix ms), as the
// agent of those versions wrote them, and the same events, series masters and counters.
func writeOldStore(t *testing.T, path string, version int, from string, positions map[string]cursor) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1) // ATTACH holds for one connection
	for v := 1; v <= version; v++ {
		files, err := filepath.Glob(fmt.Sprintf("../../store/migrations/%04d_*.sql", v))
		require.NoError(t, err)
		require.Len(t, files, 1, "migration %d", v)
		text, err := os.ReadFile(files[0])
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, string(text))
		require.NoError(t, err, files[0])
		_, err = db.ExecContext(ctx, "INSERT INTO schema_history VALUES (?, 1764000000000, 'v-old')", v)
		require.NoError(t, err)
	}
	for _, q := range []string{
		fmt.Sprintf("PRAGMA user_version = %d", version),
		fmt.Sprintf("PRAGMA application_id = %d", store.ApplicationID),
		"ATTACH DATABASE '" + from + "' AS a",
		"INSERT INTO kv SELECT key, value FROM a.kv",
		`INSERT INTO rooms(mailbox, integration, status, status_detail, last_attempt, last_success, last_full_sync, retry_after, diagnosis)
			SELECT mailbox, integration, status, status_detail, last_attempt, last_success, last_full_sync, retry_after, diagnosis FROM a.rooms`,
		`INSERT INTO raw_events(room, id, type, series_master_id, change_key, start_ms, end_ms, data, updated)
			SELECT room, id, type, series_master_id, change_key, start_ms, end_ms, data, updated FROM a.raw_events`,
		"INSERT INTO series_masters SELECT room, id, change_key, data, fetched FROM a.series_masters",
		"DETACH DATABASE a",
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	for room, c := range positions {
		_, err := db.ExecContext(ctx, "UPDATE rooms SET delta_link = ?, next_link = ?, window_start = ?, window_end = ? WHERE mailbox = ?",
			c.deltaLink, c.nextLink, unixMS(c.ws), unixMS(c.we), room)
		require.NoError(t, err)
	}
}

package store

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures")

func TestMain(m *testing.M) {
	if path := os.Getenv("OTJ_STORE_CRASH_WRITER"); path != "" {
		crashWriter(path)
		return
	}
	os.Exit(m.Run())
}

func openTemp(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "otj-edge.db")
	s, err := Open(t.Context(), path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func pragma(t *testing.T, s *Store, name string) string {
	t.Helper()
	var v string
	require.NoError(t, s.r.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v))
	return v
}

func TestOpenCreatesSchemaInWALMode(t *testing.T) {
	s, _ := openTemp(t, Options{AppVersion: "test"})
	assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))
	assert.Equal(t, strconv.Itoa(ApplicationID), pragma(t, s, "application_id"))
	assert.Equal(t, "wal", pragma(t, s, "journal_mode"))
	assert.Equal(t, "1", pragma(t, s, "foreign_keys"))
	assert.Equal(t, "10000", pragma(t, s, "busy_timeout"))
	var n int
	require.NoError(t, s.r.QueryRow("SELECT count(*) FROM schema_history WHERE app_version = 'test'").Scan(&n))
	assert.Equal(t, SchemaVersion(), n)
	require.NoError(t, s.IntegrityCheck(t.Context()))
}

// TestConcurrentWritersNeverLocked runs read-modify-write transactions from many goroutines and
// from a second Store on the same file (another process would look the same): with one writer
// connection, IMMEDIATE transactions and busy_timeout, none may fail with "database is locked"
// and no increment may be lost.
func TestConcurrentWritersNeverLocked(t *testing.T) {
	s1, path := openTemp(t, Options{})
	s2, err := Open(t.Context(), path, Options{})
	require.NoError(t, err)
	defer s2.Close()

	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range 2 * workers {
		s := s1
		if w%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			for range each {
				errs <- s.Write(t.Context(), func(tx *Tx) error {
					v, _, err := tx.Get("counter")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(v)
					return tx.Set("counter", strconv.Itoa(n+1))
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	v, _, err := s1.Get(t.Context(), "counter")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(2*workers*each), v)
}

const fixtureV1 = "testdata/otj-edge-v1.db.gz"

// TestMigrateFromV1Fixture opens a database made by schema version 1 (a gzipped file kept in
// testdata, Nomad-style), migrates it, and checks that the data survived and a backup of the
// old file was taken first.
func TestMigrateFromV1Fixture(t *testing.T) {
	if *update {
		makeV1Fixture(t)
	}
	path := filepath.Join(t.TempDir(), "otj-edge.db")
	gunzip(t, fixtureV1, path)

	s, err := Open(t.Context(), path, Options{AppVersion: "test"})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))

	rooms, err := s.Rooms(t.Context())
	require.NoError(t, err)
	require.Len(t, rooms, 1)
	assert.Equal(t, "room-1@example.com", rooms[0].Mailbox)
	cur, err := s.Cursor(t.Context(), "room-1@example.com", "m365")
	require.NoError(t, err)
	assert.JSONEq(t, `{"delta_link":"https://graph.example/delta?$deltatoken=abc","next_link":"","window_start":0,"window_end":0}`, cur,
		"the room's sync position survives as its integration's cursor")
	evs, err := s.Events(t.Context(), "room-1@example.com")
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Contains(t, string(evs[0].Data), `"subject":"Fixture meeting"`, "the event's JSON as version 1 stored it")
	ep, ok, err := s.Endpoint(t.Context(), "codec-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "ab12", ep.CertSHA256, "pinned certificates survive upgrades")

	// Tables added after version 1 work.
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error { return tx.Emit(Event{Kind: "test", Message: "after migration"}) }))

	backup := path + ".bak-v1"
	require.FileExists(t, backup)
	old, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	require.NoError(t, err)
	defer old.Close()
	var v int
	require.NoError(t, old.QueryRow("PRAGMA user_version").Scan(&v))
	assert.Equal(t, 1, v, "the backup is the database as it was before migrating")
}

func TestRefusesNewerSchemaUntouched(t *testing.T) {
	s, path := openTemp(t, Options{})
	_, err := s.w.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+5))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	before := fileHash(t, path)

	_, err = Open(t.Context(), path, Options{})
	require.ErrorIs(t, err, ErrNewerSchema)
	assert.Contains(t, err.Error(), fmt.Sprintf("schema version %d, this otj-edge knows up to %d", SchemaVersion()+5, SchemaVersion()))
	assert.Equal(t, before, fileHash(t, path), "a newer database is not modified")
}

func TestRefusesCorruptFileUntouched(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"not sqlite": func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("this is not a database, just some text that is long enough"), 0o600))
		},
		"damaged pages": func(t *testing.T, path string) {
			s, err := Open(t.Context(), path, Options{})
			require.NoError(t, err)
			require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
				for i := range 500 {
					if err := tx.Set(fmt.Sprintf("key-%04d", i), strings.Repeat("x", 200)); err != nil {
						return err
					}
				}
				return nil
			}))
			_, err = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			require.NoError(t, err)
			require.NoError(t, s.Close())
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", 1024)), 4096*3)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		},
		"foreign application": func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			require.NoError(t, err)
			_, err = db.Exec("PRAGMA application_id = 1234; CREATE TABLE t(x)")
			require.NoError(t, err)
			require.NoError(t, db.Close())
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "otj-edge.db")
			damage(t, path)
			before := fileHash(t, path)
			_, err := Open(t.Context(), path, Options{})
			require.ErrorIs(t, err, ErrCorrupt)
			if name != "foreign application" {
				assert.Contains(t, err.Error(), "left untouched")
				assert.Contains(t, err.Error(), "move it aside")
			}
			assert.Equal(t, before, fileHash(t, path))
		})
	}
}

// TestSIGKILLMidTransaction kills a writer process with SIGKILL while it commits batches as
// fast as it can, then checks the file: integrity_check passes, every batch is whole (50 rows
// or none) and nothing the writer reported as committed is lost.
func TestSIGKILLMidTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otj-edge.db")
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "OTJ_STORE_CRASH_WRITER="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(out)
		lastCommitted := 0
		for lines.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(lines.Text(), "committed "))
			require.NoError(t, err, lines.Text())
			lastCommitted = n
			if n >= 30*(round+1) {
				break
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		s, err := Open(t.Context(), path, Options{})
		require.NoError(t, err, "round %d", round)
		require.NoError(t, s.IntegrityCheck(t.Context()))
		batches, err := s.Counter(t.Context(), "batches")
		require.NoError(t, err)
		var rows int64
		require.NoError(t, s.r.QueryRow("SELECT count(*) FROM kv WHERE key GLOB 'b[0-9]*-*'").Scan(&rows))
		assert.Equal(t, batches*50, rows, "round %d: every batch is whole", round)
		assert.GreaterOrEqual(t, batches, int64(lastCommitted), "round %d: committed batches survive", round)
		require.NoError(t, s.Close())
	}
}

// crashWriter is the subprocess of TestSIGKILLMidTransaction: it commits batches of 50 rows
// until killed, printing each commit.
func crashWriter(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for {
		var n int64
		err := s.Write(ctx, func(tx *Tx) error {
			var err error
			if n, err = tx.Add("batches", 1); err != nil {
				return err
			}
			for i := range 50 {
				if err := tx.Set(fmt.Sprintf("b%d-%d", n, i), strings.Repeat("v", 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Printf("committed %d\n", n)
	}
}

func TestOutboxCapsDropOldestAndCount(t *testing.T) {
	s, _ := openTemp(t, Options{Outbox: OutboxLimits{MaxMessages: 100, MaxBytes: 1 << 20}})
	for i := range 250 {
		require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
			_, err := tx.Enqueue(Message{Topic: "events", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))})
			return err
		}))
	}
	st, err := s.OutboxStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(100), st.Depth)
	assert.Equal(t, int64(150), st.Dropped)
	msgs, err := s.PeekOutbox(t.Context(), 5)
	require.NoError(t, err)
	require.Len(t, msgs, 5)
	assert.Equal(t, `{"n":150}`, string(msgs[0].Payload), "the oldest were dropped, order kept")
	require.NoError(t, s.AckOutbox(t.Context(), msgs[0].Seq, msgs[1].Seq))
	st, err = s.OutboxStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(98), st.Depth)

	// The byte cap applies too.
	s.SetOutboxLimits(OutboxLimits{MaxMessages: 1000, MaxBytes: 2000})
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		_, err := tx.Enqueue(Message{Topic: "events", Payload: []byte(strings.Repeat("x", 1500))})
		return err
	}))
	st, err = s.OutboxStats(t.Context())
	require.NoError(t, err)
	assert.LessOrEqual(t, st.Bytes, int64(2000))
	msgs, err = s.PeekOutbox(t.Context(), 1000)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("x", 1500), string(msgs[len(msgs)-1].Payload))

	// A restart recomputes the tally from the table.
	var depth int64
	require.NoError(t, s.r.QueryRow("SELECT count(*) FROM outbox").Scan(&depth))
	assert.Equal(t, st.Depth, depth)
}

func TestOutboxOffWithoutLimits(t *testing.T) {
	s, _ := openTemp(t, Options{})
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		return tx.Emit(Event{Kind: "sync.ok", Room: "r@x", Message: "synced"})
	}))
	st, err := s.OutboxStats(t.Context())
	require.NoError(t, err)
	assert.Zero(t, st.Depth)
	evs, err := s.RecentEvents(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "the status page still sees events without a broker")
	assert.Equal(t, "synced", evs[0].Message)
}

func TestRolledBackWriteQueuesNothing(t *testing.T) {
	s, _ := openTemp(t, Options{Outbox: OutboxLimits{MaxMessages: 100}})
	sub := s.Subscribe(TopicOutbox)
	defer sub.Close()
	err := s.Write(t.Context(), func(tx *Tx) error {
		if err := tx.Emit(Event{Kind: "x", Message: "m"}); err != nil {
			return err
		}
		return errors.New("state change failed")
	})
	require.Error(t, err)
	st, err := s.OutboxStats(t.Context())
	require.NoError(t, err)
	assert.Zero(t, st.Depth)
	select {
	case <-sub.C:
		t.Fatal("no change is announced for a rolled-back transaction")
	default:
	}
}

// TestMeetingsReplaceOnlyAnnouncesRealChanges: a row whose hash is the stored one is left
// alone (the model decides what the hash covers; sync/calendar/stored tests that end).
func TestMeetingsReplaceOnlyAnnouncesRealChanges(t *testing.T) {
	s, _ := openTemp(t, Options{})
	room := "room-1@example.com"
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error { return tx.SyncRooms([]RoomRef{{room, "m365"}}) }))
	sub := s.Subscribe(TopicMeetings)
	defer sub.Close()
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	row := func(id, subject string, h int) MeetingRow {
		return MeetingRow{ID: id, Start: start.Add(time.Duration(h) * time.Hour), End: start.Add(time.Duration(h+1) * time.Hour),
			Hash: "h-" + subject, Data: []byte(fmt.Sprintf(`{"id":%q,"subject":%q}`, id, subject))}
	}
	replace := func(m ...MeetingRow) int {
		var n int
		require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
			var err error
			n, err = tx.ReplaceMeetings(room, m, nil)
			return err
		}))
		return n
	}
	assert.Equal(t, 2, replace(row("a", "A", 0), row("b", "B", 2)))
	<-sub.C
	assert.Equal(t, []string{room}, sub.Take())

	assert.Equal(t, 0, replace(row("a", "A", 0), row("b", "B", 2)), "same hashes, nothing written")
	select {
	case <-sub.C:
		t.Fatal("unchanged meetings must not be announced")
	default:
	}
	assert.Equal(t, 2, replace(row("a", "A (moved)", 1)), "one changed, one removed")
	got, err := s.Meetings(t.Context(), room, start, time.Time{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, MeetingRow{Room: room, ID: "a", Start: start.Add(time.Hour), End: start.Add(2 * time.Hour), Hash: "h-A (moved)",
		Data: []byte(`{"id":"a","subject":"A (moved)"}`)}, got[0], "the row as written, its room filled in")

	// With encode, only the rows written are encoded: the unchanged "a" is not asked for.
	var asked []int
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		rows := []MeetingRow{row("a", "A (moved)", 1), row("c", "C", 4)}
		_, err := tx.ReplaceMeetings(room, rows, func(i int) ([]byte, error) {
			asked = append(asked, i)
			return []byte(`{"encoded":true}`), nil
		})
		return err
	}))
	assert.Equal(t, []int{1}, asked)
	got, err = s.Meetings(t.Context(), room, start, time.Time{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.JSONEq(t, `{"encoded":true}`, string(got[1].Data))

	require.Error(t, s.Write(t.Context(), func(tx *Tx) error {
		_, err := tx.ReplaceMeetings(room, []MeetingRow{row("a", "A", 0), row("a", "A", 0)}, nil)
		return err
	}), "a meeting id twice is refused")
}

func TestRemovingRoomRemovesItsData(t *testing.T) {
	s, _ := openTemp(t, Options{})
	room := "room-1@example.com"
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		if err := tx.SyncRooms([]RoomRef{{room, "m365"}, {"room-2@example.com", "m365"}}); err != nil {
			return err
		}
		return tx.PutEvent(room, EventRow{ID: "e1", Start: start, End: start, Data: []byte(`{"id":"e1"}`)})
	}))
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error { return tx.SyncRooms([]RoomRef{{"room-2@example.com", "m365"}}) }))
	n, err := s.EventCount(t.Context(), room)
	require.NoError(t, err)
	assert.Zero(t, n)
	rooms, err := s.Rooms(t.Context())
	require.NoError(t, err)
	require.Len(t, rooms, 1)
}

func TestReadOnlyOpen(t *testing.T) {
	_, err := Open(t.Context(), filepath.Join(t.TempDir(), "none.db"), Options{ReadOnly: true})
	require.ErrorContains(t, err, "no database yet")

	s, path := openTemp(t, Options{})
	_, err = s.BoxID(t.Context())
	require.NoError(t, err)
	ro, err := Open(t.Context(), path, Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	id, err := ro.BoxID(t.Context())
	require.NoError(t, err)
	assert.Len(t, id, 12)
	require.Error(t, ro.Write(t.Context(), func(*Tx) error { return nil }))
}

// makeV1Fixture builds the version-1 fixture from the first migration only (run with -update
// when the fixture must be recreated; it never changes once a version has shipped).
func makeV1Fixture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	all := migrations()
	_, err = db.Exec(all[0].sql)
	require.NoError(t, err)
	for _, q := range []string{
		fmt.Sprintf("PRAGMA user_version = 1; PRAGMA application_id = %d", ApplicationID),
		"INSERT INTO schema_history VALUES (1, 1764000000000, 'v0.1.0')",
		"INSERT INTO kv VALUES ('box_id', '0123456789ab')",
		`INSERT INTO rooms(mailbox, integration, status, delta_link, last_success) VALUES
			('room-1@example.com', 'm365', 'ok', 'https://graph.example/delta?$deltatoken=abc', 1764000000000)`,
		`INSERT INTO raw_events VALUES ('room-1@example.com', 'AAMk1', 'singleInstance', '', 'ck1', 1764061200000, 1764064800000,
			'{"id":"AAMk1","subject":"Fixture meeting","start":{"dateTime":"2025-11-25T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2025-11-25T10:00:00.0000000","timeZone":"UTC"}}', 1764000000000)`,
		`INSERT INTO endpoints(name, type, room, state, cert_sha256) VALUES ('codec-1', 'cisco', 'room-1@example.com', 'up', 'ab12')`,
		"PRAGMA wal_checkpoint(TRUNCATE)",
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := os.Create(fixtureV1)
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	_, err = zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}

func gunzip(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	out, err := os.Create(dst)
	require.NoError(t, err)
	_, err = io.Copy(out, zr)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// TestReadersKeepASmallPageCache: every reader connection holds at most 512 KiB of pages
// (SQLite's default is 2 MiB a connection, outside Go's heap, for as long as the agent runs);
// the writer keeps the default, which the cold start's writes use.
func TestReadersKeepASmallPageCache(t *testing.T) {
	s, _ := openTemp(t, Options{Readers: 3})
	ctx := t.Context()
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := s.r.Conn(ctx) // three at once: three connections of the pool
		require.NoError(t, err)
		conns[i] = c
		var pages int
		require.NoError(t, c.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&pages))
		assert.Equal(t, -512, pages, "reader %d", i)
	}
	for _, c := range conns {
		c.Close()
	}
	var pages int
	require.NoError(t, s.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&pages))
	assert.Equal(t, -2000, pages, "the writer keeps SQLite's default")
}

// HasEvents tells a room with stored events from one without, inside the transaction that is
// writing them: a room's first full sync skips its per-event lookups on it, so it must never
// say "none" for a room that has any (an event would then be rewritten as new).
func TestHasEventsSeesTheRoomsOwnEventsOnly(t *testing.T) {
	s, _ := openTemp(t, Options{})
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	has := func(tx *Tx, room string) bool {
		t.Helper()
		ok, err := tx.HasEvents(room)
		require.NoError(t, err)
		return ok
	}
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		if err := tx.SyncRooms([]RoomRef{{"room-1@example.com", "m365"}, {"room-2@example.com", "m365"}}); err != nil {
			return err
		}
		assert.False(t, has(tx, "room-1@example.com"), "nothing stored yet")
		if err := tx.PutEvent("room-1@example.com", EventRow{ID: "e1", Start: start, End: start, Data: []byte(`{"id":"e1"}`)}); err != nil {
			return err
		}
		assert.True(t, has(tx, "room-1@example.com"), "its own write, before the commit")
		assert.False(t, has(tx, "room-2@example.com"), "another room's events are not its")
		return nil
	}))
	require.NoError(t, s.Write(t.Context(), func(tx *Tx) error {
		assert.True(t, has(tx, "room-1@example.com"))
		if _, err := tx.DeleteEvent("room-1@example.com", "e1"); err != nil {
			return err
		}
		assert.False(t, has(tx, "room-1@example.com"), "its last event deleted")
		return nil
	}))
}

// Package store is otj-edge's SQLite store (modernc.org/sqlite, no cgo): everything a room needs
// survives a restart without network. One writer connection takes every write in an IMMEDIATE
// transaction; a small pool of read-only connections serves reads. The schema lives in embedded,
// numbered SQL migrations applied in one transaction, after a backup of an existing file.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ApplicationID marks an otj-edge database file ("OTJE"), so another program's SQLite file is
// never mistaken for ours.
const ApplicationID = 0x4F544A45

// Options tune Open.
type Options struct {
	Logger     *slog.Logger
	AppVersion string           // recorded in schema_history
	Now        func() time.Time // default time.Now
	// ReadOnly opens without migrating or writing (CLI commands while the agent runs, or after).
	ReadOnly bool
	// Readers is the size of the read pool; default 4.
	Readers int
	// Outbox caps the telemetry outbox; zero values disable telemetry queueing.
	Outbox OutboxLimits
}

// Store is the open database.
type Store struct {
	path    string
	w       *sql.DB // one connection: every write, serialised
	r       *sql.DB // read-only pool
	log     *slog.Logger
	now     func() time.Time
	changes *changes

	outboxMu sync.Mutex
	outbox   outboxState

	stmts stmtCache
	wr    *writer // the writer goroutine (writer.go); nil when read-only
}

// ErrNewerSchema is returned when the file was written by a newer otj-edge.
var ErrNewerSchema = errors.New("database written by a newer otj-edge")

// ErrCorrupt is returned when the file is damaged or not an otj-edge database.
var ErrCorrupt = errors.New("database is damaged")

// Open opens (creating if needed) the store at path, refusing damaged, foreign or newer files
// without touching them, and migrating older ones after taking a backup.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	s := &Store{path: path, log: opts.Logger, now: opts.Now, changes: newChanges()}
	s.outbox.limits = opts.Outbox

	exists, err := s.inspect(ctx)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		if !exists {
			return nil, fmt.Errorf("open store %s: no database yet (has otj-edge run with this state_dir?)", path)
		}
		s.r, err = sql.Open("sqlite", dsn(path, true))
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		s.r.SetMaxOpenConns(opts.Readers)
		return s, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: create directory: %w", err)
	}
	if err := makePrivate(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.w, err = sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx, opts.AppVersion); err != nil {
		s.w.Close()
		return nil, err
	}
	s.startWriter()
	s.r, err = sql.Open("sqlite", dsn(path, true))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(opts.Readers)
	s.r.SetMaxIdleConns(opts.Readers)
	s.r.SetConnMaxIdleTime(3 * time.Minute)
	if err := s.loadOutboxState(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// The store holds every room's meetings (subjects, organizers, join links) and the codecs'
// pinned certificates, so its files are for the agent's user alone (0600) whatever the umask
// (a hand run from a shell usually has 022). SQLite creates a new database with 0644 less the
// umask, but gives the -wal and -shm files the database file's own mode, forcing it on
// creation; so the database file is created here first, with 0600, and files an older
// version left open to others are tightened. Windows protects them with ACLs instead.

// makePrivate creates the database file (empty, 0600) if it does not exist and takes group
// and other access away from it, its -wal and -shm files and its upgrade backups.
func makePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	files := []string{path, path + "-wal", path + "-shm"}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(path)+".bak-v") {
			files = append(files, filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
	for _, p := range files {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("make %s private to the agent: %w", p, err)
			}
		}
	}
	return nil
}

// createPrivate replaces dst with an empty file only the agent's user can read: VACUUM INTO
// accepts an empty file and keeps its mode, where a file it creates gets 0644 less the umask.
func createPrivate(dst string) error {
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds the connection string. busy_timeout comes first so a connection racing another
// for the WAL switch waits instead of failing (PocketBase's note); _txlock=immediate makes
// every transaction take the write lock at BEGIN, so none fails upgrading from read to write.
func dsn(path string, readOnly bool) string {
	p := filepath.ToSlash(path)
	if runtime.GOOS == "windows" && len(p) > 1 && p[1] == ':' {
		p = "/" + p // file:/C:/... (Syncthing's fileToUriPath)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// A reader's page cache (SQLite's default is 2 MiB a connection, held outside Go's heap
		// for as long as the connection lives) mostly holds pages the OS caches too: a reader
		// goes through one room's events at a time. 512 KiB holds that.
		q.Add("_pragma", "cache_size(-512)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "journal_size_limit(16777216)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

// inspect looks at an existing file without changing it: SQLite header, application id,
// schema version and a quick integrity check. It reports whether the file exists.
func (s *Store) inspect(ctx context.Context) (bool, error) {
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open store: %w", err)
	}
	if fi.Size() == 0 {
		return false, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return false, fmt.Errorf("open store: %w", err)
	}
	header := make([]byte, 16)
	_, err = f.Read(header)
	f.Close()
	if err != nil || string(header) != "SQLite format 3\x00" {
		return true, s.corrupt("it is not an SQLite database")
	}
	db, err := sql.Open("sqlite", dsn(s.path, true)+"&mode=ro")
	if err != nil {
		return true, fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var appID, version int64
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return true, s.corrupt(err.Error())
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return true, s.corrupt(err.Error())
	}
	if appID != 0 && appID != ApplicationID {
		return true, fmt.Errorf("%w: %s belongs to another program (application_id %#x); point state_dir elsewhere", ErrCorrupt, s.path, appID)
	}
	if latest := latestVersion(); version > int64(latest) {
		return true, fmt.Errorf("%w: %s has schema version %d, this otj-edge knows up to %d; install the newer otj-edge again, or move the file aside to start over (calendar data is fetched again from Microsoft 365)",
			ErrNewerSchema, s.path, version, latest)
	}
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return true, s.corrupt(err.Error())
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return true, s.corrupt(err.Error())
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return true, s.corrupt(err.Error())
	}
	if len(problems) > 0 {
		return true, s.corrupt(strings.Join(problems[:min(3, len(problems))], "; "))
	}
	return true, nil
}

func (s *Store) corrupt(why string) error {
	return fmt.Errorf("%w: %s: %s. The file has been left untouched. To recover, stop otj-edge, move it aside "+
		"(for example: mv %s %s.damaged) and start otj-edge again: it rebuilds the calendar cache from Microsoft 365 "+
		"and pins codec certificates again on first use. A backup from the last upgrade may exist as %s.bak-v*",
		ErrCorrupt, s.path, why, s.path, s.path, s.path)
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops the writer goroutine (a batch in progress commits; writes still queued fail)
// and closes both pools.
func (s *Store) Close() error {
	var errs []error
	if s.wr != nil {
		s.stopWriter()
	}
	s.closeStmts()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// ReadOnly reports whether the store was opened without a writer.
func (s *Store) ReadOnly() bool { return s.w == nil }

// Tx is one write (a savepoint of the writer's transaction when it shares one, writer.go).
// Its methods write; changes it records are announced to subscribers after the commit.
type Tx struct {
	tx      *sql.Tx
	s       *Store
	now     time.Time
	changed map[string]map[string]bool
	outbox  outboxDelta // this function's change to the outbox
	pending outboxDelta // the batch's before it, not yet committed
	ctx     context.Context
	// unprepared: statements run without a cached statement (prepared once the
	// transaction has ended, see stmts.go).
	unprepared map[string]bool
}

// Changed records that key (a room, an endpoint…) changed under topic; subscribers hear it
// once the transaction commits.
func (t *Tx) Changed(topic, key string) {
	if t.changed == nil {
		t.changed = map[string]map[string]bool{}
	}
	m := t.changed[topic]
	if m == nil {
		m = map[string]bool{}
		t.changed[topic] = m
	}
	m[key] = true
}

// Now is the write's clock reading (one per Write, so its rows agree).
func (t *Tx) Now() time.Time { return t.now }

// IntegrityCheck runs PRAGMA integrity_check and returns an error listing what is wrong.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.query(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Maintain checkpoints the WAL and lets SQLite refresh its statistics; the agent calls it now
// and then (Syncthing's db service).
func (s *Store) Maintain(ctx context.Context) error {
	if s.w == nil {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA optimize"); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

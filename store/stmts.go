package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements are kept and reused. At steady state the agent runs the same few dozen
// statements thousands of times a minute (every calendar poll writes its room's sync state, every
// Cisco push and Poly poll reads meetings, telemetry reads every room), and parsing the SQL
// again each time was the largest single item of the agent's steady CPU profile (about 12 %,
// in sqlite3_prepare). database/sql prepares a cached statement once per connection and
// modernc keeps the SQLite statement handle; a statement is reset when its rows are closed, so
// a cached statement holds no read snapshot between uses.
type stmtCache struct {
	mu     sync.Mutex
	m      map[stmtKey]*sql.Stmt
	closed bool
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// maxCachedStmts bounds the cache: query texts are constants, except a few built with one
// placeholder per argument; those beyond the bound are run unprepared (as before).
const maxCachedStmts = 256

// cached returns the cached statement for q on db, or nil.
func (s *Store) cached(db *sql.DB, q string) *sql.Stmt {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[stmtKey{db, q}]
}

// prepare caches a statement for q on db. It holds no lock while preparing (preparing needs
// a connection, which may be busy) and never runs inside a transaction on the writer: its one
// connection would be the transaction's (the writer goroutine prepares what a batch used
// after its commit, writer.go).
func (s *Store) prepare(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	c := &s.stmts
	k := stmtKey{db, q}
	c.mu.Lock()
	if st, ok := c.m[k]; ok || c.closed || len(c.m) >= maxCachedStmts {
		c.mu.Unlock()
		return st
	}
	c.mu.Unlock()
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok || c.closed || len(c.m) >= maxCachedStmts {
		_ = st.Close()
		return old
	}
	if c.m == nil {
		c.m = map[stmtKey]*sql.Stmt{}
	}
	c.m[k] = st
	return st
}

// closeStmts closes every cached statement (before the databases close).
func (s *Store) closeStmts() {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for k, st := range c.m {
		_ = st.Close()
		delete(c.m, k)
	}
}

// query runs a read on the read pool.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx, err := readContext(ctx)
	if err != nil {
		return nil, err
	}
	if st := s.prepare(ctx, s.r, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, q, args...)
}

// queryRow runs a one-row read on the read pool.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx, err := readContext(ctx)
	if err != nil {
		// Only database/sql makes a Row that holds an error: on the ended context it runs
		// nothing and Scan returns ctx's error.
		return s.r.QueryRowContext(ctx, q, args...)
	}
	if st := s.prepare(ctx, s.r, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, q, args...)
}

// readContext is the context the store's own reads run under: ctx's values without its end,
// once ctx is checked. A read on a context that can end costs two goroutines, database/sql's
// watch over the rows and the driver's over the statement, and the agent reads thousands of
// times a minute (every push, Poly poll and telemetry flush). At a cold start, when the two
// cores are full, those goroutines waited hundreds at a time for their turn to end: an
// execution trace counted 2,762 goroutines at once, 1,761 of them these, and the runtime keeps
// a record of every goroutine of such a peak for good. The reads are short, indexed ones that
// never wait for the writer (WAL): a read asked for before ctx ends runs to its end, a few
// milliseconds, and one asked for after is refused. (The writer's transactions run the same
// way, writer.go.)
func readContext(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return ctx, err
	}
	return context.WithoutCancel(ctx), nil
}

// stmt is q's cached statement bound to the transaction, or nil the first time q runs (the
// transaction holds the writer's only connection, so q is prepared after it ends).
func (t *Tx) stmt(q string) *sql.Stmt {
	if st := t.s.cached(t.s.w, q); st != nil {
		return t.tx.StmtContext(t.ctx, st)
	}
	if t.unprepared == nil {
		t.unprepared = map[string]bool{}
	}
	t.unprepared[q] = true
	return nil
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	if st := t.stmt(q); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(q); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	if st := t.stmt(q); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

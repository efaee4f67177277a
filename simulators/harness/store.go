package harness

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the store's own driver
)

// StoreCheck is what a stopped (or killed) agent left in its store.
type StoreCheck struct {
	// Integrity is PRAGMA integrity_check's answer ("ok" when the database is sound).
	Integrity string
	// QueuedEvents are the ids of the events (topic "events") waiting in the outbox.
	QueuedEvents []string
	// Queued counts every message waiting in the outbox, whatever its topic.
	Queued int64
	// EventsEmitted is how many events the store has ever logged: each store.Tx.Emit writes
	// one event_log row (AUTOINCREMENT, never reused) and queues one MQTT event in the same
	// transaction.
	EventsEmitted int64
	// Dropped is the outbox_dropped counter (messages dropped over the outbox caps).
	Dropped int64
}

// CheckStore opens the agent's SQLite store read-only while the agent is not running, runs
// integrity_check and reads the outbox. Run it only on a store no process is writing.
func CheckStore(ctx context.Context, path string) (StoreCheck, error) {
	var c StoreCheck
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return c, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return c, fmt.Errorf("integrity_check %s: %w", path, err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return c, err
		}
		if c.Integrity != "" {
			c.Integrity += "; "
		}
		c.Integrity += line
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, err
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM outbox").Scan(&c.Queued); err != nil {
		return c, fmt.Errorf("read outbox: %w", err)
	}
	ids, err := db.QueryContext(ctx, "SELECT msg_id FROM outbox WHERE topic = 'events' ORDER BY seq")
	if err != nil {
		return c, fmt.Errorf("read outbox: %w", err)
	}
	for ids.Next() {
		var id string
		if err := ids.Scan(&id); err != nil {
			ids.Close()
			return c, err
		}
		c.QueuedEvents = append(c.QueuedEvents, id)
	}
	ids.Close()
	// sqlite_sequence has no row before the first event.
	_ = db.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'event_log'").Scan(&c.EventsEmitted)
	var dropped sql.NullString
	_ = db.QueryRowContext(ctx, "SELECT value FROM kv WHERE key = 'outbox_dropped'").Scan(&dropped)
	if dropped.Valid {
		_ = json.Unmarshal([]byte(dropped.String), &c.Dropped)
	}
	return c, nil
}

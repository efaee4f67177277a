package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// The store keeps events and meetings model-agnostic: a row is the columns the store indexes
// plus the model's own JSON, opaque here. The neutral model (sync/calendar) and its typed
// reads and writes live in sync/calendar/stored, so the store imports no layer above it.

// EventRow is one stored calendar event (or series master): what the store indexes, and Data,
// the event as its model encodes it.
type EventRow struct {
	ID, Type, SeriesMasterID, ChangeKey string
	Start, End                          time.Time
	Cancelled                           bool
	Data                                []byte
}

// eventCols are the columns scanEvent reads, in its order.
const eventCols = "id, type, series_master_id, change_key, start_ms, end_ms, cancelled, data"

func scanEvent(sc interface{ Scan(...any) error }) (EventRow, error) {
	var ev EventRow
	var st, en int64
	var data string
	if err := sc.Scan(&ev.ID, &ev.Type, &ev.SeriesMasterID, &ev.ChangeKey, &st, &en, &ev.Cancelled, &data); err != nil {
		return ev, err
	}
	ev.Start, ev.End, ev.Data = fromMS(st), fromMS(en), []byte(data)
	return ev, nil
}

// PutEvent stores one event of a room as the source gave it: ev.Data is the event's JSON (with
// partial updates already merged), the other fields what the store indexes.
func (t *Tx) PutEvent(room string, ev EventRow) error {
	if ev.Data == nil {
		return fmt.Errorf("store event %s: no data", ev.ID)
	}
	_, err := t.exec(`INSERT INTO raw_events(room, id, type, series_master_id, change_key, start_ms, end_ms, cancelled, data, updated)
		VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(room, id) DO UPDATE SET type=excluded.type, series_master_id=excluded.series_master_id,
		change_key=excluded.change_key, start_ms=excluded.start_ms, end_ms=excluded.end_ms, cancelled=excluded.cancelled,
		data=excluded.data, updated=excluded.updated`,
		room, ev.ID, ev.Type, ev.SeriesMasterID, ev.ChangeKey, ms(ev.Start), ms(ev.End), ev.Cancelled, textArg(ev.Data), ms(t.now))
	if err != nil {
		return fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	t.Changed(TopicEvents, room)
	return nil
}

// textArg passes JSON bytes as the TEXT argument the STRICT column wants (a []byte would bind
// as a BLOB) without copying them first: the driver copies a text argument into SQLite's
// memory while the statement runs, and the caller's bytes are not changed meanwhile (Tx
// methods run synchronously). string(data) copied every event (4-5 KB each, 40,000 at a
// 1,000-room cold start) only to throw the copy away.
func textArg(data []byte) string { return unsafe.String(unsafe.SliceData(data), len(data)) }

// EventJSON reads one stored event's JSON inside the transaction (to merge a partial update).
func (t *Tx) EventJSON(room, id string) ([]byte, bool, error) {
	var data string
	err := t.queryRow("SELECT data FROM raw_events WHERE room = ? AND id = ?", room, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read event %s: %w", id, err)
	}
	return []byte(data), true, nil
}

// HasEvents reports whether any event of room is stored. A room's first full sync finds none,
// and then need not look each event up before storing it.
func (t *Tx) HasEvents(room string) (bool, error) {
	var has bool
	if err := t.queryRow("SELECT EXISTS(SELECT 1 FROM raw_events WHERE room = ?)", room).Scan(&has); err != nil {
		return false, fmt.Errorf("look for events of %s: %w", room, err)
	}
	return has, nil
}

// DeleteEvent removes one event; it reports whether the event was there.
func (t *Tx) DeleteEvent(room, id string) (bool, error) {
	res, err := t.exec("DELETE FROM raw_events WHERE room = ? AND id = ?", room, id)
	if err != nil {
		return false, fmt.Errorf("delete event %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		t.Changed(TopicEvents, room)
	}
	return n > 0, nil
}

// ClearEvents removes every event of a room (before a full resync's first page lands).
func (t *Tx) ClearEvents(room string) error {
	if _, err := t.exec("DELETE FROM raw_events WHERE room = ?", room); err != nil {
		return fmt.Errorf("clear events of %s: %w", room, err)
	}
	t.Changed(TopicEvents, room)
	return nil
}

// Events lists a room's stored events by start time.
func (s *Store) Events(ctx context.Context, room string) ([]EventRow, error) {
	rows, err := s.query(ctx, "SELECT "+eventCols+" FROM raw_events WHERE room = ? ORDER BY start_ms, id", room)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", room, err)
	}
	defer rows.Close()
	var out []EventRow
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events of %s: %w", room, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// EachEvent calls fn with each of a room's stored events by start time, reading them one at a
// time: ev.Data is valid only during the call (the next row reuses its buffer), so fn decodes
// it or copies it. The processor and the diagnosis read every event of a room after each
// change (180 KB of JSON for 40 Teams invites); Events' copy of each row was a second
// allocation of all of it. An error from fn stops the walk and is returned as it is.
func (s *Store) EachEvent(ctx context.Context, room string, fn func(ev EventRow) error) error {
	rows, err := s.query(ctx, "SELECT "+eventCols+" FROM raw_events WHERE room = ? ORDER BY start_ms, id", room)
	if err != nil {
		return fmt.Errorf("list events of %s: %w", room, err)
	}
	defer rows.Close()
	var ev EventRow
	var st, en int64
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&ev.ID, &ev.Type, &ev.SeriesMasterID, &ev.ChangeKey, &st, &en, &ev.Cancelled, &data); err != nil {
			return fmt.Errorf("list events of %s: %w", room, err)
		}
		ev.Start, ev.End, ev.Data = fromMS(st), fromMS(en), data
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list events of %s: %w", room, err)
	}
	return nil
}

// EventCount is how many events a room has stored.
func (s *Store) EventCount(ctx context.Context, room string) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT count(*) FROM raw_events WHERE room = ?", room).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count events of %s: %w", room, err)
	}
	return n, nil
}

// PutMaster stores a recurring series' master event (fetched once per changeKey): of ev, the
// store keeps ID, ChangeKey and Data.
func (t *Tx) PutMaster(room string, ev EventRow) error {
	if ev.Data == nil {
		return fmt.Errorf("store series master %s: no data", ev.ID)
	}
	_, err := t.exec(`INSERT INTO series_masters(room, id, change_key, data, fetched) VALUES (?,?,?,?,?)
		ON CONFLICT(room, id) DO UPDATE SET change_key=excluded.change_key, data=excluded.data, fetched=excluded.fetched`,
		room, ev.ID, ev.ChangeKey, textArg(ev.Data), ms(t.now))
	if err != nil {
		return fmt.Errorf("store series master %s: %w", ev.ID, err)
	}
	t.Changed(TopicEvents, room)
	return nil
}

// DeleteMaster forgets a series master.
func (t *Tx) DeleteMaster(room, id string) error {
	if _, err := t.exec("DELETE FROM series_masters WHERE room = ? AND id = ?", room, id); err != nil {
		return fmt.Errorf("delete series master %s: %w", id, err)
	}
	t.Changed(TopicEvents, room)
	return nil
}

// Master reads a stored series master (ID, ChangeKey and Data); ok is false when it has not
// been fetched.
func (s *Store) Master(ctx context.Context, room, id string) (EventRow, bool, error) {
	ev := EventRow{ID: id}
	var data string
	err := s.queryRow(ctx, "SELECT change_key, data FROM series_masters WHERE room = ? AND id = ?", room, id).Scan(&ev.ChangeKey, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return EventRow{}, false, nil
	}
	if err != nil {
		return EventRow{}, false, fmt.Errorf("read series master %s: %w", id, err)
	}
	ev.Data = []byte(data)
	return ev, true, nil
}

// Masters returns a room's series masters (ID, ChangeKey and Data).
func (s *Store) Masters(ctx context.Context, room string) ([]EventRow, error) {
	rows, err := s.query(ctx, "SELECT id, change_key, data FROM series_masters WHERE room = ? ORDER BY id", room)
	if err != nil {
		return nil, fmt.Errorf("list series masters of %s: %w", room, err)
	}
	defer rows.Close()
	var out []EventRow
	for rows.Next() {
		var ev EventRow
		var data string
		if err := rows.Scan(&ev.ID, &ev.ChangeKey, &data); err != nil {
			return nil, fmt.Errorf("list series masters of %s: %w", room, err)
		}
		ev.Data = []byte(data)
		out = append(out, ev)
	}
	return out, rows.Err()
}

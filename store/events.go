package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// PutEvent stores one event of a room as the source gave it. data is the event's JSON (with
// partial updates already merged); when nil, ev is marshalled. With data, ev need only carry
// what the store indexes: id, type, series master, changeKey, times and whether it is
// cancelled.
func (t *Tx) PutEvent(room string, ev calendar.Event, data []byte) error {
	start, err := ev.StartTime()
	if err != nil {
		return fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	end, err := ev.EndTime()
	if err != nil {
		return fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	if data == nil {
		if data, err = json.Marshal(ev); err != nil {
			return fmt.Errorf("store event %s: %w", ev.ID, err)
		}
	}
	_, err = t.exec(`INSERT INTO raw_events(room, id, type, series_master_id, change_key, start_ms, end_ms, cancelled, data, updated)
		VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(room, id) DO UPDATE SET type=excluded.type, series_master_id=excluded.series_master_id,
		change_key=excluded.change_key, start_ms=excluded.start_ms, end_ms=excluded.end_ms, cancelled=excluded.cancelled,
		data=excluded.data, updated=excluded.updated`,
		room, ev.ID, ev.Type, ev.SeriesMasterID, ev.ChangeKey, ms(start), ms(end), ev.IsCancelled, string(data), ms(t.now))
	if err != nil {
		return fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	t.Changed(TopicEvents, room)
	return nil
}

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

// Events lists a room's stored events by start time, decoded.
func (s *Store) Events(ctx context.Context, room string) ([]calendar.Event, error) {
	rows, err := s.query(ctx, "SELECT data FROM raw_events WHERE room = ? ORDER BY start_ms, id", room)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", room, err)
	}
	defer rows.Close()
	var out []calendar.Event
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list events of %s: %w", room, err)
		}
		var ev calendar.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, fmt.Errorf("list events of %s: decode: %w", room, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
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

// PutMaster stores a recurring series' master event (fetched once per changeKey).
func (t *Tx) PutMaster(room string, ev calendar.Event, data []byte) error {
	var err error
	if data == nil {
		if data, err = json.Marshal(ev); err != nil {
			return fmt.Errorf("store series master %s: %w", ev.ID, err)
		}
	}
	_, err = t.exec(`INSERT INTO series_masters(room, id, change_key, data, fetched) VALUES (?,?,?,?,?)
		ON CONFLICT(room, id) DO UPDATE SET change_key=excluded.change_key, data=excluded.data, fetched=excluded.fetched`,
		room, ev.ID, ev.ChangeKey, string(data), ms(t.now))
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

// Master reads a stored series master; ok is false when it has not been fetched.
func (s *Store) Master(ctx context.Context, room, id string) (calendar.Event, bool, error) {
	var data string
	err := s.queryRow(ctx, "SELECT data FROM series_masters WHERE room = ? AND id = ?", room, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return calendar.Event{}, false, nil
	}
	if err != nil {
		return calendar.Event{}, false, fmt.Errorf("read series master %s: %w", id, err)
	}
	var ev calendar.Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		return ev, false, fmt.Errorf("read series master %s: %w", id, err)
	}
	return ev, true, nil
}

// Masters returns a room's series masters by id.
func (s *Store) Masters(ctx context.Context, room string) (map[string]calendar.Event, error) {
	rows, err := s.query(ctx, "SELECT data FROM series_masters WHERE room = ?", room)
	if err != nil {
		return nil, fmt.Errorf("list series masters of %s: %w", room, err)
	}
	defer rows.Close()
	out := map[string]calendar.Event{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list series masters of %s: %w", room, err)
		}
		var ev calendar.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, fmt.Errorf("list series masters of %s: %w", room, err)
		}
		out[ev.ID] = ev
	}
	return out, rows.Err()
}

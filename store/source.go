package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Methods a calendar source needs beyond the generic event API. They speak of the columns the
// store indexes, never of a source's JSON: what a
// source needs from its own JSON it reads from the data these return.

// Span is the scheduled time of one stored event.
type Span struct {
	Start, End time.Time
}

// EventSpans lists the times of a room's stored events that overlap [from, to), cancelled ones
// left out, by start. The sync scheduler reads them to know when a room has a meeting soon.
func (s *Store) EventSpans(ctx context.Context, room string, from, to time.Time) ([]Span, error) {
	rows, err := s.query(ctx, `SELECT start_ms, end_ms FROM raw_events
		WHERE room = ? AND end_ms > ? AND start_ms < ? AND cancelled = 0
		ORDER BY start_ms`, room, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("event times of %s: %w", room, err)
	}
	defer rows.Close()
	var out []Span
	for rows.Next() {
		var st, en int64
		if err := rows.Scan(&st, &en); err != nil {
			return nil, fmt.Errorf("event times of %s: %w", room, err)
		}
		out = append(out, Span{fromMS(st), fromMS(en)})
	}
	return out, rows.Err()
}

// EventData returns the stored data (as PutEvent was given it) of each of ids that is stored,
// for the source to compare with what it fetches now.
func (s *Store) EventData(ctx context.Context, room string, ids []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	ctx, err := readContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("stored events of %s: %w", room, err)
	}
	for len(ids) > 0 {
		n := min(len(ids), 200)
		args := []any{room}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		rows, err := s.r.QueryContext(ctx, `SELECT id, data FROM raw_events
			WHERE room = ? AND id IN (?`+strings.Repeat(",?", n-1)+`)`, args...) // one text per count: not cached
		if err != nil {
			return nil, fmt.Errorf("stored events of %s: %w", room, err)
		}
		for rows.Next() {
			var id, data string
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("stored events of %s: %w", room, err)
			}
			out[id] = []byte(data)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("stored events of %s: %w", room, err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// MasterJSON reads a stored series master's JSON and changeKey inside the transaction.
func (t *Tx) MasterJSON(room, id string) (data []byte, changeKey string, ok bool, err error) {
	var d string
	err = t.queryRow("SELECT data, change_key FROM series_masters WHERE room = ? AND id = ?", room, id).Scan(&d, &changeKey)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("read series master %s: %w", id, err)
	}
	return []byte(d), changeKey, true, nil
}

// SeriesEvents returns the stored events of a series whose type is occurrenceType (the model's
// name for a plain occurrence, calendar.TypeOccurrence), id → JSON, to refill them when the
// series master changed.
func (t *Tx) SeriesEvents(room, masterID, occurrenceType string) (map[string][]byte, error) {
	rows, err := t.query("SELECT id, data FROM raw_events WHERE room = ? AND series_master_id = ? AND type = ?", room, masterID, occurrenceType)
	if err != nil {
		return nil, fmt.Errorf("occurrences of %s: %w", masterID, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("occurrences of %s: %w", masterID, err)
		}
		out[id] = []byte(data)
	}
	return out, rows.Err()
}

// SweepEvents deletes a room's events whose ids are not in keep (after a full resync has
// listed everything that exists), and series masters no stored event refers to any more. It
// returns how many events were deleted.
func (t *Tx) SweepEvents(room string, keep map[string]bool) (int, error) {
	rows, err := t.query("SELECT id FROM raw_events WHERE room = ?", room)
	if err != nil {
		return 0, fmt.Errorf("sweep events of %s: %w", room, err)
	}
	var drop []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sweep events of %s: %w", room, err)
		}
		if !keep[id] {
			drop = append(drop, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sweep events of %s: %w", room, err)
	}
	for _, id := range drop {
		if _, err := t.exec("DELETE FROM raw_events WHERE room = ? AND id = ?", room, id); err != nil {
			return 0, fmt.Errorf("sweep events of %s: %w", room, err)
		}
	}
	res, err := t.exec(`DELETE FROM series_masters WHERE room = ? AND id NOT IN
		(SELECT series_master_id FROM raw_events WHERE room = ? AND series_master_id <> '')`, room, room)
	if err != nil {
		return 0, fmt.Errorf("sweep series masters of %s: %w", room, err)
	}
	if n, _ := res.RowsAffected(); n > 0 || len(drop) > 0 {
		t.Changed(TopicEvents, room)
	}
	return len(drop), nil
}

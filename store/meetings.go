package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// ReplaceMeetings makes a room's resolved meetings exactly ms: rows whose content is unchanged
// are left alone, so "meetings changed" fires only when something an endpoint shows changed.
// It reports how many meetings were added, changed or removed.
func (t *Tx) ReplaceMeetings(room string, meetings []calendar.Meeting) (int, error) {
	rows, err := t.query("SELECT id, hash FROM meetings WHERE room = ?", room)
	if err != nil {
		return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
	}
	have := map[string]string{}
	for rows.Next() {
		var id, h string
		if err := rows.Scan(&id, &h); err != nil {
			rows.Close()
			return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
		}
		have[id] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
	}
	changed := 0
	seen := map[string]bool{}
	for i := range meetings {
		m := &meetings[i]
		m.Room = room
		if seen[m.ID] {
			return 0, fmt.Errorf("replace meetings of %s: meeting id %q appears twice", room, m.ID)
		}
		seen[m.ID] = true
		h := m.Hash()
		if have[m.ID] == h {
			continue
		}
		data, err := json.Marshal(m)
		if err != nil {
			return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
		}
		if _, err := t.exec(`INSERT INTO meetings(room, id, start_ms, end_ms, hash, data, updated) VALUES (?,?,?,?,?,?,?)
			ON CONFLICT(room, id) DO UPDATE SET start_ms=excluded.start_ms, end_ms=excluded.end_ms, hash=excluded.hash,
			data=excluded.data, updated=excluded.updated`,
			room, m.ID, ms(m.Start), ms(m.End), h, string(data), ms(t.now)); err != nil {
			return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
		}
		changed++
	}
	for id := range have {
		if !seen[id] {
			if _, err := t.exec("DELETE FROM meetings WHERE room = ? AND id = ?", room, id); err != nil {
				return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
			}
			changed++
		}
	}
	if changed > 0 {
		t.Changed(TopicMeetings, room)
	}
	return changed, nil
}

// Meetings lists a room's meetings that overlap [from, to) by start time; a zero to means no
// upper bound.
func (s *Store) Meetings(ctx context.Context, room string, from, to time.Time) ([]calendar.Meeting, error) {
	q := "SELECT data FROM meetings WHERE room = ? AND end_ms > ?"
	args := []any{room, ms(from)}
	if !to.IsZero() {
		q += " AND start_ms < ?"
		args = append(args, ms(to))
	}
	return s.queryMeetings(ctx, q+" ORDER BY start_ms, id", args...)
}

// AllMeetings lists every room's meetings overlapping [from, to), by room then start.
func (s *Store) AllMeetings(ctx context.Context, from, to time.Time) ([]calendar.Meeting, error) {
	q := "SELECT data FROM meetings WHERE end_ms > ?"
	args := []any{ms(from)}
	if !to.IsZero() {
		q += " AND start_ms < ?"
		args = append(args, ms(to))
	}
	return s.queryMeetings(ctx, q+" ORDER BY room, start_ms, id", args...)
}

func (s *Store) queryMeetings(ctx context.Context, q string, args ...any) ([]calendar.Meeting, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list meetings: %w", err)
	}
	defer rows.Close()
	var out []calendar.Meeting
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list meetings: %w", err)
		}
		var m calendar.Meeting
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return nil, fmt.Errorf("list meetings: decode: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

package store

import (
	"context"
	"fmt"
	"time"
)

// MeetingRow is one resolved meeting of a room: what the store indexes, Hash (the model's
// digest of what an endpoint shows, compared to skip unchanged rows) and Data, the meeting as
// its model encodes it. ReplaceMeetings ignores Room (the room it is given wins).
type MeetingRow struct {
	Room, ID   string
	Start, End time.Time
	Hash       string
	Data       []byte
}

// meetingCols are the columns scanMeeting reads, in its order.
const meetingCols = "room, id, start_ms, end_ms, hash, data"

func scanMeeting(sc interface{ Scan(...any) error }) (MeetingRow, error) {
	var m MeetingRow
	var st, en int64
	var data string
	if err := sc.Scan(&m.Room, &m.ID, &st, &en, &m.Hash, &data); err != nil {
		return m, err
	}
	m.Start, m.End, m.Data = fromMS(st), fromMS(en), []byte(data)
	return m, nil
}

// ReplaceMeetings makes a room's resolved meetings exactly meetings: rows whose hash is
// unchanged are left alone, so "meetings changed" fires only when something an endpoint shows
// changed. It reports how many meetings were added, changed or removed. When encode is not
// nil, a row's Data is encode(i), asked only for the rows written: after a sync round most
// meetings are unchanged, and encoding them all would be most of the write's cost.
func (t *Tx) ReplaceMeetings(room string, meetings []MeetingRow, encode func(i int) ([]byte, error)) (int, error) {
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
		if seen[m.ID] {
			return 0, fmt.Errorf("replace meetings of %s: meeting id %q appears twice", room, m.ID)
		}
		seen[m.ID] = true
		if have[m.ID] == m.Hash {
			continue
		}
		data := m.Data
		if encode != nil {
			var err error
			if data, err = encode(i); err != nil {
				return 0, fmt.Errorf("replace meetings of %s: %w", room, err)
			}
		}
		if _, err := t.exec(`INSERT INTO meetings(room, id, start_ms, end_ms, hash, data, updated) VALUES (?,?,?,?,?,?,?)
			ON CONFLICT(room, id) DO UPDATE SET start_ms=excluded.start_ms, end_ms=excluded.end_ms, hash=excluded.hash,
			data=excluded.data, updated=excluded.updated`,
			room, m.ID, ms(m.Start), ms(m.End), m.Hash, string(data), ms(t.now)); err != nil {
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

// HasMeetings reports whether any meeting of the room is stored.
func (s *Store) HasMeetings(ctx context.Context, room string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, "SELECT EXISTS(SELECT 1 FROM meetings WHERE room = ?)", room).Scan(&n); err != nil {
		return false, fmt.Errorf("read whether %s has meetings: %w", room, err)
	}
	return n == 1, nil
}

// Meetings lists a room's meetings that overlap [from, to) by start time; a zero to means no
// upper bound.
func (s *Store) Meetings(ctx context.Context, room string, from, to time.Time) ([]MeetingRow, error) {
	q := "SELECT " + meetingCols + " FROM meetings WHERE room = ? AND end_ms > ?"
	args := []any{room, ms(from)}
	if !to.IsZero() {
		q += " AND start_ms < ?"
		args = append(args, ms(to))
	}
	return s.queryMeetings(ctx, q+" ORDER BY start_ms, id", args...)
}

// AllMeetings lists every room's meetings overlapping [from, to), by room then start.
func (s *Store) AllMeetings(ctx context.Context, from, to time.Time) ([]MeetingRow, error) {
	q := "SELECT " + meetingCols + " FROM meetings WHERE end_ms > ?"
	args := []any{ms(from)}
	if !to.IsZero() {
		q += " AND start_ms < ?"
		args = append(args, ms(to))
	}
	return s.queryMeetings(ctx, q+" ORDER BY room, start_ms, id", args...)
}

func (s *Store) queryMeetings(ctx context.Context, q string, args ...any) ([]MeetingRow, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list meetings: %w", err)
	}
	defer rows.Close()
	var out []MeetingRow
	for rows.Next() {
		m, err := scanMeeting(rows)
		if err != nil {
			return nil, fmt.Errorf("list meetings: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Reads for the status page, its JSON API and the operator CLI.

// RoomAgenda is a room's day at a glance: how many meetings overlap today, the meeting in
// progress (if any) and the next one to start.
type RoomAgenda struct {
	Today   int
	Current *MeetingRow
	Next    *MeetingRow
}

// Agendas returns the agenda of every room that has meetings, keyed by room, in two queries
// whatever the number of rooms: how many meetings overlap [dayStart, dayEnd), the first
// meeting running at now (by start) and the first starting after now.
func (s *Store) Agendas(ctx context.Context, dayStart, dayEnd, now time.Time) (map[string]RoomAgenda, error) {
	out := map[string]RoomAgenda{}
	rows, err := s.query(ctx, `SELECT room, count(*) FROM meetings WHERE start_ms < ? AND end_ms > ? GROUP BY room`,
		ms(dayEnd), ms(dayStart))
	if err != nil {
		return nil, fmt.Errorf("room agendas: %w", err)
	}
	for rows.Next() {
		var room string
		var n int
		if err := rows.Scan(&room, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("room agendas: %w", err)
		}
		out[room] = RoomAgenda{Today: n}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("room agendas: %w", err)
	}

	// Each room's current meeting (started, not over: the earliest start) and next one (the
	// earliest start to come), as RoomDay finds them, by two lookups per room in the (room,
	// start_ms) index. Numbering every meeting not yet over with a window function, as this
	// did, sorted all of them with their data: 4-5 times the work at 1,000 rooms × 40 meetings,
	// and the status API (polled by the status page and the bench) runs it on each call.
	// CROSS JOIN keeps that order (rooms, then their meetings): without ANALYZE statistics
	// SQLite chose to scan every meeting and run both lookups for each.
	rows, err = s.query(ctx, `SELECT f.upcoming, meetings.room, id, start_ms, end_ms, hash, data FROM (
			SELECT 0 AS upcoming, mailbox AS room, (SELECT id FROM meetings WHERE room = rooms.mailbox
				AND start_ms <= ?1 AND end_ms > ?1 ORDER BY start_ms, id LIMIT 1) AS mid FROM rooms
			UNION ALL
			SELECT 1, mailbox, (SELECT id FROM meetings WHERE room = rooms.mailbox
				AND start_ms > ?1 ORDER BY start_ms, id LIMIT 1) FROM rooms
		) AS f CROSS JOIN meetings ON meetings.room = f.room AND meetings.id = f.mid`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("room agendas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var upcoming bool
		var m MeetingRow
		var st, en int64
		var data string
		if err := rows.Scan(&upcoming, &m.Room, &m.ID, &st, &en, &m.Hash, &data); err != nil {
			return nil, fmt.Errorf("room agendas: %w", err)
		}
		m.Start, m.End, m.Data = fromMS(st), fromMS(en), []byte(data)
		a := out[m.Room]
		if upcoming {
			a.Next = &m
		} else {
			a.Current = &m
		}
		out[m.Room] = a
	}
	return out, rows.Err()
}

// EventFilter selects entries of the recent-events log. Empty fields match everything.
type EventFilter struct {
	Room     string
	Endpoint string
	// Levels keeps only these levels (info, warn, error).
	Levels []string
	// Limit is the most entries returned, newest first; default 100.
	Limit int
}

// EventLog returns the newest entries of the recent-events log that match f, newest first.
func (s *Store) EventLog(ctx context.Context, f EventFilter) ([]LoggedEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var where []string
	var args []any
	if f.Room != "" {
		where = append(where, "room = ?")
		args = append(args, f.Room)
	}
	if f.Endpoint != "" {
		where = append(where, "endpoint = ?")
		args = append(args, f.Endpoint)
	}
	if len(f.Levels) > 0 {
		where = append(where, "level IN (?"+strings.Repeat(",?", len(f.Levels)-1)+")")
		for _, l := range f.Levels {
			args = append(args, l)
		}
	}
	q := "SELECT seq, at, level, kind, room, endpoint, message, data FROM event_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, args...) // filters vary: not cached
	if err != nil {
		return nil, fmt.Errorf("read event log: %w", err)
	}
	defer rows.Close()
	var out []LoggedEvent
	for rows.Next() {
		var e LoggedEvent
		var at int64
		var data string
		if err := rows.Scan(&e.Seq, &at, &e.Level, &e.Kind, &e.Room, &e.Endpoint, &e.Message, &data); err != nil {
			return nil, fmt.Errorf("read event log: %w", err)
		}
		e.At = fromMS(at)
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, fmt.Errorf("read event log: entry %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// KeyOutboxDiscarded counts queued messages given up on because the broker never acknowledged
// them over many attempts (a message the broker refuses would otherwise block the queue forever).
const KeyOutboxDiscarded = "outbox_discarded"

// keyRetainedRooms lists the rooms whose state telemetry has published retained, so the
// retained message of a room removed from the config can be cleared even after a restart.
const keyRetainedRooms = "mqtt_retained_rooms"

// DiscardOutbox removes one queued message that cannot be delivered and counts it in
// "outbox_discarded". It reports whether the message was still there.
func (s *Store) DiscardOutbox(ctx context.Context, seq int64) (bool, error) {
	var found bool
	err := s.Write(ctx, func(t *Tx) error {
		var size int64
		err := t.queryRow("DELETE FROM outbox WHERE seq = ? RETURNING length(payload)", seq).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("discard outbox message %d: %w", seq, err)
		}
		found = true
		t.outbox.rows--
		t.outbox.bytes -= size
		_, err = t.Add(KeyOutboxDiscarded, 1)
		return err
	})
	return found, err
}

// RoomDay is what a room's day looks like: the number of meetings today, the meeting in
// progress (if any) and the next one to start.
type RoomDay struct {
	Today   int
	Current *MeetingRow
	Next    *MeetingRow
}

// RoomDay summarises a room's meetings: how many overlap [dayStart, dayEnd), the one in
// progress at now and the first starting after now. Each is one indexed query.
func (s *Store) RoomDay(ctx context.Context, room string, dayStart, dayEnd, now time.Time) (RoomDay, error) {
	var d RoomDay
	err := s.queryRow(ctx, "SELECT count(*) FROM meetings WHERE room = ? AND start_ms < ? AND end_ms > ?",
		room, ms(dayEnd), ms(dayStart)).Scan(&d.Today)
	if err != nil {
		return d, fmt.Errorf("meetings today in %s: %w", room, err)
	}
	one := func(q string, args ...any) (*MeetingRow, error) {
		m, err := scanMeeting(s.queryRow(ctx, q, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &m, nil
	}
	if d.Current, err = one("SELECT "+meetingCols+" FROM meetings WHERE room = ? AND start_ms <= ? AND end_ms > ? ORDER BY start_ms, id LIMIT 1",
		room, ms(now), ms(now)); err != nil {
		return d, fmt.Errorf("current meeting in %s: %w", room, err)
	}
	if d.Next, err = one("SELECT "+meetingCols+" FROM meetings WHERE room = ? AND start_ms > ? ORDER BY start_ms, id LIMIT 1",
		room, ms(now)); err != nil {
		return d, fmt.Errorf("next meeting in %s: %w", room, err)
	}
	return d, nil
}

// RetainedRooms lists the rooms whose state is published retained on the broker.
func (s *Store) RetainedRooms(ctx context.Context) ([]string, error) {
	v, ok, err := s.Get(ctx, keyRetainedRooms)
	if err != nil || !ok {
		return nil, err
	}
	var rooms []string
	if err := json.Unmarshal([]byte(v), &rooms); err != nil {
		return nil, fmt.Errorf("read %s: %w", keyRetainedRooms, err)
	}
	return rooms, nil
}

// SetRetainedRooms records the rooms whose state is published retained on the broker.
func (s *Store) SetRetainedRooms(ctx context.Context, rooms []string) error {
	sorted := append([]string{}, rooms...)
	sort.Strings(sorted)
	b, err := json.Marshal(sorted)
	if err != nil {
		return fmt.Errorf("write %s: %w", keyRetainedRooms, err)
	}
	return s.Write(ctx, func(t *Tx) error { return t.Set(keyRetainedRooms, string(b)) })
}

// RoomsNamed reads the named rooms that exist, by mailbox: telemetry rebuilds the few rooms
// that changed without reading every room of the site.
func (s *Store) RoomsNamed(ctx context.Context, mailboxes []string) ([]RoomState, error) {
	rows, err := s.query(ctx, "SELECT "+roomCols+" FROM rooms WHERE mailbox IN (SELECT value FROM json_each(?)) ORDER BY mailbox", jsonList(mailboxes))
	return scanAll(rows, err, scanRoom, "read rooms")
}

// EndpointsInRooms lists the endpoints of the given rooms, by name.
func (s *Store) EndpointsInRooms(ctx context.Context, rooms []string) ([]EndpointState, error) {
	rows, err := s.query(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE room IN (SELECT value FROM json_each(?)) ORDER BY name", jsonList(rooms))
	return scanAll(rows, err, scanEndpoint, "read endpoints of rooms")
}

// jsonList is a list of names as one query argument, for "IN (SELECT value FROM json_each(?))":
// one statement whatever the number of names. Marshalling strings cannot fail.
func jsonList(names []string) string {
	b, _ := json.Marshal(nonNil(names))
	return string(b)
}

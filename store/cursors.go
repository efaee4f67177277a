package store

import (
	"context"
	"fmt"
	"time"
)

// A calendar source's position in its sync of a room is a cursor: text the source encodes and
// decodes itself (a delta link and window, a sync state, a page token…). The store keeps one
// per room and integration and never looks inside, so a second integration (a shadow while a
// room moves between sources) keeps its own position for the same room. No cursor means the
// source starts the room over. A room's cursors go with the room, and SyncRooms drops them
// when the room moves to another integration.

// PutCursor saves the cursor an integration holds for a room; "" removes it (the next sync
// starts over).
func (t *Tx) PutCursor(room, integration, cursor string) error {
	if cursor == "" {
		if _, err := t.exec("DELETE FROM sync_cursors WHERE room = ? AND integration = ?", room, integration); err != nil {
			return fmt.Errorf("clear the sync cursor of %s (%s): %w", room, integration, err)
		}
		return nil
	}
	_, err := t.exec(`INSERT INTO sync_cursors(room, integration, cursor, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT(room, integration) DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated`,
		room, integration, cursor, ms(t.now))
	if err != nil {
		return fmt.Errorf("save the sync cursor of %s (%s): %w", room, integration, err)
	}
	return nil
}

// Cursor reads the cursor an integration holds for a room ("" when it holds none).
func (s *Store) Cursor(ctx context.Context, room, integration string) (string, error) {
	var c string
	err := s.queryRow(ctx, "SELECT COALESCE(max(cursor), '') FROM sync_cursors WHERE room = ? AND integration = ?", room, integration).Scan(&c)
	if err != nil {
		return "", fmt.Errorf("read the sync cursor of %s (%s): %w", room, integration, err)
	}
	return c, nil
}

// Cursors reads every cursor an integration holds, by room.
func (s *Store) Cursors(ctx context.Context, integration string) (map[string]string, error) {
	rows, err := s.query(ctx, "SELECT room, cursor FROM sync_cursors WHERE integration = ?", integration)
	if err != nil {
		return nil, fmt.Errorf("read the sync cursors of %s: %w", integration, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var room, c string
		if err := rows.Scan(&room, &c); err != nil {
			return nil, fmt.Errorf("read the sync cursors of %s: %w", integration, err)
		}
		out[room] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the sync cursors of %s: %w", integration, err)
	}
	return out, nil
}

// RoomPoll is the progress of a poll that found nothing new: the cursor to go on from and
// when the poll succeeded.
type RoomPoll struct {
	Integration string // the integration that polled
	Cursor      string
	At          time.Time
}

// TouchRooms records polls that changed nothing but the cursors and times, many rooms in one
// transaction (a source batches them rather than write a transaction per poll; see
// sync/graph's persist.go). A cursor is only replaced, never created: a room whose cursor was
// dropped meanwhile (moved to another integration, or started over) stays without. The times
// are the room's own, so only the integration that syncs the room moves them, and only
// forward: a batch written after a newer full write of a room does not take it back. It
// announces no change: nothing a reader acts on changed (telemetry republishes times on its
// periodic refresh; pages read times when asked).
func (t *Tx) TouchRooms(polls map[string]RoomPoll) error {
	for mailbox, p := range polls {
		at := ms(p.At)
		if _, err := t.exec(`UPDATE sync_cursors SET cursor = ?, updated = ? WHERE room = ? AND integration = ?`,
			p.Cursor, ms(t.now), mailbox, p.Integration); err != nil {
			return fmt.Errorf("record the poll of %s: %w", mailbox, err)
		}
		if _, err := t.exec(`UPDATE rooms SET last_success = max(last_success, ?), last_attempt = max(last_attempt, ?)
			WHERE mailbox = ? AND integration = ?`, at, at, mailbox, p.Integration); err != nil {
			return fmt.Errorf("record the poll of %s: %w", mailbox, err)
		}
	}
	return nil
}

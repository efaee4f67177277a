package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A room's meetings count only once the meeting processor has resolved them from a completed
// calendar sync of this store: until then an empty meetings list means "not known yet", not
// "no meetings", and the endpoint drivers must leave a device's bookings alone.

// MarkResolved records, in the processor's transaction, that the room's meetings were just
// resolved from its stored events as of syncedAt, the room's last_success read before the
// events were (zero: the room has never synced, so nothing is recorded). The first mark
// announces TopicMeetings for the room, so drivers waiting for it push then, even when the
// meetings themselves did not change.
func (t *Tx) MarkResolved(room string, syncedAt time.Time) error {
	if syncedAt.IsZero() {
		return nil
	}
	res, err := t.exec(`INSERT INTO room_resolved(room, synced_at, at) SELECT mailbox, ?, ? FROM rooms WHERE mailbox = ?
		ON CONFLICT(room) DO NOTHING`, ms(syncedAt), ms(t.now), room)
	if err != nil {
		return fmt.Errorf("mark the meetings of %s resolved: %w", room, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		t.Changed(TopicMeetings, room)
	}
	return nil
}

// RoomResolved reports whether the room's meetings have been resolved from a completed sync
// (MarkResolved), and from the sync of when.
func (s *Store) RoomResolved(ctx context.Context, room string) (ok bool, syncedAt time.Time, err error) {
	var v int64
	err = s.queryRow(ctx, "SELECT synced_at FROM room_resolved WHERE room = ?", room).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, time.Time{}, nil
	case err != nil:
		return false, time.Time{}, fmt.Errorf("read whether %s has synced: %w", room, err)
	}
	return true, fromMS(v), nil
}

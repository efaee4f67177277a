package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Room sync statuses: every calendar source maps its errors onto these words.
const (
	RoomPending        = "pending"
	RoomOK             = "ok"
	RoomThrottled      = "throttled"
	RoomPolicyDenied   = "policy_denied"
	RoomNotFound       = "not_found"
	RoomNotRESTEnabled = "not_rest_enabled"
	RoomAuthFailed     = "auth_failed"
	RoomTransient      = "transient"
)

// Finding is one calendar-processing diagnosis for a room, with the command that fixes it.
type Finding struct {
	Flag   string `json:"flag"`   // e.g. "add_organizer_to_subject"
	Detail string `json:"detail"` // what the data shows
	Fix    string `json:"fix"`    // the exact Set-CalendarProcessing command
}

// RoomState is a room and its calendar sync state as pages and telemetry show it. Where the
// source is in its sync of the room is the source's cursor (Cursor), not part of this.
type RoomState struct {
	Mailbox      string
	Integration  string
	Status       string
	StatusDetail string
	LastAttempt  time.Time
	LastSuccess  time.Time
	LastFullSync time.Time
	RetryAfter   time.Time
	Diagnosis    []Finding
}

const roomCols = `mailbox, integration, status, status_detail, last_attempt, last_success, last_full_sync, retry_after, diagnosis`

func scanRoom(sc rowScanner) (RoomState, error) {
	var r RoomState
	var la, ls, lf, ra int64
	var diag string
	if err := sc.Scan(&r.Mailbox, &r.Integration, &r.Status, &r.StatusDetail, &la, &ls, &lf, &ra, &diag); err != nil {
		return r, err
	}
	r.LastAttempt, r.LastSuccess, r.LastFullSync, r.RetryAfter = fromMS(la), fromMS(ls), fromMS(lf), fromMS(ra)
	if err := json.Unmarshal([]byte(diag), &r.Diagnosis); err != nil {
		return r, fmt.Errorf("room %s: diagnosis: %w", r.Mailbox, err)
	}
	return r, nil
}

// RoomRef names a configured room and the integration that syncs it.
type RoomRef struct {
	Mailbox     string
	Integration string
}

// SyncRooms makes the rooms table match the configuration: new rooms are added (pending),
// rooms no longer configured are removed with all their data, and a room whose integration
// changed starts its sync over (the cursors of its old and new integration go).
func (t *Tx) SyncRooms(rooms []RoomRef) error {
	want := map[string]string{}
	for _, r := range rooms {
		want[r.Mailbox] = r.Integration
	}
	rows, err := t.query("SELECT mailbox, integration FROM rooms")
	if err != nil {
		return fmt.Errorf("sync rooms: %w", err)
	}
	have := map[string]string{}
	for rows.Next() {
		var m, in string
		if err := rows.Scan(&m, &in); err != nil {
			rows.Close()
			return fmt.Errorf("sync rooms: %w", err)
		}
		have[m] = in
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sync rooms: %w", err)
	}
	for m := range have {
		if _, ok := want[m]; !ok {
			if _, err := t.exec("DELETE FROM rooms WHERE mailbox = ?", m); err != nil {
				return fmt.Errorf("remove room %s: %w", m, err)
			}
			t.Changed(TopicRooms, m)
			t.Changed(TopicEvents, m)
			t.Changed(TopicMeetings, m)
		}
	}
	for m, in := range want {
		old, ok := have[m]
		switch {
		case !ok:
			if _, err := t.exec("INSERT INTO rooms(mailbox, integration) VALUES (?, ?)", m, in); err != nil {
				return fmt.Errorf("add room %s: %w", m, err)
			}
			t.Changed(TopicRooms, m)
		case old != in:
			// Another source, tenant or app: the old cursor means nothing there, and a cursor the
			// new integration may hold (kept while it shadowed the room) does not describe the
			// events stored now: the new one starts with a full sync.
			if _, err := t.exec(`UPDATE rooms SET integration = ?, status = 'pending', status_detail = '' WHERE mailbox = ?`, in, m); err != nil {
				return fmt.Errorf("move room %s: %w", m, err)
			}
			if _, err := t.exec("DELETE FROM sync_cursors WHERE room = ? AND integration IN (?, ?)", m, old, in); err != nil {
				return fmt.Errorf("move room %s: %w", m, err)
			}
			t.Changed(TopicRooms, m)
		}
	}
	return nil
}

// PutRoom writes a room's whole state, its diagnosis included: how tests and tools set a room
// up. Sources write PutSyncState; the diagnosis (sync/exchange.Save) writes PutDiagnosis.
func (t *Tx) PutRoom(r RoomState) error { return t.putRoom(r, true) }

// PutSyncState writes a room's sync state and leaves its diagnosis as the store holds it.
// Sources write with it: the findings are the diagnosis's (PutDiagnosis), and a source's copy
// of a room's state, taken before its request went out, would otherwise put back findings
// replaced meanwhile.
func (t *Tx) PutSyncState(r RoomState) error { return t.putRoom(r, false) }

// PutDiagnosis replaces a room's calendar processing findings; a room not configured is left
// alone.
func (t *Tx) PutDiagnosis(mailbox string, findings []Finding) error {
	diag, err := json.Marshal(nonNil(findings))
	if err != nil {
		return fmt.Errorf("room %s: %w", mailbox, err)
	}
	if _, err := t.exec("UPDATE rooms SET diagnosis = ? WHERE mailbox = ?", string(diag), mailbox); err != nil {
		return fmt.Errorf("write the diagnosis of room %s: %w", mailbox, err)
	}
	t.Changed(TopicRooms, mailbox)
	return nil
}

func (t *Tx) putRoom(r RoomState, withDiagnosis bool) error {
	diag, err := json.Marshal(nonNil(r.Diagnosis))
	if err != nil {
		return fmt.Errorf("room %s: %w", r.Mailbox, err)
	}
	if r.Status == "" {
		r.Status = RoomPending
	}
	q := putRoomSQL
	if withDiagnosis {
		q += ", diagnosis=excluded.diagnosis"
	}
	_, err = t.exec(q, r.Mailbox, r.Integration, r.Status, r.StatusDetail,
		ms(r.LastAttempt), ms(r.LastSuccess), ms(r.LastFullSync), ms(r.RetryAfter), string(diag))
	if err != nil {
		return fmt.Errorf("write room %s: %w", r.Mailbox, err)
	}
	t.Changed(TopicRooms, r.Mailbox)
	return nil
}

// putRoomSQL inserts a room or updates its sync state (a new row takes the diagnosis given).
const putRoomSQL = `INSERT INTO rooms(` + roomCols + `) VALUES (?,?,?,?,?,?,?,?,?)
		ON CONFLICT(mailbox) DO UPDATE SET integration=excluded.integration, status=excluded.status,
		status_detail=excluded.status_detail, last_attempt=excluded.last_attempt,
		last_success=excluded.last_success, last_full_sync=excluded.last_full_sync, retry_after=excluded.retry_after`

// Room reads one room inside the transaction; ok is false when it is not configured.
func (t *Tx) Room(mailbox string) (RoomState, bool, error) {
	return scanOne(t.queryRow("SELECT "+roomCols+" FROM rooms WHERE mailbox = ?", mailbox), scanRoom, "room "+mailbox)
}

// Room reads one room; ok is false when it is not configured.
func (s *Store) Room(ctx context.Context, mailbox string) (RoomState, bool, error) {
	return scanOne(s.queryRow(ctx, "SELECT "+roomCols+" FROM rooms WHERE mailbox = ?", mailbox), scanRoom, "room "+mailbox)
}

// Rooms lists every room, by mailbox.
func (s *Store) Rooms(ctx context.Context) ([]RoomState, error) {
	rows, err := s.query(ctx, "SELECT "+roomCols+" FROM rooms ORDER BY mailbox")
	return scanAll(rows, err, scanRoom, "list rooms")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

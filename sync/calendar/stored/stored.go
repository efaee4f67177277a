// Package stored reads and writes the neutral calendar model (sync/calendar) in the store.
// The store is model-agnostic: it keeps rows of the columns it indexes plus the model's JSON,
// opaque to it, so it imports no layer above it. This package is the one place that knows
// both: it encodes an Event or a Meeting into a store row (the same JSON the store always
// held, so existing stores read unchanged) and decodes rows back. Sources, the processor,
// drivers, the web and telemetry call it where they used the store's typed methods before.
package stored

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// PutEvent stores one event of a room as the source gave it. data is the event's JSON (with
// partial updates already merged); when nil, ev is marshalled. With data, ev need only carry
// what the store indexes: id, type, series master, changeKey, times and whether it is
// cancelled.
func PutEvent(tx *store.Tx, room string, ev calendar.Event, data []byte) error {
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
	return tx.PutEvent(room, store.EventRow{ID: ev.ID, Type: ev.Type, SeriesMasterID: ev.SeriesMasterID,
		ChangeKey: ev.ChangeKey, Start: start, End: end, Cancelled: ev.IsCancelled, Data: data})
}

// Events lists a room's stored events by start time, decoded.
// Each row is decoded as it is read (store.EachEvent), so the rows' JSON is never held all at
// once nor copied first.
func Events(ctx context.Context, st *store.Store, room string) ([]calendar.Event, error) {
	var out []calendar.Event
	err := st.EachEvent(ctx, room, func(r store.EventRow) error {
		ev, err := decode(r.Data)
		if err != nil {
			return fmt.Errorf("list events of %s: decode: %w", room, err)
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decode decodes one stored event (decodeEvent, else encoding/json, which also says what is
// wrong).
func decode(data []byte) (calendar.Event, error) {
	var ev calendar.Event
	if decodeEvent(data, &ev) {
		return ev, nil
	}
	ev = calendar.Event{}
	err := json.Unmarshal(data, &ev)
	return ev, err
}

// PutMaster stores a recurring series' master event (fetched once per changeKey). data is its
// JSON; when nil, ev is marshalled.
func PutMaster(tx *store.Tx, room string, ev calendar.Event, data []byte) error {
	if data == nil {
		var err error
		if data, err = json.Marshal(ev); err != nil {
			return fmt.Errorf("store series master %s: %w", ev.ID, err)
		}
	}
	return tx.PutMaster(room, store.EventRow{ID: ev.ID, ChangeKey: ev.ChangeKey, Data: data})
}

// Master reads a stored series master; ok is false when it has not been fetched.
func Master(ctx context.Context, st *store.Store, room, id string) (calendar.Event, bool, error) {
	r, ok, err := st.Master(ctx, room, id)
	if err != nil || !ok {
		return calendar.Event{}, false, err
	}
	var ev calendar.Event
	if err := json.Unmarshal(r.Data, &ev); err != nil {
		return ev, false, fmt.Errorf("read series master %s: %w", id, err)
	}
	return ev, true, nil
}

// Masters returns a room's series masters by id.
func Masters(ctx context.Context, st *store.Store, room string) (map[string]calendar.Event, error) {
	rows, err := st.Masters(ctx, room)
	if err != nil {
		return nil, err
	}
	out := map[string]calendar.Event{}
	for _, r := range rows {
		var ev calendar.Event
		if err := json.Unmarshal(r.Data, &ev); err != nil {
			return nil, fmt.Errorf("list series masters of %s: %w", room, err)
		}
		out[ev.ID] = ev
	}
	return out, nil
}

// SeriesEvents returns the stored occurrences of a series (id → JSON), exceptions left out,
// to refill them when the series master changed.
func SeriesEvents(tx *store.Tx, room, masterID string) (map[string][]byte, error) {
	return tx.SeriesEvents(room, masterID, calendar.TypeOccurrence)
}

// ReplaceMeetings makes a room's resolved meetings exactly meetings (each one's Room set to
// room): meetings whose content (Meeting.Hash) is unchanged are left alone, so "meetings
// changed" fires only when something an endpoint shows changed. It reports how many meetings
// were added, changed or removed.
//
// Each meeting is encoded once: its JSON is both what is stored and what its hash digests,
// as Meeting.Hash does (which encoded every meeting to hash it, and the changed ones again to
// store them: at a room's first resolve, every one twice).
func ReplaceMeetings(tx *store.Tx, room string, meetings []calendar.Meeting) (int, error) {
	rows, err := MeetingRows(room, meetings)
	if err != nil {
		return 0, err
	}
	return tx.ReplaceMeetings(room, rows, nil)
}

// MeetingRows encodes a room's meetings (each one's Room set to room) as ReplaceMeetings
// stores them, for a writer that encodes before its transaction (the processor: the store
// has one writer, and every part's writes wait while one holds it) and then calls
// store.Tx.ReplaceMeetings with the rows.
func MeetingRows(room string, meetings []calendar.Meeting) ([]store.MeetingRow, error) {
	rows := make([]store.MeetingRow, len(meetings))
	for i := range meetings {
		m := &meetings[i]
		m.Room = room
		data, err := m.AppendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("replace meetings of %s: %w", room, err)
		}
		rows[i] = store.MeetingRow{Room: room, ID: m.ID, Start: m.Start, End: m.End, Hash: meetingHash(data), Data: data}
	}
	return rows, nil
}

// meetingHash is Meeting.Hash of the meeting whose JSON is data.
func meetingHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// Meetings lists a room's meetings that overlap [from, to) by start time; a zero to means no
// upper bound.
func Meetings(ctx context.Context, st *store.Store, room string, from, to time.Time) ([]calendar.Meeting, error) {
	rows, err := st.Meetings(ctx, room, from, to)
	if err != nil {
		return nil, err
	}
	return decodeMeetings(rows)
}

// AllMeetings lists every room's meetings overlapping [from, to), by room then start.
func AllMeetings(ctx context.Context, st *store.Store, from, to time.Time) ([]calendar.Meeting, error) {
	rows, err := st.AllMeetings(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return decodeMeetings(rows)
}

func decodeMeetings(rows []store.MeetingRow) ([]calendar.Meeting, error) {
	var out []calendar.Meeting
	for _, r := range rows {
		m, err := decodeMeeting(r)
		if err != nil {
			return nil, fmt.Errorf("list meetings: decode: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

func decodeMeeting(r store.MeetingRow) (calendar.Meeting, error) {
	return unmarshalMeeting(r.Data)
}

// Day is a room's day at a glance: how many meetings overlap today, the meeting in progress
// (if any) and the next one to start.
type Day struct {
	Today   int
	Current *calendar.Meeting
	Next    *calendar.Meeting
}

// day decodes the store's summary of a room's day.
func day(today int, current, next *store.MeetingRow) (Day, error) {
	d := Day{Today: today}
	for _, p := range []struct {
		row *store.MeetingRow
		to  **calendar.Meeting
	}{{current, &d.Current}, {next, &d.Next}} {
		if p.row == nil {
			continue
		}
		m, err := decodeMeeting(*p.row)
		if err != nil {
			return d, fmt.Errorf("decode meeting %s of %s: %w", p.row.ID, p.row.Room, err)
		}
		*p.to = &m
	}
	return d, nil
}

// Agendas returns the day of every room that has meetings, keyed by room (store.Agendas: two
// queries whatever the number of rooms).
func Agendas(ctx context.Context, st *store.Store, dayStart, dayEnd, now time.Time) (map[string]Day, error) {
	ags, err := st.Agendas(ctx, dayStart, dayEnd, now)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Day, len(ags))
	for room, a := range ags {
		d, err := day(a.Today, a.Current, a.Next)
		if err != nil {
			return nil, fmt.Errorf("room agendas: %w", err)
		}
		out[room] = d
	}
	return out, nil
}

// RoomDay summarises one room's meetings: how many overlap [dayStart, dayEnd), the one in
// progress at now and the first starting after now (store.RoomDay).
func RoomDay(ctx context.Context, st *store.Store, room string, dayStart, dayEnd, now time.Time) (Day, error) {
	d, err := st.RoomDay(ctx, room, dayStart, dayEnd, now)
	if err != nil {
		return Day{}, err
	}
	out, err := day(d.Today, d.Current, d.Next)
	if err != nil {
		return out, fmt.Errorf("meetings of %s: %w", room, err)
	}
	return out, nil
}

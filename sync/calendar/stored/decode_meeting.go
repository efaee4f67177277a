package stored

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// A stored meeting is JSON this package wrote (Meeting.AppendJSON): decodeMeeting reads it by
// hand, as decodeEvent reads events, because json.Unmarshal's validity pass and reflection
// were most of the cost of reading a room's meetings (every push reads them; at a 1,000-room
// cold start, 0.3 s of CPU). Anything outside the shape written here (a key spelled another
// way, a duration as a number, a time with escapes) goes to json.Unmarshal, whose result
// FuzzDecodeMeeting holds this one to.

// meetingFields decodes one member's raw value into m; false when the value is not of the
// shape the fast path reads.
var meetingFields = map[string]func(m *calendar.Meeting, raw []byte) bool{
	"room":           func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Room) },
	"id":             func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.ID) },
	"eventId":        func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.EventID) },
	"iCalUId":        func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.ICalUID) },
	"seriesMasterId": func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.SeriesMasterID) },
	"start":          func(m *calendar.Meeting, raw []byte) bool { return meetingTime(raw, m.Start.UnmarshalText) },
	"end":            func(m *calendar.Meeting, raw []byte) bool { return meetingTime(raw, m.End.UnmarshalText) },
	"startBuffer":    func(m *calendar.Meeting, raw []byte) bool { return meetingDuration(raw, &m.StartBuffer) },
	"endBuffer":      func(m *calendar.Meeting, raw []byte) bool { return meetingDuration(raw, &m.EndBuffer) },
	"allDay":         func(m *calendar.Meeting, raw []byte) bool { return meetingBool(raw, &m.AllDay) },
	"subject":        func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Subject) },
	"organizer":      func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Organizer) },
	"organizerEmail": func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.OrganizerEmail) },
	"private":        func(m *calendar.Meeting, raw []byte) bool { return meetingBool(raw, &m.Private) },
	"tentative":      func(m *calendar.Meeting, raw []byte) bool { return meetingBool(raw, &m.Tentative) },
	"join":           func(m *calendar.Meeting, raw []byte) bool { return meetingBool(raw, &m.Join) },
	"number":         func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Number) },
	"protocol":       func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Protocol) },
	"platform":       func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Platform) },
	"rule":           func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Rule) },
	"reason":         func(m *calendar.Meeting, raw []byte) bool { return decodeString(raw, &m.Reason) },
}

// unmarshalMeeting decodes data as json.Unmarshal into a zero Meeting does.
func unmarshalMeeting(data []byte) (calendar.Meeting, error) {
	var m calendar.Meeting
	if members(data, func(key, raw []byte) bool {
		f := meetingFields[string(key)]
		return f != nil && f(&m, raw)
	}) {
		return m, nil
	}
	m = calendar.Meeting{}
	err := json.Unmarshal(data, &m)
	return m, err
}

// meetingTime hands a quoted time without escapes to the time's UnmarshalText, which
// time.Time's UnmarshalJSON calls too (null, escapes: the slow path).
func meetingTime(raw []byte, set func([]byte) error) bool {
	in, ok := plainString(raw)
	return ok && set(in) == nil
}

// meetingDuration reads a duration string ("5m0s") as calendar.Duration's UnmarshalJSON does
// (which first decodes the string with json.Unmarshal: most of a meeting's decoding time).
func meetingDuration(raw []byte, d *calendar.Duration) bool {
	in, ok := plainString(raw)
	if !ok {
		return false
	}
	v, err := time.ParseDuration(string(in))
	if err != nil {
		return false
	}
	*d = calendar.Duration(v)
	return true
}

func meetingBool(raw []byte, b *bool) bool {
	switch string(raw) {
	case "true":
		*b = true
	case "false":
		*b = false
	default: // null leaves the field as it is; the slow path does that
		return false
	}
	return true
}

// plainString returns the inside of a JSON string that has no escapes, control characters
// or bytes outside ASCII (times and durations as AppendJSON writes them).
func plainString(raw []byte) ([]byte, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return nil, false
	}
	in := raw[1 : n-1]
	if bytes.IndexByte(in, '\\') >= 0 {
		return nil, false
	}
	for _, c := range in {
		if c < 0x20 || c >= utf8.RuneSelf {
			return nil, false
		}
	}
	return in, true
}

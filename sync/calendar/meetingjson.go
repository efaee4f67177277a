package calendar

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the meeting's JSON to b (nil: a new slice of about the right size): the
// bytes json.Marshal writes, without its reflection. A meeting is encoded for every room's resolve (every meeting of the room, to
// compare hashes) and its hash for every push; at a 1,000-room cold start json.Marshal was
// about 0.3 s of CPU. FuzzMeetingJSON holds the two equal, errors included.
func (m *Meeting) AppendJSON(b []byte) ([]byte, error) {
	if !jsonTime(m.Start) || !jsonTime(m.End) {
		// Outside what this encoder writes: json.Marshal fails on a year outside 0-9999 or a
		// zone offset of a day or more.
		out, err := json.Marshal(m)
		if err != nil {
			return b, err
		}
		return append(b, out...), nil
	}
	if b == nil {
		b = make([]byte, 0, 352+len(m.Room)+len(m.ID)+len(m.EventID)+len(m.ICalUID)+len(m.SeriesMasterID)+
			len(m.Subject)+len(m.Organizer)+len(m.OrganizerEmail)+len(m.Number)+len(m.Rule)+len(m.Reason))
	}
	b = append(b, `{"room":`...)
	b = appendString(b, m.Room)
	b = append(b, `,"id":`...)
	b = appendString(b, m.ID)
	b = append(b, `,"eventId":`...)
	b = appendString(b, m.EventID)
	b = optString(b, `,"iCalUId":`, m.ICalUID)
	b = optString(b, `,"seriesMasterId":`, m.SeriesMasterID)
	b = append(b, `,"start":"`...)
	b = append(m.Start.AppendFormat(b, time.RFC3339Nano), '"')
	b = append(b, `,"end":"`...)
	b = append(m.End.AppendFormat(b, time.RFC3339Nano), '"')
	b = append(b, `,"startBuffer":`...)
	b = appendString(b, time.Duration(m.StartBuffer).String())
	b = append(b, `,"endBuffer":`...)
	b = appendString(b, time.Duration(m.EndBuffer).String())
	b = optBool(b, `,"allDay":`, m.AllDay)
	b = append(b, `,"subject":`...)
	b = appendString(b, m.Subject)
	b = optString(b, `,"organizer":`, m.Organizer)
	b = optString(b, `,"organizerEmail":`, m.OrganizerEmail)
	b = optBool(b, `,"private":`, m.Private)
	b = optBool(b, `,"tentative":`, m.Tentative)
	b = append(b, `,"join":`...)
	b = strconv.AppendBool(b, m.Join)
	b = optString(b, `,"number":`, m.Number)
	b = optString(b, `,"protocol":`, m.Protocol)
	b = optString(b, `,"platform":`, m.Platform)
	b = optString(b, `,"rule":`, m.Rule)
	b = optString(b, `,"reason":`, m.Reason)
	return append(b, '}'), nil
}

// jsonTime reports whether time.Time.MarshalJSON writes t as AppendFormat(RFC3339Nano) does,
// rather than failing: a four-digit year and a zone offset under a day.
func jsonTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return -86400 < off && off < 86400
}

func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

func optBool(b []byte, key string, v bool) []byte {
	if !v {
		return b
	}
	return append(append(b, key...), "true"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as encoding/json writes a string by default: quoted, with < > & and
// U+2028, U+2029 escaped (HTML-safe), control characters as \n, \u001f and the like, and
// invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

package stored

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// A stored event's JSON is decoded here by hand where encoding/json spends its time for
// nothing: it scans every byte twice (a validity pass, then the decode) and unescapes each
// string through reflection, while a Teams invite's JSON is three quarters one string, its
// HTML body. decodeEvent walks the object's top-level
// members once, copies plain strings as they are and hands anything unusual (escapes other
// than the common ones, invalid UTF-8, a nested value of a type it does not decode itself) to
// encoding/json, so the result is what json.Unmarshal gives. It gives up (ok false) on
// anything that is not a well-formed object of the shapes it knows; the caller then runs
// json.Unmarshal, which also reports the error. Values it skips (members the model does not
// read) are walked, not validated: every row is JSON a source decoded before storing it.

// field decodes one member's raw value into ev; false when the value is not of its shape.
type field func(ev *calendar.Event, raw []byte) bool

var fields = map[string]field{
	"id":                    str(func(e *calendar.Event) *string { return &e.ID }),
	"type":                  str(func(e *calendar.Event) *string { return &e.Type }),
	"seriesMasterId":        str(func(e *calendar.Event) *string { return &e.SeriesMasterID }),
	"iCalUId":               str(func(e *calendar.Event) *string { return &e.ICalUID }),
	"changeKey":             str(func(e *calendar.Event) *string { return &e.ChangeKey }),
	"lastModifiedDateTime":  str(func(e *calendar.Event) *string { return &e.LastModified }),
	"subject":               str(func(e *calendar.Event) *string { return &e.Subject }),
	"bodyPreview":           str(func(e *calendar.Event) *string { return &e.BodyPreview }),
	"showAs":                str(func(e *calendar.Event) *string { return &e.ShowAs }),
	"sensitivity":           str(func(e *calendar.Event) *string { return &e.Sensitivity }),
	"onlineMeetingProvider": str(func(e *calendar.Event) *string { return &e.OnlineMeetingProvider }),
	"onlineMeetingUrl":      str(func(e *calendar.Event) *string { return &e.OnlineMeetingURL }),
	"isAllDay":              boolean(func(e *calendar.Event) *bool { return &e.IsAllDay }),
	"isCancelled":           boolean(func(e *calendar.Event) *bool { return &e.IsCancelled }),
	"isOnlineMeeting":       boolean(func(e *calendar.Event) *bool { return &e.IsOnlineMeeting }),
	"isOrganizer":           boolean(func(e *calendar.Event) *bool { return &e.IsOrganizer }),
	"body":                  body,
	"start":                 func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.Start, dateTime) },
	"end":                   func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.End, dateTime) },
	"organizer":             func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.Organizer, recipient) },
	"attendees":             func(e *calendar.Event, raw []byte) bool { return list(raw, &e.Attendees, attendee) },
	"location":              func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.Location, location) },
	"locations":             func(e *calendar.Event, raw []byte) bool { return list(raw, &e.Locations, location) },
	"onlineMeeting":         func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.OnlineMeeting, onlineMeeting) },
	"responseStatus":        func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.ResponseStatus, responseStatus) },
	"recurrence":            std(func(e *calendar.Event) any { return &e.Recurrence }),
	"@removed":              func(e *calendar.Event, raw []byte) bool { return ptr(raw, &e.Removed, removed) },
}

// names holds each field's name, so that a key found in fields is named without a copy.
var names = func() map[string]string {
	out := make(map[string]string, len(fields))
	for k := range fields {
		out[k] = k
	}
	return out
}()

// folded maps the lower-case form of each field's name to it, for encoding/json's
// case-insensitive match of the keys that are not spelled exactly (Graph's own keys, such as
// createdDateTime, that the model does not read: about half of an event's).
var folded = func() map[string]string {
	out := make(map[string]string, len(fields))
	for k := range fields {
		out[strings.ToLower(k)] = k
	}
	return out
}()

// lookup finds the member's field as encoding/json would: the exact name, else one equal
// under case folding.
func lookup(key []byte) (string, field) {
	if f, ok := fields[string(key)]; ok {
		return names[string(key)], f
	}
	var buf [32]byte
	if len(key) <= len(buf) {
		for i, c := range key {
			if c >= utf8.RuneSelf {
				goto unicode
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		if k, ok := folded[string(buf[:len(key)])]; ok {
			return k, fields[k]
		}
		return "", nil
	}
unicode: // the Kelvin sign folds to k, the long s to s
	for k, f := range fields {
		if strings.EqualFold(k, string(key)) {
			return k, f
		}
	}
	return "", nil
}

// decodeEvent decodes data into ev (a zero Event).
func decodeEvent(data []byte, ev *calendar.Event) bool {
	return members(data, func(key, raw []byte) bool {
		if _, f := lookup(key); f != nil {
			return f(ev, raw)
		}
		return true
	})
}

func str(at func(*calendar.Event) *string) field {
	return func(ev *calendar.Event, raw []byte) bool { return decodeString(raw, at(ev)) }
}

func boolean(at func(*calendar.Event) *bool) field {
	return func(ev *calendar.Event, raw []byte) bool {
		switch string(raw) {
		case "true":
			*at(ev) = true
		case "false":
			*at(ev) = false
		case "null": // leaves the value as it is, as encoding/json does
		default:
			return false
		}
		return true
	}
}

// std hands the value to encoding/json (small nested values: times, organizer, attendees).
func std(at func(*calendar.Event) any) field {
	return func(ev *calendar.Event, raw []byte) bool { return json.Unmarshal(raw, at(ev)) == nil }
}

// body decodes an ItemBody (null: none), its content being most of an invite's bytes.
func body(ev *calendar.Event, raw []byte) bool {
	if string(raw) == "null" {
		ev.Body = nil
		return true
	}
	if ev.Body == nil {
		ev.Body = &calendar.ItemBody{}
	}
	b := ev.Body
	return members(raw, func(key, v []byte) bool {
		switch {
		case strings.EqualFold(string(key), "contentType"):
			return decodeString(v, &b.ContentType)
		case strings.EqualFold(string(key), "content"):
			return decodeString(v, &b.Content)
		}
		return true
	})
}

// decodeString sets *dst to the JSON string raw (null leaves it as it is), unescaped as
// encoding/json does (Go's encoder writes every < > & of an HTML body as \u003c and the like);
// control characters and invalid UTF-8 go to encoding/json, which decides what they become.
func decodeString(raw []byte, dst *string) bool {
	if string(raw) == "null" {
		return true
	}
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return false
	}
	in := raw[1 : n-1]
	plain, ascii := true, true
	for _, c := range in {
		switch {
		case c == '\\':
			plain = false
		case c < 0x20:
			return json.Unmarshal(raw, dst) == nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(in) {
		return json.Unmarshal(raw, dst) == nil
	}
	if plain {
		*dst = string(in)
		return true
	}
	var out strings.Builder
	out.Grow(len(in))
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\\')
		if i < 0 {
			out.Write(in)
			break
		}
		out.Write(in[:i])
		if i+1 >= len(in) {
			return false
		}
		n := 2
		switch in[i+1] {
		case '"', '\\', '/':
			out.WriteByte(in[i+1])
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u': // as encoding/json: a valid surrogate pair is one rune, a lone half U+FFFD
			r := getu4(in[i:])
			if r < 0 {
				return false
			}
			n = 6
			if utf16.IsSurrogate(r) {
				if dec := utf16.DecodeRune(r, getu4(in[i+6:])); dec != unicode.ReplacementChar {
					r, n = dec, 12
				} else {
					r = unicode.ReplacementChar
				}
			}
			out.WriteRune(r)
		default:
			return false
		}
		in = in[i+n:]
	}
	*dst = out.String()
	return true
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// elements calls fn with each element of the JSON array data; false at anything malformed or
// when fn returns false.
func elements(data []byte, fn func(raw []byte) bool) bool {
	i := ws(data, 0)
	if i >= len(data) || data[i] != '[' {
		return false
	}
	i = ws(data, i+1)
	if i < len(data) && data[i] == ']' {
		return ws(data, i+1) == len(data)
	}
	for {
		end := valueEnd(data, i)
		if end < 0 || !fn(data[i:end]) {
			return false
		}
		i = ws(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = ws(data, i+1)
		case ']':
			return ws(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// members calls fn with each member of the JSON object data: its key, when it has no escapes
// (else members gives up), and its raw value. It stops, false, at anything malformed or when
// fn returns false.
func members(data []byte, fn func(key, raw []byte) bool) bool {
	i := ws(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = ws(data, i+1)
	if i < len(data) && data[i] == '}' {
		return ws(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		end := stringEnd(data, i)
		if end < 0 {
			return false
		}
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = ws(data, end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = ws(data, i+1)
		end = valueEnd(data, i)
		if end < 0 {
			return false
		}
		if !fn(key, data[i:end]) {
			return false
		}
		i = ws(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = ws(data, i+1)
		case '}':
			return ws(data, i+1) == len(data)
		default:
			return false
		}
	}
}

func ws(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at data[i] (a quote), or -1. A quote
// ends the string unless an odd run of backslashes comes before it.
func stringEnd(data []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		bs := 0
		for p := q - 1; p > i && data[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// valueEnd returns the index after the value starting at data[i], or -1.
func valueEnd(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				e := stringEnd(data, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default: // a number, true, false or null
		j := i
		for j < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[j])) {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

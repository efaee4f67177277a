package graph

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Storing an event straight from the JSON Graph sent. An event a full round stores whole (a
// cold start's every event) was read into a property map (validDoc), copied into a second map
// without its nulls (withoutNulls) and written out with sorted keys (doc.encode): two maps
// and their growth per event, about 260 MB of garbage in a cold start of 1,000 rooms, for a
// text the walk has already located. plainEvent writes the same bytes from the event's members
// in one slice. It gives up on anything validDoc reads differently (a member name with an
// escape or beyond printable ASCII, a name given twice): the map path then runs.
// TestPlainEventEncodesAsTheMapPath and FuzzPlainEvent hold it to
// withoutNulls(validDoc(raw)).encode() and doc.event.

// eventMember is one top-level member of an event: its name without the quotes, and its value.
type eventMember struct{ name, value []byte }

// plainEvent is an event's members without nulls and @odata.context, sorted by name.
type plainEvent []eventMember

// readPlainEvent reads raw (checked JSON, an object) into buf's space; ok is false when the
// map path must read it instead.
func readPlainEvent(raw []byte, buf plainEvent) (ev plainEvent, ok bool) {
	defer func() {
		if recover() != nil { // text that is not checked JSON after all: the map path says what
			ev, ok = nil, false
		}
	}()
	p := &pageScan{b: raw}
	p.ws()
	if p.i >= len(raw) || raw[p.i] != '{' {
		return nil, false
	}
	ev, plain := buf[:0], true
	p.members(func(name []byte) {
		v := p.value()
		if !plainName(name) {
			plain = false
			return
		}
		ev = append(ev, eventMember{name[1 : len(name)-1], v})
	})
	p.ws()
	if !plain || p.i != len(raw) {
		return nil, false
	}
	slices.SortFunc(ev, func(a, b eventMember) int { return bytes.Compare(a.name, b.name) })
	for i := 1; i < len(ev); i++ {
		if bytes.Equal(ev[i-1].name, ev[i].name) { // a map keeps the last, which may be null
			return nil, false
		}
	}
	return slices.DeleteFunc(ev, func(m eventMember) bool { return isNull(m.value) || string(m.name) == "@odata.context" }), true
}

// encode writes what doc.encode writes for the same members.
func (e plainEvent) encode() []byte {
	size := 2
	for _, m := range e {
		size += len(m.name) + len(m.value) + 4
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, m := range e {
		b = appendMember(b, i > 0, m.name, m.value)
	}
	return append(b, '}')
}

// appendMember writes one member of a stored event, `"name":value` (after a comma unless it
// is the first): the one place the stored format's members are written, for doc.encode and
// plainEvent.encode alike. The name is quoted as strconv.Quote does; the value is written as
// a JSON parser left it, without surrounding space.
func appendMember[T ~string | ~[]byte](b []byte, comma bool, name T, value []byte) []byte {
	if comma {
		b = append(b, ',')
	}
	if printable(name) {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"')
	} else {
		b = strconv.AppendQuote(b, string(name))
	}
	b = append(b, ':')
	return append(b, bytes.TrimSpace(value)...)
}

// printable reports whether strconv.Quote leaves s as it is between its quotes.
func printable[T ~string | ~[]byte](s T) bool {
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// get is the member named k.
func (e plainEvent) get(k string) (json.RawMessage, bool) {
	i, found := slices.BinarySearchFunc(e, k, func(m eventMember, k string) int { return bytes.Compare(m.name, []byte(k)) })
	if !found {
		return nil, false
	}
	return e[i].value, true
}

func (e plainEvent) event() (calendar.Event, error) { return eventOf(e.get) }

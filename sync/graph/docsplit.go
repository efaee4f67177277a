package graph

import (
	"bytes"
	"unicode/utf8"
)

// validDoc reads an event whose JSON is known to be valid (a delta page's event, checked
// once by scanPage; an event or series master as the store holds it, written by doc.encode)
// into its property map by walking its top-level members (pageScan), without encoding/json:
// json.Unmarshal into a map checked the whole text again and then scanned every value a
// second time, and at a cold start that was an eighth of the agent's CPU (every event of
// every room, ~4.5 KB each, mostly its HTML body). The values share b's bytes, capped so an
// append to one never writes into the next; callers own b and never change it.
//
// Anything the walk does not read the way encoding/json would (not an object, a member name
// with an escape or a byte outside printable ASCII) is decoded by parseDoc instead, which also
// reports text that is not JSON after all.
//
// A stored row damaged on disk is not valid JSON: the walk may then run off its end, which is
// caught, and parseDoc says what is wrong.
func validDoc(b []byte) (d doc, err error) {
	defer func() {
		if recover() != nil {
			d, err = parseDoc(b)
		}
	}()
	p := &pageScan{b: b}
	p.ws()
	if p.i >= len(b) || b[p.i] != '{' {
		return parseDoc(b)
	}
	d = doc{}
	plain := true
	p.members(func(name []byte) {
		v := p.value()
		if !plainName(name) {
			plain = false
			return
		}
		d[string(name[1:len(name)-1])] = v[:len(v):len(v)]
	})
	p.ws()
	if !plain || p.i != len(b) {
		return parseDoc(b)
	}
	return d, nil
}

// plainName reports whether a quoted member name reads as itself: no escapes, printable ASCII.
func plainName(name []byte) bool {
	if len(name) < 2 || bytes.IndexByte(name, '\\') >= 0 {
		return false
	}
	for _, c := range name[1 : len(name)-1] {
		if c < 0x20 || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

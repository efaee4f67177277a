package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/otj-edge/otj-edge/sync/jsonvalid"
)

// Reading a delta page without building it. parsePage used to decode every event into a
// property map at once; those maps then waited for the store writer (perf.md §2). Decoding
// into raw events and then each event's few head properties with encoding/json doubled the
// parse's CPU (every json.Unmarshal scans its input twice), and a cold start is CPU-bound. So
// the page is checked once (jsonvalid.Valid: json.Valid's answer, several times faster) and
// then walked here: its events are located and their head properties (id, type,
// seriesMasterId, @odata.etag, @removed) read in one pass over the bytes, and the property map
// is built in the write, one event at a time.
// FuzzParsePage holds this walk to what decoding into maps reads.

// pageScan walks a checked JSON text.
type pageScan struct {
	b []byte
	i int
}

func (p *pageScan) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value skips the value at p.i and returns its bytes.
func (p *pageScan) value() []byte {
	start := p.i
	switch p.b[p.i] {
	case '"':
		p.i = stringEnd(p.b, p.i)
	case '{', '[':
		depth := 0
		for {
			switch p.b[p.i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case '"':
				p.value()
				p.i--
			}
			p.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return p.b[start:p.i]
			}
			p.i++
		}
	}
	return p.b[start:p.i]
}

// stringEnd returns the index after the string that starts at b[i] (its opening quote). Most
// of an event's bytes are in strings (the body's HTML above all), so the closing quote is
// looked for with bytes.IndexByte rather than byte by byte; a quote is escaped when an odd
// number of backslashes precedes it. A text that ends inside the string panics like the
// indexing it replaces (validDoc recovers; scanPage's text was checked).
func stringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			panic("pageScan: text ends inside a string")
		}
		q := j + k
		bs := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// members calls fn for each member of the object at p.i, with its name as JSON (quoted) and
// its value; fn leaves p.i after the value (or calls p.value()).
func (p *pageScan) members(fn func(name []byte)) {
	p.i++ // {
	for {
		p.ws()
		if p.b[p.i] == '}' {
			p.i++
			return
		}
		if p.b[p.i] == ',' {
			p.i++
			p.ws()
		}
		name := p.value()
		p.ws()
		p.i++ // :
		p.ws()
		fn(name)
	}
}

// jsonString is a JSON value as a string ("" when it is not a string, as doc.str reads it).
func jsonString(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// memberName is a member name (quoted JSON) decoded, looked at once for escapes rather than
// once per name it is compared with: a name without escapes (all of Graph's) is its text
// between the quotes, without a copy.
func memberName(name []byte) []byte {
	if bytes.IndexByte(name, '\\') < 0 {
		return name[1 : len(name)-1]
	}
	return []byte(jsonString(name))
}

// isField reports whether a member name matches a page field the way encoding/json matches
// struct fields (regardless of case), as the page was read before.
func isField(name []byte, want string) bool { return strings.EqualFold(jsonString(name), want) }

var errNotPage = errors.New("not a delta page object")

// scanPage reads a delta page. body is copied once; the items' raw events share that copy.
func scanPage(body []byte) (page, error) {
	if !jsonvalid.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v) // says where and why
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return page{}, err
	}
	return walkPage(body)
}

// walkPage reads a delta page that is valid JSON. body is copied once; the items' raw events
// share that copy.
func walkPage(body []byte) (page, error) {
	p := &pageScan{b: bytes.Clone(body)}
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return page{}, errNotPage
	}
	var pg page
	var err error
	fail := func(e error) {
		if err == nil {
			err = e
		}
	}
	p.members(func(name []byte) {
		switch {
		case isField(name, "value"):
			switch p.b[p.i] {
			case '[':
				var e error
				pg.items, e = p.items()
				if e != nil {
					fail(e)
				}
			case 'n':
				p.value()
			default:
				p.value()
				fail(errors.New(`"value" is not a list of events`))
			}
		case isField(name, "@odata.nextLink"), isField(name, "@odata.deltaLink"):
			v := p.value()
			if v[0] != '"' && v[0] != 'n' {
				fail(fmt.Errorf("%s is not a link", name))
				return
			}
			if isField(name, "@odata.nextLink") {
				pg.nextLink = jsonString(v)
			} else {
				pg.deltaLink = jsonString(v)
			}
		default:
			p.value()
		}
	})
	return pg, err
}

// items reads the "value" list at p.i.
func (p *pageScan) items() ([]item, error) {
	var out []item
	var err error
	p.i++ // [
	for {
		p.ws()
		switch p.b[p.i] {
		case ']':
			p.i++
			return out, err
		case ',':
			p.i++
			p.ws()
		}
		switch p.b[p.i] {
		case 'n':
			p.value() // null: no event
			continue
		case '{':
		default:
			p.value()
			err = errors.New("an entry of \"value\" is not an event object")
			continue
		}
		start := p.i
		var it item
		p.members(func(name []byte) {
			v := p.value()
			switch n := memberName(name); {
			case string(n) == "id":
				it.id = jsonString(v)
			case string(n) == "type":
				it.typ = jsonString(v)
			case string(n) == "seriesMasterId":
				it.masterID = jsonString(v)
			case string(n) == "@odata.etag":
				it.etag = jsonString(v)
			case string(n) == "@removed":
				it.removed = true
			}
		})
		if it.id != "" {
			it.raw = p.b[start:p.i:p.i]
			out = append(out, it)
		}
	}
}

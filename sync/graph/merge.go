package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// doc is a Graph event as its JSON properties, kept raw so nothing Graph sent is lost.
type doc map[string]json.RawMessage

// page is one calendarView/delta answer.
type page struct {
	items     []item
	nextLink  string
	deltaLink string
}

// item is one entry of a delta page. A delta page waits for the store's single writer after
// it is read (at a cold start, up to max_in_flight × 20 rooms are mid-step), so an item keeps
// its event as the JSON Graph sent (one allocation, about the size of the text) and only the
// few properties the step needs before the write; the property map (doc) is built in the
// write, one event at a time. Parsed into a map per event, the waiting pages were the largest
// part of the cold start's peak heap (22 MB at 1,000 rooms).
type item struct {
	id       string
	raw      json.RawMessage // the event as Graph sent it (in the page's own copy of its text)
	doc      doc             // set instead of raw by pages built as documents (delegated_view.go)
	removed  bool            // @removed: deleted, or moved out of the window
	typ      string          // singleInstance, occurrence, exception
	masterID string
	etag     string
}

func (it item) stub() bool { return it.typ == calendar.TypeOccurrence }

// document is the item's properties. The raw JSON was checked by parsePage, so it parses;
// an empty document stands in should it ever not.
func (it item) document() doc {
	if it.doc != nil {
		return it.doc
	}
	d, err := validDoc(it.raw)
	if err != nil {
		return doc{}
	}
	return d
}

// parsePage reads a delta page (pagescan.go).
func parsePage(body []byte) (page, error) { return readDeltaPage(body, false) }

// parseCheckedPage reads a delta page known to be valid JSON (cut from a $batch answer that
// scanBatch checked): the page is walked without checking it again.
func parseCheckedPage(body []byte) (page, error) { return readDeltaPage(body, true) }

func readDeltaPage(body []byte, checked bool) (page, error) {
	var p page
	var err error
	if checked {
		p, err = walkPage(body)
	} else {
		p, err = scanPage(body)
	}
	if err != nil {
		return page{}, fmt.Errorf("delta page is not valid JSON: %w", err)
	}
	if p.nextLink == "" && p.deltaLink == "" {
		return page{}, fmt.Errorf("delta page has neither @odata.nextLink nor @odata.deltaLink")
	}
	return p, nil
}

// etagOf reads the "@odata.etag" of a stored event's JSON ("" when it has none or is not
// readable: then it counts as changed).
func etagOf(data []byte) string {
	var v struct {
		ETag string `json:"@odata.etag"`
	}
	_ = json.Unmarshal(data, &v)
	return v.ETag
}

func (d doc) str(k string) string { return rawString(d[k]) }

func parseDoc(b []byte) (doc, error) {
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if d == nil {
		d = doc{}
	}
	return d, nil
}

// encode writes the document with sorted keys, so equal documents are equal bytes. The values
// are written as they came from a JSON parser (valid, and not checked again: this runs for
// every event of every page).
func (d doc) encode() []byte {
	keys := make([]string, 0, len(d))
	size := 2
	for k, v := range d {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		b = appendMember(b, i > 0, k, d[k])
	}
	return append(b, '}')
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// mergeUpdate lays an update over the stored event: delta rounds may send only the properties
// that changed, and a property sent as null never wipes what is stored.
func mergeUpdate(stored, update doc) doc {
	out := make(doc, len(stored)+len(update))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range update {
		if isNull(v) {
			continue
		}
		out[k] = v
	}
	delete(out, "@odata.context")
	return out
}

// withoutNulls drops null properties (a full event as Graph sent it, minus noise).
func withoutNulls(d doc) doc {
	out := make(doc, len(d))
	for k, v := range d {
		if !isNull(v) && k != "@odata.context" {
			out[k] = v
		}
	}
	return out
}

// stubKeys are the properties an occurrence stub carries; everything else comes from its
// series master.
var stubKeys = []string{"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}

// masterOnly are master properties an occurrence does not inherit.
var masterOnly = []string{"id", "type", "seriesMasterId", "recurrence", "@odata.etag", "@odata.context", "@odata.type", "start", "end", "originalStart"}

// fillOccurrence makes a full occurrence from its stub and its series master.
func fillOccurrence(master, stub doc) doc {
	out := make(doc, len(master)+len(stub))
	for k, v := range master {
		out[k] = v
	}
	for _, k := range masterOnly {
		delete(out, k)
	}
	for _, k := range stubKeys {
		if v, ok := stub[k]; ok && !isNull(v) {
			out[k] = v
		}
	}
	return withoutNulls(out)
}

// stubOf extracts the stub part of a stored occurrence (to refill it from a new master).
func stubOf(stored doc) doc {
	out := doc{}
	for _, k := range stubKeys {
		if v, ok := stored[k]; ok {
			out[k] = v
		}
	}
	return out
}

// event decodes what the store indexes (id, type, series, changeKey, times, cancelled).
func (d doc) event() (calendar.Event, error) {
	return eventOf(func(k string) (json.RawMessage, bool) { v, ok := d[k]; return v, ok })
}

// eventOf decodes what the store indexes from an event's members, as json.Unmarshal would;
// the common shapes (plain ASCII strings, true and false, a time's two members) are read
// without it, for every event of every delta page.
func eventOf(get func(k string) (json.RawMessage, bool)) (calendar.Event, error) {
	str := func(k string) string {
		v, _ := get(k)
		return rawString(v)
	}
	ev := calendar.Event{ID: str("id"), Type: str("type"), SeriesMasterID: str("seriesMasterId"), ChangeKey: str("changeKey")}
	if v, ok := get("isCancelled"); ok {
		switch string(v) {
		case "true":
			ev.IsCancelled = true
		case "false":
		default:
			_ = json.Unmarshal(v, &ev.IsCancelled) // anything but true is not cancelled
		}
	}
	for _, t := range []struct {
		k   string
		dst **calendar.DateTimeTimeZone
	}{{"start", &ev.Start}, {"end", &ev.End}} {
		if v, ok := get(t.k); ok {
			if dt, ok := plainDateTime(v); ok {
				*t.dst = dt
			} else if err := json.Unmarshal(v, t.dst); err != nil {
				return ev, fmt.Errorf("event %q: %s: %w", ev.ID, t.k, err)
			}
		}
	}
	if _, err := ev.StartTime(); err != nil {
		return ev, err
	}
	if _, err := ev.EndTime(); err != nil {
		return ev, err
	}
	return ev, nil
}

// rawString is a JSON value as json.Unmarshal into a string leaves it ("" when it is not a
// string). A string of printable ASCII without escapes is its text between the quotes.
func rawString(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && printable(v[1:len(v)-1]) {
		return string(v[1 : len(v)-1])
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// plainDateTime reads {"dateTime":"…","timeZone":"…"} with plain ASCII strings; ok is false
// for any other shape, which json.Unmarshal then reads.
func plainDateTime(v []byte) (dt *calendar.DateTimeTimeZone, ok bool) {
	defer func() {
		if recover() != nil {
			dt, ok = nil, false
		}
	}()
	if len(v) == 0 || v[0] != '{' {
		return nil, false
	}
	p := &pageScan{b: v}
	out, plain := &calendar.DateTimeTimeZone{}, true
	p.members(func(name []byte) {
		val := p.value()
		if len(val) < 2 || val[0] != '"' || !printable(val[1:len(val)-1]) {
			plain = false
			return
		}
		switch string(name) {
		case `"dateTime"`:
			out.DateTime = string(val[1 : len(val)-1])
		case `"timeZone"`:
			out.TimeZone = string(val[1 : len(val)-1])
		default:
			plain = false
		}
	})
	if !plain || p.i != len(v) {
		return nil, false
	}
	return out, true
}

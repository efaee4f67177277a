package graph

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainSeeds are events whose plain reading must equal the map path's, or give up.
var plainSeeds = []string{
	`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata","id":"AAMk=","type":"singleInstance","subject":"Weekly","sensitivity":null,"isCancelled":true,` +
		`"start":{"dateTime":"2026-12-07T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-07T09:30:00.0000000","timeZone":"UTC"},` +
		`"body":{"contentType":"html","content":"<p>Join: <a href=\"https://teams.microsoft.com/l/meetup-join/x\">link</a></p>"}}`,
	` { "id" : "x" , "start" : { "timeZone" : "UTC" , "dateTime" : "2026-12-07T09:00:00" } , "end" : {"dateTime":"2026-12-07T10:00:00"} , "n" : -1.5e3 } `,
	`{"id":"a","a":1,"a":null,"start":{"dateTime":"2026-12-07T09:00:00"},"end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{"\u0069d":"escaped name","start":{"dateTime":"2026-12-07T09:00:00"},"end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{"id":"x","del` + "\x7f" + `":1,"start":{"dateTime":"2026-12-07T09:00:00"},"end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{"id":"é\u00e9","changeKey":"\"q\"","isCancelled":"true","start":{"DateTime":"2026-12-07T09:00:00"},"end":{"dateTime":"2026-12-07T10:00:00","extra":1}}`,
	`{"id":"x","isCancelled":null,"start":null,"end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{"id":"x","start":{"dateTime":"not a time"},"end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{"id":"x","start":"2026-12-07T09:00:00","end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{"id":1,"type":["occurrence"],"start":{"dateTime":"2026-12-07T09:00:00","timeZone":"Pacific Standard Time"},"end":{"dateTime":"2026-12-07T10:00:00"}}`,
	`{}`, `{"id":"x"}`, `[1]`, `"text"`,
}

// TestPlainEventEncodesAsTheMapPath: an event read plainly is stored as the same bytes and
// indexed as the same event as through withoutNulls(validDoc(raw)); where it gives up, the map
// path runs instead.
func TestPlainEventEncodesAsTheMapPath(t *testing.T) {
	gaveUp := 0
	for _, s := range plainSeeds {
		ok := checkPlainEvent(t, []byte(s))
		if !ok {
			gaveUp++
		}
	}
	assert.Equal(t, 4, gaveUp, "the name given twice, the escaped name and the two texts that are not objects (DEL in a name is read, and quoted as strconv.Quote does)")
	ev, ok := readPlainEvent([]byte(plainSeeds[0]), nil)
	require.True(t, ok)
	assert.NotContains(t, string(ev.encode()), "@odata.context")
	assert.NotContains(t, string(ev.encode()), "sensitivity", "a null is not stored")
}

// checkPlainEvent compares the two paths on raw (checked JSON); it reports whether the plain
// path read it.
func checkPlainEvent(t *testing.T, raw []byte) bool {
	t.Helper()
	plain, ok := readPlainEvent(raw, make(plainEvent, 0, 4))
	if !ok {
		return false
	}
	d, err := validDoc(raw)
	require.NoError(t, err, "%s", raw)
	d = withoutNulls(d)
	require.Equal(t, string(d.encode()), string(plain.encode()), "%s", raw)
	want, werr := d.event()
	got, gerr := plain.event()
	assert.Equal(t, want, got, "%s", raw)
	if werr != nil {
		assert.EqualError(t, gerr, werr.Error(), "%s", raw)
	} else {
		assert.NoError(t, gerr, "%s", raw)
	}
	return true
}

// TestEventOfReadsWhatEncodingJSONReads: the index fields read without json.Unmarshal are what
// it reads, escapes, other types and case-insensitive names included.
func TestEventOfReadsWhatEncodingJSONReads(t *testing.T) {
	for _, s := range plainSeeds {
		d, err := parseDoc([]byte(s))
		if err != nil {
			continue
		}
		got, gerr := d.event()
		var want struct {
			ID, Type, SeriesMasterID, ChangeKey string
			IsCancelled                         bool
		}
		for k, dst := range map[string]*string{"id": &want.ID, "type": &want.Type, "seriesMasterId": &want.SeriesMasterID, "changeKey": &want.ChangeKey} {
			_ = json.Unmarshal(d[k], dst)
		}
		_ = json.Unmarshal(d["isCancelled"], &want.IsCancelled)
		assert.Equal(t, want.ID, got.ID, s)
		assert.Equal(t, want.Type, got.Type, s)
		assert.Equal(t, want.ChangeKey, got.ChangeKey, s)
		assert.Equal(t, want.IsCancelled, got.IsCancelled, s)
		if v, ok := d["start"]; ok && gerr == nil {
			var start struct{ DateTime, TimeZone string }
			require.NoError(t, json.Unmarshal(v, &start), s)
			require.NotNil(t, got.Start, s)
			assert.Equal(t, start.DateTime, got.Start.DateTime, s)
			assert.Equal(t, start.TimeZone, got.Start.TimeZone, s)
		}
	}
}

// FuzzPlainEvent holds the plain path to the map path on any checked JSON.
func FuzzPlainEvent(f *testing.F) {
	for _, s := range plainSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		checkPlainEvent(t, b)
	})
}

// BenchmarkNewEvent is what a full round does for each event it stores whole: the bytes to
// store and the indexed event, by the map path and by the plain path.
func BenchmarkNewEvent(b *testing.B) {
	body := `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>`
	for len(body) < 3000 {
		body += `<p>Microsoft Teams meeting. Join on your computer, mobile app or room device: <a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0">Click here to join the meeting</a></p>`
	}
	raw, err := json.Marshal(map[string]any{"@odata.etag": `W/"DwAAABYAAAAJ"`, "id": "AAMkAGI2TG93AAA=", "subject": "Quarterly review", "type": "singleInstance",
		"changeKey": "DwAAABYAAAAJ", "isCancelled": false, "isAllDay": false, "seriesMasterId": nil, "iCalUId": "040000008200E00074C5B7101A82E008",
		"body":      map[string]any{"contentType": "html", "content": body},
		"start":     map[string]any{"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada", "address": "ada@contoso.example"}},
		"attendees": []any{map[string]any{"type": "required", "emailAddress": map[string]any{"name": "Bo", "address": "bo@contoso.example"}}},
		"location":  map[string]any{"displayName": "Room 1"}, "isOnlineMeeting": true, "sensitivity": "normal", "showAs": "busy",
		"createdDateTime": "2026-12-06T20:30:11.6821674Z", "lastModifiedDateTime": "2026-12-06T20:30:11.6821675Z", "importance": "normal"})
	require.NoError(b, err)
	b.Run("maps", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := withoutNulls(item{raw: raw}.document())
			_ = d.encode()
			if _, err := d.event(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		var buf plainEvent
		for b.Loop() {
			ev, ok := readPlainEvent(raw, buf)
			if !ok {
				b.Fatal("not read")
			}
			_ = ev.encode()
			if _, err := ev.event(); err != nil {
				b.Fatal(err)
			}
			buf = ev
		}
	})
}

package graphsim

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stdJSON is what graphsim wrote before appendJSON: json.Encoder without HTML escaping.
func stdJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestAppendJSONWritesWhatEncodingJSONWrites: each kind of value graphsim answers with, and
// the awkward ones (escapes, invalid UTF-8, line separators, number forms, nil maps and
// lists, types left to encoding/json), come out byte for byte as encoding/json writes them.
func TestAppendJSONWritesWhatEncodingJSONWrites(t *testing.T) {
	values := []any{
		nil, true, false, 0, -7, int64(1) << 60, 0.0, 1.5, -2.25, 1e-7, 1e21, 123456789012345678.0, 5e-324, math.MaxFloat64,
		"", "plain", `quote " backslash \ slash /`, "<p>Join & go</p>", "tab\tnew\nline\r\b\f\x00\x1f\x7f",
		"caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xff\xfe broken \xc3", "emoji 🙂",
		map[string]any{"b": 1.0, "a": []any{"x", nil, map[string]any{}}, "": "empty key", "\u00e9": "é"},
		map[string]any(nil), []any(nil), []any{}, []map[string]any{{"id": "1"}, nil},
		map[string]string{"Content-Type": "application/json", "Retry-After": "7"}, map[string]string(nil),
		[]string{"a", "b"}, []string(nil),
		map[string]any{"when": time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC), "raw": json.RawMessage(`{ "x" : 1 }`), "n": uint8(7)},
		struct {
			A string `json:"a"`
			B []int  `json:"b,omitempty"`
		}{A: "<s>"},
	}
	for _, v := range values {
		got, err := appendJSON(nil, v)
		require.NoError(t, err)
		assert.Equal(t, string(stdJSON(t, v)), string(got), "%#v", v)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := appendJSON(nil, map[string]any{"x": f})
		assert.Error(t, err, "%v is no JSON number", f)
	}
}

// TestAppendJSONWritesGraphsimsAnswers: a delta page of a seeded mailbox (HTML bodies, nested
// times, nulls) and a $batch answer built from it come out as encoding/json writes them.
func TestAppendJSONWritesGraphsimsAnswers(t *testing.T) {
	s, err := New(Options{})
	require.NoError(t, err)
	const room = "room-1@contoso.example"
	p := Recommended()
	require.NoError(t, s.AddRoom(Room{Mailbox: room, Processing: &p}))
	start := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	for i := range 5 {
		_, err := s.PostEvent(room, map[string]any{
			"subject":   "Planning <Q4> & \"budget\"",
			"body":      map[string]any{"contentType": "html", "content": "<html><body><p>Join:\u2028<a href=\"https://teams.microsoft.com/l/meetup-join/x?a=1&b=2\">here</a></p></body></html>"},
			"start":     map[string]any{"dateTime": start.Add(time.Duration(i) * time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":       map[string]any{"dateTime": start.Add(time.Duration(i)*time.Hour + 30*time.Minute).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"organizer": map[string]any{"emailAddress": map[string]any{"name": "Alice Berg", "address": "alice.berg@contoso.example"}},
		})
		require.NoError(t, err)
	}
	s.mu.Lock()
	resp := s.delta(s.boxes[room], gReq{query: map[string][]string{
		"startDateTime": {start.Add(-time.Hour).Format(time.RFC3339)}, "endDateTime": {start.Add(24 * time.Hour).Format(time.RFC3339)}}}, prefer{})
	s.mu.Unlock()
	require.Equal(t, 200, resp.status, "%v", resp.body)
	require.Len(t, resp.body.(map[string]any)["value"], 5)
	batch := map[string]any{"responses": []map[string]any{{"id": "1", "status": 200, "headers": map[string]string{"Content-Type": "application/json"}, "body": resp.body}}}
	for _, v := range []any{resp.body, batch} {
		got, err := appendJSON(nil, v)
		require.NoError(t, err)
		assert.Equal(t, string(stdJSON(t, v)), string(got))
	}
}

// FuzzAppendJSON holds appendJSON to encoding/json for any JSON document read into Go's
// generic values, and for any string (valid UTF-8 or not).
func FuzzAppendJSON(f *testing.F) {
	for _, seed := range []string{`{"a":[1,2.5,-3e-7,1e21,"x\u2028y",null,true],"b":{"":"<&>"}}`, `"\u0000\ud800"`, "\xff\"\\\x01", `[]`, `1.7976931348623157e308`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := appendJSONString(nil, string(data))
		assert.Equal(t, string(stdJSON(t, string(data))), string(got))
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		out, err := appendJSON(nil, v)
		require.NoError(t, err)
		assert.Equal(t, string(stdJSON(t, v)), string(out))
	})
}

// BenchmarkAnswerJSON: a delta page of 40 Teams-style invites, written by appendJSON and by
// encoding/json (what graphsim used before).
func BenchmarkAnswerJSON(b *testing.B) {
	body := "<html><body>" + string(bytes.Repeat([]byte("<p>Agenda item &amp; notes for the quarterly review</p>"), 50)) + "</body></html>"
	var page []any
	for i := range 40 {
		page = append(page, map[string]any{
			"@odata.etag": `W/"DwAAABYAAAA` + string(rune('A'+i%26)) + `"`, "id": "AAMkAGI2TG93AAA=" + string(rune('a'+i%26)),
			"subject": "Quarterly review", "bodyPreview": "Agenda item & notes", "isCancelled": false, "seriesMasterId": nil,
			"body":      map[string]any{"contentType": "html", "content": body},
			"start":     map[string]any{"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "UTC"},
			"end":       map[string]any{"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "UTC"},
			"organizer": map[string]any{"emailAddress": map[string]any{"name": "Alice Berg", "address": "alice.berg@contoso.example"}},
			"attendees": []any{map[string]any{"type": "required", "emailAddress": map[string]any{"name": "Room 1", "address": "room-1@contoso.example"}}},
			"location":  map[string]any{"displayName": "Room 1", "locationType": "conferenceRoom"},
		})
	}
	doc := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)", "value": page}
	b.Run("appendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendJSON(buf[:0], doc)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding/json", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = len(stdJSON(b, doc))
		}
		b.SetBytes(int64(n))
	})
}

package graph

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var docSeeds = []string{
	`{"id":"AAMk=","subject":"Weekly","body":{"contentType":"html","content":"<p>Join: <a href=\"https://teams.microsoft.com/l/meetup-join/x\">link</a></p>"},"start":{"dateTime":"2026-12-07T09:00:00.0000000","timeZone":"UTC"},"isCancelled":false,"attendees":[{"emailAddress":{"name":"A \"B\"","address":"a@b"}}],"sensitivity":null,"n":-1.5e3}`,
	` { "a" : 1 , "b" : [ 1 , { "c" : "}" } ] , "d" : "\\" } `,
	`{}`, `{"a":1,"a":2}`, `{"\u0069d":"escaped name"}`, `{"nämé":1}`, `{"a":"\u00e9\ud83d\ude00"}`,
	`[1,2]`, `"text"`, `null`, `{"a":{}}`, `{"a":[]}`, `{"":0}`,
}

// TestValidDocReadsWhatEncodingJSONReads: the walk gives the property map json.Unmarshal gives
// for an event's JSON, escaped names and odd spacing included.
func TestValidDocReadsWhatEncodingJSONReads(t *testing.T) {
	for _, s := range docSeeds {
		want, werr := parseDoc([]byte(s))
		got, gerr := validDoc([]byte(s))
		if werr != nil {
			assert.Error(t, gerr, s)
			continue
		}
		require.NoError(t, gerr, s)
		assert.Equal(t, norm(want), norm(got), s)
	}
}

// TestValidDocValuesDoNotShareSpareCapacity: appending to one value never overwrites the next
// (the values share the event's bytes).
func TestValidDocValuesDoNotShareSpareCapacity(t *testing.T) {
	b := []byte(`{"a":"x","b":"y"}`)
	d, err := validDoc(b)
	require.NoError(t, err)
	_ = append(d["a"], "zzzz"...)
	assert.Equal(t, `"y"`, string(d["b"]))
	assert.Equal(t, `{"a":"x","b":"y"}`, string(b))
}

// TestValidDocOnDamagedRowsSaysWhatIsWrong: a stored row cut short (damage on disk) is not a
// panic in the store writer but encoding/json's error.
func TestValidDocOnDamagedRowsSaysWhatIsWrong(t *testing.T) {
	for _, s := range []string{`{"a":"unterminated`, `{"a":[1,2`, `{"a"`, `{`, ``} {
		_, err := validDoc([]byte(s))
		assert.Error(t, err, s)
	}
}

func FuzzValidDoc(f *testing.F) {
	for _, s := range docSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := validDoc(append([]byte(nil), b...)) // never panics, valid or not
		if !json.Valid(b) {
			return
		}
		want, werr := parseDoc(b)
		if werr != nil {
			if gerr == nil {
				t.Fatalf("%q: walk accepted what encoding/json refused: %v", b, werr)
			}
			return
		}
		if gerr != nil {
			t.Fatalf("%q: %v", b, gerr)
		}
		if w, g := norm(want), norm(got); !assert.ObjectsAreEqual(w, g) {
			t.Fatalf("%q:\nwant %v\ngot  %v", b, w, g)
		}
	})
}

// norm compares values as text (encoding/json keeps a value's bytes as sent).
func norm(d doc) map[string]string {
	out := map[string]string{}
	for k, v := range d {
		out[k] = string(v)
	}
	return out
}

// BenchmarkEventDocument: one Teams invite as Graph sends it, read into its property map.
func BenchmarkEventDocument(b *testing.B) {
	body := `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>`
	for len(body) < 3000 {
		body += `<p>Microsoft Teams meeting. Join on your computer, mobile app or room device: <a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0">Click here to join the meeting</a></p>`
	}
	ev, err := json.Marshal(map[string]any{"id": "AAMkAGI2TG93AAA=", "subject": "Quarterly review", "type": "singleInstance",
		"body":      map[string]any{"contentType": "html", "content": body},
		"start":     map[string]any{"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada", "address": "ada@contoso.example"}},
		"location":  map[string]any{"displayName": "Room 1"}, "isOnlineMeeting": true, "sensitivity": "normal"})
	require.NoError(b, err)
	for _, c := range []struct {
		name string
		read func([]byte) (doc, error)
	}{{"encoding_json", parseDoc}, {"walk", validDoc}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev)))
			for b.Loop() {
				if _, err := c.read(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package jsonvalid

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// cases are texts on every edge of the grammar; each must get json.Valid's answer.
var cases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1`, `-`, `01`, `-01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`,
	`1e`, `1e+`, `1.5e3`, `-1.5E-3`, `123456789012345678901234567890`, `true`, `false`, `null`,
	`tru`, `nul`, `truex`, `True`, `NaN`, `Infinity`, ` {"a":1} `, "\t[1,\r\n2]\n", `{"a":1,}`, `[1,]`,
	`[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `{"a":1 "b":2}`, `[1 2]`, `[1][2]`,
	`{"a":1}}`, `[[]`, `[]]`, `{"a":[1,{"b":null}],"c":"d"}`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\uD83D\uDE00"`,
	`"\u00g0"`, `"\u00e"`, `"\x"`, `"\'"`, "\"a\x01b\"", "\"a\x1fb\"", "\"a\x7fb\"", "\"\xff\xfe\"",
	"\"é\"", `"unterminated`, `"\`, `"\u`, `[`, `{`, `{"a":`, `{"a"`, `"a"b`, `1 2`, "\x00", "\v1",
	"\u00a01", `{"a":1,"a":2}`, `[-]`, `[+1]`, `[0x10]`, `{"":""}`,
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range cases {
		assert.Equal(t, json.Valid([]byte(c)), Valid([]byte(c)), "%q", c)
	}
}

// TestValidNestingLimit: encoding/json refuses a value nested deeper than 10,000 containers
// (an empty one counts too), and so does Valid.
func TestValidNestingLimit(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		for _, shape := range []struct{ open, inner, close string }{{"[", "", "]"}, {`{"a":`, "{}", "}"}, {"[", "1", "]"}} {
			// {"a": opens one object a level; the innermost {} is one more.
			n := depth
			if shape.inner == "{}" {
				n--
			}
			text := []byte(strings.Repeat(shape.open, n) + shape.inner + strings.Repeat(shape.close, n))
			assert.Equal(t, json.Valid(text), Valid(text), "depth %d, %s…%s", depth, shape.open, shape.close)
		}
	}
	assert.True(t, Valid([]byte(strings.Repeat("[", 10000)+strings.Repeat("]", 10000))), "10,000 levels are allowed")
	assert.False(t, Valid([]byte(strings.Repeat("[", 10001)+strings.Repeat("]", 10001))), "10,001 are not")
}

func TestValidOnAGraphPage(t *testing.T) {
	page := graphPage(40)
	assert.True(t, Valid(page))
	assert.False(t, Valid(page[:len(page)-1]), "cut short")
	bad := []byte(strings.Replace(string(page), `\"`, "\"\x01", 1))
	assert.False(t, Valid(bad), "a control character in the HTML body")
}

// FuzzValid holds Valid to json.Valid on any text.
func FuzzValid(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Add(graphPage(2))
	f.Fuzz(func(t *testing.T, b []byte) {
		if want, got := json.Valid(b), Valid(b); want != got {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// BenchmarkValid compares the two on a delta page of 40 Teams-style invites (HTML bodies
// with quoted attributes, as Graph sends them).
func BenchmarkValid(b *testing.B) {
	page := graphPage(40)
	b.Run("jsonvalid", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			if !Valid(page) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			if !json.Valid(page) {
				b.Fatal("invalid")
			}
		}
	})
}

// graphPage is a delta page of n events shaped like Graph's.
func graphPage(n int) []byte {
	events := make([]map[string]any, n)
	for i := range events {
		link := fmt.Sprintf("https://teams.microsoft.com/l/meetup-join/19%%3ameeting_%d%%40thread.v2/0?context=%%7b%%22Tid%%22%%3a%%22x%%22%%7d", i)
		events[i] = map[string]any{
			"@odata.etag": fmt.Sprintf(`W/"DwAAABYAAA%d"`, i), "id": fmt.Sprintf("AAMkAGI2T%d", i), "type": "singleInstance",
			"subject": fmt.Sprintf("Weekly sync %d — ünïcode", i), "isCancelled": false, "isAllDay": false,
			"start": map[string]string{"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "UTC"},
			"end":   map[string]string{"dateTime": "2026-12-07T10:30:00.0000000", "timeZone": "UTC"},
			"body": map[string]string{"contentType": "html", "content": `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>` +
				strings.Repeat(`<div style="color:#242424">Agenda: status, risks &amp; next steps.</div>`, 20) +
				`<a href="` + link + `">Join the meeting now</a></body></html>`},
			"attendees": []map[string]any{{"type": "required", "emailAddress": map[string]string{"address": "a@contoso.example", "name": "A"}}},
			"organizer": map[string]any{"emailAddress": map[string]string{"address": "o@contoso.example", "name": "O"}},
		}
	}
	b, err := json.Marshal(map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)", "value": events,
		"@odata.deltaLink": "https://graph.microsoft.com/v1.0/users/room/calendarView/delta?$deltatoken=abc"})
	if err != nil {
		panic(err)
	}
	return b
}

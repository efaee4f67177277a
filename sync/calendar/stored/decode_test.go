package stored

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// decodeCases are stored events of every shape the sources write, and the odd ones
// encoding/json has rules for (escapes, case, nulls, duplicates, invalid UTF-8).
func decodeCases(t testing.TB) map[string]string {
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	full := calendar.Event{ID: "AAMk-1", Type: calendar.TypeOccurrence, SeriesMasterID: "AAMk-M", ICalUID: "040000008200E0",
		ChangeKey: "DwAAAB", LastModified: "2026-12-06T08:45:55.4425519Z", Subject: `Review "Q4" <draft> & notes`,
		BodyPreview: "Hi all\r\nJoin: sip:4455@vmr.example.com", Body: &calendar.ItemBody{ContentType: "html", Content: teamsBody},
		Start: calendar.FromTime(start), End: calendar.FromTime(start.Add(time.Hour)), IsAllDay: false, IsCancelled: true,
		ShowAs: "tentative", Sensitivity: "private",
		Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Priya García", Address: "priya@contoso.example"}},
		Attendees: []calendar.Attendee{{Type: "resource", Status: &calendar.ResponseStatus{Response: "accepted"}, EmailAddress: calendar.EmailAddress{Address: "room@contoso.example"}}},
		Location:  &calendar.Location{DisplayName: "Room; Teams"}, Locations: []calendar.Location{{DisplayName: "Room", LocationEmailAddress: "room@contoso.example"}},
		IsOnlineMeeting: true, OnlineMeetingProvider: "teamsForBusiness", OnlineMeeting: &calendar.OnlineMeetingInfo{JoinURL: "https://teams.microsoft.com/l/x", TollFreeNumbers: []string{"+1 555"}},
		OnlineMeetingURL: "https://x.example/y", ResponseStatus: &calendar.ResponseStatus{Response: "notResponded", Time: "0001-01-01T00:00:00Z"},
		IsOrganizer: true, Recurrence: json.RawMessage(`{"pattern":{"type":"weekly","interval":1}}`), Removed: &calendar.Removed{Reason: "deleted"}}
	escaped, err := json.Marshal(full) // Go's encoding: \u003c for <, \u0026 for &
	require.NoError(t, err)
	indented, err := json.MarshalIndent(full, "", "\t")
	require.NoError(t, err)
	noPreview := full
	noPreview.BodyPreview = "  "
	noPreviewJSON, err := json.Marshal(noPreview)
	require.NoError(t, err)
	graph := `{"@odata.etag":"W/\"DwAAABYAAAAkENB+twGtbY0duxl\"","id":"AAMkAGI=","createdDateTime":"2026-12-01T10:00:00.1234567Z",` +
		`"categories":[],"hasAttachments":false,"subject":"Planning","bodyPreview":"","importance":"normal",` +
		`"body":{"contentType":"html","content":"<html><body><p style=\"color:red\">\r\n</p></body></html>"},` +
		`"start":{"dateTime":"2026-11-23T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-11-23T09:30:00.0000000","timeZone":"UTC"},` +
		`"location":{"displayName":"","locationType":"default","uniqueIdType":"unknown","address":{},"coordinates":{}},` +
		`"locations":[],"recurrence":null,"attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"name":"A","address":"a@b.c"}}],` +
		`"organizer":{"emailAddress":{"name":"Ada","address":"ada@contoso.example"}},"onlineMeeting":null,"isCancelled":false,"showAs":"busy",` +
		`"responseStatus":{"response":"organizer","time":"0001-01-01T00:00:00Z"},"sensitivity":"normal","seriesMasterId":null,"type":"singleInstance"}`
	return map[string]string{
		"graph":                      graph,
		"go encoding, HTML escaped":  string(escaped),
		"indented":                   string(indented),
		"blank preview keeps body":   string(noPreviewJSON),
		"empty":                      `{}`,
		"unicode escapes":            `{"id":"x","subject":"caf\u00e9 \ud83d\ude00 \ud800 end","bodyPreview":"","body":{"content":"\u003cp\u003e\"q\" \\ \/ \b\f\n\r\t"}}`,
		"surrogate edges":            `{"subject":"\ud83d\u0041 \ud83dx \uDBFF\uDFFF \udc00\ud800","id":"x"}`,
		"short unicode escape":       `{"subject":"\u12"}`,
		"raw UTF-8":                  `{"id":"x","subject":"café 😀 日本","body":{"contentType":"text","content":"ünïcödé"}}`,
		"invalid UTF-8":              "{\"id\":\"x\",\"subject\":\"a\xff\xfeb\",\"body\":{\"content\":\"\xc3\"}}",
		"nulls":                      `{"id":null,"subject":null,"isCancelled":null,"start":null,"body":null,"organizer":null,"attendees":null,"recurrence":null,"@removed":null}`,
		"keys in another case":       `{"ID":"x","Subject":"S","BODYPREVIEW":"","Body":{"ContentType":"text","CONTENT":"c"},"IsCancelled":true,"ATTENDEES":[]}`,
		"kelvin sign folds to k":     "{\"changeKe\u212a\":\"ck\",\"id\":\"x\"}",
		"duplicate keys":             `{"subject":"one","subject":"two","body":{"content":"a"},"body":{"contentType":"text"},"start":{"dateTime":"2026-11-23T09:00:00"},"start":{"timeZone":"UTC"}}`,
		"removed":                    `{"id":"x","@removed":{"reason":"deleted"}}`,
		"unknown nested values":      `{"id":"x","extensions":[{"a":"}]\"{"},[[]],{}],"n":-1.5e3,"t":true,"f":false,"z":null,"subject":"s"}`,
		"whitespace":                 " \n{ \"id\" : \"x\" ,\t\"isAllDay\" : true }\r\n",
		"escaped key":                `{"sub\u006aect":"s","id":"x"}`,
		"not json":                   `{not json`,
		"trailing garbage":           `{"id":"x"} x`,
		"a string where a bool goes": `{"id":"x","isCancelled":"yes"}`,
		"a number where a string":    `{"id":5}`,
		"control character":          "{\"id\":\"a\tb\"}",
		"array":                      `[1,2]`,
		"nested oddities": `{"id":"x","start":{"DATETIME":"2026-11-23T09:00:00","timeZone":null,"x":[1]},"end":{},` +
			`"organizer":{"emailAddress":null},"attendees":[null,{"type":"required","status":null,"emailAddress":{"Name":"n"}},{}],` +
			`"locations":[ ],"location":{"displayName":"a","address":{"street":"s"}},` +
			`"onlineMeeting":{"joinUrl":"u","tollFreeNumbers":["1","2"],"QuickDial":"q"},"responseStatus":{},"@removed":{}}`,
		"duplicate nested":            `{"attendees":[{"type":"a"},{"type":"b"},{"type":"c"}],"attendees":[{"status":{"time":"t"}}],"attendees":[{},{}],"organizer":{"emailAddress":{"name":"a"}},"organizer":{"emailAddress":{"address":"b"}}}`,
		"a string where an object":    `{"start":"2026-11-23"}`,
		"a number in a nested string": `{"organizer":{"emailAddress":{"name":5}}}`,
	}
}

// TestDecodingByHandGivesWhatEncodingJSONGives: the processor's events and the diagnosis'
// summaries, decoded by decodeEvent, equal encoding/json's decoding of the same stored JSON,
// and JSON that encoding/json refuses is refused with its error.
func TestDecodingByHandGivesWhatEncodingJSONGives(t *testing.T) {
	for name, data := range decodeCases(t) {
		t.Run(name, func(t *testing.T) {
			checkDecode(t, []byte(data))
		})
	}
}

func checkDecode(t *testing.T, data []byte) {
	var want calendar.Event
	wantErr := json.Unmarshal(data, &want)
	got, err := decode(data)
	if wantErr != nil {
		assert.EqualError(t, err, wantErr.Error(), "a decoding error is encoding/json's")
	} else {
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

// FuzzDecode: for any JSON encoding/json accepts, decodeEvent gives encoding/json's answer.
func FuzzDecode(f *testing.F) {
	for _, data := range decodeCases(f) {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want calendar.Event
		if json.Unmarshal(data, &want) != nil {
			return // decodeEvent walks what it skips without validating it; see decode.go
		}
		checkDecode(t, data)
	})
}

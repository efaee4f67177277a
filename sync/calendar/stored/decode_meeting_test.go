package stored

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// checkDecodeMeeting holds unmarshalMeeting to json.Unmarshal: the same meeting, and an error
// exactly when it fails.
func checkDecodeMeeting(t *testing.T, data []byte) {
	t.Helper()
	var want calendar.Meeting
	wantErr := json.Unmarshal(data, &want)
	got, err := unmarshalMeeting(data)
	if wantErr != nil {
		require.Error(t, err, "json.Unmarshal fails on %q", data)
		return
	}
	require.NoError(t, err, "%q", data)
	require.Equal(t, want, got, "%q", data)
}

// meetingCases are meetings as the processor writes them and the odd JSON encoding/json has
// rules for (case-folded and escaped keys, nulls, numbers for durations, duplicates).
func meetingCases(t testing.TB) []string {
	start := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	var out []string
	for _, m := range []calendar.Meeting{
		{Room: "room-1@example.com", ID: "040000008200E0|20261207T093000Z", EventID: "AAMk-1", ICalUID: "040000008200E0",
			SeriesMasterID: "AAMk-M", Start: start, End: start.Add(time.Hour), StartBuffer: calendar.Duration(5 * time.Minute),
			EndBuffer: calendar.Duration(90 * time.Second), Subject: `Review "Q4" <draft> & notes — 会议`, Organizer: "Ana Li",
			OrganizerEmail: "ana@example.com", Tentative: true, Join: true, Number: "sip:4455@vmr.example.com",
			Protocol: calendar.ProtocolSIP, Platform: calendar.PlatformOther, Rule: "vmr", Reason: "matched"},
		{Room: "r", ID: "x", Start: start.Add(123456789), End: start, AllDay: true, Private: true, Subject: "tab\t\x01\u2028\xff"},
		{},
	} {
		data, err := m.AppendJSON(nil)
		require.NoError(t, err)
		out = append(out, string(data))
	}
	return append(out,
		`{"ROOM":"a","Id":"b","join":true}`,
		`{"r\u006fom":"a"}`,
		`{"room":null,"join":null,"allDay":false,"start":null,"startBuffer":"1m"}`,
		`{"startBuffer":60000000000,"endBuffer":"-2s"}`,
		`{"startBuffer":"1 minute"}`,
		`{"startBuffer":null}`,
		`{"start":"2026-12-07T09:30:00+01:00","end":"2026-12-07T09:30:00.5Z"}`,
		`{"start":"2026-12-07T24:30:00Z"}`,
		`{"start":"2026-12-07T09:30:00\u005a"}`,
		`{"start":"2026-12-07"}`,
		`{"join":"yes","room":"a"}`,
		`{"room":"a","room":"b"}`,
		`{"room":"a","extra":{"x":[1,2,{"y":"}"}]}}`,
		`{"room":"a"} x`,
		`{"room":"a",}`,
		`{"room":"\q"}`,
		`[]`, `null`, ``, ` { } `,
	)
}

func TestDecodeMeetingIsJSONUnmarshal(t *testing.T) {
	for _, data := range meetingCases(t) {
		checkDecodeMeeting(t, []byte(data))
	}
}

func FuzzDecodeMeeting(f *testing.F) {
	for _, data := range meetingCases(f) {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeMeeting(t, data) })
}

// BenchmarkMeetingJSON: a meeting's encode (every resolve) and decode (every read of a room's
// meetings), by hand and by encoding/json.
func BenchmarkMeetingJSON(b *testing.B) {
	data := []byte(meetingCases(b)[0])
	m, err := unmarshalMeeting(data)
	require.NoError(b, err)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(&m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := unmarshalMeeting(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var m calendar.Meeting
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

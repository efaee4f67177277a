package calendar

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// meetingOf builds a meeting from fuzz input: every string field from the strings, the times
// from seconds and an offset (so years and zones outside what JSON can hold occur too).
func meetingOf(strs [4]string, start, end int64, offset int, buf int64, flags uint8) Meeting {
	zone := time.UTC
	if offset != 0 {
		zone = time.FixedZone("", offset)
	}
	return Meeting{Room: strs[0], ID: strs[1], EventID: strs[2], ICalUID: strs[3], SeriesMasterID: strs[0],
		Start: time.Unix(start, start%1e9).In(zone), End: time.Unix(end, 0).UTC(),
		StartBuffer: Duration(buf), EndBuffer: Duration(-buf / 3), AllDay: flags&1 != 0,
		Subject: strs[1] + strs[2], Organizer: strs[3], OrganizerEmail: strs[2], Private: flags&2 != 0,
		Tentative: flags&4 != 0, Join: flags&8 != 0, Number: strs[0], Protocol: strs[1], Platform: strs[2],
		Rule: strs[3], Reason: strs[1]}
}

func checkMeetingJSON(t *testing.T, m Meeting) {
	t.Helper()
	want, wantErr := json.Marshal(&m)
	got, err := m.AppendJSON(nil)
	if wantErr != nil {
		require.Error(t, err, "json.Marshal fails on %+v", m)
		return
	}
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	prefixed, err := m.AppendJSON([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, "x"+string(want), string(prefixed), "appends to what it is given")
}

func TestMeetingJSONIsJSONMarshals(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC).Unix()
	for _, m := range []Meeting{
		{},
		meetingOf([4]string{"room-1@example.com", "uid-1", "AAMk==", ""}, at, at+3600, 0, int64(5*time.Minute), 8),
		meetingOf([4]string{`<b>"Q&A"</b>`, "tab\there\nnew\rline\b\f\x00\x1f", "naïve — 会议 \u2028\u2029", "\xff\xfe bad"}, at, at, 3600, 1500, 15),
		meetingOf([4]string{"a", "b", "c", "d"}, at, at, -(5*3600 + 30*60 + 17), 1, 0), // an offset in seconds
		meetingOf([4]string{"a", "b", "c", "d"}, 253402300800, at, 0, 0, 0),            // the year 10000
		meetingOf([4]string{"a", "b", "c", "d"}, at, at, 24*3600, 0, 0),                // an offset of a day
		meetingOf([4]string{"a", "b", "c", "d"}, -62135596801, at, 0, 0, 0),            // before the year 1
	} {
		checkMeetingJSON(t, m)
	}
	// A meeting json.Marshal cannot write: the hash is what it was, not a panic.
	bad := meetingOf([4]string{"a", "b", "c", "d"}, 253402300800, at, 0, 0, 0)
	_, err := bad.AppendJSON(nil)
	assert.Error(t, err)
	assert.NotEmpty(t, bad.Hash())
}

func FuzzMeetingJSON(f *testing.F) {
	f.Add("room@x", "id", "<&>", "\u2028", int64(1796549400), int64(1796553000), 0, int64(300e9), uint8(9))
	f.Add("\xed\xa0\x80", "\"\\", "\x7f", "é", int64(-1), int64(0), -3600, int64(-1), uint8(255))
	f.Fuzz(func(t *testing.T, a, b, c, d string, start, end int64, offset int, buf int64, flags uint8) {
		checkMeetingJSON(t, meetingOf([4]string{a, b, c, d}, start, end, offset%(48*3600), buf, flags))
	})
}

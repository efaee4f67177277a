package migrate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

func meeting(id, uid, subject string, start time.Time, number string) calendar.Meeting {
	return calendar.Meeting{ID: id, ICalUID: uid, Subject: subject, Start: start, End: start.Add(time.Hour),
		Join: number != "", Number: number, Protocol: calendar.ProtocolSIP}
}

// TestCompareSaysWhatARoomWouldShowDifferently: pairs by id, by iCalUId and start, then by
// start and subject; each difference in the words the status page shows, in start order.
func TestCompareSaysWhatARoomWouldShowDifferently(t *testing.T) {
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	when := whenIn(now, time.UTC)
	at := func(h int) time.Time { return now.Add(time.Duration(h) * time.Hour) }
	live := []calendar.Meeting{
		meeting("a", "uid-a", "Board", at(2), "sip:a@x"),
		meeting("b", "uid-b", "Standup", at(3), "sip:s@x"),
		meeting("ews-c", "uid-c", "Review", at(4), "sip:r@x"),
		meeting("d1", "", "Lunch", at(5), ""),
		meeting("e", "uid-e", "Only live", at(30), "sip:e@x"),
	}
	shadow := []calendar.Meeting{
		meeting("a", "uid-a", "Board", at(2), "sip:b@x"),
		meeting("b", "uid-b", "Standup", at(3), "sip:s@x"),
		meeting("graph-c", "uid-c", "Review", at(4), "sip:r@x"),
		meeting("d2", "", "Lunch", at(5), ""),
		meeting("f", "uid-f", "Only shadow", at(6), ""),
	}
	shadow[1].End = at(3).Add(30 * time.Minute)
	shadow[1].Subject = "Standup (private)"
	assert.Equal(t, []string{
		"10:00 'Board' join sip:a@x (live) vs sip:b@x (shadow)",
		"11:00 'Standup' ends 12:00 (live) vs 11:30 (shadow)",
		"11:00 'Standup' subject 'Standup' (live) vs 'Standup (private)' (shadow)",
		"14:00 'Only shadow' is missing live (only the shadow has it)",
		"Wed 11 Mar 14:00 'Only live' is missing in the shadow (only live has it)",
	}, Compare(live, shadow, when))
	assert.Empty(t, Compare(live[2:4], shadow[2:4], when), "ids differing across sources still pair")
	assert.Empty(t, Compare(live, live, when))
	webrtc := live[0]
	webrtc.Protocol, webrtc.Number = calendar.ProtocolWebRTC, "https://teams.example/x"
	none := live[0]
	none.Join, none.Number = false, ""
	assert.Equal(t, []string{"10:00 'Board' join https://teams.example/x by WebRTC (live) vs none (no Join button) (shadow)"},
		Compare([]calendar.Meeting{webrtc}, []calendar.Meeting{none}, when))
}

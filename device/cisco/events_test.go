package cisco

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// TestMeetingJoinedAndNotJoinedEvents drives the codec's booking events with the shared fake
// clock: a meeting joined from the room, and one booked but never joined.
func TestMeetingJoinedAndNotJoinedEvents(t *testing.T) {
	start := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	mk := func(id string, at time.Time) calendar.Meeting {
		return calendar.Meeting{Room: room, ID: id, Start: at, End: at.Add(30 * time.Minute), Subject: "Meeting " + id,
			Organizer: "Ada", Join: true, Number: "sip:" + id + "@vc.example.com", Protocol: "SIP", Platform: "Other",
			StartBuffer: calendar.Duration(5 * time.Minute)}
	}
	h.meetings(room, mk("standup", start.Add(10*time.Minute)), mk("review", start.Add(time.Hour)))
	h.start([]Endpoint{ep}, func(o *Options) { o.SafetyInterval = 24 * time.Hour })
	h.waitPuts(c, 1)
	h.waitIdle("codec-1", 1)

	h.fake.Advance(10 * time.Minute) // 09:10, the standup starts
	c.Tick()
	started := h.waitEvent("codec-1", KindMeetingStarted)
	assert.Equal(t, `meeting started: "Meeting standup"`, started.Message)
	assert.Equal(t, room, started.Room)

	// Someone presses Join: the codec dials the booking's number.
	c.Dial("standup@vc.example.com", "Sip", "")
	joined := h.waitEvent("codec-1", KindMeetingJoined)
	assert.Equal(t, `meeting joined from the room: "Meeting standup"`, joined.Message)
	assert.Equal(t, "standup", joined.Data["booking_id"])
	c.Hangup(0)

	h.fake.Advance(30 * time.Minute) // 09:40, the standup ends
	c.Tick()
	h.fake.Advance(20 * time.Minute) // 10:00, the review starts; nobody joins
	c.Tick()
	h.fake.Advance(30 * time.Minute) // 10:30, it ends
	c.Tick()
	notJoined := h.waitEvent("codec-1", KindNotJoined)
	assert.Equal(t, `booked but not joined: "Meeting review"`, notJoined.Message)
	assert.Equal(t, "review", notJoined.Data["booking_id"])
	assert.Equal(t, false, notJoined.Data["private"], "the daily report shows the title only of a meeting known not to be private")
	assert.Len(t, h.events("codec-1", KindNotJoined), 1, "the joined standup is not reported")
	assert.Len(t, h.events("codec-1", KindMeetingStarted), 2)
	assert.Len(t, h.events("codec-1", KindMeetingJoined), 1)
}

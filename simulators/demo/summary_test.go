package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A site as the demo sees it: 20 rooms (one outside the access policy), a codec with a wrong
// password, a Poly endpoint that cannot reach the agent.
func sampleSummary() summary {
	s := summary{agentUp: true, ciscoTotal: 3, polyTotal: 3}
	s.status.Health.Overall = "error"
	s.status.Health.Items = []healthItem{
		{Component: "cisco/codec-3", Level: "error", Message: "wrong username or password"},
		{Component: "graph/m365", Level: "warning", Message: "1 room denied by the access policy"},
		{Component: "mqtt", Level: "ok", Message: "connected"},
	}
	s.status.Calendar.Rooms = 20
	s.status.Calendar.Text = "calendar data 2 minutes old"
	s.status.Rooms = map[string]int{"ok": 19, "policy_denied": 1}
	s.status.Endpoints = map[string]int{"up": 5, "auth_failed": 1}
	s.codecs = []codecView{{"codec-1", 10}, {"codec-2", 5}, {"codec-3", 0}}
	s.polys = []polyView{
		{name: "room-04-poly", state: "ONLINE", polled: true, meetings: 4},
		{name: "room-05-poly", state: "OFFLINE", polled: true, meetings: 0},
		{name: "room-06-poly", state: "OFFLINE"},
	}
	return s
}

func TestSummaryNamesTheComponentOfEachProblem(t *testing.T) {
	out := sampleSummary().render()
	assert.Contains(t, out, "agent:     health error; calendar data 2 minutes old\n")
	assert.Contains(t, out, "           error: cisco/codec-3: wrong username or password\n")
	assert.Contains(t, out, "           warn: graph/m365: 1 room denied by the access policy\n")
	assert.NotContains(t, out, "mqtt: connected", "healthy components are not listed")

	s := sampleSummary()
	s.status.Health.Items = nil
	for i := range maxProblems + 2 {
		s.status.Health.Items = append(s.status.Health.Items,
			healthItem{Component: fmt.Sprintf("cisco/codec-%d", i+1), Level: "error", Message: "unreachable"})
	}
	out = s.render()
	assert.Contains(t, out, fmt.Sprintf("cisco/codec-%d: unreachable", maxProblems))
	assert.NotContains(t, out, fmt.Sprintf("cisco/codec-%d: unreachable", maxProblems+1))
	assert.Contains(t, out, "… and 2 more on the status page")
}

func TestSummaryCountsWhatItSays(t *testing.T) {
	s := sampleSummary()
	c := newMQTTCounter()
	// Room states are republished whenever a room changes: 46 messages for 20 rooms, then one
	// room removed from the config (an empty retained message clears it).
	for i := range 46 {
		c.record(fmt.Sprintf("otj/v1/oslo-hq/rooms/room-%02d@contoso.example", i%20+1), []byte(`{"room":"…"}`))
	}
	c.record("otj/v1/oslo-hq/rooms/room-20@contoso.example", nil)
	for range 73 {
		c.record("otj/v1/oslo-hq/events", []byte(`{}`))
	}
	for range 6 {
		c.record("otj/v1/oslo-hq/status", []byte(`{}`))
	}
	c.record("otj/v1/oslo-hq/cmd-result", []byte(`{}`))
	c.record("elsewhere/topic", []byte(`{}`)) // not the site's: not counted
	s.mqtt = c.snapshot()

	out := s.render()
	assert.Contains(t, out, "rooms:     20 rooms: 19 ok, 1 policy_denied\n")
	assert.Contains(t, out, "endpoints: 6 endpoints: 1 auth_failed, 5 up\n")
	assert.Contains(t, out, "cisco:     15 bookings on 2 of 3 codecs\n")
	assert.Contains(t, out, "poly:      4 meetings shown on 1 of 3 endpoints; calendar 1 OFFLINE, 1 ONLINE, 1 not polled yet\n")
	assert.Contains(t, out, "mqtt:      127 messages: 73 events, 47 room states for 19 rooms, 6 site statuses, 1 command result\n")
}

func TestSummaryBeforeTheAgentAnswers(t *testing.T) {
	s := summary{ciscoTotal: 2, polyTotal: 1, mqtt: newMQTTCounter().snapshot()}
	assert.Equal(t, "agent:     starting…\n"+
		"cisco:     0 bookings on 0 of 2 codecs\n"+
		"poly:      0 meetings shown on 0 of 1 endpoints\n"+
		"mqtt:      no messages yet\n", s.render())
	assert.False(t, s.settled())
}

func TestScreenRedrawsOnlyWhenSomethingChanged(t *testing.T) {
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			var out bytes.Buffer
			sc := &screen{w: &out, tty: tty, header: "HEADER\n"}
			s := sampleSummary()
			c := newMQTTCounter()
			c.record("otj/v1/oslo-hq/events", []byte(`{}`))
			s.mqtt = c.snapshot()

			require.True(t, sc.show(s.render()), "the first summary is drawn")
			for range 5 { // polls that found nothing new
				assert.False(t, sc.show(sampleSummaryWith(c).render()), "nothing changed: no redraw")
			}
			c.record("otj/v1/oslo-hq/events", []byte(`{}`))
			assert.True(t, sc.show(sampleSummaryWith(c).render()), "a new event is a change")
			assert.False(t, sc.show(sampleSummaryWith(c).render()))

			got := out.String()
			assert.Equal(t, 2, strings.Count(got, "agent:     health"), "two draws in all")
			assert.Contains(t, got, "mqtt:      1 message: 1 event\n")
			assert.Contains(t, got, "mqtt:      2 messages: 2 events\n")
			if tty {
				assert.Equal(t, 2, strings.Count(got, "\033[H\033[2JHEADER\n"), "each draw clears the screen once")
			} else {
				assert.NotContains(t, got, "\033[", "a log gets no escape sequences")
			}
		})
	}
}

func sampleSummaryWith(c *mqttCounter) summary {
	s := sampleSummary()
	s.mqtt = c.snapshot()
	return s
}

func TestSettledNeedsEveryEndpointRead(t *testing.T) {
	s := sampleSummary()
	s.codecs[2].bookings = 3
	s.polys[2].polled = true
	assert.True(t, s.settled())

	missing := s
	missing.codecs = s.codecs[:2] // codec-3's simulator did not answer
	assert.False(t, missing.settled(), "a codec not read is not known to hold bookings")

	pending := s
	pending.status.Rooms = map[string]int{"ok": 19, "pending": 1}
	assert.False(t, pending.settled())
}

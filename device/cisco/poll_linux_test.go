//go:build linux

package cisco

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
)

// A connected codec costs no goroutine while it is quiet: the shared poller watches its
// socket. Feedback, answers and the keep-alive still work: the meeting starts and is joined
// (events), and a codec that hangs is noticed by its pings within PongWait.
func TestConnectedCodecsHaveNoGoroutineOfTheirOwn(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	room2 := "room-02@contoso.example"
	c2, ep2 := h.codec("codec-2", room2, ciscosim.CodecConfig{})
	h.meetings(room, providerMeetings(room, start.Add(5*time.Minute))[:1]...) // 08:05, joinable now
	h.meetings(room2, providerMeetings(room2, start.Add(time.Hour))[:1]...)
	h.start([]Endpoint{ep, ep2}, func(o *Options) { o.PingEvery, o.PongWait = 20*time.Second, 300*time.Millisecond })
	h.waitPuts(c, 1)
	h.waitPuts(c2, 1)
	h.waitIdle("codec-1", 1)
	h.waitIdle("codec-2", 1)
	assert.Equal(t, 2, h.mgr.Stats().Connected)
	assert.Equal(t, 4, c.Stats().Subscribed)
	assert.Zero(t, readers(), "no reader goroutine per connection")

	h.fake.Advance(5 * time.Minute) // 08:05: the meeting starts
	c.Tick()
	h.waitEvent("codec-1", KindMeetingStarted)
	c.Dial("1234567890.acme@m.webex.com", "Sip", "")
	h.waitEvent("codec-1", KindMeetingJoined)

	// Both answer their pings; then codec-2 hangs (socket open, nothing answers): its ping
	// gets no answer within PongWait and the connection is dropped; codec-1 stays up.
	c2.FreezeConnections()
	// The pings the five minutes fired are armed again, due 20 s from now: advancing before
	// they are would leave them 20 s ahead of the new time (the test's flake under load).
	h.waitTimer(20*time.Second-time.Millisecond, 20*time.Second)
	h.fake.Advance(20 * time.Second)
	e := h.waitEndpoint("codec-2", stateIs(store.EndpointDown))
	assert.Contains(t, e.Detail, "stopped answering keep-alive pings")
	assert.Equal(t, store.EndpointUp, h.waitEndpoint("codec-1", stateIs(store.EndpointUp)).State)
	assert.Zero(t, readers())
}

// Where the poller cannot be used, a reader goroutine per connection does the same.
func TestReaderGoroutinesWithoutThePoller(t *testing.T) {
	usePoller.Store(false)
	t.Cleanup(func() { usePoller.Store(true) })
	t.Run("reader", func(t *testing.T) {
		start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
		h := newHarness(t, true, start)
		c, ep := h.codec("codec-1", "room-01@contoso.example", ciscosim.CodecConfig{})
		h.meetings("room-01@contoso.example", providerMeetings("room-01@contoso.example", start.Add(time.Hour))[:1]...)
		h.start([]Endpoint{ep}, nil)
		h.waitPuts(c, 1)
		h.waitIdle("codec-1", 1)
		assert.Equal(t, 1, readers(), "a reader goroutine per connection")
	})
	t.Run("keep-alive", TestKeepAliveNoticesAFrozenConnection)
	t.Run("feedback", TestMeetingJoinedAndNotJoinedEvents)
	t.Run("out-of-order", TestOutOfOrderSlowRepliesWithFeedbackInBetween)
}

package webex

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/simulators/webexsim"
)

// TestMidnightPushesComeAtEachDevicesOwnTime: the day's roll pushes each device in full at its
// own time after midnight (bookings.MidnightPush), so a site's devices do not meet the Webex
// API's rate limit together; not before that time, and once.
func TestMidnightPushesComeAtEachDevicesOwnTime(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id1, ep1 := h.device("wx-1", room, webexsim.DeviceConfig{})
	id3, ep3 := h.device("wx-3", room, webexsim.DeviceConfig{})
	eps := []Endpoint{ep1, ep3}
	h.rooms(eps)
	h.meetings(room, meetingsAt(room, testStart.Add(29*time.Hour), 1)...) // tomorrow 12:00: in the window all along
	h.start(eps, func(o *Options) { o.SafetyInterval = 48 * time.Hour })
	require.Equal(t, 1, h.puts(id1))
	require.Equal(t, 1, h.puts(id3))

	due1 := bookings.MidnightPush(testStart, time.UTC, 30*time.Second, bookings.DefaultMidnightSpread, "wx-1")
	due3 := bookings.MidnightPush(testStart, time.UTC, 30*time.Second, bookings.DefaultMidnightSpread, "wx-3")
	require.Greater(t, due1.Sub(due3), time.Minute, "the two devices' offsets are minutes apart")
	now := testStart
	to := func(at time.Time) {
		h.advance(at.Sub(now))
		now = at
	}
	to(due3.Add(-time.Second))
	assert.Equal(t, []int{1, 1}, []int{h.puts(id1), h.puts(id3)}, "no push before a device's own time")
	to(due3)
	assert.Equal(t, []int{1, 2}, []int{h.puts(id1), h.puts(id3)}, "wx-3 at its time, wx-1 not yet")
	to(due1.Add(-time.Second))
	assert.Equal(t, 1, h.puts(id1))
	to(due1)
	assert.Equal(t, []int{2, 2}, []int{h.puts(id1), h.puts(id3)}, "wx-1 at its own time")
	to(due1.Add(time.Hour))
	assert.Equal(t, []int{2, 2}, []int{h.puts(id1), h.puts(id3)}, "once a day")
}

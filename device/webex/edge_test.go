package webex

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/webexsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// TestMeetingLeavingTheWindowIsPushed: with no change and no safety push, the device gets a
// new list once a pushed meeting leaves the window (its end + window_past), not before.
func TestMeetingLeavingTheWindowIsPushed(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	h.meetings(room, meetingsAt(room, testStart.Add(10*time.Minute), 2)...) // 07:10–07:40 and 08:10–08:40
	h.start([]Endpoint{ep}, func(o *Options) { o.SafetyInterval = 24 * time.Hour })
	require.Equal(t, 1, h.puts(id))
	for range 99 { // to 08:39: the first meeting is still within window_past (1 h) of its end
		h.advance(time.Minute)
	}
	assert.Equal(t, 1, h.puts(id), "nothing to push while the window holds both")
	h.advance(time.Minute)
	h.advance(time.Minute)
	puts, err := h.sim.Puts(id)
	require.NoError(t, err)
	require.Len(t, puts, 2, "the meeting leaving the window is a push\n%s", h.logs.String())
	require.Len(t, puts[1].Bookings, 1)
	assert.Equal(t, "Meeting B", puts[1].Bookings[0].Title)
	for range 5 {
		h.advance(time.Minute)
	}
	assert.Equal(t, 2, h.puts(id), "one push per edge, no loop")
}

// TestForeignBookingsAreReported: bookings another system put on the device are seen before
// the first full push, reported (event, degraded state whose cause is Webex's "another system
// pushes bookings") and not fought; the device's own earlier bookings are not foreign.
func TestForeignBookingsAreReported(t *testing.T) {
	h := newHarness(t, webexsim.Options{Profile: ciscosim.RoomOS11})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	ours := meetingsAt(room, testStart.Add(time.Hour), 1)
	h.meetings(room, ours...)
	other := calendar.Meeting{Room: room, ID: "tms-4711", Start: testStart.Add(2 * time.Hour), End: testStart.Add(3 * time.Hour),
		Subject: "Booked in TMS", Organizer: "TMS", Join: true, Number: "4711@vc.example.com", Protocol: calendar.ProtocolSIP}
	fw := bookings.ParseFirmware(ciscosim.RoomOS11.Version, ciscosim.RoomOS11.DisplayName)
	// The device holds one of ours (pushed before a restart) and another system's booking.
	require.NoError(t, h.sim.ForeignPut(id, string(bookings.BuildPayload(append([]calendar.Meeting{other}, ours...), fw).Body)))
	h.start([]Endpoint{ep}, nil)

	e := h.endpoint("wx-1")
	assert.Equal(t, store.EndpointDegraded, e.State, e.Detail)
	assert.Contains(t, e.Detail, "tms-4711")
	assert.NotContains(t, e.Detail, ours[0].ID, "a meeting of the room is not another system's")
	assert.Equal(t, CauseForeign, Cause(e.State, e.Detail))
	evs, err := h.st.RecentEvents(t.Context(), 50)
	require.NoError(t, err)
	found := false
	for _, ev := range evs {
		found = found || (ev.Kind == KindForeign && ev.Endpoint == "wx-1")
	}
	assert.True(t, found, "a bookings.foreign event")
	held, err := h.sim.Bookings(id)
	require.NoError(t, err)
	require.Len(t, held, 1, "the push still replaces the list")
	assert.Equal(t, ours[0].ID, held[0].Id)
}

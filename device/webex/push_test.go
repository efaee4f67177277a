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
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// TestPushMatchesTheLANPayload: a Webex device gets, through the cloud, byte for byte the
// Bookings document the Cisco LAN driver builds for a codec of the same firmware in the room.
func TestPushMatchesTheLANPayload(t *testing.T) {
	h := newHarness(t, webexsim.Options{Profile: ciscosim.RoomOS11})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{Workspace: "Room 1"})
	h.rooms([]Endpoint{ep})
	ms := meetingsAt(room, testStart.Add(time.Hour), 3)
	h.meetings(room, ms...)
	h.start([]Endpoint{ep}, nil)

	puts, err := h.sim.Puts(id)
	require.NoError(t, err)
	require.Len(t, puts, 1, h.logs.String())
	lan := bookings.BuildPayload(ms, bookings.ParseFirmware(ciscosim.RoomOS11.Version, ciscosim.RoomOS11.DisplayName))
	assert.Equal(t, string(lan.Body), puts[0].Body, "the same document as the LAN driver's")
	assert.True(t, puts[0].Accepted, puts[0].Error)
	held, err := h.sim.Bookings(id)
	require.NoError(t, err)
	assert.Len(t, held, 3)
	e := h.endpoint("wx-1")
	assert.Equal(t, store.EndpointUp, e.State, e.Detail)
	assert.Equal(t, "3 bookings pushed through Webex; Webex device \"wx-1\", id "+id, e.Detail)
	assert.Equal(t, "webex", e.Type)
	assert.Contains(t, e.Software, "RoomOS 11")
	st := h.sim.Stats()
	assert.Equal(t, 2, st.Devices[id].Commands["Bookings.List"], "one list before the first push looks for another system's bookings, one after verifies the push")
}

// TestNothingBeforeTheRoomsFirstSync: trust first: a room that has not synced gets neither a
// Put nor a Clear; its first sync pushes.
func TestNothingBeforeTheRoomsFirstSync(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep}, room)
	h.start([]Endpoint{ep}, nil)
	h.advance(time.Minute)
	assert.Empty(t, h.sim.Stats().Devices[id].Commands, "no command before the room's first sync")
	assert.Equal(t, store.EndpointWaiting, h.endpoint("wx-1").State)

	h.rooms([]Endpoint{ep}) // the room syncs…
	h.heard(room)
	h.meetings(room, meetingsAt(room, testStart.Add(2*time.Hour), 2)...)
	h.advance(3 * time.Second)
	assert.Equal(t, 1, h.puts(id))
	assert.Equal(t, store.EndpointUp, h.endpoint("wx-1").State)
}

// TestEmptyRoomIsCleared: a synced room without meetings clears the device (Bookings.Clear).
func TestEmptyRoomIsCleared(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	h.start([]Endpoint{ep}, nil)
	assert.Equal(t, 1, h.sim.Stats().Devices[id].Commands["Bookings.Clear"])
	assert.Equal(t, 0, h.puts(id))
	assert.Equal(t, "no meetings in the window; bookings cleared; Webex device \"wx-1\", id "+id, h.endpoint("wx-1").Detail)
}

// TestBurstOfEditsIsOneCommand: ten edits of a room's calendar in a burst make one Put, with
// the last edit in it.
func TestBurstOfEditsIsOneCommand(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
	h.start([]Endpoint{ep}, nil)
	require.Equal(t, 1, h.puts(id))

	for i := 1; i <= 10; i++ {
		h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 2+i%5)...)
		h.advance(500 * time.Millisecond) // each edit inside the 2 s quiet time
	}
	h.advance(3 * time.Second)
	assert.Equal(t, 2, h.puts(id), "one Put for the burst")
	held, err := h.sim.Bookings(id)
	require.NoError(t, err)
	assert.Len(t, held, 2, "the last edit's meetings (2 + 10 %% 5)")
}

// TestRateLimitIsHonouredAcrossDevices: after a 429, no device of the token sends anything
// before Retry-After; then every push lands.
func TestRateLimitIsHonouredAcrossDevices(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	var eps []Endpoint
	var ids []string
	for _, n := range []string{"wx-1", "wx-2", "wx-3"} {
		room := n + "@contoso.example"
		id, ep := h.device(n, room, webexsim.DeviceConfig{})
		eps, ids = append(eps, ep), append(ids, id)
	}
	h.rooms(eps)
	h.sim.RateLimitBurst(1, 30*time.Second)
	for _, ep := range eps {
		h.meetings(ep.Room, meetingsAt(ep.Room, testStart.Add(time.Hour), 2)...)
	}
	h.start(eps, nil)
	before := h.sim.Stats().Requests
	h.advance(10 * time.Second)
	h.advance(10 * time.Second)
	assert.Equal(t, before, h.sim.Stats().Requests, "nothing is sent inside Retry-After")
	h.advance(15 * time.Second)
	for _, id := range ids {
		assert.Equal(t, 1, h.puts(id))
	}
	st := h.sim.Stats()
	assert.Equal(t, 1, st.RateLimited)
	assert.Zero(t, st.Violations, "no request before Retry-After")
}

// TestOfflineDeviceWaitsWithoutRetriesAndRecovers: a disconnected device is "offline in
// Webex", gets no command while it is, and is pushed at the status round that finds it back.
func TestOfflineDeviceWaitsWithoutRetriesAndRecovers(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
	h.start([]Endpoint{ep}, nil)
	require.Equal(t, 1, h.puts(id))

	require.NoError(t, h.sim.SetConnectionStatus(id, webexsim.Disconnected))
	h.advance(time.Minute) // a status round sees it
	e := h.endpoint("wx-1")
	assert.Equal(t, store.EndpointDown, e.State)
	assert.Contains(t, e.Detail, "offline in Webex (disconnected)")
	cmds := h.sim.Stats().Devices[id].Commands["Bookings.Put"]
	for i := range 5 {
		h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 2+i)...)
		h.advance(time.Minute)
	}
	assert.Equal(t, cmds, h.sim.Stats().Devices[id].Commands["Bookings.Put"], "no command to an offline device")

	require.NoError(t, h.sim.SetConnectionStatus(id, webexsim.Connected))
	h.advance(time.Minute)
	assert.Equal(t, 2, h.puts(id))
	assert.Equal(t, store.EndpointUp, h.endpoint("wx-1").State)
}

// TestPermissionRemovedAndRestored: a device that refuses commands (xapi:readonly) is degraded
// with the fix, tried again at most every 5 minutes, and pushed once fixed.
func TestPermissionRemovedAndRestored(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	h.start([]Endpoint{ep}, nil)
	require.NoError(t, h.sim.SetPermissions(id, []string{webexsim.PermXAPIReadonly}))
	h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
	h.advance(3 * time.Second)
	e := h.endpoint("wx-1")
	assert.Equal(t, store.EndpointDegraded, e.State)
	assert.Contains(t, e.Detail, "HTTP 403")
	assert.Contains(t, e.Detail, "xapi:all")
	refused := h.sim.Stats().Devices[id].Commands["Bookings.Put"]
	h.advance(time.Minute)
	h.advance(time.Minute)
	assert.Equal(t, refused, h.sim.Stats().Devices[id].Commands["Bookings.Put"], "not tried again before 5 minutes")

	require.NoError(t, h.sim.SetPermissions(id, []string{webexsim.PermXAPIAll}))
	for range 5 {
		h.advance(time.Minute)
	}
	assert.Equal(t, 1, countAccepted(t, h, id))
	assert.Equal(t, store.EndpointUp, h.endpoint("wx-1").State)
}

func countAccepted(t *testing.T, h *harness, id string) int {
	puts, err := h.sim.Puts(id)
	require.NoError(t, err)
	n := 0
	for _, p := range puts {
		if p.Accepted {
			n++
		}
	}
	return n
}

// TestFirstPushAfterTheRoomsFirstSyncGoesAtOnce: the room's first sync (its meetings and its
// mark, written together as the processor does) is no burst of edits: the device gets its
// bookings without waiting out the quiet time; later edits wait it out as before.
func TestFirstPushAfterTheRoomsFirstSyncGoesAtOnce(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep}, room)
	h.start([]Endpoint{ep}, nil)
	h.advance(time.Minute)
	require.Equal(t, store.EndpointWaiting, h.endpoint("wx-1").State)

	ms := meetingsAt(room, testStart.Add(2*time.Hour), 2)
	require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
		if _, err := stored.ReplaceMeetings(tx, room, ms); err != nil {
			return err
		}
		return markSynced(tx, room)
	}))
	h.heard(room)
	h.settle() // the clock does not move
	assert.Equal(t, 1, h.puts(id), "pushed at once")

	h.meetings(room, meetingsAt(room, testStart.Add(2*time.Hour), 3)...)
	h.settle()
	assert.Equal(t, 1, h.puts(id), "an edit waits out the quiet time")
	h.advance(3 * time.Second)
	assert.Equal(t, 2, h.puts(id))
}

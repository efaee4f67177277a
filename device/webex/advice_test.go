package webex

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/webexsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestAdviceSpeaksOfWebex: the rows the driver writes for webexsim's faults (device offline,
// xAPI permission removed, refresh token revoked, device id unknown, name ambiguous) read as
// Webex causes whose advice points at Control Hub, the scopes and the re-authorisation, never
// at a LAN address, and offer `otj-edge endpoints retry` where one attempt helps.
func TestAdviceSpeaksOfWebex(t *testing.T) {
	type want struct {
		state, cause, level string
		advice              []string
		command             string
	}
	check := func(t *testing.T, e store.EndpointState, w want) {
		t.Helper()
		require.Equal(t, w.state, e.State, e.Detail)
		cause := Cause(e.State, e.Detail)
		assert.Equal(t, w.cause, cause, e.Detail)
		level, advice, command := Advice(cause, []string{e.Name})
		assert.Equal(t, w.level, level)
		for _, s := range w.advice {
			assert.Contains(t, advice, s)
		}
		for _, lan := range []string{"address", "VLAN", "codec"} {
			assert.NotContains(t, advice, lan, "a Webex device is not reached on the LAN")
		}
		assert.Equal(t, w.command, command)
	}
	room := "room-1@contoso.example"

	t.Run("offline", func(t *testing.T) {
		h := newHarness(t, webexsim.Options{})
		id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
		h.rooms([]Endpoint{ep})
		h.start([]Endpoint{ep}, nil)
		require.NoError(t, h.sim.SetConnectionStatus(id, webexsim.Disconnected))
		h.advance(time.Minute)
		e := h.endpoint("wx-1")
		assert.Contains(t, e.Detail, `Webex device "wx-1", id `+id, "the detail names the device")
		check(t, e, want{state: store.EndpointDown, cause: CauseOffline, level: health.Error,
			advice: []string{"offline in Webex", "Check the device in Control Hub (Devices → the device → status)"}})
	})
	t.Run("permission removed", func(t *testing.T) {
		h := newHarness(t, webexsim.Options{})
		id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
		h.rooms([]Endpoint{ep})
		h.start([]Endpoint{ep}, nil)
		require.NoError(t, h.sim.SetPermissions(id, []string{webexsim.PermXAPIReadonly}))
		h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
		h.advance(3 * time.Second)
		check(t, h.endpoint("wx-1"), want{state: store.EndpointDegraded, cause: CauseNoXAPI, level: health.Error,
			advice: []string{"spark:xapi_commands", "xapi:all", "Control Hub"}, command: "otj-edge endpoints retry wx-1"})
	})
	t.Run("token revoked", func(t *testing.T) {
		h := newHarness(t, webexsim.Options{})
		_, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
		h.rooms([]Endpoint{ep})
		h.start([]Endpoint{ep}, nil)
		require.True(t, h.sim.Revoke("", true))
		h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
		h.advance(3 * time.Second)
		h.advance(time.Minute)
		check(t, h.endpoint("wx-1"), want{state: store.EndpointAuthFailed, cause: CauseAuth, level: health.Error,
			advice: []string{"Re-authorise the integration", "refresh_token", "otj-edge reload"}, command: "otj-edge endpoints retry wx-1"})
	})
	t.Run("device gone", func(t *testing.T) {
		h := newHarness(t, webexsim.Options{})
		h.device("wx-1", room, webexsim.DeviceConfig{})
		ep := Endpoint{Name: "gone", Room: room, Connection: "hub", DeviceID: "Y2lzY29zcGFyazovL3VzL0RFVklDRS9nb25l"}
		h.rooms([]Endpoint{ep})
		h.start([]Endpoint{ep}, nil)
		check(t, h.endpoint("gone"), want{state: store.EndpointDegraded, cause: CauseNotFound, level: health.Error,
			advice: []string{"removed from Control Hub", "device_id", "looks the device up again every minute"}})
	})
	t.Run("name ambiguous", func(t *testing.T) {
		h := newHarness(t, webexsim.Options{})
		h.device("Huddle", room, webexsim.DeviceConfig{Workspace: "Huddle A"})
		h.device("Huddle", room, webexsim.DeviceConfig{Workspace: "Huddle B"})
		ep := Endpoint{Name: "huddle", Room: room, Connection: "hub", DeviceName: "Huddle"}
		h.rooms([]Endpoint{ep})
		h.start([]Endpoint{ep}, nil)
		check(t, h.endpoint("huddle"), want{state: store.EndpointDegraded, cause: CauseAmbiguous, level: health.Error,
			advice: []string{"device_id"}})
	})
	t.Run("waiting", func(t *testing.T) {
		h := newHarness(t, webexsim.Options{})
		_, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
		h.rooms([]Endpoint{ep}, room)
		h.start([]Endpoint{ep}, nil)
		check(t, h.endpoint("wx-1"), want{state: store.EndpointWaiting, cause: CauseWaiting, level: health.Warning,
			advice: []string{"keeps the bookings it has"}})
	})
}

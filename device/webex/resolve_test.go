package webex

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/webexsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestDevicesAreFoundByWorkspaceAndName: an endpoint names its device by workspace or display
// name; an ambiguous or unknown name is an error naming the candidates, and nothing is pushed.
func TestDevicesAreFoundByWorkspaceAndName(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	wsID, _ := h.device("Boardroom Bar", "room-1@contoso.example", webexsim.DeviceConfig{Workspace: "Boardroom"})
	nameID, _ := h.device("Lab Desk", "room-2@contoso.example", webexsim.DeviceConfig{Workspace: "Lab"})
	dupA, _ := h.device("Huddle", "x@contoso.example", webexsim.DeviceConfig{Workspace: "Huddle A"})
	dupB, _ := h.device("Huddle", "x@contoso.example", webexsim.DeviceConfig{Workspace: "Huddle B"})
	eps := []Endpoint{
		{Name: "by-workspace", Room: "room-1@contoso.example", Connection: "hub", Workspace: "boardroom"},
		{Name: "by-name", Room: "room-2@contoso.example", Connection: "hub", DeviceName: "Lab Desk"},
		{Name: "ambiguous", Room: "room-3@contoso.example", Connection: "hub", DeviceName: "Huddle"},
		{Name: "missing", Room: "room-4@contoso.example", Connection: "hub", DeviceName: "Atrium"},
	}
	h.rooms(eps)
	h.start(eps, nil)
	assert.Equal(t, 1, h.sim.Stats().Devices[wsID].Commands["Bookings.Clear"], "found by workspace")
	assert.Equal(t, 1, h.sim.Stats().Devices[nameID].Commands["Bookings.Clear"], "found by name")
	amb := h.endpoint("ambiguous")
	assert.Equal(t, store.EndpointDegraded, amb.State)
	assert.Contains(t, amb.Detail, `device_name "Huddle" matches 2 in Webex`)
	assert.Contains(t, amb.Detail, dupA)
	assert.Contains(t, amb.Detail, dupB)
	assert.Contains(t, amb.Detail, "device_id")
	miss := h.endpoint("missing")
	assert.Contains(t, miss.Detail, `device_name "Atrium" is not found in Webex`)
	assert.Contains(t, miss.Detail, `"Lab Desk"`, "the candidates are named")
	require.Empty(t, h.sim.Stats().Devices[dupA].Commands)
}

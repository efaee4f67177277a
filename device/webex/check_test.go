package webex

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/webexsim"
)

// TestCheckListsEachEndpoint: the check names the resolved device, its status and software,
// reads a status, and sends no command.
func TestCheckListsEachEndpoint(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	id, ep := h.device("wx-1", "room-1@contoso.example", webexsim.DeviceConfig{})
	off, ep2 := h.device("wx-2", "room-2@contoso.example", webexsim.DeviceConfig{ConnectionStatus: webexsim.Disconnected})
	lines := Check(t.Context(), h.options([]Endpoint{ep, ep2, {Name: "ghost", Connection: "hub", DeviceName: "Nope"}}, nil))
	require.Len(t, lines, 3)
	assert.Equal(t, "ok", lines[0].Level, lines[0].Text)
	assert.Contains(t, lines[0].Text, `device "wx-1" (`+id+")")
	assert.Contains(t, lines[0].Text, "RoomOS")
	assert.Contains(t, lines[0].Text, "connection connected")
	assert.Contains(t, lines[0].Text, "xAPI status read (Bookings availability Free)")
	assert.Equal(t, "warn", lines[1].Level)
	assert.Contains(t, lines[1].Text, "offline in Webex")
	assert.Equal(t, "FAIL", lines[2].Level)
	assert.Contains(t, lines[2].Text, `device_name "Nope" is not found in Webex`)
	st := h.sim.Stats()
	assert.Empty(t, st.Devices[id].Commands)
	assert.Empty(t, st.Devices[off].Commands)
}

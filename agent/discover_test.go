package agent

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

// TestDiscoverRoomsNeedsTheSourceToListRooms: a source type whose row has no discover
// function (the test-only fake) cannot list rooms, and the command says so plainly instead of
// printing an empty list; an unknown integration names the known ones.
func TestDiscoverRoomsNeedsTheSourceToListRooms(t *testing.T) {
	cfg, err := loadConfig(fakeSite(t, t.Name(), "fake-token-value-789", map[string]*ciscosim.Codec{}), IO{Env: os.LookupEnv})
	require.NoError(t, err)

	_, err = DiscoverRooms(t.Context(), cfg, "calendar-a")
	require.Error(t, err)
	assert.Equal(t, `integration "calendar-a" is of type fake, which cannot list rooms: add its rooms to endpoints: by hand (room: the room mailbox's address)`, err.Error())

	_, err = DiscoverRooms(t.Context(), cfg, "m365")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no integration "m365" in `)
	assert.Contains(t, err.Error(), "(integrations: calendar-a)")
}

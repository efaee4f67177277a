package google

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/googlesim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestDiscoverPagesThroughTheDirectory: 501 rooms come in two pages of resources.calendars.list
// (500 a page), each with its resource email (the calendar id the sync reads), name, capacity,
// building and floor; without a subject the command says the Directory needs delegation.
func TestDiscoverPagesThroughTheDirectory(t *testing.T) {
	gs, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	for i := range 501 {
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: fmt.Sprintf("room-%03d@contoso.example", i), DisplayName: fmt.Sprintf("Room %03d", i)}))
	}
	g, err := googlesim.New(googlesim.Options{Calendar: gs})
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Close)
	key, err := g.KeyFile("")
	require.NoError(t, err)
	in := Integration{Name: "workspace", ServiceAccountKey: key, Subject: g.AdminUser(), Endpoint: g.CalendarEndpoint()}

	d, err := Discover(t.Context(), in, g.HTTPClient())
	require.NoError(t, err)
	require.Len(t, d.Rooms, 501)
	assert.Equal(t, 2, g.Stats().Requests, "two pages")
	first := d.Rooms[0]
	assert.Equal(t, "Room 000", first.DisplayName)
	assert.Equal(t, googlesim.ResourceEmail("room-000@contoso.example"), first.Mailbox)
	require.NotNil(t, first.Capacity)
	res := g.Resources()[0]
	assert.Equal(t, res.Capacity, *first.Capacity)
	assert.Equal(t, "HQ", first.Building)
	assert.Equal(t, res.FloorName, first.FloorLabel)
	assert.Empty(t, d.Lists, "Google has no room lists")

	in.Subject = ""
	_, err = Discover(t.Context(), in, g.HTTPClient())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set subject to a Workspace admin")
	assert.Contains(t, err.Error(), ScopeDirectoryResources)
}

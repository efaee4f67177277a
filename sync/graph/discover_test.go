package graph

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/source"
)

func intp(v int) *int { return &v }

// TestDiscoverPagesAndRoomLists: 230 rooms come back whole over three pages of the Places API
// (through the SDK, following @odata.nextLink), with their capacity, building and floor, and
// each room list with its rooms.
func TestDiscoverPagesAndRoomLists(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	var all []string
	for i := 1; i <= 230; i++ {
		m := fmt.Sprintf("room-%03d@contoso.example", i)
		h.addRoom(m, graphsim.Recommended())
		all = append(all, m)
	}
	require.NoError(t, h.sim.SetPlace(all[0], graphsim.PlaceInfo{Capacity: intp(8), Building: "Oslo HQ", FloorNumber: intp(3), WheelChairAccessible: true}))
	require.NoError(t, h.sim.SetRoomList(graphsim.RoomList{Mailbox: "oslo-rooms@contoso.example", DisplayName: "Oslo rooms", Rooms: []string{all[1], all[0]}}))
	require.NoError(t, h.sim.SetRoomList(graphsim.RoomList{Mailbox: "bergen-rooms@contoso.example", DisplayName: "Bergen rooms", Rooms: []string{all[2]}}))
	before := h.sim.Stats().Requests

	d, err := Discover(context.Background(), h.in, nil)
	require.NoError(t, err)

	require.Len(t, d.Rooms, 230, "every room, over three pages")
	seen := map[string]bool{}
	for _, r := range d.Rooms {
		seen[r.Mailbox] = true
	}
	assert.Len(t, seen, 230, "no room twice")
	first := d.Rooms[0]
	assert.Equal(t, source.DiscoveredRoom{Mailbox: all[0], DisplayName: "Room 001", Capacity: intp(8), Building: "Oslo HQ", Floor: intp(3),
		WheelchairAccessible: ptrTo(true), Lists: []string{"oslo-rooms@contoso.example"}}, first)
	assert.Nil(t, d.Rooms[5].Capacity, "a room without Set-Place has no capacity")
	assert.Equal(t, []source.RoomList{
		{Mailbox: "bergen-rooms@contoso.example", DisplayName: "Bergen rooms", Rooms: []string{all[2]}},
		{Mailbox: "oslo-rooms@contoso.example", DisplayName: "Oslo rooms", Rooms: []string{all[0], all[1]}},
	}, d.Lists)
	// 3 pages of rooms, 1 of room lists, 1 per list.
	assert.Equal(t, 3+1+2, h.sim.Stats().Requests-before)
}

// TestDiscoverWithoutNextLink: Graph long answered places with at most $top and no
// @odata.nextLink; the client then pages with $skip itself and still gets every room.
func TestDiscoverWithoutNextLink(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	for i := 1; i <= 205; i++ {
		h.addRoom(fmt.Sprintf("room-%03d@contoso.example", i), graphsim.Recommended())
	}
	noLink := true
	h.sim.SetPlaces(graphsim.PlacesSettings{NoNextLink: &noLink})
	before := h.sim.Stats().Requests
	d, err := Discover(context.Background(), h.in, nil)
	require.NoError(t, err)
	assert.Len(t, d.Rooms, 205)
	assert.Equal(t, 3+1, h.sim.Stats().Requests-before, "$top=100, then $skip=100 and $skip=200; one for room lists")
	assert.Equal(t, "room-205@contoso.example", d.Rooms[204].Mailbox)
}

// TestDiscoverForbidden: without Place.Read.All Graph answers 403, and the error says which
// permission to grant, that it is an application permission and that an admin must consent.
func TestDiscoverForbidden(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	h.addRoom(roomName(1), graphsim.Recommended())
	h.sim.SetAppRoles(nil)
	_, err := Discover(context.Background(), h.in, nil)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "list rooms: Graph refused (403 ErrorAccessDenied: Access is denied. Check credentials and try again.)")
	assert.Contains(t, msg, "application permission Place.Read.All")
	assert.Contains(t, msg, "an administrator must grant admin consent")
	assert.Contains(t, msg, "client id "+h.sim.ClientID())

	h.sim.SetAppRoles([]string{graphsim.PlaceReadAll})
	d, err := Discover(context.Background(), h.in, nil)
	require.NoError(t, err, "granted: discovery works")
	assert.Len(t, d.Rooms, 1)
}

// TestDiscoverBadSecret: a token failure is reported as the calendar sync reports it.
func TestDiscoverBadSecret(t *testing.T) {
	h := newHarness(t, graphsim.Options{})
	h.in.ClientSecret = configSecret("wrong-secret-value")
	_, err := Discover(context.Background(), h.in, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list rooms: ")
	assert.Contains(t, err.Error(), "AADSTS7000215")
	assert.NotContains(t, err.Error(), "wrong-secret-value")
}

func ptrTo[T any](v T) *T { return &v }

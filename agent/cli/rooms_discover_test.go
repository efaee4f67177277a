package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// discoverSite is graphsim with five rooms in two room lists (one room in both), and a config
// whose Graph integration points at it, with codec-nordlys already in Nordlys and an endpoint
// already named board-room (in another room).
func discoverSite(t *testing.T) (*graphsim.Server, string) {
	t.Helper()
	sim, err := graphsim.New(graphsim.Options{ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: testGraphSecret})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	n := func(v int) *int { return &v }
	rooms := []struct {
		mailbox, name string
		place         graphsim.PlaceInfo
	}{
		{"fjordline@contoso.example", "Fjordline", graphsim.PlaceInfo{Capacity: n(8), Building: "Oslo HQ", FloorNumber: n(3), WheelChairAccessible: true}},
		{"nordlys@contoso.example", "Nordlys", graphsim.PlaceInfo{Capacity: n(12), Building: "Oslo HQ", FloorNumber: n(5)}},
		{"aerlig@contoso.example", "Møterom Ærlig", graphsim.PlaceInfo{Capacity: n(4), Building: "Bergen", FloorLabel: "Ground floor"}},
		{"boardroom@contoso.example", "Board Room", graphsim.PlaceInfo{Capacity: n(20)}},
		{"lab@contoso.example", "Lab", graphsim.PlaceInfo{}},
	}
	for _, r := range rooms {
		require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: r.mailbox, DisplayName: r.name}))
		require.NoError(t, sim.SetPlace(r.mailbox, r.place))
	}
	require.NoError(t, sim.SetRoomList(graphsim.RoomList{Mailbox: "oslo@contoso.example", DisplayName: "Oslo HQ rooms",
		Rooms: []string{"nordlys@contoso.example", "fjordline@contoso.example", "aerlig@contoso.example"}}))
	require.NoError(t, sim.SetRoomList(graphsim.RoomList{Mailbox: "bergen@contoso.example", DisplayName: "Bergen rooms",
		Rooms: []string{"aerlig@contoso.example"}}))

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, sim.CA().WriteFile(ca))
	cfg := testSiteHead("off", sim.TokenURL(), "\n    graph_url: "+sim.GraphURL()+"\n    ca_file: "+ca) + `  - name: default
endpoints:
  - name: codec-nordlys
    type: cisco
    room: nordlys@contoso.example
    address: 127.0.0.1:1
    username: admin
    password: ` + testCodecSecret + `
  - name: board-room
    type: cisco
    room: other@contoso.example
    address: 127.0.0.1:1
    username: admin
    password: ` + testCodecSecret + `
`
	return sim, writeTestConfig(t, dir, cfg)
}

// TestRoomsDiscoverPrintsEndpointStubs: the stubs are grouped by room list (a room in two lists
// printed once), named from the rooms (Nordic letters spelled out, a taken name numbered),
// with the room facts as comments and the configured room commented out; the output is YAML
// whose entries are exactly the rooms not yet configured, and it matches the golden file.
func TestRoomsDiscoverPrintsEndpointStubs(t *testing.T) {
	_, cfg := discoverSite(t)
	code, out, errOut := runCLI(t, nil, "rooms", "discover", "m365", "--config", cfg)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "otj-edge rooms discover: integration m365 sees 5 rooms in 2 room lists; 1 already configured\n", errOut)

	golden := filepath.Join("testdata", "rooms-discover.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), out, "run with -update to accept a change")

	var doc struct {
		Endpoints []struct{ Name, Type, Room, Profile string } `yaml:"endpoints"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc), "the output is YAML as printed")
	var got []string
	for _, e := range doc.Endpoints {
		assert.Equal(t, "TODO", e.Type, "the type is for the operator to choose")
		assert.Equal(t, "default", e.Profile)
		got = append(got, e.Name+" "+e.Room)
	}
	assert.Equal(t, []string{"moterom-aerlig aerlig@contoso.example", "fjordline fjordline@contoso.example",
		"board-room-2 boardroom@contoso.example", "lab lab@contoso.example"}, got, "Nordlys is configured: not an entry")
	assert.NotContains(t, out, testGraphSecret)
}

// TestRoomsDiscoverJSON: --json has every room with its stub name, facts, lists and whether
// the config has it.
func TestRoomsDiscoverJSON(t *testing.T) {
	_, cfg := discoverSite(t)
	code, out, errOut := runCLI(t, nil, "rooms", "--json", "discover", "m365", "--config", cfg)
	require.Equal(t, 0, code, errOut)
	var got discoverOutput
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "m365", got.Integration)
	require.Len(t, got.Rooms, 5)
	byRoom := map[string]discoveredRoom{}
	for _, r := range got.Rooms {
		byRoom[r.Room] = r
	}
	nordlys := byRoom["nordlys@contoso.example"]
	assert.True(t, nordlys.Configured)
	assert.Equal(t, []string{"codec-nordlys"}, nordlys.Endpoints)
	assert.False(t, byRoom["lab@contoso.example"].Configured)
	assert.Equal(t, []string{"bergen@contoso.example", "oslo@contoso.example"}, byRoom["aerlig@contoso.example"].RoomLists)
	assert.Equal(t, 12, *nordlys.Capacity)
	require.Len(t, got.RoomLists, 2)
	assert.Equal(t, "Bergen rooms", got.RoomLists[0].DisplayName)
}

// TestRoomsDiscoverNeedsPlaceReadAll: without Place.Read.All the command fails (exit 1) with
// the permission to grant and the admin consent it needs.
func TestRoomsDiscoverNeedsPlaceReadAll(t *testing.T) {
	sim, cfg := discoverSite(t)
	sim.SetAppRoles(nil)
	code, out, errOut := runCLI(t, nil, "rooms", "discover", "m365", "--config", cfg)
	assert.Equal(t, ExitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `otj-edge rooms: integration "m365": list rooms: Graph refused (403 ErrorAccessDenied`)
	assert.Contains(t, errOut, "application permission Place.Read.All")
	assert.Contains(t, errOut, "admin consent")
	assert.NotContains(t, errOut, testGraphSecret)
}

func TestRoomsDiscoverUsage(t *testing.T) {
	_, cfg := discoverSite(t)
	code, _, errOut := runCLI(t, nil, "rooms", "discover", "--config", cfg)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "rooms discover takes the name of one integration")
	code, _, errOut = runCLI(t, nil, "rooms", "discover", "nope", "--config", cfg)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, `no integration "nope"`)
	assert.True(t, strings.Contains(errOut, "integrations: m365"), errOut)
}

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/simulators/googlesim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// googleDiscoverSite is googlesim (in front of a graphsim) with three rooms, and a config
// whose Google integration impersonates the Workspace admin, with a codec already in one room
// (configured by its resource calendar id).
func googleDiscoverSite(t *testing.T) (*googlesim.Server, string) {
	t.Helper()
	gs, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	for _, r := range []struct{ mailbox, name string }{
		{"fjordline@contoso.example", "Fjordline"}, {"nordlys@contoso.example", "Nordlys"}, {"aerlig@contoso.example", "Møterom Ærlig"},
	} {
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: r.mailbox, DisplayName: r.name}))
	}
	g, err := googlesim.New(googlesim.Options{Calendar: gs})
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Close)
	key, err := g.KeyFile("")
	require.NoError(t, err)
	dir := t.TempDir()
	keyFile, ca := filepath.Join(dir, "sa.json"), filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	require.NoError(t, g.CA().WriteFile(ca))
	cfg := `site: test
state_dir: state
status:
  listen: "off"
integrations:
  - name: workspace
    type: google
    service_account_key_file: ` + keyFile + `
    subject: ` + g.AdminUser() + `
    endpoint: ` + g.CalendarEndpoint() + `
    ca_file: ` + ca + `
profiles:
  - name: default
    integration: workspace
endpoints:
  - name: codec-nordlys
    type: cisco
    room: ` + googlesim.ResourceEmail("nordlys@contoso.example") + `
    address: 127.0.0.1:1
    username: admin
    password: ` + testCodecSecret + `
`
	return g, writeTestConfig(t, dir, cfg)
}

// TestRoomsDiscoverListsGoogleResourceCalendars: on a Google integration the command lists
// the Workspace's calendar resources (Admin SDK Directory) as endpoint stubs whose room is the
// resource calendar id, with capacity, building and floor as comments; the room the config
// already has is commented out.
func TestRoomsDiscoverListsGoogleResourceCalendars(t *testing.T) {
	g, cfg := googleDiscoverSite(t)
	code, out, errOut := runCLI(t, nil, "rooms", "discover", "workspace", "--config", cfg)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "integration workspace sees 3 rooms")
	assert.Contains(t, errOut, "1 already configured")
	var doc struct {
		Endpoints []struct{ Name, Type, Room, Profile string } `yaml:"endpoints"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc), out)
	var got []string
	for _, e := range doc.Endpoints {
		assert.Equal(t, "default", e.Profile)
		got = append(got, e.Name+" "+e.Room)
	}
	assert.Equal(t, []string{"fjordline " + googlesim.ResourceEmail("fjordline@contoso.example"),
		"moterom-aerlig " + googlesim.ResourceEmail("aerlig@contoso.example")}, got)
	for _, r := range g.Resources() {
		if r.ResourceName == "Fjordline" {
			assert.Contains(t, out, "# Fjordline: capacity "+itoa(r.Capacity)+", building HQ", out)
		}
	}
	assert.Contains(t, out, "already configured: endpoint codec-nordlys")
	assert.Equal(t, 1, countRequests(g), "one page of resources")

	code, out, errOut = runCLI(t, nil, "rooms", "--json", "discover", "workspace", "--config", cfg)
	require.Equal(t, 0, code, errOut)
	var js discoverOutput
	require.NoError(t, json.Unmarshal([]byte(out), &js))
	require.Len(t, js.Rooms, 3)
	assert.NotNil(t, js.Rooms[0].Capacity)
}

// TestRoomsDiscoverOnGoogleNamesTheDelegationScope: without the Directory scope in the
// service account's domain-wide delegation the command fails and names the scope to add.
func TestRoomsDiscoverOnGoogleNamesTheDelegationScope(t *testing.T) {
	g, cfg := googleDiscoverSite(t)
	g.Delegate(g.ClientID(""), []string{googlesim.ScopeCalendarReadonly})
	code, out, errOut := runCLI(t, nil, "rooms", "discover", "workspace", "--config", cfg)
	assert.Equal(t, ExitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "unauthorized_client")
	assert.Contains(t, errOut, "Domain-wide delegation")
	assert.Contains(t, errOut, googlesim.ScopeDirectoryResourceRead)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func countRequests(g *googlesim.Server) int { return g.Stats().Requests }

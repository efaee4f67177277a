package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// graphConfig writes a config whose Graph integration points at graphsim, with one Poly
// endpoint per room, and loads it.
func graphConfig(t *testing.T, sim *graphsim.Server, secret string, rooms ...string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, sim.CA().WriteFile(ca))
	var eps strings.Builder
	for i, r := range rooms {
		fmt.Fprintf(&eps, "  - {name: poly-%d, type: poly, room: %s, calendar_username: poly%d, calendar_password: calendar-pass-%d}\n", i, r, i, i)
	}
	yaml := fmt.Sprintf(`site: test
state_dir: state
status: {listen: "off"}
integrations:
  - name: m365
    type: graph
    client_id: %s
    client_secret: %q
    token_url: %s
    graph_url: %s
    ca_file: %s
profiles:
  - name: default
endpoints:
%s`, sim.ClientID(), secret, sim.TokenURL(), sim.GraphURL(), ca, eps.String())
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return cfg
}

func TestCheckGraphReportsEachRoom(t *testing.T) {
	sim, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	defer sim.Close()
	ok, denied := "room-01@contoso.example", "room-02@contoso.example"
	rec := graphsim.Recommended()
	no := false
	require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: ok, Processing: &rec}))
	require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: denied, InPolicy: &no}))

	var out bytes.Buffer
	failed := checkGraph(t.Context(), graphConfig(t, sim, sim.ClientSecret(), ok, denied), &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Equal(t, 1, failed)
	assert.True(t, strings.HasPrefix(lines[0], "graph/m365: token ok (tenant "+sim.Tenant()), lines[0])
	assert.Equal(t, "graph/m365: room-01@contoso.example: ok, readable (0 meetings in the next 24 h)", lines[1])
	assert.Contains(t, lines[2], "graph/m365: room-02@contoso.example: policy_denied: the application access policy does not include room-02@contoso.example")
}

// TestCheckGraphWrongSecret: the Secret ID entered instead of the secret's value gives one
// line that says exactly that, without the secret.
func TestCheckGraphWrongSecret(t *testing.T) {
	sim, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	defer sim.Close()
	require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: "room-01@contoso.example"}))

	var out bytes.Buffer
	failed := checkGraph(t.Context(), graphConfig(t, sim, graphsim.DefaultSecretID, "room-01@contoso.example"), &out)
	assert.Equal(t, 1, failed)
	assert.Equal(t, "graph/m365: token FAILED: token request failed (AADSTS7000215): the client secret value is wrong. "+
		"Enter the secret's Value from the app registration's Certificates & secrets page, not its Secret ID (a GUID); "+
		"a lost value cannot be shown again, so create a new secret\n", out.String())
	assert.NotContains(t, out.String(), graphsim.DefaultSecretID)
}

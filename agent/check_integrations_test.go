package agent

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// graphConfig writes a config whose Graph integration points at graphsim, with one Poly
// endpoint per room, and loads it.
func graphConfig(t *testing.T, sim *graphsim.Server, secret string, rooms ...string) *config.Config {
	t.Helper()
	return graphConfigWith(t, sim, t.TempDir(), fmt.Sprintf("client_secret: %q", secret), rooms...)
}

// graphConfigWith is graphConfig with the credential's YAML line(s) given, written in dir.
func graphConfigWith(t *testing.T, sim *graphsim.Server, dir, credential string, rooms ...string) *config.Config {
	t.Helper()
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
    %s
    token_url: %s
    graph_url: %s
    ca_file: %s
profiles:
  - name: default
endpoints:
%s`, sim.ClientID(), credential, sim.TokenURL(), sim.GraphURL(), ca, eps.String())
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
	failed := checkIntegrations(t.Context(), graphConfig(t, sim, sim.ClientSecret(), ok, denied), &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4, out.String())
	assert.Equal(t, 1, failed)
	assert.Equal(t, probeLine, lines[3], "the change probe is checked on the readable room only")
	assert.True(t, strings.HasPrefix(lines[0], "graph/m365: token ok (tenant "+sim.Tenant()), lines[0])
	assert.Equal(t, "graph/m365: room-01@contoso.example: ok, readable (0 meetings in the next 24 h)", lines[1])
	assert.Contains(t, lines[2], "graph/m365: room-02@contoso.example: policy_denied: Exchange Online does not let the app read room-02@contoso.example")
	// RBAC for Applications first, the older access policy's check second.
	rbac := strings.Index(lines[2], "Test-ServicePrincipalAuthorization -Identity "+sim.ClientID()+" -Resource room-02@contoso.example")
	aap := strings.Index(lines[2], "Test-ApplicationAccessPolicy -Identity room-02@contoso.example -AppId "+sim.ClientID())
	assert.True(t, rbac >= 0 && aap > rbac, lines[2])
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
	failed := checkIntegrations(t.Context(), graphConfig(t, sim, graphsim.DefaultSecretID, "room-01@contoso.example"), &out)
	assert.Equal(t, 1, failed)
	assert.Equal(t, "graph/m365: token FAILED: token endpoint: HTTP 401: AADSTS7000215: Invalid client secret provided. "+
		"Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+sim.ClientID()+"'. — "+
		"the client secret value is wrong. Enter the secret's Value from the app registration's Certificates & secrets page, not its Secret ID (a GUID); "+
		"a lost value cannot be shown again, so create a new secret\n", out.String())
	assert.NotContains(t, out.String(), graphsim.DefaultSecretID)
}

// TestCheckGraphWithACertificate: client_certificate_file instead of a secret, read from the
// file by the config loader and sent as azidentity's client assertion; check names the
// certificate by the thumbprint the app registration shows, and says what to do when Entra
// does not have it.
func TestCheckGraphWithACertificate(t *testing.T) {
	now := time.Now()
	uploaded, err := simtls.NewAppCertificate("otj-edge test site", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	require.NoError(t, err)
	sim, err := graphsim.New(graphsim.Options{ClientCertificates: []*x509.Certificate{uploaded.Cert}})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	defer sim.Close()
	rec := graphsim.Recommended()
	require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: "room-01@contoso.example", Processing: &rec}))

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "graph.pem"), uploaded.PEM(), 0o600))
	cfg := graphConfigWith(t, sim, dir, "client_certificate_file: graph.pem", "room-01@contoso.example")
	thumb := cfg.Integrations[0].Graph().CertificateThumbprint()
	var out bytes.Buffer
	failed := checkIntegrations(t.Context(), cfg, &out)
	assert.Equal(t, 0, failed, out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Equal(t, probeLine, lines[2])
	assert.Contains(t, lines[0], "graph/m365: token ok (tenant "+sim.Tenant())
	assert.Contains(t, lines[0], "certificate "+thumb+" (CN=otj-edge test site, valid until ")
	assert.Equal(t, "graph/m365: room-01@contoso.example: ok, readable (0 meetings in the next 24 h)", lines[1])

	// A new certificate made on the box but not uploaded yet.
	fresh, err := simtls.NewAppCertificate("otj-edge test site", now.AddDate(0, 0, -1), now.AddDate(2, 0, 0))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "graph.pem"), fresh.PEM(), 0o600))
	cfg = graphConfigWith(t, sim, dir, "client_certificate_file: graph.pem", "room-01@contoso.example")
	out.Reset()
	failed = checkIntegrations(t.Context(), cfg, &out)
	assert.Equal(t, 1, failed)
	assert.Contains(t, out.String(), "graph/m365: token FAILED: token endpoint: HTTP 401: AADSTS700027: ")
	assert.Contains(t, out.String(), " — Entra does not accept the certificate")
	assert.Contains(t, out.String(), "[certificate "+cfg.Integrations[0].Graph().CertificateThumbprint()+" (CN=otj-edge test site")
	assert.NotContains(t, out.String(), "PRIVATE KEY")
}

// probeLine is what `otj-edge check` says of the change probe (on for app-only integrations)
// when getSchedule answers for one readable room with an empty calendar.
const probeLine = "graph/m365: change probe: ok, getSchedule answers for 1 room; none has a meeting in the next 7 days, so whether subjects show is not known"

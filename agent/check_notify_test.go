package agent

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestCheckGraphNotificationsRoundTrip: `otj-edge check` on a Graph integration with
// notifications_url validates the public URL end to end (graphsim → the site's TLS reverse
// proxy → notifications_listen, where the check answers while the agent is not running) and
// leaves no subscription behind.
func TestCheckGraphNotificationsRoundTrip(t *testing.T) {
	sim, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	defer sim.Close()
	const room = "room-01@contoso.example"
	rec := graphsim.Recommended()
	require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: room, Processing: &rec}))

	listen := freePort(t)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: listen}))
	cert, err := sim.CA().Issue("127.0.0.1")
	require.NoError(t, err)
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	proxy.StartTLS()
	defer proxy.Close()

	cred := fmt.Sprintf("client_secret: %q\n    notifications_url: %s/graph/notify\n    notifications_listen: %s", sim.ClientSecret(), proxy.URL, listen)
	var out bytes.Buffer
	failed := checkIntegrations(t.Context(), graphConfigWith(t, sim, t.TempDir(), cred, room), &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4, out.String())
	assert.Zero(t, failed, out.String())
	assert.Equal(t, probeLine, lines[3])
	assert.Equal(t, "graph/m365: notifications: ok, Graph validated "+proxy.URL+"/graph/notify (through the reverse proxy to notifications_listen "+
		listen+"): a test subscription for "+room+" created and deleted", lines[2])
	assert.Equal(t, 1, sim.NotifyStats().Validations)
	assert.Empty(t, sim.Subscriptions())
	assert.NotContains(t, out.String(), sim.ClientSecret())
}

package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const notifyHead = `site: s1
profiles: [{name: default}]
integrations:
  - name: m365
    type: graph
    client_id: abc
    client_secret: graph-secret-value
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
`

// TestNotificationKeys: notifications_url turns change notifications on with the listener on
// loopback by default; a listener reachable from the network and a URL Graph cannot reach are
// warnings; what cannot work is an error with its line.
func TestNotificationKeys(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(notifyHead+"    notifications_url: https://otj.example.com/graph/notify\n"), env(nil))
	require.NoError(t, err)
	g := cfg.Integration("m365").Graph()
	assert.True(t, g.NotificationsEnabled())
	assert.Equal(t, "127.0.0.1:8089", g.NotificationsListen)
	assert.Empty(t, warningsOf(cfg))

	cfg, err = Parse("c.yaml", []byte(notifyHead+"    notifications_url: https://10.1.2.3/graph/notify\n    notifications_listen: 0.0.0.0:9443\n"), env(nil))
	require.NoError(t, err)
	assert.Equal(t, `c.yaml:9: warning: integration "m365": notifications_url host 10.1.2.3 is not a public name or address: Graph posts from the internet and cannot reach it (fine with a simulator)
c.yaml:10: warning: integration "m365": notifications_listen 0.0.0.0:9443 is reachable from the network over plain HTTP: let only the reverse proxy reach it (firewall); forged notifications are refused by their clientState`, warningsOf(cfg))

	cfg, err = Parse("c.yaml", []byte(notifyHead), env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Integration("m365").Graph().NotificationsEnabled(), "polling only by default")

	for bad, want := range map[string]string{
		"    notifications_url: http://otj.example.com/n\n":                                                 `c.yaml:9: integration "m365": notifications_url "http://otj.example.com/n" must be https: Graph posts notifications to HTTPS URLs only (TLS ends at the reverse proxy)`,
		"    notifications_url: otj.example.com/n\n":                                                        `c.yaml:9: integration "m365": notifications_url "otj.example.com/n" is not an absolute URL (e.g. https://otj.example.com/graph/notify)`,
		"    notifications_url: https://otj.example.com/n?x=1\n":                                            `c.yaml:9: integration "m365": notifications_url "https://otj.example.com/n?x=1" must have no user, query or fragment (Graph adds its own query)`,
		"    notifications_listen: 127.0.0.1:8089\n":                                                        `c.yaml:9: integration "m365": notifications_listen needs notifications_url (the public HTTPS URL the reverse proxy forwards to it)`,
		"    notifications_url: https://otj.example.com/n\n    notifications_listen: 127.0.0.1\n":           `c.yaml:10: integration "m365": notifications_listen "127.0.0.1" is not host:port with a port 1–65535 (e.g. 127.0.0.1:8089)`,
		"    notifications_url: https://otj.example.com/n\n    notifications_listen: \"127.0.0.1:99999\"\n": `c.yaml:10: integration "m365": notifications_listen "127.0.0.1:99999" is not host:port with a port 1–65535 (e.g. 127.0.0.1:8089)`,
	} {
		_, err := Parse("c.yaml", []byte(notifyHead+bad), env(nil))
		require.Error(t, err, bad)
		assert.Equal(t, want, err.Error(), bad)
	}
}

// TestNotificationsNeedAppOnly: a delegated integration cannot subscribe to the rooms (Graph
// notifies delegated callers about their own mailbox only), so notifications_url is refused
// at its line instead of failing at every subscription.
func TestNotificationsNeedAppOnly(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`site: s1
profiles: [{name: default}]
integrations:
  - name: m365
    type: graph
    auth: delegated
    client_id: abc
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
    notifications_url: https://otj.example.com/graph/notify
`), env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "c.yaml:9")
	assert.Contains(t, err.Error(), "notifications_url needs auth: app-only")
}

package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const webexBase = `site: s1
integrations: [{name: m365, type: graph, client_id: a, client_secret: long-enough-secret, token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token"}]
profiles: [{name: default}]
`

// TestWebexConnectionAndEndpoints: a webex connection gets its defaults (public API, token URL
// under it), its secrets resolve from the environment, and an endpoint with one device key and
// no connection named uses the only connection.
func TestWebexConnectionAndEndpoints(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(webexBase+`webex:
  - name: hub
    client_id: C123
    client_secret: ${WX_SECRET}
    refresh_token: ${WX_REFRESH}
endpoints:
  - {name: wx-1, type: webex, room: room-1@example.com, device_id: Y2lzY29zcGFyazovL3VzL0RFVklDRS8x}
  - {name: wx-2, type: webex, room: room-2@example.com, workspace: Boardroom}
`), env(map[string]string{"WX_SECRET": "a-long-client-secret", "WX_REFRESH": "a-long-refresh-token"}))
	require.NoError(t, err)
	w := cfg.WebexConnection("hub")
	require.NotNil(t, w)
	assert.Equal(t, "https://webexapis.com/v1", w.APIURL)
	assert.Equal(t, "https://webexapis.com/v1/access_token", w.TokenURL)
	assert.Equal(t, "a-long-refresh-token", w.RefreshToken.Value())
	assert.Equal(t, "hub", cfg.Endpoint("wx-1").Webex)
	assert.Equal(t, "Boardroom", cfg.Endpoint("wx-2").Workspace)
}

// TestWebexConfigProblems: each mistake is reported at its line with the fix.
func TestWebexConfigProblems(t *testing.T) {
	_, err := Parse("c.yaml", []byte(webexBase+`webex:
  - name: hub
    api_url: http://webex.example.com/v1
    client_id: C123
    client_secret: a-long-client-secret
  - name: lab
    client_id: C9
    client_secret: a-long-client-secret
    refresh_token: a-long-refresh-token
endpoints:
  - {name: wx-1, type: webex, room: room-1@example.com, webex: hub, device_id: D1, device_name: Bar}
  - {name: wx-2, type: webex, room: room-2@example.com, webex: hub}
  - {name: wx-3, type: webex, room: room-3@example.com, device_id: D1}
  - {name: wx-4, type: webex, room: room-4@example.com, webex: nope, workspace: W, fingerprint: "`+"aa"+`"}
  - {name: wx-5, type: webex, room: room-5@example.com, webex: lab, device_name: Bar, address: 10.0.0.1}
`), env(nil))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`c.yaml:6: webex "hub": api_url "http://webex.example.com/v1" must be an https:// URL`,
		`c.yaml:5: webex "hub": refresh_token (or refresh_token_file) is required`,
		`c.yaml:14: endpoint "wx-1": give only one of device_id, workspace and device_name (found device_id and device_name)`,
		`c.yaml:15: endpoint "wx-2": a Webex endpoint names its device: give one of device_id, workspace (id or name) or device_name`,
		`c.yaml:16: endpoint "wx-3": device_id is already used by endpoint "wx-1"`,
		`c.yaml:16: endpoint "wx-3": webex is required when there are several Webex connections (one of hub, lab)`,
		`c.yaml:17: endpoint "wx-4": webex connection "nope" is not defined (defined: hub, lab)`,
		`c.yaml:17: endpoint "wx-4": fingerprint does not apply to a Webex endpoint`,
		`c.yaml:18: endpoint "wx-5": address only applies to Cisco and Poly endpoints`,
	} {
		assert.Contains(t, msg, want)
	}
	_, err = Parse("c.yaml", []byte(webexBase+`endpoints:
  - {name: wx-1, type: webex, room: room-1@example.com, device_id: D1}
`), env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `endpoint "wx-1": a Webex endpoint needs a Webex connection: add a top-level webex: entry`)
}

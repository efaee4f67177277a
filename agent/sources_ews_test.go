package agent

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/ews"
	"github.com/otj-edge/otj-edge/sync/source"
)

// ewsSiteConfig loads a site whose room room-1 is read over EWS at url and room-2 over Graph
// (whose settings are never used by these tests).
func ewsSiteConfig(t *testing.T, ewsKeys string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	yaml := `site: test
state_dir: state
status: {listen: "off"}
integrations:
  - name: onprem
    type: ews
` + ewsKeys + `
  - name: m365
    type: graph
    client_id: abc
    client_secret: graph-secret-value
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
profiles:
  - name: default
    integration: onprem
  - name: cloud
    integration: m365
endpoints:
  - {name: poly-1, type: poly, room: room-1@example.com, profile: default, calendar_username: p1, calendar_password: calendar-pass-1}
  - {name: poly-2, type: poly, room: room-2@example.com, profile: cloud, calendar_username: p2, calendar_password: calendar-pass-2}
`
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.LoadWith(path, config.Options{LookupEnv: func(k string) (string, bool) {
		return map[string]string{"EWS_PW": "ews-password-value"}[k], k == "EWS_PW"
	}})
	require.NoError(t, err)
	return cfg
}

// closedURL is an https URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "https://" + addr + "/EWS/Exchange.asmx"
}

// TestCheckRunsTheEWSRow: `otj-edge check` reaches an EWS integration through its row of the
// source table, for its own rooms: its lines carry its component, and a server that does not
// answer is a failure (what the lines say is the EWS source's business).
func TestCheckRunsTheEWSRow(t *testing.T) {
	cfg := ewsSiteConfig(t, "    url: "+closedURL(t)+"\n    username: CONTOSO\\svc-otj\n    password: ${EWS_PW}")
	rows := 0
	for i := range cfg.Integrations {
		if _, ok := sourceTypeOf(&cfg.Integrations[i]); ok {
			rows++
		}
	}
	require.Equal(t, 2, rows, "both integrations have a row")
	ewsOnly := *cfg
	ewsOnly.Integrations = cfg.Integrations[:1]
	var out bytes.Buffer
	failed := checkIntegrations(t.Context(), &ewsOnly, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		assert.True(t, strings.HasPrefix(l, "ews/onprem: "), l)
	}
	assert.Positive(t, failed, out.String())
	assert.NotContains(t, out.String(), "ews-password-value")
	assert.Equal(t, []string{"room-1@example.com"}, mailboxesOf(sourceRooms(cfg, "onprem")))
}

// TestEWSSettingsTranslate: the config's keys reach package ews's Integration unchanged, with
// the loader's defaults; the part is named ews/<name> and restarts when the password changes.
func TestEWSSettingsTranslate(t *testing.T) {
	cfg := ewsSiteConfig(t, `    url: https://mail.example.com/EWS/Exchange.asmx
    username: svc-otj@example.com
    password: ${EWS_PW}
    auth: basic
    access: delegate
    pin_sha256: "`+strings.Repeat("0a", 32)+`"
    max_requests_per_day: 20000
    max_in_flight: 3
    request_server_version: Exchange2016`)
	in := cfg.Integration("onprem")
	got := ewsIntegration(in.Name, in.EWS())
	assert.Equal(t, ews.Integration{
		Name: "onprem", URL: "https://mail.example.com/EWS/Exchange.asmx", Username: "svc-otj@example.com",
		Password: got.Password, Auth: ews.AuthBasic, Access: ews.AccessDelegate, PinSHA256: strings.Repeat("0a", 32),
		MaxRequestsPerDay: 20000, MaxInFlight: 3, Streaming: false, RequestServerVersion: "Exchange2016",
	}, got)
	assert.Equal(t, "ews-password-value", got.Password.Value())

	def := ewsIntegration("x", ewsSiteConfig(t, "    url: https://mail.example.com/EWS/Exchange.asmx\n    username: CONTOSO\\svc\n    password: ${EWS_PW}").Integration("onprem").EWS())
	assert.Equal(t, ews.AuthNTLM, def.Auth)
	assert.Equal(t, ews.AccessImpersonation, def.Access)
	assert.True(t, def.Streaming)
	assert.Equal(t, "Exchange2013_SP1", def.RequestServerVersion)

	a := New(cfg, Options{})
	spec, ok := a.sourceSpec(cfg, in)
	require.True(t, ok)
	assert.Equal(t, "ews/onprem", spec.name)
	url, _ := sourceTypes[config.IntegrationEWS].clockURL(in)
	assert.Equal(t, "https://mail.example.com/EWS/Exchange.asmx", url)
	other := ewsSiteConfig(t, strings.Replace(`    url: https://mail.example.com/EWS/Exchange.asmx
    username: svc-otj@example.com
    password: ${EWS_PW}
    auth: basic
    access: delegate
    pin_sha256: "`+strings.Repeat("0a", 32)+`"
    max_requests_per_day: 20000
    max_in_flight: 3
    request_server_version: Exchange2016`, "${EWS_PW}", "another-password", 1))
	spec2, _ := a.sourceSpec(other, other.Integration("onprem"))
	assert.NotEqual(t, spec.key, spec2.key, "a new password restarts the source")
}

func mailboxesOf(rooms []source.Room) []string {
	out := make([]string, len(rooms))
	for i, r := range rooms {
		out[i] = r.Mailbox
	}
	return out
}

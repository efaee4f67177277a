package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestCheckEWSAgainstEwssim: `otj-edge check` on a site whose rooms are read over EWS (URL by
// autodiscover) prints, through the command operators run, where autodiscover found EWS, the
// sign-in, Exchange's version, and each room readable or what fixes it; it fails (exit 1) for
// the refused room and never prints the password.
func TestCheckEWSAgainstEwssim(t *testing.T) {
	const room1, room2 = "room-01@contoso.example", "room-02@contoso.example"
	gs, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	require.NoError(t, gs.Start())
	t.Cleanup(gs.Close)
	for _, m := range []string{room1, room2} {
		p := graphsim.Recommended()
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: m, Processing: &p}))
	}
	start := time.Now().Add(time.Hour).UTC()
	_, err = gs.PostEvent(room1, map[string]any{"subject": "Review",
		"start":     map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Bo", "address": "bo@contoso.example"}}})
	require.NoError(t, err)
	es, err := ewssim.New(ewssim.Options{Calendar: gs})
	require.NoError(t, err)
	require.NoError(t, es.Start())
	t.Cleanup(es.Close)
	require.NoError(t, es.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateScope, []string{room1}))

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, es.CA().WriteFile(ca))
	path := writeTestConfig(t, dir, `site: test
state_dir: state
status:
  listen: "off"
integrations:
  - name: onprem
    type: ews
    autodiscover_url: `+es.AutodiscoverURL()+`
    autodiscover_email: `+room1+`
    username: CONTOSO\svc-otj
    password: ${EWS_PW}
    ca_file: `+ca+`
profiles:
  - name: default
    integration: onprem
endpoints:
  - {name: poly-1, type: poly, room: `+room1+`, profile: default, calendar_username: p1, calendar_password: calendar-pass-1}
  - {name: poly-2, type: poly, room: `+room2+`, profile: default, calendar_username: p2, calendar_password: calendar-pass-2}
`)
	code, stdout, stderr := runCLI(t, map[string]string{"EWS_PW": ewssim.DefaultPassword}, "check", "--config", path)
	assert.Equal(t, ExitFailure, code, stdout+stderr)
	for _, want := range []string{
		"ews/onprem: autodiscover ok: " + es.EWSURL() + " via " + es.AutodiscoverURL() + " (SOAP GetUserSettings)",
		`ews/onprem: sign-in ok (ntlm as CONTOSO\svc-otj at ` + es.EWSURL() + ")",
		"ews/onprem: server version 15.2.1544.4 (V2017_07_11) (requests ask for Exchange2013_SP1)",
		"ews/onprem: " + room1 + ": ok, readable (1 meetings in the next 24 h)",
		"ews/onprem: " + room2 + ": policy_denied: ",
	} {
		assert.Contains(t, stdout, want)
	}
	assert.Contains(t, stdout, "New-ManagementRoleAssignment", "the refused room's line names the fix")
	assert.True(t, strings.Contains(stderr, "check(s) failed"), stderr)
	assert.NotContains(t, stdout+stderr, ewssim.DefaultPassword)
}

package agent

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// accessTokenPrefix starts every access token graphsim issues (a JWT header's base64): found
// anywhere, an access token leaked.
const accessTokenPrefix = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9."

// TestRefreshTokenNeverLeaves: a running agent signed in through graphsim, its refresh token
// rotated, `otj-edge check` run (another rotation): no refresh token it ever held, nor any
// access token, is in the state directory in clear (only sealed), the logs, any /api/*
// answer, /metrics, the pages, the MQTT messages a real Mosquitto subscriber got on
// otj/v1/#, or the output of `otj-edge check` and `otj-edge auth status`.
func TestRefreshTokenNeverLeaves(t *testing.T) {
	d := newDelegatedSite(t)

	// Sign in as `otj-edge auth login` does, its polls on a fake clock.
	clk := clock.NewFake(time.Now())
	created := clk.TimerCreated()
	codes := make(chan DeviceCode, 1)
	done := make(chan error, 1)
	go func() {
		_, err := AuthLogin(t.Context(), d.cfg, "m365", clk, func(dc DeviceCode) error { codes <- dc; return nil })
		done <- err
	}()
	dc := <-codes
	<-created
	require.NoError(t, d.graph.ApproveCode(dc.UserCode, svcAccount))
	clk.Advance(graphsim.DeviceCodeInterval)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the sign-in did not end")
	}
	tokens := []string{d.account()}

	d.start()
	d.waitRooms("rooms synced through the signed-in account", roomOK)
	rotated := d.account()
	require.NotEqual(t, tokens[0], rotated, "the agent's first refresh rotated the refresh token")
	tokens = append(tokens, rotated)

	// What the CLI prints: check (online: it refreshes too) and auth status.
	code, out, errOut := runCLI(t, nil, "check", "--config", d.f.Agent.Config, "--timeout", "60s")
	check := out + errOut
	require.Contains(t, check, "config ok:", check)
	require.Contains(t, check, d.rooms()[0], "the online check reads the rooms")
	_ = code
	code, status, _ := runCLI(t, nil, "auth", "--config", d.f.Agent.Config, "status", "m365")
	require.Equal(t, 0, code)
	require.Contains(t, status, svcAccount)
	_, statusJSON, _ := runCLI(t, nil, "auth", "--config", d.f.Agent.Config, "--json", "status", "m365")
	tokens = append(tokens, d.account())

	// Every answer of the status listener: pages, API, metrics.
	answers := map[string]string{}
	room := url.PathEscape(d.rooms()[0])
	for _, p := range []string{"/", "/rooms", "/rooms/" + room, "/endpoints", "/events", "/rules", "/report", "/signin",
		"/api/status", "/api/health", "/api/rooms", "/api/rooms/" + room, "/api/meetings", "/api/endpoints",
		"/api/events?n=1000", "/api/runtime", "/api/report", "/api/migration", "/metrics"} {
		st, body := d.get(p)
		if !strings.Contains(p, "report") { // 404 until the first daily report: its answer is checked too
			require.Less(t, st, 300, "%s: %s", p, body)
		}
		answers["GET "+p] = body
	}
	require.Contains(t, answers["GET /signin"], svcAccount, "the page names who is signed in")
	// MQTT: wait for the site's status message naming the rooms' state, then everything it got.
	d.waitRooms("rooms still ok", roomOK)
	require.Eventually(t, func() bool { return strings.Contains(d.mqtt.all(), "otj/v1/") }, 30*time.Second, 50*time.Millisecond)
	d.stop()
	answers["MQTT otj/v1/#"] = d.mqtt.all()
	answers["agent logs"] = d.logs.String()
	answers["otj-edge check"] = check
	answers["otj-edge auth status"] = status
	answers["otj-edge auth status --json"] = statusJSON

	for where, text := range answers {
		for i, tok := range tokens {
			require.NotContains(t, text, tok, "%s holds refresh token %d", where, i)
		}
		require.NotContains(t, text, accessTokenPrefix, "%s holds an access token", where)
	}
	// The state directory: the sealed file opens only with its key; nothing holds a token in
	// clear (the database and its WAL included).
	var sealed int
	require.NoError(t, filepath.WalkDir(d.cfg.StateDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".sealed") {
			sealed++
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for i, tok := range tokens {
			require.NotContains(t, string(b), tok, "%s holds refresh token %d in clear", p, i)
		}
		require.NotContains(t, string(b), accessTokenPrefix, "%s holds an access token", p)
		return nil
	}))
	require.Equal(t, 1, sealed, "the sign-in is in one sealed file")
}

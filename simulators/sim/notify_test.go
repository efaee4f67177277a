package sim

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
)

// TestNotifyPart: with --notify, sim.json's graph block says where the public notifications
// URL and the agent's listener are, the generated config turns notifications on with them
// (and loads), and the proxy forwards what graphsim's client posts over TLS to the listener.
func TestNotifyPart(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 2, Meetings: 2, MQTT: "off", Notify: true, Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer run.Close()

	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotNil(t, f.Graph)
	require.NotNil(t, f.Graph.Notifications)
	n := f.Graph.Notifications
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/graph/notify$`, n.URL)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, n.Listen)

	cfg, err := config.Load(f.Agent.Config)
	require.NoError(t, err, "the generated config is valid")
	g := cfg.Integration(GraphIntegration).Graph()
	require.NotNil(t, g)
	assert.Equal(t, n.URL, g.NotificationsURL)
	assert.Equal(t, n.Listen, g.NotificationsListen)

	// The agent's listener stands behind the proxy.
	ln, err := net.Listen("tcp", n.Listen)
	require.NoError(t, err)
	got := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path + "?" + r.URL.RawQuery
		_, _ = io.WriteString(w, r.URL.Query().Get("validationToken"))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	resp, err := run.Env.Calendar.HTTPClient().Post(n.URL+"?validationToken=abc", "text/plain", strings.NewReader(""))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "abc", string(body))
	assert.Equal(t, "/graph/notify?validationToken=abc", <-got)
}

// TestNotifyNeedsGraph: --notify with the EWS source is refused with a message naming both.
func TestNotifyNeedsGraph(t *testing.T) {
	_, err := Start(t.Context(), Options{Dir: t.TempDir(), Rooms: 1, MQTT: "off", Notify: true, Source: SourceEWS})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--notify is for Graph change notifications: it needs --source graph, not ews")
}

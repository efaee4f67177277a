package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
)

// TestGraphPart: sim.json's graph section is complete, the generated otj-edge.yaml loads with
// the agent's own config loader (test-only import) with the Graph integration pointing at
// graphsim, and the admin API answers.
func TestGraphPart(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 5, Meetings: 12, MQTT: "off", Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer run.Close()

	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotNil(t, f.Graph)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/v1\.0$`, f.Graph.URL)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/[^/]+/oauth2/v2\.0/token$`, f.Graph.TokenURL)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, f.Graph.Admin)
	assert.Equal(t, filepath.Join(dir, "ca.pem"), f.Graph.CAFile)
	assert.NotEmpty(t, f.Graph.ClientID)
	assert.NotEmpty(t, f.Graph.ClientSecret)
	assert.Equal(t, run.Env.Rooms, f.Graph.Rooms)

	cfg, err := config.Load(f.Agent.Config)
	require.NoError(t, err, "the generated config is valid")
	require.NotNil(t, cfg.Integration(GraphIntegration))
	in := cfg.Integration(GraphIntegration).Graph()
	require.NotNil(t, in)
	assert.Equal(t, f.Graph.URL, in.GraphURL)
	assert.Equal(t, f.Graph.TokenURL, in.TokenURL)
	assert.Equal(t, f.Graph.ClientSecret, in.ClientSecret.Value())
	assert.Equal(t, f.Graph.CAFile, in.CAFile)
	for _, p := range cfg.Profiles {
		assert.Equal(t, GraphIntegration, p.Integration)
	}

	// The demo's problem rooms: the last one is outside the access policy.
	resp, err := http.Get(f.Graph.Admin + "/rooms/" + f.Graph.Rooms[4])
	require.NoError(t, err)
	defer resp.Body.Close()
	var room struct {
		InPolicy bool `json:"in_policy"`
		Events   int  `json:"events"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&room))
	assert.False(t, room.InPolicy)
	assert.Positive(t, room.Events)
}

func TestGraphPartClean(t *testing.T) {
	run, err := Start(context.Background(), Options{Dir: t.TempDir(), Rooms: 4, Meetings: 5, MQTT: "off", Clean: true})
	require.NoError(t, err)
	defer run.Close()
	resp, err := http.Get(run.Env.File.Graph.Admin + "/rooms")
	require.NoError(t, err)
	defer resp.Body.Close()
	var rooms []struct {
		InPolicy   bool `json:"in_policy"`
		Processing struct {
			DeleteComments bool `json:"delete_comments"`
		} `json:"processing"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rooms))
	require.Len(t, rooms, 4)
	for _, r := range rooms {
		assert.True(t, r.InPolicy)
		assert.False(t, r.Processing.DeleteComments)
	}
}

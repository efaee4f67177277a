package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/sim"
)

// TestTheAgentReportsItsCalendarSources runs the agent against the simulators and reads what
// the central team and scripts read: the retained MQTT status and the metrics list the
// calendar sources under "sources", each with its type, as does GET /api/status; no payload
// has a "graph" key any more (README, "Fleet telemetry" and "JSON API").
func TestTheAgentReportsItsCalendarSources(t *testing.T) {
	e := newE2E(t)
	every := 100 * time.Millisecond // below the config's 5 s floor: set past validation
	e.cfg.MQTT.MetricsInterval = &every
	e.start()

	var status telemetry.Status
	require.Eventually(t, func() bool {
		raw := e.mqtt.last("otj/v1/sim/status")
		return raw != "" && json.Unmarshal([]byte(raw), &status) == nil && status.State == telemetry.StateOnline
	}, 30*time.Second, 20*time.Millisecond, "the online status")
	assert.Equal(t, []telemetry.StatusSource{{Type: "graph", Name: sim.GraphIntegration, Rooms: 3}}, status.Sources)

	// The metrics, once the Graph source has made its first requests.
	var doc map[string]json.RawMessage
	var sources []map[string]any
	require.Eventually(t, func() bool {
		raw := e.mqtt.last("otj/v1/sim/metrics")
		doc, sources = nil, nil
		if raw == "" || json.Unmarshal([]byte(raw), &doc) != nil || json.Unmarshal(doc["sources"], &sources) != nil || len(sources) != 1 {
			return false
		}
		used, _ := sources[0]["used_today"].(float64)
		return used > 0
	}, 30*time.Second, 20*time.Millisecond, "metrics with the source's requests")
	assert.NotContains(t, doc, "graph", "the Graph integrations are among the sources, not beside them")
	assert.Equal(t, "graph", sources[0]["type"])
	assert.Equal(t, sim.GraphIntegration, sources[0]["name"])
	assert.Positive(t, sources[0]["budget"])

	resp, err := http.Get(e.f.Agent.StatusURL + "/api/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var raw map[string]json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	assert.NotContains(t, raw, "graph")
	var st []web.SourceStats
	require.NoError(t, json.Unmarshal(raw["sources"], &st))
	require.Len(t, st, 1)
	assert.Equal(t, "graph", st[0].Type)
	assert.Equal(t, sim.GraphIntegration, st[0].Name)
	assert.Positive(t, st[0].RequestsToday)
	assert.False(t, strings.Contains(e.mqtt.all(), `"graph":`), "no MQTT message has a graph key")
}

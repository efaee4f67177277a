package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/simulators/sim"
	"github.com/otj-edge/otj-edge/store"
)

// TestDoctorOnAnOutage runs the agent against the simulators (graphsim, a ciscosim fleet, a
// polysim endpoint) and breaks things the way sites break: Microsoft Graph answers 503 for 19
// rooms, one codec refuses connections with HTTP 503 (its session limit), and the Poly signs
// in with a wrong calendar password. `otj-edge doctor`, reading the running agent, lists three
// problems, the Graph outage first as one entry naming its 19 rooms, each with advice for its
// device and error, and its counts match what it lists.
func TestDoctorOnAnOutage(t *testing.T) {
	run, err := sim.Start(t.Context(), sim.Options{Dir: t.TempDir(), Rooms: 22, Meetings: -1, Cisco: 21, Poly: 1, MQTT: "off", Clean: true})
	require.NoError(t, err)
	t.Cleanup(run.Close)
	e := &e2e{t: t, logs: &syncBuffer{}}
	raw, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &e.f))
	e.cfg, err = config.Load(e.f.Agent.Config)
	require.NoError(t, err)
	e.start()

	rooms := func(status string) []string {
		rs, err := e.agent.store.Rooms(t.Context())
		require.NoError(t, err)
		var out []string
		for _, r := range rs {
			if r.Status == status {
				out = append(out, r.Mailbox)
			}
		}
		sort.Strings(out)
		return out
	}
	all := append([]string(nil), e.f.Graph.Rooms...)
	sort.Strings(all)
	eventually(t, "every room synced", all, func() []string { return rooms(store.RoomOK) })

	// Graph fails for the rooms of codecs 0–18.
	var failing []string
	for _, c := range e.f.Cisco[:19] {
		failing = append(failing, c.Room)
		e.call(http.MethodPost, e.f.Graph.Admin+"/faults", map[string]any{"kind": "status", "status": 503, "mailbox": c.Room}, nil)
	}
	sort.Strings(failing)
	require.NoError(t, e.agent.Sync(t.Context(), "", false))
	eventually(t, "19 rooms failing", failing, func() []string { return rooms(store.RoomTransient) })

	// Codec 19 refuses connections; the Poly's password is wrong.
	busy, poly := e.f.Cisco[19], e.f.Poly[0]
	e.call(http.MethodPost, e.f.CiscoAdmin+"/codecs/"+busy.Name+"/faults", map[string]any{"handshake_status": 503}, nil)
	e.call(http.MethodPost, e.f.CiscoAdmin+"/codecs/"+busy.Name+"/drop", nil, nil)
	e.call(http.MethodPut, e.f.PolyAdmin+"/endpoints/"+poly.Name+"/faults", map[string]any{"wrong_password": true}, nil)
	e.call(http.MethodPost, e.f.PolyAdmin+"/endpoints/"+poly.Name+"/poll", nil, nil)
	states := func() []string {
		eps, err := e.agent.store.Endpoints(t.Context())
		require.NoError(t, err)
		var out []string
		for _, ep := range eps {
			switch {
			case ep.State == store.EndpointDown && strings.Contains(ep.Detail, "HTTP 503"):
				out = append(out, ep.Name+" refused with 503")
			case ep.State != store.EndpointUp:
				out = append(out, ep.Name+" "+ep.State)
			}
		}
		sort.Strings(out)
		return out
	}
	eventually(t, "the codec and the Poly failing", []string{busy.Name + " refused with 503", poly.Name + " auth_failed"}, states)

	code, out, errOut := runCLI(t, nil, "doctor", "--config", e.f.Agent.Config)
	require.Equal(t, ExitFailure, code, errOut)
	assert.Contains(t, errOut, "from the running agent")
	entries := strings.Split(strings.TrimSpace(out), "\n\n")
	require.GreaterOrEqual(t, len(entries), 5, out)
	assert.Equal(t, "Needs attention (3), the most rooms affected first", entries[0])

	outage := entries[1]
	assert.Regexp(t, `^1\. 19 rooms: Graph 503 since \d\d:\d\d \[warning\]\n`, outage)
	assert.Contains(t, outage, "transient: Graph is unavailable (503")
	assert.Contains(t, outage, "Affected (19):")
	for _, r := range failing {
		assert.Equal(t, 1, strings.Count(out, r), "%s once in the whole report", r)
	}

	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") } // doctor wraps its prose
	codec := entries[2]
	assert.True(t, strings.HasPrefix(codec, "2. "+busy.Name+" ("+busy.Room+"): session limit (HTTP 503) "), codec)
	assert.Contains(t, flat(codec), "RoomOS allows a limited number of sessions")
	assert.NotContains(t, codec, "VLAN")
	assert.NotContains(t, codec, "powered")

	polyEntry := entries[3]
	assert.True(t, strings.HasPrefix(polyEntry, "3. "+poly.Name+" ("+e.f.Poly[0].Room+"): wrong calendar password [error]"), polyEntry)
	assert.Contains(t, flat(polyEntry), "calendar_password")
	assert.NotContains(t, polyEntry, "lock", "a Poly is not a codec that locks accounts")

	assert.Equal(t, "3 problems need attention, affecting 21 of 22 rooms (22 endpoints checked).", entries[len(entries)-1])
	assert.NotContains(t, out, "rooms not syncing", "the Graph integration's summary is not a fourth problem")
	assertNoSecrets(t, e.cfg, "doctor", out+errOut)
}

package graph

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/sourcetest"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
	"github.com/otj-edge/otj-edge/sync/source"
)

// TestSourceTable runs the behaviour table every source passes (simulators/sourcetest)
// against graphsim through the real Graph source.
func TestSourceTable(t *testing.T) { sourcetest.Run(t, newGraphRig) }

// graphRig is the Graph row of the table: graphsim over TLS on loopback.
type graphRig struct {
	sim    *graphsim.Server
	caFile string
}

func newGraphRig(t *testing.T, clk *clock.Fake) sourcetest.Rig {
	t.Helper()
	sim, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, sim.CA().WriteFile(caFile))
	return &graphRig{sim: sim, caFile: caFile}
}

func (g *graphRig) Sim() *graphsim.Server { return g.sim }

func (g *graphRig) Integration() string { return "m365" }

func (g *graphRig) NewSource(deps source.Deps, rooms []source.Room, maxInFlight int) (source.Source, error) {
	if maxInFlight == 0 {
		maxInFlight = DefaultMaxInFlight
	}
	in := Integration{Name: g.Integration(), ClientID: g.sim.ClientID(), ClientSecret: secret.New(g.sim.ClientSecret()),
		TokenURL: g.sim.TokenURL(), GraphURL: g.sim.GraphURL(), MaxRequestsPerDay: DefaultMaxRequestsPerDay,
		MaxInFlight: maxInFlight, CAFile: g.caFile,
		// The shared contract counts a polling source's requests; the change probe (on by
		// default, a request a minute even for one room) has its own tests (probe_test.go).
		Probe: ProbeSettings{Mode: graphconf.ProbeOff}}
	return New(Options{Integration: in, Rooms: rooms, Store: deps.Store, Logger: deps.Logger, Clock: deps.Clock,
		Health: deps.Health, Tuning: Tuning{Seed: 1, Linger: -1}}) // the cases wait for polls without moving the clock past a linger
}

// Throttle limits the mailbox to one request per ten minutes: Graph answers 429 with
// Retry-After beyond that.
func (g *graphRig) Throttle(room string) error {
	return g.sim.PatchRoom(room, graphsim.RoomPatch{RateLimit: ptr(1)})
}

// Deny takes the mailbox out of (or puts it back into) the application access policy.
func (g *graphRig) Deny(room string, denied bool) error {
	return g.sim.PatchRoom(room, graphsim.RoomPatch{InPolicy: ptr(!denied)})
}

func (g *graphRig) DenyFix(room string) string {
	return "Test-ApplicationAccessPolicy -Identity " + room
}

func (g *graphRig) Counters(room string) sourcetest.Counters {
	st := g.sim.MailboxStats(room)
	return sourcetest.Counters{Requests: st.Requests, FullReads: st.FullSyncs, Throttled: st.Throttled, EarlyRetries: st.EarlyRetries}
}

package ews_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/sourcetest"
	"github.com/otj-edge/otj-edge/sync/graph"
	"github.com/otj-edge/otj-edge/sync/source"
)

// TestEWSAndGraphResolveTheSameMeetings: one generated scenario (every provider, recurring
// series with exceptions, private and cancelled meetings), served by graphsim and by ewssim
// in front of it at once, resolves through the Graph source and through the EWS source to the
// same meetings in every room: join addresses, times, subjects, organizers, privacy.
func TestEWSAndGraphResolveTheSameMeetings(t *testing.T) {
	clk := clock.NewFake(sourcetest.T0)
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, gs.Start())
	t.Cleanup(gs.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, gs.CA().WriteFile(caFile))
	viaEWS := newEWSRigOn(t, clk, gs)
	viaGraph := &graphSide{sim: gs, caFile: caFile}

	var rooms []string
	for i := 1; i <= 6; i++ {
		rooms = append(rooms, sourcetest.RoomName(i))
	}
	sourcetest.SameMeetings(t, clk, viaGraph, viaEWS, graphsim.Scenario{Rooms: rooms, Meetings: 40, Seed: 17, Now: sourcetest.T0})
}

// graphSide reads the shared graphsim through the real Graph source (only what the
// cross-source check needs: no faults).
type graphSide struct {
	sim    *graphsim.Server
	caFile string
}

func (g *graphSide) Sim() *graphsim.Server { return g.sim }
func (g *graphSide) Integration() string   { return "m365" }

func (g *graphSide) NewSource(deps source.Deps, rooms []source.Room, maxInFlight int) (source.Source, error) {
	in := graph.Integration{Name: g.Integration(), ClientID: g.sim.ClientID(), ClientSecret: secret.New(g.sim.ClientSecret()),
		TokenURL: g.sim.TokenURL(), GraphURL: g.sim.GraphURL(), MaxRequestsPerDay: graph.DefaultMaxRequestsPerDay,
		MaxInFlight: max(maxInFlight, graph.DefaultMaxInFlight), CAFile: g.caFile}
	return graph.New(graph.Options{Integration: in, Rooms: rooms, Store: deps.Store, Logger: deps.Logger, Clock: deps.Clock,
		Health: deps.Health, Tuning: graph.Tuning{Seed: 1, Linger: -1}}) // the cases wait for polls without moving the clock past a linger
}

var errNotInCross = errors.New("not used by the cross-source check")

func (g *graphSide) Throttle(string) error                    { return errNotInCross }
func (g *graphSide) Deny(string, bool) error                  { return errNotInCross }
func (g *graphSide) DenyFix(string) string                    { return "" }
func (g *graphSide) Counters(room string) sourcetest.Counters { return sourcetest.Counters{} }

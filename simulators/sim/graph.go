package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// GraphIntegration names the Graph integration of the generated agent config.
const GraphIntegration = "m365"

func init() {
	Register(Part{Name: "graph", Order: 10, Start: startGraph})
}

// startGraph starts graphsim with the site's rooms and a generated scenario (env.Opts.Meetings
// per room around env.Opts.Now, seeded), signed by the sim CA, and points the agent at it.
// Unless --clean, the second-to-last room keeps Exchange's default calendar processing and
// the last one is outside the app's access policy, so the demo shows both problems.
func startGraph(_ context.Context, env *Env) error {
	srv, err := graphsim.New(graphsim.Options{CA: env.CA, Latency: env.Opts.Latency, Now: env.Opts.Now, Logger: env.Log,
		FreeBusyDetails: env.Opts.FreeBusyDetails})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	env.OnClose(srv.Close)
	env.Calendar = srv
	sum, err := srv.Load(graphsim.Scenario{Rooms: env.Rooms, Meetings: env.Opts.Meetings, Seed: env.Opts.Seed,
		Now: env.Opts.Now(), Zone: env.Opts.Zone, ShiftMinutes: int(env.Opts.Shift / time.Minute), Problems: !env.Opts.Clean})
	if err != nil {
		return fmt.Errorf("graph scenario: %w", err)
	}
	env.Log.Info("graphsim ready", "graph", srv.GraphURL(), "admin", srv.AdminURL(), "rooms", sum.Rooms,
		"events", sum.Events, "series", sum.Series, "soonest", sum.SoonestStart)
	for room, what := range sum.Problems {
		env.Log.Info("graphsim problem room", "room", room, "problem", what)
	}
	caFile := filepath.Join(env.Opts.Dir, "ca.pem")
	env.File.Graph = &GraphInfo{URL: srv.GraphURL(), TokenURL: srv.TokenURL(), ClientID: srv.ClientID(),
		ClientSecret: srv.ClientSecret(), CAFile: caFile, Admin: srv.AdminURL(), Rooms: append([]string(nil), env.Rooms...),
		FreeBusyDetails: graphsim.FreeBusyAvailabilityOnly}
	if env.Opts.FreeBusyDetails != "" {
		env.File.Graph.FreeBusyDetails = env.Opts.FreeBusyDetails
	}
	env.Agent.Integrations = append(env.Agent.Integrations, AgentIntegration{Name: GraphIntegration, Type: "graph",
		ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), TokenURL: srv.TokenURL(), GraphURL: srv.GraphURL(), CAFile: caFile})
	for i := range env.Agent.Profiles {
		if env.Agent.Profiles[i].Integration == "" {
			env.Agent.Profiles[i].Integration = GraphIntegration
		}
	}
	return nil
}

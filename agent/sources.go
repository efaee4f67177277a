package agent

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The table of calendar source types: integrations[].type picks a row, which builds the
// running source (a source.Source) from the integration's settings and checks it for
// `otj-edge check`. The config side of a type (its keys and their validation) is registered
// with config.RegisterIntegrationType; this is the runtime side. Nothing else in the agent
// names a source: the parts, the sync command, the stats and the checks all go through here.

// sourceType is one row of the table.
type sourceType struct {
	// build makes the source of integration in for its rooms. It translates the settings into
	// the source's own Options and reads nothing from the network: an error is a config
	// problem, held until a reload (see partSpec.build).
	build func(in *config.Integration, rooms []source.Room, deps source.Deps) (source.Source, error)
	// check is the integration's part of `otj-edge check`: reach the service, sign in, read
	// each room once; one line each.
	check func(ctx context.Context, in *config.Integration, rooms []source.Room) source.CheckResult
	// key is what a restart must follow beyond the settings' JSON (which leaves out what was
	// read from files, such as a client certificate); nil: nothing.
	key func(in *config.Integration) any
	// clockURL is a URL of the service whose HTTP Date header `check` compares the clock with,
	// and the CA file that verifies it; "" when the type has none.
	clockURL func(in *config.Integration) (url, caFile string)
	// requests is how many requests the integration sent on the local day of day, and its
	// daily budget, for the daily report; nil: the type does not count them.
	requests func(ctx context.Context, st *store.Store, in *config.Integration, day time.Time) (used, budget int64, err error)
	// discover lists the rooms and room lists the integration can see (`otj-edge rooms
	// discover`, agent/discover.go); nil: the type cannot list rooms.
	discover func(ctx context.Context, in *config.Integration) (source.Discovery, error)
	// exchange: the type reads Exchange room mailboxes, whose calendar processing settings
	// show in their events and are diagnosed (agent/diagnose.go).
	exchange bool
}

// sourceTypes is the table, by type name.
var sourceTypes = map[string]sourceType{}

// registerSource adds a row (in init; a test may add its own). Its config side must be
// registered under the same name.
func registerSource(name string, t sourceType) {
	if _, dup := sourceTypes[name]; dup || t.build == nil || t.check == nil {
		panic(fmt.Sprintf("agent: source type %q registered twice or without build and check", name))
	}
	sourceTypes[name] = t
}

// sourceTypeOf is the row of integration in; ok false for a type the agent cannot run (the
// config loader refuses types it does not know, so only a type registered in config alone).
func sourceTypeOf(in *config.Integration) (sourceType, bool) {
	t, ok := sourceTypes[in.Type]
	return t, ok
}

// sourceRooms lists the rooms of cfg that integration syncs live, with their profiles'
// upcoming_days: the rooms whose endpoints name it (integration:), or whose profile does when
// they name none (config.Config.Rooms). The rooms it reads in shadow are not among them
// (shadow.go).
func sourceRooms(cfg *config.Config, integration string) []source.Room {
	var live []config.Room
	for _, r := range cfg.Rooms() {
		if r.Integration == integration {
			live = append(live, r)
		}
	}
	return roomsOf(cfg, live)
}

// sourceSpec is the part that runs integration in: named and health-reported as its
// component ("graph/m365"), restarted when its settings, the files they read or its rooms
// change.
func (a *Agent) sourceSpec(cfg *config.Config, in *config.Integration) (partSpec, bool) {
	t, ok := sourceTypeOf(in)
	if !ok {
		return partSpec{}, false
	}
	rooms := sourceRooms(cfg, in.Name)
	component := source.Component(in.Type, in.Name)
	var extra any
	if t.key != nil {
		extra = t.key(in)
	}
	return partSpec{name: component, key: keyOf(in, extra, rooms), build: func() (func(context.Context) error, error) {
		s, err := t.build(in, rooms, source.Deps{Store: a.store, Logger: a.log.With("part", component), Clock: a.clock, Health: a.health})
		if err != nil {
			a.health.Fail(component, err.Error())
			return nil, err
		}
		a.mu.Lock()
		a.sources[in.Name] = s
		a.mu.Unlock()
		return s.Run, nil
	}}, true
}

// runningSources is a copy of the running sources by integration name.
func (a *Agent) runningSources() map[string]source.Source {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]source.Source, len(a.sources))
	for name, s := range a.sources {
		out[name] = s
	}
	return out
}

// sourceStats is every running source's report, sorted by integration name.
func (a *Agent) sourceStats() []source.Stats {
	var out []source.Stats
	for _, s := range a.runningSources() {
		out = append(out, s.Stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Integration < out[j].Integration })
	return out
}

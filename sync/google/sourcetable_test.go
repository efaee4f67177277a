package google_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/googlesim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/sourcetest"
	"github.com/otj-edge/otj-edge/sync/google"
	"github.com/otj-edge/otj-edge/sync/source"
)

// TestSourceTable runs the behaviour table every source passes (simulators/sourcetest)
// against googlesim through the real Google source (google.golang.org/api, the JWT-bearer
// grant with domain-wide delegation), polling.
func TestSourceTable(t *testing.T) { sourcetest.Run(t, newGoogleRig) }

// googleRig is the Google row of the table: googlesim over TLS on loopback in front of a
// graphsim that holds the calendars. The rooms are configured by their email alias (the
// table names rooms by mailbox; googlesim and the source accept either form).
type googleRig struct {
	gs  *graphsim.Server
	sim *googlesim.Server
	key []byte
}

func newGoogleRig(t *testing.T, clk *clock.Fake) sourcetest.Rig {
	t.Helper()
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, gs.Start())
	t.Cleanup(gs.Close)
	// x/oauth2 signs assertions with the wall clock; the table's clock starts on a fixed date.
	sim, err := googlesim.New(googlesim.Options{Calendar: gs, Now: clk.Now, AssertionClock: time.Now})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	key, err := sim.KeyFile("")
	require.NoError(t, err)
	return &googleRig{gs: gs, sim: sim, key: key}
}

func (g *googleRig) Sim() *graphsim.Server { return g.gs }

func (g *googleRig) Integration() string { return "workspace" }

func (g *googleRig) NewSource(deps source.Deps, rooms []source.Room, maxInFlight int) (source.Source, error) {
	in := google.Integration{Name: g.Integration(), ServiceAccountKey: g.key, Subject: g.sim.AdminUser(),
		Endpoint: g.sim.CalendarEndpoint()}
	return google.New(google.Options{Integration: in, Rooms: rooms, Store: deps.Store, Logger: deps.Logger,
		Clock: deps.Clock, Health: deps.Health, HTTPClient: g.sim.HTTPClient(),
		Tuning: google.Tuning{Seed: 1, MaxInFlight: maxInFlight}})
}

// Throttle lets the room's calendar answer one request per ten minutes: Google's 429
// rateLimitExceeded with Retry-After beyond that.
func (g *googleRig) Throttle(room string) error {
	return g.sim.SetCalendarRateLimit(room, 1, 10*time.Minute)
}

// Deny takes the delegation subject off the room's calendar (ACL role none: 403 forbidden),
// or removes that entry again.
func (g *googleRig) Deny(room string, denied bool) error {
	role := ""
	if denied {
		role = googlesim.RoleNone
	}
	return g.sim.SetACL(room, g.sim.AdminUser(), role)
}

func (g *googleRig) DenyFix(room string) string {
	return "share the resource calendar " + room + " with " + g.sim.AdminUser()
}

func (g *googleRig) Counters(room string) sourcetest.Counters {
	st := g.sim.CalendarStats(room)
	return sourcetest.Counters{Requests: st.Requests, FullReads: st.FullSyncs, Throttled: st.RateLimited, EarlyRetries: st.EarlyRetries}
}

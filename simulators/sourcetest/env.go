package sourcetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/process"
	"github.com/otj-edge/otj-edge/sync/rules"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Env is one case's world: the rig's simulator and a source on a store, with the meeting
// processor resolving the rooms as the agent does, all on one fake clock. Tests move time,
// never sleep.
type Env struct {
	T      *testing.T
	Clock  *clock.Fake
	Rig    Rig
	Sim    *graphsim.Server
	Store  *store.Store
	Health *health.Tracker
	Rooms  []string
	// MaxInFlight is handed to the next source built (0: the source's default).
	MaxInFlight int

	src  source.Source
	stop func()
}

// NewEnv makes the world of a case for rooms (added to the simulator with the recommended
// processing); nothing runs until Start.
func NewEnv(t *testing.T, newRig NewRig, rooms ...string) *Env {
	return NewEnvAt(t, T0, newRig, rooms...)
}

// NewEnvAt is NewEnv with the clock starting at start.
func NewEnvAt(t *testing.T, start time.Time, newRig NewRig, rooms ...string) *Env {
	t.Helper()
	clk := clock.NewFake(start)
	return NewEnvOn(t, clk, newRig(t, clk), rooms...)
}

// NewEnvOn makes a case's world around an existing rig on its clock: two envs on one clock
// and one simulator read the same calendars through two sources, each into its own store.
func NewEnvOn(t *testing.T, clk *clock.Fake, rig Rig, rooms ...string) *Env {
	t.Helper()
	e := &Env{T: t, Clock: clk, Rig: rig, Sim: rig.Sim(), Health: health.New(clk.Now), Rooms: rooms}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e.Store = st
	refs := make([]store.RoomRef, len(rooms))
	for i, m := range rooms {
		refs[i] = store.RoomRef{Mailbox: m, Integration: rig.Integration()}
	}
	// The agent registers the configured rooms before any source runs (applyConfig).
	require.NoError(t, st.Write(context.Background(), func(tx *store.Tx) error { return tx.SyncRooms(refs) }))
	return e
}

// AddRoom adds a room to the simulator with the recommended calendar processing.
func (e *Env) AddRoom(m string) {
	e.T.Helper()
	p := graphsim.Recommended()
	require.NoError(e.T, e.Sim.AddRoom(graphsim.Room{Mailbox: m, Processing: &p}))
}

// Post delivers an invite to a room and returns the room copy's id (graphsim's).
func (e *Env) Post(m string, ev map[string]any) string {
	e.T.Helper()
	id, err := e.Sim.PostEvent(m, ev)
	require.NoError(e.T, err)
	return id
}

// Patch is the organizer updating an event, a series or an occurrence.
func (e *Env) Patch(m, id string, patch map[string]any) string {
	e.T.Helper()
	nid, err := e.Sim.PatchEvent(m, id, patch)
	require.NoError(e.T, err)
	return nid
}

// InstanceAt finds the graphsim id of a series' occurrence (or exception) starting at at.
func (e *Env) InstanceAt(m, master string, at time.Time) string {
	e.T.Helper()
	insts, err := e.Sim.Instances(m, master, at.Add(-time.Minute), at.Add(time.Minute))
	require.NoError(e.T, err)
	require.Len(e.T, insts, 1, "one instance of %s at %s", master, at)
	return insts[0]["id"].(string)
}

// Profile is the meeting profile the table resolves with: the built-in providers, as the
// config otj-sim generates.
func Profile(t testing.TB) *rules.Profile {
	t.Helper()
	p, err := rules.Compile(rules.Settings{}.WithDefaults(), []rules.Spec{
		{Name: "teams", Type: rules.TypeTeams, Priority: 10},
		{Name: "zoom", Type: rules.TypeZoom, Priority: 20, IncludePIN: true},
		{Name: "webex", Type: rules.TypeWebex, Priority: 30},
		{Name: "google-meet", Type: rules.TypeGoogleMeet, Priority: 40},
		{Name: "pexip", Type: rules.TypePexip, Priority: 50},
	})
	require.NoError(t, err)
	return p
}

// Start runs a new source (and the meeting processor) on the env's store until the returned
// stop is called or the test ends.
func (e *Env) Start() func() {
	e.T.Helper()
	rooms := make([]source.Room, len(e.Rooms))
	profiles := map[string]*rules.Profile{}
	prof := Profile(e.T)
	for i, m := range e.Rooms {
		rooms[i] = source.Room{Mailbox: m, UpcomingDays: 7}
		profiles[m] = prof
	}
	logger := slog.New(slog.NewTextHandler(e.T.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, err := e.Rig.NewSource(source.Deps{Store: e.Store, Logger: logger, Clock: e.Clock, Health: e.Health}, rooms, e.MaxInFlight)
	require.NoError(e.T, err)
	if _, ok := src.(Settler); !ok {
		e.T.Fatalf("the %T source offers no Quiet() and Progress(): the table cannot drive its clock (see sourcetest.Settler)", src)
	}
	proc := process.New(process.Options{Store: e.Store, Logger: logger, Clock: e.Clock, Health: e.Health, Rooms: profiles})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- src.Run(ctx) }()
	go func() { done <- proc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			for range 2 {
				select {
				case err := <-done:
					require.NoError(e.T, err)
				case <-time.After(30 * time.Second): // a failure guard, not a wait
					e.T.Fatal("Run did not return after its context ended")
				}
			}
		})
	}
	e.T.Cleanup(stop)
	e.src, e.stop = src, stop
	return stop
}

// Source is the running source.
func (e *Env) Source() source.Source { return e.src }

// WaitFor waits until cond holds, woken by the store's change notices and health changes.
func (e *Env) WaitFor(what string, cond func() bool) {
	e.T.Helper()
	subs := []*store.Sub{e.Store.Subscribe(store.TopicRooms), e.Store.Subscribe(store.TopicEvents), e.Store.Subscribe(store.TopicMeetings)}
	for _, s := range subs {
		defer s.Close()
	}
	healthChanged, unsubscribe := e.Health.Subscribe()
	defer unsubscribe()
	deadline := time.NewTimer(30 * time.Second) // a failure guard, not a wait
	defer deadline.Stop()
	for !cond() {
		select {
		case <-subs[0].C:
		case <-subs[1].C:
		case <-subs[2].C:
		case <-healthChanged:
		case <-deadline.C:
			e.T.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Advance moves time by d in steps, letting due rooms run between them.
func (e *Env) Advance(d, step time.Duration) {
	e.T.Helper()
	for end := e.Clock.Now().Add(d); e.Clock.Now().Before(end); {
		e.Clock.Advance(min(step, end.Sub(e.Clock.Now())))
		e.Settle()
	}
}

// Settle waits until the source is quiet at the current fake time.
func (e *Env) Settle() {
	e.T.Helper()
	s := e.src.(Settler)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !s.Quiet() {
		select {
		case <-s.Progress():
		case <-deadline.C:
			e.T.Fatal("the source did not settle")
		}
	}
}

// Room is the room's state in the store.
func (e *Env) Room(m string) store.RoomState {
	e.T.Helper()
	r, ok, err := e.Store.Room(context.Background(), m)
	require.NoError(e.T, err)
	require.True(e.T, ok, "room %s in the store", m)
	return r
}

// Status is the room's status word now.
func (e *Env) Status(m string) string {
	r, _, _ := e.Store.Room(context.Background(), m)
	return r.Status
}

// Synced reports whether every given room completed a sync, is ok, and its meetings were
// resolved from a completed sync (its endpoints know the room).
func (e *Env) Synced(mailboxes ...string) func() bool {
	return func() bool {
		for _, m := range mailboxes {
			r, ok, err := e.Store.Room(context.Background(), m)
			if err != nil || !ok || r.Status != store.RoomOK || r.LastSuccess.IsZero() {
				return false
			}
			if known, _, err := e.Store.RoomResolved(context.Background(), m); err != nil || !known {
				return false
			}
		}
		return true
	}
}

// Meetings is the room's resolved meetings (what its endpoints show), in start order.
func (e *Env) Meetings(m string) []calendar.Meeting {
	e.T.Helper()
	ms, err := stored.Meetings(context.Background(), e.Store, m, time.Time{}, time.Time{})
	require.NoError(e.T, err)
	return ms
}

// Titled is the room's resolved meetings with that subject, in start order.
func (e *Env) Titled(m, subject string) []calendar.Meeting {
	e.T.Helper()
	var out []calendar.Meeting
	for _, x := range e.Meetings(m) {
		if x.Subject == subject {
			out = append(out, x)
		}
	}
	return out
}

// Has reports whether the room shows a meeting with that subject starting at start.
func (e *Env) Has(m, subject string, start time.Time) bool {
	for _, x := range e.Titled(m, subject) {
		if x.Start.Equal(start) {
			return true
		}
	}
	return false
}

// RecentEvents lists the event log's entries of a kind.
func (e *Env) RecentEvents(kind string) []store.LoggedEvent {
	e.T.Helper()
	all, err := e.Store.RecentEvents(context.Background(), 1000)
	require.NoError(e.T, err)
	var out []store.LoggedEvent
	for _, x := range all {
		if x.Kind == kind {
			out = append(out, x)
		}
	}
	return out
}

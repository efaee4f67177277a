package webex

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/simulators/webexsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The tests run the driver against webexsim over real HTTPS on loopback, the driver and the
// simulator sharing a fake clock that moves only when every endpoint loop and status round is
// waiting on it (settle).

var testStart = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

type harness struct {
	t      *testing.T
	fake   *clock.Fake
	st     *store.Store
	sim    *webexsim.Server
	vault  *tokenvault.Vault
	health *health.Tracker
	logs   *syncBuffer
	eps    []Endpoint

	mgr     *Manager
	cancel  context.CancelFunc
	done    chan struct{}
	changed chan string
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, simOpts webexsim.Options) *harness {
	t.Helper()
	h := &harness{t: t, fake: clock.NewFake(testStart), logs: &syncBuffer{}, changed: make(chan string, 1024)}
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{
		Now: h.fake.Now, Outbox: store.OutboxLimits{MaxMessages: 100000, MaxBytes: 64 << 20},
	})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	h.st = st
	simOpts.Now = h.fake.Now
	if simOpts.RotationGrace == 0 {
		simOpts.RotationGrace = -1 // a rotated-out token is refused at once
	}
	h.sim, err = webexsim.New(simOpts)
	require.NoError(t, err)
	require.NoError(t, h.sim.Start())
	t.Cleanup(h.sim.Close)
	h.vault = tokenvault.New(t.TempDir())
	h.health = health.New(h.fake.Now)
	if os.Getenv("WEBEX_TEST_LOG") != "" {
		t.Cleanup(func() { t.Log(h.logs.String()) })
	}
	return h
}

// device adds a simulated device in room and returns its id and an endpoint naming it by id.
func (h *harness) device(name, room string, cfg webexsim.DeviceConfig) (string, Endpoint) {
	h.t.Helper()
	if cfg.DisplayName == "" {
		cfg.DisplayName = name
	}
	id, err := h.sim.AddDevice(cfg)
	require.NoError(h.t, err)
	return id, Endpoint{Name: name, Room: room, Connection: "hub", DeviceID: id}
}

func (h *harness) connection() Connection {
	return Connection{Name: "hub", APIURL: h.sim.APIURL(), TokenURL: h.sim.TokenURL(), ClientID: h.sim.ClientID(),
		ClientSecret: h.sim.ClientSecret(), RefreshToken: h.sim.InitialRefreshToken(), RootCAs: h.sim.CA().Pool()}
}

// rooms puts the endpoints' rooms and rows in the store, synced unless listed in unsynced.
func (h *harness) rooms(eps []Endpoint, unsynced ...string) {
	h.t.Helper()
	var rooms []store.RoomRef
	var refs []store.EndpointRef
	seen := map[string]bool{}
	for _, e := range eps {
		if !seen[e.Room] {
			rooms = append(rooms, store.RoomRef{Mailbox: e.Room, Integration: "m365"})
			seen[e.Room] = true
		}
		refs = append(refs, store.EndpointRef{Name: e.Name, Type: "webex", Room: e.Room})
	}
	require.NoError(h.t, h.st.Write(h.t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		for _, r := range rooms {
			skip := false
			for _, u := range unsynced {
				skip = skip || u == r.Mailbox
			}
			if !skip {
				if err := markSynced(tx, r.Mailbox); err != nil {
					return err
				}
			}
		}
		return tx.SyncEndpoints(refs)
	}))
}

func markSynced(tx *store.Tx, room string) error {
	rs, ok, err := tx.Room(room)
	if err != nil || !ok {
		return err
	}
	rs.Status, rs.LastSuccess = store.RoomOK, tx.Now()
	if err := tx.PutRoom(rs); err != nil {
		return err
	}
	return tx.MarkResolved(room, rs.LastSuccess)
}

func (h *harness) options(eps []Endpoint, tune func(*Options)) Options {
	opts := Options{
		Connections: []Connection{h.connection()}, Endpoints: eps, Store: h.st, Vault: h.vault,
		Clock: h.fake, Health: h.health, Location: time.UTC, WindowPast: time.Hour, WindowDays: 1,
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		onChanged: func(name string) { h.changed <- name },
	}
	if tune != nil {
		tune(&opts)
	}
	return opts
}

// start runs a manager for eps and waits until it has settled.
func (h *harness) start(eps []Endpoint, tune func(*Options)) {
	h.t.Helper()
	h.eps = eps
	m, err := New(h.options(eps, tune))
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.mgr, h.cancel, h.done = m, cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		assert.NoError(h.t, m.Run(ctx))
	}()
	h.t.Cleanup(h.stop)
	h.settle()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("manager did not stop within 10 s")
	}
	h.cancel, h.mgr = nil, nil
}

// settle waits until the endpoints' scheduler and every status round wait on their timers with no wake
// pending: only then may the clock move.
func (h *harness) settle() {
	h.t.Helper()
	want := min(len(h.mgr.devices), 1) // the endpoints' scheduler waits on one timer
	for _, c := range h.mgr.conns {
		if len(h.mgr.devicesOf(c)) > 0 {
			want++
		}
	}
	deadline := time.After(15 * time.Second)
	for {
		created := h.fake.TimerCreated()
		idle, quiet := h.mgr.busy.Idle()
		if idle && h.fake.Timers() >= want {
			if idle2, _ := h.mgr.busy.Idle(); idle2 {
				return
			}
			continue
		}
		if quiet == nil {
			quiet = make(chan struct{})
		}
		select {
		case <-created:
		case <-quiet:
		case <-deadline:
			h.t.Fatalf("the driver did not settle (timers %d, want %d)\n%s", h.fake.Timers(), want, h.logs.String())
		}
	}
}

// advance moves the clock by d once settled, and settles again.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.settle()
	h.fake.Advance(d)
	h.settle()
}

// meetings replaces a room's meetings and waits until the room's endpoints heard of it.
func (h *harness) meetings(room string, ms ...calendar.Meeting) {
	h.t.Helper()
	require.NoError(h.t, h.st.Write(h.t.Context(), func(tx *store.Tx) error {
		_, err := stored.ReplaceMeetings(tx, room, ms)
		return err
	}))
	h.heard(room)
}

// heard waits until each endpoint of the room heard of one change of its meetings (a store
// notice the endpoints' scheduler took). A test that changes a room twice while the driver
// runs waits after each change: the scheduler may take both notices as one or as two, and a
// wait for one after both writes could return on the first while the second, taken after
// the test moved the fake clock on, restarts the debounce.
func (h *harness) heard(room string) {
	h.t.Helper()
	if h.mgr == nil {
		return
	}
	for _, d := range h.mgr.byRoom[room] {
		select {
		case name := <-h.changed:
			_ = name
		case <-time.After(15 * time.Second):
			h.t.Fatalf("endpoint %s did not hear of the change", d.ep.Name)
		}
	}
}

// endpoint reads an endpoint's row.
func (h *harness) endpoint(name string) store.EndpointState {
	h.t.Helper()
	e, ok, err := h.st.Endpoint(h.t.Context(), name)
	require.NoError(h.t, err)
	require.True(h.t, ok, "endpoint %s has a row", name)
	return e
}

func (h *harness) puts(id string) int {
	h.t.Helper()
	p, err := h.sim.Puts(id)
	require.NoError(h.t, err)
	return len(p)
}

// meetingsAt are a room's meetings starting at base, one an hour.
func meetingsAt(room string, base time.Time, n int) []calendar.Meeting {
	out := make([]calendar.Meeting, n)
	for i := range out {
		start := base.Add(time.Duration(i) * time.Hour)
		out[i] = calendar.Meeting{Room: room, ID: "m-" + string(rune('a'+i)), EventID: "AAMk-" + string(rune('a'+i)), Start: start, End: start.Add(30 * time.Minute),
			StartBuffer: calendar.Duration(5 * time.Minute), Subject: "Meeting " + string(rune('A'+i)), Organizer: "Ada Lovelace",
			OrganizerEmail: "ada@contoso.example", Join: true, Number: "1234567890.acme@m.webex.com", Protocol: calendar.ProtocolSIP, Platform: calendar.PlatformTeams}
	}
	return out
}

// advance0 moves the clock while no manager runs.
func (h *harness) advance0(d time.Duration) { h.fake.Advance(d) }

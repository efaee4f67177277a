package cisco

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
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The tests run the driver against ciscosim over real TLS WebSockets on loopback.

const (
	testUser     = "otj"
	testPassword = "codec-secret-value-456"
)

// harness is a store, a codec fleet and a manager over them.
type harness struct {
	t      *testing.T
	st     *store.Store
	fleet  *ciscosim.Fleet
	clk    clock.Clock
	fake   *clock.Fake // nil on the real clock
	health *health.Tracker
	logs   *syncBuffer
	loc    *time.Location

	eps []Endpoint // every endpoint made so far, synced into the store
	// unsynced rooms have not synced yet (a fresh store); every other room has, and its
	// meetings count (the first-sync gate).
	unsynced map[string]bool

	idleMu   sync.Mutex
	idleCond *sync.Cond
	idleAt   map[string]int // codec → pushes at its latest idle

	mgr    *Manager
	cancel context.CancelFunc
	done   chan struct{}
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

// newHarness opens a store and a fleet. With fake set, the driver and the simulator share a
// fake clock starting at start.
func newHarness(t *testing.T, fake bool, start time.Time) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}, loc: time.UTC}
	var now func() time.Time
	if fake {
		h.fake = clock.NewFake(start)
		h.clk = h.fake
		now = h.fake.Now
	} else {
		h.clk = clock.Real{}
		now = time.Now
	}
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "otj-edge.db"), store.Options{
		Now: now, Outbox: store.OutboxLimits{MaxMessages: 100000, MaxBytes: 64 << 20},
	})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	h.st = st
	h.fleet = ciscosim.NewFleet(ciscosim.Options{Now: now, TickEvery: -1})
	t.Cleanup(h.fleet.Close)
	h.health = health.New(now)
	if os.Getenv("CISCO_TEST_LOG") != "" {
		t.Cleanup(func() { t.Log(h.logs.String()) })
	}
	return h
}

// codec adds a simulated codec with an Admin user (unless users are given) and returns it
// with the endpoint config pointing at it.
func (h *harness) codec(name, room string, cfg ciscosim.CodecConfig) (*ciscosim.Codec, Endpoint) {
	h.t.Helper()
	cfg.Name = name
	if cfg.Users == nil {
		cfg.Users = []ciscosim.User{{Username: testUser, Password: testPassword, Roles: []string{ciscosim.RoleAdmin}}}
	}
	c, err := h.fleet.Add(cfg)
	require.NoError(h.t, err)
	ep := Endpoint{Name: name, Room: room, Address: c.URL(), Username: testUser, Password: testPassword}
	h.eps = append(h.eps, ep)
	h.sync()
	return c, ep
}

// sync puts every room and endpoint made so far into the store, as the agent does.
func (h *harness) sync() {
	h.t.Helper()
	var rooms []store.RoomRef
	var refs []store.EndpointRef
	seen := map[string]bool{}
	for _, e := range h.eps {
		if !seen[e.Room] {
			rooms = append(rooms, store.RoomRef{Mailbox: e.Room, Integration: "m365"})
			seen[e.Room] = true
		}
		refs = append(refs, store.EndpointRef{Name: e.Name, Type: "cisco", Room: e.Room})
	}
	require.NoError(h.t, h.st.Write(h.t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		for _, r := range rooms {
			if !h.unsynced[r.Mailbox] {
				if err := markSynced(tx, r.Mailbox); err != nil {
					return err
				}
			}
		}
		return tx.SyncEndpoints(refs)
	}))
}

// markSynced records what a completed calendar sync and the processor's pass over it leave in
// the store: the room's last success and the resolved mark.
func markSynced(tx *store.Tx, room string) error {
	rs, ok, err := tx.Room(room)
	if err != nil || !ok {
		return err
	}
	if rs.LastSuccess.IsZero() {
		rs.Status, rs.LastSuccess = store.RoomOK, tx.Now()
		if err := tx.PutRoom(rs); err != nil {
			return err
		}
	}
	return tx.MarkResolved(room, rs.LastSuccess)
}

// start runs a manager for eps.
func (h *harness) start(eps []Endpoint, tune func(*Options)) {
	h.t.Helper()
	h.run(h.build(eps, tune))
}

// build makes a manager for eps, tuned, without running it.
func (h *harness) build(eps []Endpoint, tune func(*Options)) *Manager {
	h.t.Helper()
	h.idleAt = map[string]int{}
	h.idleCond = sync.NewCond(&h.idleMu)
	opts := Options{
		idle: func(name string, pushes int) {
			h.idleMu.Lock()
			h.idleAt[name] = pushes
			h.idleMu.Unlock()
			h.idleCond.Broadcast()
		},
		Endpoints: eps, Store: h.st, Clock: h.clk, Health: h.health, Location: h.loc,
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WindowPast: time.Hour, WindowDays: 1,
		Debounce: 50 * time.Millisecond, MaxDebounce: 200 * time.Millisecond, RetryMin: 50 * time.Millisecond,
		CertRecheck: 100 * time.Millisecond,
		// The existing tests describe the persistent model; the on-demand ones say so.
		Connection: ConnPersistent,
	}
	if tune != nil {
		tune(&opts)
	}
	m, err := New(opts)
	require.NoError(h.t, err)
	return m
}

func (h *harness) run(m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	h.mgr, h.cancel, h.done = m, cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		assert.NoError(h.t, m.Run(ctx))
	}()
	h.t.Cleanup(h.stop)
}

// stop ends the manager and waits for every goroutine of it.
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
	h.cancel = nil
}

// meetings replaces a room's meetings, as the meeting processor does.
func (h *harness) meetings(room string, ms ...calendar.Meeting) {
	h.t.Helper()
	require.NoError(h.t, h.st.Write(h.t.Context(), func(tx *store.Tx) error {
		_, err := stored.ReplaceMeetings(tx, room, ms)
		return err
	}))
}

const waitLimit = 15 * time.Second

// waitPuts waits until the codec has received at least n Puts and returns them.
func (h *harness) waitPuts(c *ciscosim.Codec, n int) []ciscosim.PutRecord {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for {
		sig := c.PutSignal()
		if puts := c.Puts(); len(puts) >= n {
			return puts
		}
		select {
		case <-sig:
		case <-deadline:
			h.t.Fatalf("codec %s: %d Puts after %s, want %d\n%s", c.Name(), len(c.Puts()), waitLimit, n, h.logs.String())
		}
	}
}

// waitIdle waits until the codec's loop is waiting with at least pushes pushes made (in
// virtual time, the clock may move only then).
// waitTimer waits until a timer due in (lo, hi] from now is armed on the fake clock (a codec
// loop sleeping out a backoff), so advancing the clock cannot race the loop arming it.
func (h *harness) waitTimer(lo, hi time.Duration) {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for {
		created := h.fake.TimerCreated()
		for _, d := range h.fake.Pending() {
			if d > lo && d <= hi {
				return
			}
		}
		select {
		case <-created:
		case <-deadline:
			h.t.Fatalf("no timer due in (%s, %s]; pending: %v", lo, hi, h.fake.Pending())
		}
	}
}

func (h *harness) waitIdle(name string, pushes int) {
	h.t.Helper()
	done := make(chan struct{})
	go func() {
		h.idleMu.Lock()
		for h.idleAt[name] < pushes {
			h.idleCond.Wait()
		}
		h.idleMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		h.idleMu.Lock()
		h.idleAt[name] = 1 << 30 // release the waiter
		h.idleMu.Unlock()
		h.idleCond.Broadcast()
		h.t.Fatalf("codec %s not idle with %d pushes within %s\n%s", name, pushes, waitLimit, h.logs.String())
	}
}

// waitEndpoint waits until the endpoint row satisfies ok (signalled by the store's endpoint
// change notices).
func (h *harness) waitEndpoint(name string, ok func(store.EndpointState) bool) store.EndpointState {
	h.t.Helper()
	sub := h.st.Subscribe(store.TopicEndpoints)
	defer sub.Close()
	deadline := time.After(waitLimit)
	for {
		e, found, err := h.st.Endpoint(context.Background(), name)
		require.NoError(h.t, err)
		if found && ok(e) {
			return e
		}
		select {
		case <-sub.C:
			sub.Take()
		case <-deadline:
			h.t.Fatalf("endpoint %s: condition not met within %s; last state %s: %s\n%s", name, waitLimit, e.State, e.Detail, h.logs.String())
		}
	}
}

func stateIs(state string) func(store.EndpointState) bool {
	return func(e store.EndpointState) bool { return e.State == state }
}

// waitEvent waits for an event of kind for the endpoint (signalled by the outbox) and returns
// it.
func (h *harness) waitEvent(endpoint, kind string) store.LoggedEvent {
	h.t.Helper()
	sub := h.st.Subscribe(store.TopicOutbox)
	defer sub.Close()
	deadline := time.After(waitLimit)
	for {
		if evs := h.events(endpoint, kind); len(evs) > 0 {
			return evs[0]
		}
		select {
		case <-sub.C:
			sub.Take()
		case <-deadline:
			h.t.Fatalf("no %s event for %s within %s\n%s", kind, endpoint, waitLimit, h.logs.String())
		}
	}
}

// events lists an endpoint's events of a kind, newest first.
func (h *harness) events(endpoint, kind string) []store.LoggedEvent {
	h.t.Helper()
	all, err := h.st.RecentEvents(context.Background(), 1000)
	require.NoError(h.t, err)
	var out []store.LoggedEvent
	for _, e := range all {
		if e.Endpoint == endpoint && e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func ids(bs []ciscosim.Booking) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Id
	}
	return out
}

func byID(bs []ciscosim.Booking) map[string]ciscosim.Booking {
	m := map[string]ciscosim.Booking{}
	for _, b := range bs {
		m[b.Id] = b
	}
	return m
}

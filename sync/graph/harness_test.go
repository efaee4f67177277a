package graph

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/exchange"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// t0 is a Monday morning; the default window is [Sunday 00:00, Tuesday a week later 00:00).
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// harness is graphsim over TLS on loopback, a temporary store and a fake clock shared by the
// syncer and the simulator (token expiry, rate windows, Retry-After): tests move time, never
// sleep.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	sim    *graphsim.Server
	st     *store.Store
	dbPath string
	health *health.Tracker
	in     Integration
	rooms  []RoomSpec
}

func newHarness(t *testing.T, opts graphsim.Options, mailboxes ...string) *harness {
	t.Helper()
	return newHarnessAt(t, t0, opts, mailboxes...)
}

// newHarnessAt is newHarness with the fake clock starting at start: tests whose client signs
// with the real time (certificate assertions) start it at the real time.
func newHarnessAt(t *testing.T, start time.Time, opts graphsim.Options, mailboxes ...string) *harness {
	t.Helper()
	clk := clock.NewFake(start)
	opts.Now = clk.Now
	sim, err := graphsim.New(opts)
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, sim.CA().WriteFile(caFile))
	h := &harness{t: t, clk: clk, sim: sim, dbPath: filepath.Join(dir, "otj-edge.db"), health: health.New(clk.Now)}
	h.openStore()
	h.in = Integration{Name: "m365", ClientID: sim.ClientID(),
		ClientSecret: secret.New(sim.ClientSecret()), TokenURL: sim.TokenURL(), GraphURL: sim.GraphURL(),
		MaxRequestsPerDay: DefaultMaxRequestsPerDay, MaxInFlight: DefaultMaxInFlight, CAFile: caFile,
		// The polling tests count polls and their intervals; the change probe's tests turn it
		// on (probe_test.go), as the config's default auto does for app-only integrations.
		Probe: ProbeSettings{Mode: graphconf.ProbeOff}}
	for _, m := range mailboxes {
		h.rooms = append(h.rooms, RoomSpec{Mailbox: m, UpcomingDays: 7})
	}
	return h
}

func (h *harness) openStore() {
	st, err := store.Open(context.Background(), h.dbPath, store.Options{Now: h.clk.Now})
	require.NoError(h.t, err)
	h.st = st
	h.t.Cleanup(func() { st.Close() })
}

// start runs a syncer until the returned stop is called (or the test ends).
func (h *harness) start(tune Tuning, mods ...func(*Options)) (*Syncer, func()) {
	h.t.Helper()
	if tune.Seed == 0 {
		tune.Seed = 1
	}
	if tune.Linger == 0 {
		// Most tests move the clock to a poll's due time and wait for the poll: they expect
		// it sent then. The linger's own tests ask for it (dispatch_test.go).
		tune.Linger = -1
	}
	opts := Options{Integration: h.in, Rooms: h.rooms, Store: h.st, Clock: h.clk, Health: h.health, Tuning: tune,
		Logger: slog.New(slog.NewTextHandler(h.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, m := range mods {
		m(&opts)
	}
	s, err := New(opts)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(h.t, err)
			case <-time.After(30 * time.Second):
				h.t.Fatal("Run did not return after its context ended")
			}
		})
	}
	h.t.Cleanup(stop)
	return s, stop
}

// waitFor waits until cond holds, woken by the store's change notices (every sync step writes).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	rooms, events := h.st.Subscribe(store.TopicRooms), h.st.Subscribe(store.TopicEvents)
	defer rooms.Close()
	defer events.Close()
	// Health is set after the store writes it follows: a condition on it needs its own wake-up.
	healthChanged, unsubscribe := h.health.Subscribe()
	defer unsubscribe()
	deadline := time.NewTimer(30 * time.Second) // a failure guard, not a wait
	defer deadline.Stop()
	for !cond() {
		select {
		case <-rooms.C:
		case <-events.C:
		case <-healthChanged:
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// synced reports whether every given room finished a round and is ok.
func (h *harness) synced(mailboxes ...string) func() bool {
	return func() bool {
		for _, m := range mailboxes {
			r, ok, err := h.st.Room(context.Background(), m)
			if err != nil || !ok || r.Status != store.RoomOK {
				return false
			}
			if c, err := h.st.Cursor(context.Background(), m, h.in.Name); err != nil || c == "" {
				return false
			}
		}
		return true
	}
}

func (h *harness) room(m string) store.RoomState {
	r, ok, err := h.st.Room(context.Background(), m)
	require.NoError(h.t, err)
	require.True(h.t, ok, "room %s in the store", m)
	return r
}

// cursor is where the room's sync is, as the store holds it.
func (h *harness) cursor(m string) cursor {
	h.t.Helper()
	c, err := h.st.Cursor(context.Background(), m, h.in.Name)
	require.NoError(h.t, err)
	cur, err := decodeCursor(c)
	require.NoError(h.t, err)
	return cur
}

// putCursor stores where the room's sync is (what an earlier run left).
func (h *harness) putCursor(m string, c cursor) {
	h.t.Helper()
	require.NoError(h.t, h.st.Write(context.Background(), func(tx *store.Tx) error { return tx.PutCursor(m, h.in.Name, c.encode()) }))
}

func (h *harness) status(m string) func() string {
	return func() string {
		r, _, _ := h.st.Room(context.Background(), m)
		return r.Status
	}
}

// diagnose does for each room what the agent does once the processor has resolved it
// (agent/diagnose.go): the calendar processing diagnosis from its stored events.
func (h *harness) diagnose(mailboxes ...string) {
	h.t.Helper()
	for _, m := range mailboxes {
		evs, err := stored.Events(context.Background(), h.st, m)
		require.NoError(h.t, err)
		_, err = exchange.Save(context.Background(), h.st, h.room(m), true, evs)
		require.NoError(h.t, err)
	}
}

// events is the room's stored events by id.
func (h *harness) events(m string) map[string]calendar.Event {
	evs, err := stored.Events(context.Background(), h.st, m)
	require.NoError(h.t, err)
	out := map[string]calendar.Event{}
	for _, ev := range evs {
		out[ev.ID] = ev
	}
	return out
}

func (h *harness) addRoom(m string, p graphsim.Processing) {
	require.NoError(h.t, h.sim.AddRoom(graphsim.Room{Mailbox: m, Processing: &p}))
}

func (h *harness) post(m string, ev map[string]any) string {
	id, err := h.sim.PostEvent(m, ev)
	require.NoError(h.t, err)
	return id
}

// advance moves time in steps, letting due rooms run between them (each step waits until the
// syncer has nothing due, observed through its Quiet report).
func (h *harness) advance(s *Syncer, d, step time.Duration) {
	h.t.Helper()
	for end := h.clk.Now().Add(d); h.clk.Now().Before(end); {
		h.clk.Advance(min(step, end.Sub(h.clk.Now())))
		h.settle(s)
	}
}

// settle waits until the syncer is quiet at the current fake time, woken by its progress
// signal.
func (h *harness) settle(s *Syncer) {
	h.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !s.Quiet() {
		select {
		case <-s.Progress():
		case <-deadline.C:
			h.t.Fatal("the syncer did not settle")
		}
	}
}

// stats is graphsim's counters for a mailbox.
func (h *harness) stats(m string) graphsim.MailboxStats { return h.sim.MailboxStats(m) }

func invite(subject string, start time.Time, d time.Duration) map[string]any {
	return map[string]any{
		"subject": subject,
		"body": map[string]any{"contentType": "html", "content": "<html><body><p>Agenda for " + subject +
			"</p><p>Join: <a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0\">Join the meeting now</a></p></body></html>"},
		"start":           map[string]any{"dateTime": start.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":             map[string]any{"dateTime": start.Add(d).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer":       map[string]any{"emailAddress": map[string]any{"name": "Alice Berg", "address": "alice.berg@contoso.example"}},
		"isOnlineMeeting": true,
		"onlineMeeting":   map[string]any{"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0"},
	}
}

// instanceAt finds the id of a series' occurrence (or exception) starting at t.
func (h *harness) instanceAt(m, master string, at time.Time) string {
	insts, err := h.sim.Instances(m, master, at.Add(-time.Minute), at.Add(time.Minute))
	require.NoError(h.t, err)
	require.Len(h.t, insts, 1, "one instance of %s at %s", master, at)
	return insts[0]["id"].(string)
}

// recentEvents lists the event log's entries of a kind.
func (h *harness) recentEvents(kind string) []store.LoggedEvent {
	all, err := h.st.RecentEvents(context.Background(), 1000)
	require.NoError(h.t, err)
	var out []store.LoggedEvent
	for _, e := range all {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func roomName(i int) string { return fmt.Sprintf("room-%02d@contoso.example", i) }

func configSecret(v string) secret.Secret { return secret.New(v) }

package ews

import (
	"context"
	"encoding/base64"
	"encoding/binary"
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
	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/source"
)

// simHarness is graphsim (the calendars) with ewssim in front of it, both over TLS on
// loopback, a temporary store and a fake clock shared by the syncer and the simulators (fault
// durations, the window, back-offs): tests move time, never sleep. The syncer is built from
// the integration as production builds it (CA file, NTLM negotiator, impersonation headers).
type simHarness struct {
	t      *testing.T
	clk    *clock.Fake
	gs     *graphsim.Server
	es     *ewssim.Server
	st     *store.Store
	dbPath string
	caFile string
	health *health.Tracker
	in     Integration
	rooms  []source.Room
}

// newSimHarness starts graphsim and ewssim (opts.Calendar is filled in) for the mailboxes,
// each a room with the recommended processing settings.
func newSimHarness(t *testing.T, opts ewssim.Options, mailboxes ...string) *simHarness {
	t.Helper()
	clk := clock.NewFake(t0)
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, gs.Start())
	t.Cleanup(gs.Close)
	opts.Calendar = gs
	es, err := ewssim.New(opts)
	require.NoError(t, err)
	require.NoError(t, es.Start())
	t.Cleanup(es.Close)
	dir := t.TempDir()
	h := &simHarness{t: t, clk: clk, gs: gs, es: es, dbPath: filepath.Join(dir, "otj-edge.db"), caFile: filepath.Join(dir, "ca.pem"),
		health: health.New(clk.Now)}
	require.NoError(t, es.CA().WriteFile(h.caFile))
	h.st = h.openStore(h.dbPath)
	h.in = Integration{Name: "onprem", URL: es.EWSURL(), Username: es.Domain() + `\` + ewssim.DefaultUser,
		Password: secret.New(ewssim.DefaultPassword), CAFile: h.caFile}
	for _, m := range mailboxes {
		p := graphsim.Recommended()
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: m, Processing: &p}))
		h.rooms = append(h.rooms, source.Room{Mailbox: m, UpcomingDays: 7})
	}
	return h
}

func (h *simHarness) openStore(path string) *store.Store {
	st, err := store.Open(context.Background(), path, store.Options{Now: h.clk.Now})
	require.NoError(h.t, err)
	h.t.Cleanup(func() { st.Close() })
	return st
}

// start runs a syncer until the returned stop is called (or the test ends).
func (h *simHarness) start(tune Tuning, mods ...func(*Options)) (*Syncer, func()) {
	h.t.Helper()
	if tune.Seed == 0 {
		tune.Seed = 1
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

// waitFor waits until cond holds, woken by the store's change notices and health changes.
func (h *simHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	rooms, events := h.st.Subscribe(store.TopicRooms), h.st.Subscribe(store.TopicEvents)
	defer rooms.Close()
	defer events.Close()
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
func (h *simHarness) synced(mailboxes ...string) func() bool {
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

func (h *simHarness) room(m string) store.RoomState {
	r, ok, err := h.st.Room(context.Background(), m)
	require.NoError(h.t, err)
	require.True(h.t, ok, "room %s in the store", m)
	return r
}

func (h *simHarness) status(m string) string {
	r, _, _ := h.st.Room(context.Background(), m)
	return r.Status
}

// cursor is where the room's sync is, as the store holds it.
func (h *simHarness) cursor(m string) cursor {
	h.t.Helper()
	c, err := h.st.Cursor(context.Background(), m, h.in.Name)
	require.NoError(h.t, err)
	cur, err := decodeCursor(c)
	require.NoError(h.t, err)
	return cur
}

// events is the room's stored events by graphsim id (EWS ItemIds carry it, simulators/ewssim
// ids.go), so tests name events as they created them.
func (h *simHarness) events(m string) map[string]calendar.Event {
	evs, err := stored.Events(context.Background(), h.st, m)
	require.NoError(h.t, err)
	out := map[string]calendar.Event{}
	for _, ev := range evs {
		out[graphsimID(h.t, ev.ID)] = ev
	}
	return out
}

// graphsimID reads the graphsim id inside an ewssim ItemId (0x00 0x00, u16 mailbox length,
// mailbox, 0x01, graphsim id: ewssim's documented format).
func graphsimID(t *testing.T, id string) string {
	b, err := base64.StdEncoding.DecodeString(id)
	require.NoError(t, err, "ItemId %q", id)
	require.GreaterOrEqual(t, len(b), 5)
	n := int(binary.LittleEndian.Uint16(b[2:]))
	require.Greater(t, len(b), 5+n)
	return string(b[5+n:])
}

func (h *simHarness) post(m string, ev map[string]any) string {
	id, err := h.gs.PostEvent(m, ev)
	require.NoError(h.t, err)
	return id
}

// instanceAt finds the graphsim id of a series' occurrence (or exception) starting at t.
func (h *simHarness) instanceAt(m, master string, at time.Time) string {
	insts, err := h.gs.Instances(m, master, at.Add(-time.Minute), at.Add(time.Minute))
	require.NoError(h.t, err)
	require.Len(h.t, insts, 1, "one instance of %s at %s", master, at)
	return insts[0]["id"].(string)
}

// advance moves time in steps, letting due rooms run between them.
func (h *simHarness) advance(s *Syncer, d, step time.Duration) {
	h.t.Helper()
	for end := h.clk.Now().Add(d); h.clk.Now().Before(end); {
		h.clk.Advance(min(step, end.Sub(h.clk.Now())))
		h.settle(s)
	}
}

// settle waits until the syncer is quiet at the current fake time, woken by its progress.
func (h *simHarness) settle(s *Syncer) {
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

// ops is ewssim's per-operation request count for a mailbox.
func (h *simHarness) ops(m string) map[string]int { return h.es.MailboxStats(m).ByOperation }

// recentEvents lists the event log's entries of a kind.
func (h *simHarness) recentEvents(kind string) []store.LoggedEvent {
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

func (h *simHarness) healthItem() health.Item {
	for _, it := range h.health.Snapshot() {
		if it.Component == "ews/"+h.in.Name {
			return it
		}
	}
	return health.Item{}
}

func simRoom(i int) string { return fmt.Sprintf("room-%02d@contoso.example", i) }

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

// weekdays is a recurrence on every weekday, from the week before t0 to the end of the year.
func weekdays() map[string]any {
	return map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday", "tuesday", "wednesday", "thursday", "friday"}},
		"range":   map[string]any{"type": "endDate", "startDate": "2026-11-16", "endDate": "2026-12-31"},
	}
}

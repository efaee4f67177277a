package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/source"
)

// A calendar source that exists only in tests: type "fake". It plugs in through the same two
// tables as the Graph source (config.RegisterIntegrationType for its keys, registerSource for
// building and checking it) and through nothing else: no line outside this file names it. That
// an agent configured with it syncs rooms, pushes their meetings to codecs, answers `sync` and
// `check` and reports its stats (the tests at the end of this file) is the proof the seam is real.

const fakeType = "fake"

func init() {
	config.RegisterIntegrationType(fakeType, func() config.IntegrationSettings { return &fakeSettings{} })
	registerSource(fakeType, sourceType{build: buildFake, check: checkFake})
}

// fakeSettings are the fake's own keys.
type fakeSettings struct {
	// Calendar names the in-memory calendar service (fakeCalendars) the source reads.
	Calendar string `yaml:"calendar"`
	// Token is what the source signs in with; the calendar refuses any other.
	Token     config.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	// MaxRequestsPerDay is its budget; default 1000.
	MaxRequestsPerDay int `yaml:"max_requests_per_day"`
}

func (s *fakeSettings) Check(c *config.IntegrationCheck) {
	if s.Calendar == "" {
		c.Errorf("calendar", "calendar is required (the in-memory calendar the test made)")
	}
	c.Secret(&s.Token, s.TokenFile, "token", true)
	if !c.Has("max_requests_per_day") {
		s.MaxRequestsPerDay = 1000
	} else if s.MaxRequestsPerDay < 100 {
		c.Errorf("max_requests_per_day", "max_requests_per_day %d is below 100", s.MaxRequestsPerDay)
	}
}

// fakeCalendars are the calendar services tests made, by name.
var fakeCalendars sync.Map // string → *fakeCalendar

// fakeCalendar is a calendar service in memory: the test edits its rooms' events, the source
// reads them, and every read is recorded.
type fakeCalendar struct {
	mu      sync.Mutex
	token   string
	events  map[string][]calendar.Event // by room
	version map[string]int              // bumped by every edit of a room
	reads   []fakeRead
	read    chan struct{} // closed at the next read
}

type fakeRead struct {
	Room string
	Full bool
}

func newFakeCalendar(name, token string) *fakeCalendar {
	c := &fakeCalendar{token: token, events: map[string][]calendar.Event{}, version: map[string]int{}, read: make(chan struct{})}
	fakeCalendars.Store(name, c)
	return c
}

// put replaces a room's events.
func (c *fakeCalendar) put(room string, evs ...calendar.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[room] = evs
	c.version[room]++
}

// fetch is the service's one call: a room's events when they changed since the version the
// caller has (-1: a full read), and the room's version now.
func (c *fakeCalendar) fetch(token, room string, since int) (evs []calendar.Event, version int, changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads = append(c.reads, fakeRead{Room: room, Full: since < 0})
	close(c.read)
	c.read = make(chan struct{})
	if token != c.token {
		return nil, 0, false, errors.New("the calendar refused the token")
	}
	v, ok := c.version[room]
	if !ok {
		return nil, 0, false, errNoFakeRoom
	}
	if v == since {
		return nil, v, false, nil
	}
	return append([]calendar.Event(nil), c.events[room]...), v, true, nil
}

var errNoFakeRoom = errors.New("the calendar has no such room")

// readsSince returns the reads after the first n, and a channel closed at the next read.
func (c *fakeCalendar) readsSince(n int) ([]fakeRead, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]fakeRead(nil), c.reads[min(n, len(c.reads)):]...), c.read
}

// fakeSource syncs its rooms from a fakeCalendar when asked (it does not poll: every read is
// one the test caused).
type fakeSource struct {
	name   string
	cal    *fakeCalendar
	token  string
	budget int64
	rooms  []string
	deps   source.Deps
	wake   chan struct{}

	mu     sync.Mutex
	queued map[string]bool // room → full
	cursor map[string]int  // room → the calendar version stored
	status map[string]string
	used   int64
}

func buildFake(in *config.Integration, rooms []source.Room, d source.Deps) (source.Source, error) {
	s := in.Settings.(*fakeSettings)
	c, ok := fakeCalendars.Load(s.Calendar)
	if !ok {
		return nil, fmt.Errorf("fake integration %q: no calendar %q", in.Name, s.Calendar)
	}
	f := &fakeSource{name: in.Name, cal: c.(*fakeCalendar), token: s.Token.Value(), budget: int64(s.MaxRequestsPerDay), deps: d,
		wake: make(chan struct{}, 1), queued: map[string]bool{}, cursor: map[string]int{}, status: map[string]string{}}
	for _, r := range rooms {
		f.rooms = append(f.rooms, r.Mailbox)
		f.status[r.Mailbox] = source.StatusPending
	}
	return f, nil
}

func (f *fakeSource) component() string { return source.Component(fakeType, f.name) }

func (f *fakeSource) Run(ctx context.Context) error {
	if err := f.SyncNow("", false); err != nil {
		return err
	}
	for {
		f.mu.Lock()
		due := f.queued
		f.queued = map[string]bool{}
		f.mu.Unlock()
		rooms := make([]string, 0, len(due))
		for r := range due {
			rooms = append(rooms, r)
		}
		sort.Strings(rooms)
		for _, r := range rooms {
			if err := f.sync(ctx, r, due[r]); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		f.deps.Health.OK(f.component(), fmt.Sprintf("%d rooms in sync", len(f.rooms)))
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		}
	}
}

func (f *fakeSource) SyncNow(room string, full bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	targets := f.rooms
	if room != "" {
		targets = nil
		for _, r := range f.rooms {
			if r == room {
				targets = []string{r}
			}
		}
		if targets == nil {
			return fmt.Errorf("room %s is not synced by integration %q", room, f.name)
		}
	}
	for _, r := range targets {
		f.queued[r] = f.queued[r] || full
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

// sync reads one room and writes what changed, with the room's status, in one transaction.
func (f *fakeSource) sync(ctx context.Context, room string, full bool) error {
	f.mu.Lock()
	since, ok := f.cursor[room]
	f.mu.Unlock()
	if full || !ok {
		since = -1
	}
	evs, version, changed, err := f.cal.fetch(f.token, room, since)
	now := f.deps.Clock.Now()
	st := store.RoomState{Mailbox: room, Integration: f.name, Status: source.StatusOK, LastAttempt: now, LastSuccess: now}
	switch {
	case errors.Is(err, errNoFakeRoom):
		st.Status, st.StatusDetail, st.LastSuccess = source.StatusNotFound, err.Error(), time.Time{}
	case err != nil:
		st.Status, st.StatusDetail, st.LastSuccess = source.StatusAuthFailed, err.Error(), time.Time{}
	}
	werr := f.deps.Store.Write(ctx, func(tx *store.Tx) error {
		if changed {
			if err := tx.ClearEvents(room); err != nil {
				return err
			}
			for _, ev := range evs {
				if err := stored.PutEvent(tx, room, ev, nil); err != nil {
					return err
				}
			}
		}
		return tx.PutRoom(st)
	})
	if werr != nil {
		return fmt.Errorf("fake integration %q: %w", f.name, werr)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used++
	f.status[room] = st.Status
	if err == nil {
		f.cursor[room] = version
	}
	return nil
}

func (f *fakeSource) Stats() source.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := source.Stats{Integration: f.name, Type: fakeType, Budget: f.budget, UsedToday: f.used, ProjectedToday: f.used,
		Projected24h: f.used, Rooms: map[string]int{}, Synced: len(f.cursor)}
	for _, s := range f.status {
		st.Rooms[s]++
	}
	return st
}

// checkFake reads each room once, as `otj-edge check` does for every source.
func checkFake(_ context.Context, in *config.Integration, rooms []source.Room) source.CheckResult {
	s := in.Settings.(*fakeSettings)
	prefix := source.Component(fakeType, in.Name)
	v, ok := fakeCalendars.Load(s.Calendar)
	if !ok {
		return source.CheckResult{Lines: []string{prefix + ": FAILED: no calendar " + s.Calendar}, Failed: 1}
	}
	var res source.CheckResult
	for _, r := range rooms {
		evs, _, _, err := v.(*fakeCalendar).fetch(s.Token.Value(), r.Mailbox, -1)
		if err != nil {
			res.Lines = append(res.Lines, fmt.Sprintf("%s: %s: FAILED: %v", prefix, r.Mailbox, err))
			res.Failed++
			continue
		}
		res.Lines = append(res.Lines, fmt.Sprintf("%s: %s: ok, readable (%d meetings)", prefix, r.Mailbox, len(evs)))
	}
	return res
}

// fakeMeeting is a single meeting with a SIP address in its body.
func fakeMeeting(id, subject string, start time.Time, sip string) calendar.Event {
	return calendar.Event{ID: id, ICalUID: "uid-" + id, Type: calendar.TypeSingleInstance, Subject: subject,
		Body:  &calendar.ItemBody{ContentType: "html", Content: "<p>Join: " + sip + "</p>"},
		Start: calendar.FromTime(start), End: calendar.FromTime(start.Add(30 * time.Minute)), ShowAs: "busy",
		Organizer: &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Ada Berg", Address: "ada@example.com"}}}
}

// fakeSite is a config with one fake integration (calendar-a, reading calendar cal with token)
// and a Cisco codec in each of rooms.
func fakeSite(t *testing.T, cal, token string, codecs map[string]*ciscosim.Codec) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "site: test\nstate_dir: state\nstatus:\n  listen: \"off\"\nintegrations:\n  - name: calendar-a\n    type: fake\n"+
		"    calendar: %s\n    token: %s\nprofiles:\n  - name: default\nendpoints:\n", cal, token)
	rooms := make([]string, 0, len(codecs))
	for r := range codecs {
		rooms = append(rooms, r)
	}
	sort.Strings(rooms)
	for i, r := range rooms {
		fmt.Fprintf(&b, "  - name: codec-%d\n    type: cisco\n    room: %s\n    address: %s\n    username: otj\n    password: %s\n",
			i+1, r, codecs[r].URL(), codecPassword)
	}
	return writeTestConfig(t, "", b.String())
}

// waitTitle waits until the codec holds exactly one booking, with title.
func waitTitle(t *testing.T, codec *ciscosim.Codec, logs *syncBuffer, title string) ciscosim.Booking {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		sig := codec.PutSignal()
		if b := codec.Bookings(); len(b) == 1 && b[0].Title == title {
			return b[0]
		}
		select {
		case <-sig:
		case <-deadline:
			t.Fatalf("%s: no booking %q; it has %+v\n%s", codec.Name(), title, codec.Bookings(), logs)
		}
	}
}

// waitReads waits until the calendar has seen want reads after the first n.
func waitReads(t *testing.T, cal *fakeCalendar, n, want int) []fakeRead {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		reads, next := cal.readsSince(n)
		if len(reads) >= want {
			return reads
		}
		select {
		case <-next:
		case <-deadline:
			t.Fatalf("%d of %d reads: %+v", len(reads), want, reads)
		}
	}
}

// TestAFakeSourcePlugsInThroughTheTables: an agent configured with `type: fake` runs the fake
// source as its calendar sync: the rooms' meetings reach their codecs; `sync` of one room is
// an incremental read of that room alone and brings an edit to its codec, `sync` of every room
// in full reads each in full; the status words, the health component, the stats (with the
// source's type) and `check` all come from the fake, and its token is scrubbed like any secret.
func TestAFakeSourcePlugsInThroughTheTables(t *testing.T) {
	const token = "fake-token-value-789"
	fleet := simFleet(t)
	room1, room2 := "room-1@example.com", "room-2@example.com"
	codec1, codec2 := addSimCodec(t, fleet, "codec-1", ciscosim.CodecConfig{}), addSimCodec(t, fleet, "codec-2", ciscosim.CodecConfig{})
	cal := newFakeCalendar(t.Name(), token)
	start := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	cal.put(room1, fakeMeeting("m1", "Standup", start, "sip:4455@vmr.example.com"))
	cal.put(room2, fakeMeeting("m2", "Review", start, "sip:7788@vmr.example.com"))
	cfg, err := loadConfig(fakeSite(t, t.Name(), token, map[string]*ciscosim.Codec{room1: codec1, room2: codec2}), IO{Env: os.LookupEnv})
	require.NoError(t, err)
	a, logs := runTestAgent(t, cfg)

	b := waitTitle(t, codec1, logs, "Standup")
	assert.Equal(t, "4455@vmr.example.com", b.Number)
	waitTitle(t, codec2, logs, "Review")
	assert.ElementsMatch(t, []fakeRead{{room1, true}, {room2, true}}, waitReads(t, cal, 0, 2), "each room read once, in full: it had no cursor")
	rs, ok, err := a.store.Room(t.Context(), room1)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.RoomOK, rs.Status)
	assert.Equal(t, "calendar-a", rs.Integration)
	var component string
	for _, it := range a.Health().Snapshot() {
		if it.Component == "fake/calendar-a" {
			component = string(it.Level) + ": " + it.Message
		}
	}
	assert.Equal(t, "ok: 2 rooms in sync", component)
	assert.Equal(t, []web.SourceStats{{Type: "fake", Name: "calendar-a", RequestsToday: 2, Budget: 1000, Projected24h: 2}}, a.webSourceStats())
	ms := a.metrics()["sources"].([]telemetry.SourceMetrics)
	require.Len(t, ms, 1)
	assert.Equal(t, "fake", ms[0].Type)
	assert.Equal(t, "calendar-a", ms[0].Name)
	st := ms[0].Stats.(source.Stats)
	assert.Equal(t, "fake", st.Type)
	assert.Equal(t, map[string]int{store.RoomOK: 2}, st.Rooms)

	// An edit, and `sync` of its room: one incremental read of that room, and the codec has it.
	cal.put(room1, fakeMeeting("m1", "Standup moved", start.Add(30*time.Minute), "sip:4455@vmr.example.com"))
	require.NoError(t, a.Sync(t.Context(), room1, false))
	waitTitle(t, codec1, logs, "Standup moved")
	assert.Equal(t, []fakeRead{{room1, false}}, waitReads(t, cal, 2, 1))

	// `sync` of every room, in full.
	require.NoError(t, a.Sync(t.Context(), "", true))
	assert.ElementsMatch(t, []fakeRead{{room1, true}, {room2, true}}, waitReads(t, cal, 3, 2))
	assert.ErrorIs(t, a.Sync(t.Context(), "nowhere@example.com", false), web.ErrNotFound)

	// `check` runs the fake's own check, one line per room.
	var out bytes.Buffer
	assert.Zero(t, checkIntegrations(t.Context(), cfg, &out))
	assert.Equal(t, "fake/calendar-a: room-1@example.com: ok, readable (1 meetings)\nfake/calendar-a: room-2@example.com: ok, readable (1 meetings)\n", out.String())

	assert.Contains(t, SecretsOf(cfg), token, "the scrubber knows the new source's secret")
	assert.NotContains(t, logs.String(), token)
}

// TestAFakeIntegrationOwnsItsKeys: the fake's keys are decoded and checked by its own settings
// with the loader's strictness (FILE:LINE, every problem at once, suggestions, secrets), an
// unknown type lists the fake among the known ones, a change of its token restarts its part
// and no other, and `check` reports a refused token as the fake says it.
func TestAFakeIntegrationOwnsItsKeys(t *testing.T) {
	path := writeTestConfig(t, "", `site: test
integrations:
  - name: calendar-a
    type: fake
    tokn: x
    max_requests_per_day: 10
  - name: calendar-b
    type: fak
profiles:
  - name: default
    integration: calendar-a
`)
	_, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.Error(t, err)
	assert.Equal(t, path+`:3: integration "calendar-a": calendar is required (the in-memory calendar the test made)
`+path+`:3: integration "calendar-a": token (or token_file) is required
`+path+`:5: unknown key "tokn" in integrations (did you mean "token"?)
`+path+`:6: integration "calendar-a": max_requests_per_day 10 is below 100
`+path+`:8: integration "calendar-b": type "fak" is not supported (ews, fake, google, graph)`, err.Error())

	fleet := simFleet(t)
	codecs := map[string]*ciscosim.Codec{"room-1@example.com": addSimCodec(t, fleet, "codec-1", ciscosim.CodecConfig{})}
	newFakeCalendar(t.Name(), "the-right-token-123")
	keys := func(token string) map[string]string {
		cfg, err := loadConfig(fakeSite(t, t.Name(), token, codecs), IO{Env: os.LookupEnv})
		require.NoError(t, err)
		out := map[string]string{}
		for _, sp := range (&Agent{sources: map[string]source.Source{}}).partSpecs(cfg) {
			out[sp.name] = sp.key
		}
		return out
	}
	before, after := keys("the-right-token-123"), keys("a-wrong-token-456")
	require.Contains(t, before, "fake/calendar-a", "the fake's part is named by its component")
	var restarted []string
	for name := range before {
		if before[name] != after[name] {
			restarted = append(restarted, name)
		}
	}
	assert.Equal(t, []string{"fake/calendar-a"}, restarted)

	cfg, err := loadConfig(fakeSite(t, t.Name(), "a-wrong-token-456", codecs), IO{Env: os.LookupEnv})
	require.NoError(t, err)
	var out bytes.Buffer
	assert.Equal(t, 1, checkIntegrations(t.Context(), cfg, &out))
	assert.Equal(t, "fake/calendar-a: room-1@example.com: FAILED: the calendar refused the token\n", out.String())
}

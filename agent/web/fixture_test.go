package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the fixture's site is in Europe/Oslo

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The fixture's configured secrets: no page or API answer may contain any of them.
var fixtureSecrets = []string{
	"graph-client-secret-value-123",
	"mqtt-secret-password-777",
	"codec-a-secret-pass",
	"codec-c-secret-pass",
	"poly-b-calendar-secret",
	"status-page-password-999",
}

const fixtureConfig = `site: oslo-hq
state_dir: state
status:
  listen: 127.0.0.1:8787
mqtt:
  broker: tcp://127.0.0.1:1883
  username: oslo-hq
  password: mqtt-secret-password-777
integrations:
  - name: m365
    type: graph
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: graph-client-secret-value-123
    token_url: https://login.microsoftonline.com/contoso/oauth2/v2.0/token
profiles:
  - name: default
  - name: strict
    private_meetings: ignore
endpoints:
  - name: codec-a
    type: cisco
    room: room-a@example.com
    profile: default
    address: 127.0.0.1:1
    username: admin
    password: codec-a-secret-pass
  - name: poly-b
    type: poly
    room: room-b@example.com
    profile: default
    calendar_username: poly-b
    calendar_password: poly-b-calendar-secret
  - name: codec-c
    type: cisco
    room: room-c@example.com
    profile: strict
    address: 127.0.0.1:2
    username: admin
    password: codec-c-secret-pass
`

// fixtureNow is Tuesday 10 March 2026, 10:00 in Oslo (09:00 UTC).
var (
	oslo       = mustLoc("Europe/Oslo")
	fixtureNow = time.Date(2026, 3, 10, 10, 0, 0, 0, oslo)
)

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a time on the fixture's day (Oslo), h hours and m minutes after midnight.
func at(h, m int) time.Time {
	return time.Date(2026, 3, 10, 0, 0, 0, 0, oslo).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// fakeAgent stands in for the running agent (an internal seam): it records the actions it is
// asked to do. Its rules test does not implement the rules (sync/rules does): it reports the
// first sip: address in the event, so the tests check the bench's plumbing from the pasted
// invite to the page.
type fakeAgent struct {
	mu      sync.Mutex
	cfg     *config.Config
	started time.Time
	sources []SourceStats
	mqtt    MQTTState
	syncs   []string
	pushes  []string
	retries []string
	// retryResult is what Retry answers.
	retryResult EndpointResult
	reloads     int
	reloadErr   error
	onSync      func(room string, full bool)
	rulesSeen   []calendar.Event
}

func (f *fakeAgent) Config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}
func (f *fakeAgent) Started() time.Time         { return f.started }
func (f *fakeAgent) Version() string            { return "1.2.3-test" }
func (f *fakeAgent) SourceStats() []SourceStats { return f.sources }
func (f *fakeAgent) MQTT() MQTTState            { return f.mqtt }

var sipRE = regexp.MustCompile(`sip:([^\s"<>]+)`)

func (f *fakeAgent) RulesTest(_ context.Context, profile string, ev calendar.Event) (RulesResult, error) {
	f.mu.Lock()
	f.rulesSeen = append(f.rulesSeen, ev)
	f.mu.Unlock()
	if m := sipRE.FindStringSubmatch(ev.BodyText() + "\n" + ev.LocationText()); m != nil {
		return RulesResult{Rule: "fallback", Platform: calendar.PlatformOther, Protocol: calendar.ProtocolSIP,
			Number: m[1], Join: true, Subject: ev.Subject}, nil
	}
	return RulesResult{Subject: ev.Subject, Reason: "no rule matched and no sip:/h323: address (profile " + profile + ")"}, nil
}

func (f *fakeAgent) Sync(_ context.Context, room string, full bool) error {
	f.mu.Lock()
	f.syncs = append(f.syncs, fmt.Sprintf("%s full=%v", room, full))
	on := f.onSync
	f.mu.Unlock()
	if on != nil {
		on(room, full)
	}
	return nil
}

func (f *fakeAgent) Push(_ context.Context, endpoint string) ([]EndpointResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, endpoint)
	return []EndpointResult{{Endpoint: cmp(endpoint, "codec-a"), Outcome: PushPushed, Bookings: 2, State: "up", Connected: true}}, nil
}

func (f *fakeAgent) Retry(_ context.Context, endpoint string) (EndpointResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retries = append(f.retries, endpoint)
	r := f.retryResult
	r.Endpoint = endpoint
	return r, nil
}

func (f *fakeAgent) Pulled(endpoint string) string {
	if e := f.Config().Endpoint(endpoint); e != nil && e.Type == config.EndpointPoly {
		return endpoint + " is a Poly endpoint: it fetches its calendar from otj-edge itself"
	}
	return ""
}

func (f *fakeAgent) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

type fixture struct {
	t      testing.TB
	dir    string
	cfg    *config.Config
	store  *store.Store
	health *health.Tracker
	clock  *clock.Fake
	agent  *fakeAgent
	server *Server
	http   *httptest.Server
}

type fixtureOpts struct {
	credentials bool // status page username and password
	empty       bool // no store data beyond the configured rooms and endpoints
	outage      bool // the outage site (outageConfig, seedOutage) instead of the three rooms
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	dir := t.TempDir()
	yaml := fixtureConfig
	if o.outage {
		yaml = outageConfig()
	}
	if o.credentials {
		yaml = strings.Replace(yaml, "  listen: 127.0.0.1:8787\n", "  listen: 127.0.0.1:8787\n  username: tech\n  password: status-page-password-999\n", 1)
	}
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	fc := clock.NewFake(fixtureNow)
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{Now: fc.Now, Outbox: store.OutboxLimits{MaxMessages: 1000}})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, dir: dir, cfg: cfg, store: st, health: health.New(fc.Now), clock: fc}
	f.agent = &fakeAgent{
		cfg:     cfg,
		started: fixtureNow.Add(-26 * time.Hour),
		sources: []SourceStats{{Type: "graph", Name: "m365", RequestsToday: 41250, Budget: 1000000, Projected24h: 99000}},
		mqtt:    MQTTState{Enabled: true, Connected: true, Broker: "tcp://127.0.0.1:1883", Since: fixtureNow.Add(-3 * time.Hour)},
	}
	f.applyConfig()
	switch {
	case o.empty:
	case o.outage:
		f.seedOutage()
	default:
		f.seed()
	}
	opts := Options{
		Listen: cfg.Status.Listen, Username: cfg.Status.Username, Password: cfg.Status.Password,
		Store: st, Health: f.health, Agent: f.agent, Clock: fc, Location: oslo,
		TokenFile: TokenPath(cfg.StateDir),
	}
	f.server, err = New(opts)
	require.NoError(t, err)
	f.http = httptest.NewServer(f.server.Handler())
	t.Cleanup(f.http.Close)
	return f
}

// applyConfig makes the store's rooms and endpoints match the config, as the agent does.
func (f *fixture) applyConfig() {
	var rooms []store.RoomRef
	for _, r := range f.cfg.Rooms() {
		rooms = append(rooms, store.RoomRef{Mailbox: r.Mailbox, Integration: r.Integration})
	}
	var eps []store.EndpointRef
	for _, e := range f.cfg.Endpoints {
		eps = append(eps, store.EndpointRef{Name: e.Name, Type: e.Type, Room: e.Room})
	}
	require.NoError(f.t, f.store.Write(f.t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		return tx.SyncEndpoints(eps)
	}))
}

const fixtureFix = "Set-CalendarProcessing -Identity room-b@example.com -AddOrganizerToSubject $false -DeleteSubject $false"

// seed writes a realistic site: a healthy room with a running Teams meeting and a Zoom one
// next, a room whose mailbox adds the organizer to subjects, a room outside the access policy;
// a codec up, a Poly polling, a codec whose certificate changed; health and events.
func (f *fixture) seed() {
	ctx := f.t.Context()
	meet := func(id, subject string, start, end time.Time, join bool, number, protocol, platform, rule, reason string) calendar.Meeting {
		return calendar.Meeting{ID: id, EventID: "ev-" + id, Subject: subject, Organizer: "Kari Nordmann",
			Start: start.UTC(), End: end.UTC(), StartBuffer: calendar.Duration(5 * time.Minute),
			Join: join, Number: number, Protocol: protocol, Platform: platform, Rule: rule, Reason: reason}
	}
	require.NoError(f.t, f.store.Write(ctx, func(tx *store.Tx) error {
		now := fixtureNow.UTC()
		rooms := []store.RoomState{
			{Mailbox: "room-a@example.com", Integration: "m365", Status: store.RoomOK,
				LastAttempt: now.Add(-2 * time.Minute), LastSuccess: now.Add(-2 * time.Minute), LastFullSync: now.Add(-8 * time.Hour)},
			{Mailbox: "room-b@example.com", Integration: "m365", Status: store.RoomOK,
				LastAttempt: now.Add(-4 * time.Minute), LastSuccess: now.Add(-4 * time.Minute), LastFullSync: now.Add(-8 * time.Hour),
				Diagnosis: []store.Finding{{Flag: "add_organizer_to_subject",
					Detail: "9 of 10 meetings have the organizer's name as their subject", Fix: fixtureFix}}},
			{Mailbox: "room-c@example.com", Integration: "m365", Status: store.RoomPolicyDenied,
				StatusDetail: "ErrorAccessDenied: Access to OData is disabled.", LastAttempt: now.Add(-1 * time.Minute)},
		}
		for _, r := range rooms {
			if err := tx.PutRoom(r); err != nil {
				return err
			}
		}
		if _, err := stored.ReplaceMeetings(tx, "room-a@example.com", []calendar.Meeting{
			meet("a1", "Standup", at(8, 30), at(9, 0), true, "123456789@m.webex.com", "SIP", "Webex", "webex", ""),
			meet("a2", "Project Falcon", at(9, 30), at(10, 30), true, "1234567890.abcd@teams.example.vc", "SIP", "MicrosoftTeams", "teams", ""),
			meet("a3", "Customer call", at(11, 0), at(12, 0), true, "85512345678@zoomcrc.com", "SIP", "Zoom", "zoom", ""),
			meet("a4", "Board prep", at(33, 0), at(34, 0), true, "sip:vmr-4711@pexip.example.com", "SIP", "Other", "fallback", ""),
		}); err != nil {
			return err
		}
		if _, err := stored.ReplaceMeetings(tx, "room-b@example.com", []calendar.Meeting{
			meet("b1", "Kari Nordmann", at(13, 0), at(14, 0), false, "", "", "", "",
				"no rule matched and no sip:/h323: address"),
		}); err != nil {
			return err
		}
		eps := []store.EndpointState{
			{Name: "codec-a", Type: "cisco", Room: "room-a@example.com", State: store.EndpointUp, Product: "Cisco Room Kit Pro",
				Software: "ce11.14.1.5", CertSHA256: strings.Repeat("ab", 32), LastContact: now.Add(-30 * time.Second), LastPush: now.Add(-10 * time.Minute)},
			{Name: "poly-b", Type: "poly", Room: "room-b@example.com", State: store.EndpointUp, Product: "Poly G7500",
				Software: "4.1.0", LastPoll: now.Add(-40 * time.Second), PollEvery: time.Minute, LastContact: now.Add(-40 * time.Second)},
			{Name: "codec-c", Type: "cisco", Room: "room-c@example.com", State: store.EndpointCertChanged,
				Detail: "presented certificate does not match the pinned fingerprint", CertSHA256: strings.Repeat("01", 32),
				SeenSHA256: strings.Repeat("fe", 32), LastContact: now.Add(-5 * time.Minute)},
		}
		for _, e := range eps {
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
		}
		for _, e := range []store.Event{
			{Kind: "sync.ok", Room: "room-a@example.com", Message: "first sync: 4 meetings"},
			{Kind: "push.ok", Room: "room-a@example.com", Endpoint: "codec-a", Message: "pushed 3 bookings"},
			{Kind: "sync.error", Level: "error", Room: "room-c@example.com", Message: "access denied by the application access policy"},
			{Kind: "endpoint.cert_changed", Level: "warn", Room: "room-c@example.com", Endpoint: "codec-c", Message: "certificate changed"},
		} {
			if err := tx.Emit(e); err != nil {
				return err
			}
		}
		return nil
	}))
	f.health.OK("store", "")
	f.health.OK("mqtt", "connected")
	f.health.OK("graph/m365", "3 rooms")
	f.health.OK("cisco/codec-a", "")
	f.health.Fail("cisco/codec-c", "certificate changed")
	f.health.Warn("graph/m365-room-c", "1 room denied by the access policy")
}

// get fetches a path with the fixture's HTTP client and returns status and body.
func (f *fixture) get(path string, header ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodGet, f.http.URL+path, nil)
	require.NoError(f.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.http.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return resp.StatusCode, string(b)
}

// post sends a body with a content type, and optional header pairs.
func (f *fixture) post(path, contentType, body string, header ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodPost, f.http.URL+path, strings.NewReader(body))
	require.NoError(f.t, err)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.http.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return resp.StatusCode, string(b)
}

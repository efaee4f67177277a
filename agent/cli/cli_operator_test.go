package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/exchange"
)

// The operator commands are tested against the status API served in-process on a real
// loopback socket (the agent's own seam faked), and against a store on disk.

var operatorSecrets = []string{"graph-secret-value-123", "codec-a-password-456", "codec-c-password-789", "poly-b-calendar-321"}

// operatorConfig writes a site config whose status page listens on listen.
func operatorConfig(t *testing.T, dir, listen string) string {
	t.Helper()
	return writeTestConfig(t, dir, testSiteHead(listen, "", "")+`  - name: default
endpoints:
  - name: codec-a
    type: cisco
    room: room-a@example.com
    address: 127.0.0.1:1
    username: admin
    password: codec-a-password-456
  - name: poly-b
    type: poly
    room: room-b@example.com
    calendar_username: poly-b
    calendar_password: poly-b-calendar-321
  - name: codec-c
    type: cisco
    room: room-c@example.com
    address: 127.0.0.1:2
    username: admin
    password: codec-c-password-789
`)
}

const roomBFix = "Set-CalendarProcessing -Identity room-b@example.com -AddOrganizerToSubject $false -DeleteSubject $false"

// seedOperatorStore creates the store of a site that has run: room-a syncs and has a meeting
// running and one next, room-b's mailbox adds the organizer to subjects, room-c is outside
// the access policy; codec-c's certificate changed.
func seedOperatorStore(t *testing.T, cfg *config.Config, st *store.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	var rooms []store.RoomRef
	for _, r := range cfg.Rooms() {
		rooms = append(rooms, store.RoomRef{Mailbox: r.Mailbox, Integration: r.Integration})
	}
	var eps []store.EndpointRef
	for _, e := range cfg.Endpoints {
		eps = append(eps, store.EndpointRef{Name: e.Name, Type: e.Type, Room: e.Room})
	}
	meet := func(id, subject string, start, end time.Time, number, platform, rule, reason string) calendar.Meeting {
		return calendar.Meeting{ID: id, Subject: subject, Start: start.UTC(), End: end.UTC(), Join: number != "",
			Number: number, Protocol: map[bool]string{true: "SIP"}[number != ""], Platform: platform, Rule: rule, Reason: reason}
	}
	require.NoError(t, st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		if err := tx.SyncEndpoints(eps); err != nil {
			return err
		}
		for _, r := range []store.RoomState{
			{Mailbox: "room-a@example.com", Integration: "m365", Status: store.RoomOK, LastAttempt: now.Add(-2 * time.Minute), LastSuccess: now.Add(-2 * time.Minute)},
			{Mailbox: "room-b@example.com", Integration: "m365", Status: store.RoomOK, LastAttempt: now.Add(-3 * time.Minute), LastSuccess: now.Add(-3 * time.Minute),
				Diagnosis: []store.Finding{{Flag: "add_organizer_to_subject", Detail: "9 of 10 meetings have the organizer as subject", Fix: roomBFix}}},
			{Mailbox: "room-c@example.com", Integration: "m365", Status: store.RoomPolicyDenied, StatusDetail: "Access to OData is disabled.", LastAttempt: now.Add(-time.Minute)},
		} {
			if err := tx.PutRoom(r); err != nil {
				return err
			}
		}
		if _, err := stored.ReplaceMeetings(tx, "room-a@example.com", []calendar.Meeting{
			meet("a1", "Project Falcon", now.Add(-30*time.Minute), now.Add(30*time.Minute), "1234567890.abcd@teams.example.vc", "MicrosoftTeams", "teams", ""),
			meet("a2", "Customer call", now.Add(time.Hour), now.Add(2*time.Hour), "85512345678@zoomcrc.com", "Zoom", "zoom", ""),
		}); err != nil {
			return err
		}
		if _, err := stored.ReplaceMeetings(tx, "room-b@example.com", []calendar.Meeting{
			meet("b1", "Kari Nordmann", now.Add(90*time.Minute), now.Add(150*time.Minute), "", "", "", "no rule matched and no sip:/h323: address"),
		}); err != nil {
			return err
		}
		for _, e := range []store.EndpointState{
			{Name: "codec-a", Type: "cisco", Room: "room-a@example.com", State: store.EndpointUp, LastPush: now.Add(-5 * time.Minute)},
			{Name: "poly-b", Type: "poly", Room: "room-b@example.com", State: store.EndpointUp, LastPoll: now.Add(-time.Minute)},
			{Name: "codec-c", Type: "cisco", Room: "room-c@example.com", State: store.EndpointCertChanged,
				Detail: "presented certificate does not match the pin", SeenSHA256: strings.Repeat("fe", 32)},
		} {
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
		}
		return nil
	}))
}

// siteAgent is the running agent's seam for the status API (the real agent implements it).
// Sync follows a script: each poll of the rooms after a sync request completes one more room.
type siteAgent struct {
	cfg   *config.Config
	store *store.Store

	mu        sync.Mutex
	syncs     []string
	pushes    []string
	reloadErr error
	script    []store.RoomState // rooms the next sync completes, one per poll
	stall     bool              // the sync never completes
}

func (a *siteAgent) Config() *config.Config         { return a.cfg }
func (a *siteAgent) Started() time.Time             { return time.Now().Add(-time.Hour) }
func (a *siteAgent) Version() string                { return "test" }
func (a *siteAgent) SourceStats() []web.SourceStats { return nil }
func (a *siteAgent) MQTT() web.MQTTState            { return web.MQTTState{} }
func (a *siteAgent) Push(_ context.Context, ep string) ([]web.EndpointResult, error) {
	a.record(&a.pushes, ep)
	ok := web.EndpointResult{Endpoint: "codec-a", Outcome: web.PushPushed, Bookings: 2, State: store.EndpointUp, Connected: true}
	if ep != "" {
		return []web.EndpointResult{ok}, nil
	}
	return []web.EndpointResult{ok, {Endpoint: "codec-c", Outcome: web.PushFailed, State: store.EndpointCertChanged,
		Detail: "certificate changed: presented certificate does not match the pin"}}, nil
}
func (a *siteAgent) Retry(context.Context, string) (web.EndpointResult, error) {
	return web.EndpointResult{}, errors.New("not used")
}
func (a *siteAgent) Pulled(endpoint string) string { return agent.PulledEndpoint(a.cfg, endpoint) }
func (a *siteAgent) RulesTest(context.Context, string, calendar.Event) (web.RulesResult, error) {
	return web.RulesResult{}, errors.New("not used")
}
func (a *siteAgent) Sync(_ context.Context, room string, full bool) error {
	a.record(&a.syncs, fmt.Sprintf("%s full=%v", room, full))
	return nil
}
func (a *siteAgent) Reload(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reloadErr
}
func (a *siteAgent) record(list *[]string, v string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	*list = append(*list, v)
}

// completeOne finishes the next scripted room sync, if a sync was asked for.
func (a *siteAgent) completeOne(ctx context.Context) {
	a.mu.Lock()
	if len(a.syncs) == 0 || len(a.script) == 0 || a.stall {
		a.mu.Unlock()
		return
	}
	r := a.script[0]
	a.script = a.script[1:]
	a.mu.Unlock()
	_ = a.store.Write(ctx, func(tx *store.Tx) error {
		old, _, err := tx.Room(r.Mailbox)
		if err != nil {
			return err
		}
		old.Status, old.StatusDetail, old.LastAttempt = r.Status, r.StatusDetail, tx.Now()
		if r.Status == store.RoomOK {
			old.LastSuccess = tx.Now()
		}
		return tx.PutRoom(old)
	})
}

type liveSite struct {
	cfgPath string
	cfg     *config.Config
	store   *store.Store
	agent   *siteAgent
	url     string
}

// startSite serves the status API of a seeded site on a loopback port, as the agent does.
func startSite(t *testing.T) *liveSite {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &liveSite{cfgPath: operatorConfig(t, t.TempDir(), ln.Addr().String())}
	s.cfg, err = loadConfig(s.cfgPath, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	s.store, err = store.Open(t.Context(), s.cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.store.Close() })
	seedOperatorStore(t, s.cfg, s.store, time.Now().UTC())
	s.agent = &siteAgent{cfg: s.cfg, store: s.store}
	tracker := health.New(nil)
	tracker.OK("store", "")
	tracker.Fail("cisco/codec-c", "certificate changed")
	// As sync/graph words it: the rooms' own problems say the same, room by room.
	tracker.Warn("graph/m365", "1 of 3 rooms not syncing (1 policy_denied): room-c@example.com policy_denied")
	srv, err := web.New(web.Options{Listen: s.cfg.Status.Listen, Store: s.store, Health: tracker, Agent: s.agent,
		TokenFile: web.TokenPath(s.cfg.StateDir)})
	require.NoError(t, err)
	// Each poll of the rooms lets the scripted sync move one room on, so progress is
	// deterministic. The handler is wrapped for that, so the token file is written here as
	// Serve would (Serve itself is tested in agent/web).
	handler := srv.Handler()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/api/rooms" {
			s.agent.completeOne(r.Context())
		}
		handler.ServeHTTP(w, r)
	})}
	require.NoError(t, os.WriteFile(web.TokenPath(s.cfg.StateDir), []byte(srv.Token()+"\n"), 0o600))
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, hs.Shutdown(context.Background()))
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	s.url = "http://" + ln.Addr().String()
	return s
}

func TestRoomsFromTheRunningAgent(t *testing.T) {
	s := startSite(t)
	code, out, errOut := runCLI(t, nil, "rooms", "--config", s.cfgPath)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "otj-edge rooms: from the running agent at "+s.url+"\n", errOut)
	lines := strings.Split(out, "\n")
	assert.Regexp(t, `^ROOM\s+STATE\s+SYNC\s+ENDPOINTS\s+DATA\s+TODAY\s+NOW / NEXT\s+FLAGS$`, lines[0])
	assert.Regexp(t, `^room-a@example.com\s+ok\s+ok\s+codec-a up\s+2 minutes ago\s+\d+\s+now .+ Project Falcon \(MicrosoftTeams\); next .+ Customer call \(Zoom\)\s+-$`, lines[1])
	// Why a meeting gets no Join button; a room whose mailbox settings break invites is not ok.
	assert.Regexp(t, `^room-b@example.com\s+warning\s+ok\s+poly-b up\s+3 minutes ago\s+\d+\s+next .+ Kari Nordmann \(no Join: no rule matched and no sip:/h323: address\)\s+add_organizer_to_subject$`, lines[2])
	// The codec's state beside the calendar's.
	assert.Regexp(t, `^room-c@example.com\s+error\s+policy_denied\s+codec-c cert_changed\s+never synced\s+0\s+-\s+-$`, lines[3])
	assert.Contains(t, out, "\nCalendar data 2 minutes old · 3 rooms: 1 ok, 1 warning, 1 error (calendar sync: 2 ok, 1 policy_denied)\n")

	code, out, _ = runCLI(t, nil, "rooms", "--json", "--config", s.cfgPath)
	require.Equal(t, ExitOK, code)
	var doc struct {
		Source   sourceInfo
		Calendar web.DataAge
		Rooms    []web.Room
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, sourceInfo{Kind: "agent", Where: s.url}, doc.Source)
	require.Len(t, doc.Rooms, 3)
	assert.Equal(t, "Project Falcon", doc.Rooms[0].Current.Subject)
	assert.Equal(t, 2, doc.Calendar.Synced)
}

// stoppedSite is a site whose agent has run and stopped: a store on disk, no API.
func stoppedSite(t *testing.T, listen string) (string, *config.Config) {
	t.Helper()
	path := operatorConfig(t, t.TempDir(), listen)
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	seedOperatorStore(t, cfg, st, time.Now().UTC())
	require.NoError(t, st.Close())
	return path, cfg
}

// freePort is a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestReadOnlyCommandsReadTheStoreWhenTheAgentIsNotRunning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string
		token  bool // a token file left by an earlier run
		why    string
	}{
		{"status page off", "off", false, "its status API is off (status.listen: off in "},
		{"no token file", "", false, "api.token (the agent writes it when it starts)"},
		{"stale token file", "", true, "nothing answers at http://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := tc.listen
			if listen == "" {
				listen = freePort(t)
			}
			path, cfg := stoppedSite(t, listen)
			if tc.token {
				require.NoError(t, os.WriteFile(web.TokenPath(cfg.StateDir), []byte("stale\n"), 0o600))
			}
			code, out, errOut := runCLI(t, nil, "rooms", "--config", path)
			require.Equal(t, ExitOK, code, errOut)
			assert.Contains(t, errOut, "otj-edge rooms: from the store at "+cfg.DBPath()+" (read-only: the agent is not running: ")
			assert.Contains(t, errOut, tc.why)
			assert.Contains(t, out, "Project Falcon")
			assert.Contains(t, out, "policy_denied")

			code, out, errOut = runCLI(t, nil, "meetings", "--days", "2", "--config", path, "room-a@example.com")
			require.Equal(t, ExitOK, code, errOut)
			assert.Contains(t, out, "Customer call")
			assert.Contains(t, errOut, "from the store at")
		})
	}
}

func TestReadOnlyCommandsExplainAMissingStore(t *testing.T) {
	path := operatorConfig(t, t.TempDir(), "off")
	code, _, errOut := runCLI(t, nil, "rooms", "--config", path)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "the agent is not running: its status API is off")
	assert.Contains(t, errOut, "and its store cannot be read")
	assert.Contains(t, errOut, "no database yet (has otj-edge run with this state_dir?)")
}

func TestMeetings(t *testing.T) {
	s := startSite(t)
	code, out, errOut := runCLI(t, nil, "meetings", "--days", "2", "--config", s.cfgPath)
	require.Equal(t, ExitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^WHEN\s+ROOM\s+STATE\s+SUBJECT\s+JOIN\s+PLATFORM\s+RULE / REASON$`, lines[0])
	assert.Regexp(t, `room-a@example.com\s+running\s+Project Falcon\s+1234567890.abcd@teams.example.vc\s+SIP MicrosoftTeams\s+teams$`, lines[1])
	assert.Regexp(t, `room-a@example.com\s+scheduled\s+Customer call\s+85512345678@zoomcrc.com\s+SIP Zoom\s+zoom$`, lines[2])
	assert.Regexp(t, `room-b@example.com\s+scheduled\s+Kari Nordmann\s+no Join\s+-\s+no rule matched and no sip:/h323: address$`, lines[3])

	code, out, _ = runCLI(t, nil, "meetings", "--days", "2", "--json", "--config", s.cfgPath, "ROOM-B@example.com")
	require.Equal(t, ExitOK, code)
	var doc struct {
		Source   sourceInfo
		Meetings []web.Meeting
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Meetings, 1)
	assert.Equal(t, "Kari Nordmann", doc.Meetings[0].Subject)
	assert.False(t, doc.Meetings[0].Join)

	// Flags may follow the room too, as people type them.
	code, out, errOut = runCLI(t, nil, "meetings", "ROOM-B@example.com", "--days", "2", "--json", "--config", s.cfgPath)
	require.Equal(t, ExitOK, code, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Meetings, 1)
	assert.Equal(t, "Kari Nordmann", doc.Meetings[0].Subject)

	code, _, errOut = runCLI(t, nil, "meetings", "--config", s.cfgPath, "ROOM-B@example.com", "room-a@example.com")
	assert.Equal(t, ExitUsage, code)

	code, _, errOut = runCLI(t, nil, "meetings", "--config", s.cfgPath, "nobody@example.com")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "room nobody@example.com is not configured (otj-edge rooms lists them)")

	code, _, errOut = runCLI(t, nil, "meetings", "--days", "0", "--config", s.cfgPath)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--days must be from 1 to 366")
}

func TestSyncFollowsProgressUntilEveryRoomIsDone(t *testing.T) {
	syncPollEvery = 5 * time.Millisecond
	t.Cleanup(func() { syncPollEvery = time.Second })
	s := startSite(t)
	s.agent.script = []store.RoomState{
		{Mailbox: "room-a@example.com", Status: store.RoomOK},
		{Mailbox: "room-b@example.com", Status: store.RoomOK},
		{Mailbox: "room-c@example.com", Status: store.RoomPolicyDenied, StatusDetail: "Access to OData is disabled."},
	}
	code, out, errOut := runCLI(t, nil, "sync", "--config", s.cfgPath)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "otj-edge sync: 1 of 3 rooms did not sync\n", errOut)
	assert.Equal(t, `sync of every room requested
sync: 1/3 rooms done (1 ok, 0 not ok)
sync: 2/3 rooms done (2 ok, 0 not ok)
sync: 3/3 rooms done (2 ok, 1 not ok)

room-c@example.com: policy_denied: Access to OData is disabled.
  Exchange Online does not let the app registration read this mailbox: it is outside the app's RBAC for Applications scope, or outside an older application access policy. Microsoft says not to create new application access policies: grant the app the "Application Calendars.Read" role on a scope that includes the rooms (Exchange Online PowerShell, after Connect-ExchangeOnline; -ObjectId is the Object ID of the Enterprise application, not of the app registration). If the app already has a scope, make the room match its filter instead (Get-ManagementScope shows it). Changes can take an hour or more to apply. The last lines check the result; the access-policy check applies only if the tenant still has one for this app.
    New-ServicePrincipal -AppId 11111111-2222-3333-4444-555555555555 -ObjectId <enterprise-app-object-id> -DisplayName otj-edge
    New-ManagementScope -Name "otj-edge rooms" -RecipientRestrictionFilter "RecipientTypeDetails -eq 'RoomMailbox'"
    New-ManagementRoleAssignment -App 11111111-2222-3333-4444-555555555555 -Role "Application Calendars.Read" -CustomResourceScope "otj-edge rooms"
    Test-ServicePrincipalAuthorization -Identity 11111111-2222-3333-4444-555555555555 -Resource room-c@example.com
    Test-ApplicationAccessPolicy -Identity room-c@example.com -AppId 11111111-2222-3333-4444-555555555555
`, out)
	assert.Equal(t, []string{" full=false"}, s.agent.syncs)
}

func TestSyncOneRoomFull(t *testing.T) {
	syncPollEvery = 5 * time.Millisecond
	t.Cleanup(func() { syncPollEvery = time.Second })
	s := startSite(t)
	s.agent.script = []store.RoomState{{Mailbox: "room-a@example.com", Status: store.RoomOK}}
	code, out, errOut := runCLI(t, nil, "sync", "--full", "--json", "--config", s.cfgPath, "Room-A@example.com")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, []string{"room-a@example.com full=true"}, s.agent.syncs)
	assert.Contains(t, errOut, "full sync of room-a@example.com requested\nsync: 1/1 rooms done (1 ok, 0 not ok)\n", "progress goes to stderr with --json")
	var doc syncOutcome
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, 1, doc.Total)
	assert.Equal(t, 1, doc.OK)
	assert.False(t, doc.TimedOut)
	require.Len(t, doc.Rooms, 1)
	assert.Equal(t, "room-a@example.com", doc.Rooms[0].Mailbox)

	code, _, errOut = runCLI(t, nil, "sync", "--config", s.cfgPath, "nobody@example.com")
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "otj-edge sync: room nobody@example.com is not configured\n", errOut)
}

func TestSyncStopsFollowingAtTheTimeout(t *testing.T) {
	syncPollEvery = 5 * time.Millisecond
	t.Cleanup(func() { syncPollEvery = time.Second })
	s := startSite(t)
	s.agent.stall = true
	code, out, errOut := runCLI(t, nil, "sync", "--timeout", "50ms", "--config", s.cfgPath)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, out, "sync: 0/3 rooms done (0 ok, 0 not ok)\n")
	assert.Equal(t, "otj-edge sync: stopped following after 50ms with 0 of 3 rooms done; the agent keeps syncing ('otj-edge rooms' shows where it is)\n", errOut)

	code, out, errOut = runCLI(t, nil, "sync", "--no-wait", "--config", s.cfgPath)
	assert.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "sync of every room requested\n", out)
}

func TestActionsNeedTheRunningAgent(t *testing.T) {
	path, cfg := stoppedSite(t, freePort(t))
	for _, args := range [][]string{{"sync"}, {"push"}, {"reload"}} {
		code, out, errOut := runCLI(t, nil, append(args, "--config", path)...)
		assert.Equal(t, ExitFailure, code, args)
		assert.Empty(t, out)
		assert.Equal(t, "otj-edge "+args[0]+": the agent is not running: no "+web.TokenPath(cfg.StateDir)+
			" (the agent writes it when it starts). "+args[0]+" needs the running agent: start it with 'otj-edge service start' (or 'otj-edge run')\n", errOut)
	}
}

func TestPush(t *testing.T) {
	s := startSite(t)
	code, out, errOut := runCLI(t, nil, "push", "--config", s.cfgPath, "codec-a")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, []string{"codec-a"}, s.agent.pushes)
	assert.Equal(t, "push to codec-a: 2 bookings pushed\n", out)

	code, out, errOut = runCLI(t, nil, "push", "--config", s.cfgPath)
	require.Equal(t, ExitFailure, code, "a push failed")
	assert.Contains(t, out, "push to every endpoint that takes pushes: 1 pushed, 1 failed")
	assert.Regexp(t, `codec-a\s+pushed\s+2 bookings pushed`, out)
	assert.Regexp(t, `codec-c\s+failed\s+failed: certificate changed: presented certificate does not match the pin`, out)
	assert.Contains(t, errOut, "push failed for 1 of 2 endpoints: codec-c")
	assert.NotContains(t, out, "poly-b")

	code, _, errOut = runCLI(t, nil, "push", "--config", s.cfgPath, "poly-b")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "poly-b is a Poly endpoint: it fetches its calendar from otj-edge itself")
	code, _, errOut = runCLI(t, nil, "push", "--config", s.cfgPath, "codec-z")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "endpoint codec-z is not configured")
	assert.Equal(t, []string{"codec-a", ""}, s.agent.pushes)
}

func TestReload(t *testing.T) {
	s := startSite(t)
	code, out, errOut := runCLI(t, nil, "reload", "--config", s.cfgPath)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "config reloaded\n", out)

	s.agent.reloadErr = errors.New("/etc/otj-edge/config.yaml:12: endpoint \"codec-9\": address is required")
	code, _, errOut = runCLI(t, nil, "reload", "--config", s.cfgPath)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "otj-edge reload: config not reloaded; the running config stays:\n/etc/otj-edge/config.yaml:12: endpoint \"codec-9\": address is required\n", errOut)

	// A file this command cannot read is one the agent would refuse too.
	data, err := os.ReadFile(s.cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(s.cfgPath, append(data, []byte("sate_dir: x\n")...), 0o600))
	code, _, errOut = runCLI(t, nil, "reload", "--config", s.cfgPath)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown key "sate_dir"`)
	assert.Contains(t, errOut, "not reloaded: fix the problems above; the running agent keeps its configuration")
}

func TestDoctor(t *testing.T) {
	s := startSite(t)
	code, out, errOut := runCLI(t, nil, "doctor", "--config", s.cfgPath)
	assert.Equal(t, ExitFailure, code, "problems need attention")
	assert.Equal(t, "otj-edge doctor: from the running agent at "+s.url+"\n", errOut)
	// Each problem once (codec-c's health item and the Graph integration's summary of room-c are
	// not listed again), worst first, and the counts are the list's.
	assert.Equal(t, `Needs attention (3), the most rooms affected first

1. room-c@example.com: outside the app's access scope [error]
   policy_denied: Access to OData is disabled.
   Exchange Online does not let the app registration read this mailbox: it is outside the app's RBAC
   for Applications scope, or outside an older application access policy. Microsoft says not to
   create new application access policies: grant the app the "Application Calendars.Read" role on a
   scope that includes the rooms (Exchange Online PowerShell, after Connect-ExchangeOnline;
   -ObjectId is the Object ID of the Enterprise application, not of the app registration). If the
   app already has a scope, make the room match its filter instead (Get-ManagementScope shows it).
   Changes can take an hour or more to apply. The last lines check the result; the access-policy
   check applies only if the tenant still has one for this app.
     New-ServicePrincipal -AppId 11111111-2222-3333-4444-555555555555 -ObjectId <enterprise-app-object-id> -DisplayName otj-edge
     New-ManagementScope -Name "otj-edge rooms" -RecipientRestrictionFilter "RecipientTypeDetails -eq 'RoomMailbox'"
     New-ManagementRoleAssignment -App 11111111-2222-3333-4444-555555555555 -Role "Application Calendars.Read" -CustomResourceScope "otj-edge rooms"
     Test-ServicePrincipalAuthorization -Identity 11111111-2222-3333-4444-555555555555 -Resource room-c@example.com
     Test-ApplicationAccessPolicy -Identity room-c@example.com -AppId 11111111-2222-3333-4444-555555555555

2. codec-c (room-c@example.com): certificate changed [error]
   cert_changed: presented certificate does not match the pin
   The device presented a certificate that differs from the pinned one, so otj-edge does not talk to
   it. If the device was replaced or its certificate renewed, accept the new one:
     otj-edge endpoints trust codec-c

3. room-b@example.com: calendar processing: add_organizer_to_subject [warning]
   9 of 10 meetings have the organizer as subject
   The room mailbox's calendar processing settings change invites in ways that break One-Touch Join.
   Run in Exchange Online PowerShell (after Connect-ExchangeOnline); it applies to invites received
   afterwards:
     (the Set-CalendarProcessing commands are in the paste block at the end)

Calendar-processing fixes (1 room), to paste into Exchange Online PowerShell (after Connect-ExchangeOnline):

`+roomBFix+`

3 problems need attention, affecting 2 of 3 rooms (3 endpoints checked).
`, out)

	code, out, _ = runCLI(t, nil, "doctor", "--json", "--config", s.cfgPath)
	assert.Equal(t, ExitFailure, code)
	var rep doctorReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, 3, rep.Problems)
	require.Len(t, rep.Groups, 3)
	assert.Equal(t, []string{roomBFix}, rep.Fixes)
	assert.Empty(t, rep.Health, "both unhealthy components are already shown by a room or an endpoint")
	require.Len(t, rep.Rooms, 2)
	assert.Equal(t, roomBFix, rep.Rooms[0].Diagnosis[0].Fix)
	require.Len(t, rep.Endpoints, 1)
	assert.Equal(t, "otj-edge endpoints trust codec-c", rep.Endpoints[0].Alarms[0].Command)
}

func TestDoctorFromTheStoreAndOnAHealthySite(t *testing.T) {
	path, cfg := stoppedSite(t, "off")
	code, out, errOut := runCLI(t, nil, "doctor", "--config", path)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "from the store at "+cfg.DBPath())
	assert.Contains(t, out, roomBFix)
	assert.NotContains(t, out, "Health (running agent)")
	assert.Contains(t, out, "3 problems need attention")

	// Fix everything in the store: nothing needs attention.
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		for _, m := range []string{"room-b@example.com", "room-c@example.com"} {
			r, _, err := tx.Room(m)
			if err != nil {
				return err
			}
			r.Status, r.StatusDetail, r.Diagnosis, r.LastSuccess = store.RoomOK, "", nil, tx.Now()
			if err := tx.PutRoom(r); err != nil {
				return err
			}
		}
		e, _, err := tx.Endpoint("codec-c")
		if err != nil {
			return err
		}
		e.State, e.Detail = store.EndpointUp, ""
		return tx.PutEndpoint(e)
	}))
	require.NoError(t, st.Close())
	code, out, _ = runCLI(t, nil, "doctor", "--config", path)
	assert.Equal(t, ExitOK, code)
	assert.Equal(t, "Nothing needs attention: 3 rooms and 3 endpoints checked.\n", out)
}

func TestOperatorCommandsNeverPrintSecrets(t *testing.T) {
	syncPollEvery = 5 * time.Millisecond
	t.Cleanup(func() { syncPollEvery = time.Second })
	s := startSite(t)
	s.agent.script = []store.RoomState{{Mailbox: "room-a@example.com", Status: store.RoomOK}}
	stopped, _ := stoppedSite(t, "off")
	var all strings.Builder
	for _, cfgPath := range []string{s.cfgPath, stopped} {
		for _, args := range [][]string{
			{"rooms"}, {"rooms", "--json"}, {"meetings", "--days", "7"}, {"meetings", "--json"}, {"doctor"}, {"doctor", "--json"},
			{"sync", "room-a@example.com"}, {"push"}, {"push", "--json"}, {"reload"}, {"reload", "--json"},
		} {
			_, out, errOut := runCLI(t, nil, append(args, "--config", cfgPath)...)
			all.WriteString(out + errOut)
		}
	}
	for _, secret := range operatorSecrets {
		assert.NotContains(t, all.String(), secret)
	}
	assert.NotEmpty(t, all.String())
}

// TestDoctorPastesOneFixPerRoom: the calendar-processing paste block has one
// Set-CalendarProcessing per room with every setting that room has wrong, as sync/graph's
// diagnosis finds them; the informational ProcessExternalMeetingMessages finding is a note,
// not counted as a problem and never in the block.
func TestDoctorPastesOneFixPerRoom(t *testing.T) {
	path, cfg := stoppedSite(t, "off")
	// room-b's mailbox replaces subjects with the organizer's name, deletes bodies, clears the
	// private flag and (probably) declines external invites: 20 meetings show all of it.
	var events []calendar.Event
	for i := range 20 {
		events = append(events, calendar.Event{ID: fmt.Sprintf("ev%d", i), Type: calendar.TypeSingleInstance, Subject: "Kari Nordmann",
			Body:           &calendar.ItemBody{ContentType: "html", Content: ""},
			Organizer:      &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Kari Nordmann", Address: "kari@example.com"}},
			ResponseStatus: &calendar.ResponseStatus{Response: "accepted"}, ShowAs: "busy", Sensitivity: "normal"})
	}
	findings := exchange.Diagnose("room-b@example.com", events)
	var flags []string
	for _, f := range findings {
		flags = append(flags, f.Flag)
	}
	require.Equal(t, []string{exchange.FlagAddOrganizerToSubject, exchange.FlagDeleteComments, exchange.FlagRemovePrivateProperty, exchange.FlagProcessExternal}, flags)
	require.True(t, web.InformationalFlag(exchange.FlagProcessExternal), "the page and doctor know which finding is a note")
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		r, _, err := tx.Room("room-b@example.com")
		if err != nil {
			return err
		}
		r.Diagnosis = findings
		return tx.PutRoom(r)
	}))
	require.NoError(t, st.Close())

	code, out, _ := runCLI(t, nil, "doctor", "--config", path)
	assert.Equal(t, ExitFailure, code)
	const fix = "Set-CalendarProcessing -Identity room-b@example.com -AddOrganizerToSubject $false -DeleteSubject $false -DeleteComments $false -RemovePrivateProperty $false"
	block := out[strings.Index(out, "Calendar-processing fixes (1 room), to paste"):]
	block = block[:strings.Index(block, "\n\n3 problems need attention")]
	assert.Equal(t, "Calendar-processing fixes (1 room), to paste into Exchange Online PowerShell (after Connect-ExchangeOnline):\n\n"+fix, block)
	assert.Equal(t, 1, strings.Count(out, "Set-CalendarProcessing -Identity room-b@example.com"), "one command for the room, in the paste block")
	assert.NotContains(t, out, "-ProcessExternalMeetingMessages $true\n", "never a line to paste")
	assert.Contains(t, out, "Notes (1), to judge rather than fix")
	assert.Contains(t, out, "Needs attention (3)")
	assert.Contains(t, out, "\n3 problems need attention", "the note is not a problem")
}

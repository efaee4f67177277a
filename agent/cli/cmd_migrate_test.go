package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// migrationConfig is a site whose rooms a, b and c read m365 live, shadowed by "cloud".
func migrationConfig(t *testing.T, listen string) (string, *config.Config) {
	t.Helper()
	path := writeTestConfig(t, t.TempDir(), testSiteHead(listen, "", "")+`  - name: default
    integration: m365
endpoints:
  - {name: poly-a, type: poly, room: room-a@example.com, calendar_username: poly-a, calendar_password: poly-a-calendar-123}
  - {name: poly-b, type: poly, room: room-b@example.com, calendar_username: poly-b, calendar_password: poly-b-calendar-123}
  - {name: poly-c, type: poly, room: room-c@example.com, calendar_username: poly-c, calendar_password: poly-c-calendar-123}
`)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	// The shadow integration, inserted before profiles:.
	shadow := `  - name: cloud
    type: graph
    client_id: 22222222-2222-3333-4444-555555555555
    client_secret: cloud-secret-value-123
    token_url: https://login.microsoftonline.com/contoso/oauth2/v2.0/token
    shadow: {rooms: all}
profiles:
`
	out := []byte{}
	for _, line := range splitKeep(string(data)) {
		if line == "profiles:\n" {
			out = append(out, shadow...)
			continue
		}
		out = append(out, line...)
	}
	require.NoError(t, os.WriteFile(path, out, 0o600))
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	return path, cfg
}

func splitKeep(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if i < len(s) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// seedRoom writes a room's state, resolved meetings and the resolved mark into st.
func seedRoom(t *testing.T, st *store.Store, room, integration, status, detail string, ms ...calendar.Meeting) {
	t.Helper()
	now := time.Now()
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		rs := store.RoomState{Mailbox: room, Integration: integration, Status: status, StatusDetail: detail, LastAttempt: now}
		if status == store.RoomOK {
			rs.LastSuccess = now
		}
		if err := tx.PutRoom(rs); err != nil {
			return err
		}
		if _, err := stored.ReplaceMeetings(tx, room, ms); err != nil {
			return err
		}
		if status != store.RoomOK {
			return nil
		}
		return tx.MarkResolved(room, now)
	}))
}

func board(room, number string) calendar.Meeting {
	start := time.Now().Add(2 * time.Hour).Truncate(time.Minute)
	return calendar.Meeting{Room: room, ID: "board-" + start.UTC().Format(time.RFC3339), ICalUID: "board", Subject: "Board",
		Start: start, End: start.Add(time.Hour), Join: true, Number: number, Protocol: calendar.ProtocolSIP}
}

// seedMigration makes the stores of a site that has run: room a differs (another join address
// in the shadow), room b is identical, room c is outside the shadow app's policy.
func seedMigration(t *testing.T, cfg *config.Config) (live, shadow *store.Store) {
	t.Helper()
	var err error
	live, err = store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(migrate.StorePath(cfg.StateDir, "cloud")), 0o700))
	shadow, err = store.Open(t.Context(), migrate.StorePath(cfg.StateDir, "cloud"), store.Options{})
	require.NoError(t, err)
	a, b, c := "room-a@example.com", "room-b@example.com", "room-c@example.com"
	seedRoom(t, live, a, "m365", store.RoomOK, "", board(a, "sip:board@vmr.example.com"))
	seedRoom(t, shadow, a, "cloud", store.RoomOK, "", board(a, "sip:other@vmr.example.com"))
	seedRoom(t, live, b, "m365", store.RoomOK, "", board(b, "sip:b@vmr.example.com"))
	seedRoom(t, shadow, b, "cloud", store.RoomOK, "", board(b, "sip:b@vmr.example.com"))
	seedRoom(t, live, c, "m365", store.RoomOK, "")
	seedRoom(t, shadow, c, "cloud", store.RoomPolicyDenied, "Exchange Online does not let the app read room-c@example.com: check with Test-ServicePrincipalAuthorization -Identity 22222222 -Resource room-c@example.com")
	return live, shadow
}

// TestMigrateStatusFromTheStores: with the agent stopped, migrate status reads the live and
// the shadow stores and prints each room's result, its differences and fixes.
func TestMigrateStatusFromTheStores(t *testing.T) {
	path, cfg := migrationConfig(t, freePort(t))
	live, shadow := seedMigration(t, cfg)
	require.NoError(t, live.Close())
	require.NoError(t, shadow.Close())

	code, out, errOut := runCLI(t, nil, "migrate", "status", "--config", path)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, errOut, "otj-edge migrate status: from the store at ")
	assert.Regexp(t, `(?m)^ROOM\s+LIVE → SHADOW\s+STATE\s+MEETINGS\s+DETAIL$`, out)
	assert.Regexp(t, `(?m)^room-a@example.com\s+m365 → cloud\s+differs\s+1 / 1\s+1 difference between m365 \(live\) and cloud \(shadow\)$`, out)
	assert.Regexp(t, `(?m)^room-b@example.com\s+m365 → cloud\s+identical\s+1 / 1\s+1 meeting, the same through m365 and cloud$`, out)
	assert.Regexp(t, `(?m)^room-c@example.com\s+m365 → cloud\s+not_readable\s+0 / 0\s+the shadow integration cloud cannot read the room: policy_denied$`, out)
	// The meeting is two hours ahead: after 22:00 that is tomorrow, which the report names.
	assert.Regexp(t, `(?m)^  - ([A-Z][a-z]{2} \d+ [A-Z][a-z]{2} )?\d\d:\d\d 'Board' join sip:board@vmr.example.com \(live\) vs sip:other@vmr.example.com \(shadow\)$`, out)
	assert.Contains(t, out, "  to move it: integration: cloud on its endpoints (poly-b), then otj-edge reload\n")
	assert.Contains(t, out, "  Exchange Online does not let the app read room-c@example.com: check with Test-ServicePrincipalAuthorization")
	assert.Contains(t, out, "\n3 shadowed rooms: 1 identical, 1 differs, 1 not_readable\n")
	assert.NotContains(t, out+errOut, "cloud-secret-value-123")

	code, _, errOut = runCLI(t, nil, "migrate", "--config", path)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "usage: otj-edge migrate status")
}

// migratingAgent is the site's agent seam with the shadow check.
type migratingAgent struct {
	*siteAgent
	live, shadow *store.Store
}

func (a *migratingAgent) Migration(ctx context.Context) (migrate.Report, error) {
	return migrate.Collect(ctx, a.cfg, a.live, func(string) *store.Store { return a.shadow }, time.Now(), time.Local)
}

// TestMigrateStatusFromTheRunningAgent: with the agent running, the report comes from its
// API (GET /api/migration), the same one the page shows.
func TestMigrateStatusFromTheRunningAgent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	path, cfg := migrationConfig(t, ln.Addr().String())
	live, shadow := seedMigration(t, cfg)
	t.Cleanup(func() { live.Close(); shadow.Close() })
	srv, err := web.New(web.Options{Listen: cfg.Status.Listen, Store: live, Health: health.New(nil),
		Agent: &migratingAgent{siteAgent: &siteAgent{cfg: cfg, store: live}, live: live, shadow: shadow}, TokenFile: web.TokenPath(cfg.StateDir)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(web.TokenPath(cfg.StateDir), []byte(srv.Token()+"\n"), 0o600))
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	code, out, errOut := runCLI(t, nil, "migrate", "status", "--json", "--config", path)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "otj-edge migrate status: from the running agent at http://"+ln.Addr().String()+"\n", errOut)
	var doc struct {
		Source sourceInfo `json:"source"`
		migrate.Report
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "agent", doc.Source.Kind)
	assert.Equal(t, map[string]int{"identical": 1, "differs": 1, "not_readable": 1}, doc.Counts)
	require.Len(t, doc.Rooms, 3)
	assert.Equal(t, migrate.Differs, doc.Rooms[0].State)
	assert.Len(t, doc.Rooms[0].Differences, 1)
}

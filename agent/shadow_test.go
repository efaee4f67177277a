package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// twinSims are two Graph tenants loaded with one scenario (same seed, same now: the same
// calendars), plus a "Board" meeting on room-1 in both.
func twinSims(t *testing.T, rooms []string, board time.Time) (live, shadow *graphsim.Server, boardIDs [2]string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Minute)
	sims := [2]*graphsim.Server{}
	for i := range sims {
		sim, err := graphsim.New(graphsim.Options{})
		require.NoError(t, err)
		require.NoError(t, sim.Start())
		t.Cleanup(sim.Close)
		_, err = sim.Load(graphsim.Scenario{Rooms: rooms, Meetings: 6, Days: 2, Seed: 17, Now: now})
		require.NoError(t, err)
		boardIDs[i], err = sim.PostEvent(rooms[0], map[string]any{
			"subject": "Board", "iCalUId": "board-uid-1",
			"body":      map[string]any{"contentType": "html", "content": "<p>Join: sip:board@vmr.example.com</p>"},
			"start":     map[string]any{"dateTime": board.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":       map[string]any{"dateTime": board.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada Berg", "address": "ada@" + sim.TenantDomain()}},
		})
		require.NoError(t, err)
		sims[i] = sim
	}
	return sims[0], sims[1], boardIDs
}

// shadowSite is a site whose rooms read Graph tenant live, with Graph tenant shadow reading
// shadowRooms in shadow, and a Cisco codec in each room.
func shadowSite(t *testing.T, live, shadow *graphsim.Server, shadowRooms string, codecs map[string]*ciscosim.Codec, rooms []string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	var eps strings.Builder
	for i, r := range rooms {
		fmt.Fprintf(&eps, "  - {name: codec-%d, type: cisco, room: %s, address: %s, username: otj, password: %s}\n", i+1, r, codecs[r].URL(), codecPassword)
	}
	integration := func(name string, sim *graphsim.Server, extra string) string {
		ca := filepath.Join(dir, name+"-ca.pem")
		require.NoError(t, sim.CA().WriteFile(ca))
		return fmt.Sprintf("  - name: %s\n    type: graph\n    client_id: %s\n    client_secret: %q\n    token_url: %s\n    graph_url: %s\n    ca_file: %s\n%s",
			name, sim.ClientID(), sim.ClientSecret(), sim.TokenURL(), sim.GraphURL(), ca, extra)
	}
	yaml := "site: test\nstate_dir: state\nstatus: {listen: \"off\"}\nintegrations:\n" +
		integration("onprem", live, "") + integration("cloud", shadow, "    shadow:\n      rooms: "+shadowRooms+"\n") +
		"profiles:\n  - name: default\n    integration: onprem\nendpoints:\n" + eps.String()
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return cfg
}

// waitMigration waits until the report says what ok accepts, and returns it.
func waitMigration(t *testing.T, a *Agent, logs *syncBuffer, what string, ok func(map[string]migrate.Room) bool) map[string]migrate.Room {
	t.Helper()
	var last migrate.Report
	byRoom := map[string]migrate.Room{}
	if !assert.Eventually(t, func() bool {
		rep, err := a.Migration(t.Context())
		require.NoError(t, err)
		last, byRoom = rep, map[string]migrate.Room{}
		for _, r := range rep.Rooms {
			byRoom[r.Room] = r
		}
		return ok(byRoom)
	}, 60*time.Second, 20*time.Millisecond, what) {
		t.Fatalf("%s: the report is %+v\n%s", what, last, logs)
	}
	return byRoom
}

// TestShadowReportsIdenticalThenTheDifference: two Graph tenants with the same calendars; the
// second shadows both rooms. Room 1 reads identical; room 2, outside the shadow app's access
// policy, reads not readable with the fix. After the Board meeting's join link changes in the
// shadow tenant only, room 1 reads differs, naming the meeting and both addresses. Throughout,
// the live store holds the live tenant's meetings only, no cursor of the shadow, and the
// codecs get no push the shadow caused.
func TestShadowReportsIdenticalThenTheDifference(t *testing.T) {
	rooms := []string{"room-1@contoso.example", "room-2@contoso.example"}
	board := time.Now().UTC().Truncate(time.Minute).Add(3 * time.Hour)
	live, shadow, boardIDs := twinSims(t, rooms, board)
	no := false
	require.NoError(t, shadow.PatchRoom(rooms[1], graphsim.RoomPatch{InPolicy: &no}))
	fleet := simFleet(t)
	codecs := map[string]*ciscosim.Codec{}
	for i, r := range rooms {
		codecs[r] = addSimCodec(t, fleet, fmt.Sprintf("codec-%d", i+1), ciscosim.CodecConfig{})
	}
	cfg := shadowSite(t, live, shadow, "all", codecs, rooms)
	a, logs := runTestAgent(t, cfg)

	got := waitMigration(t, a, logs, "room 1 identical, room 2 not readable", func(m map[string]migrate.Room) bool {
		return m[rooms[0]].State == migrate.Identical && m[rooms[1]].State == migrate.NotReadable
	})
	r1 := got[rooms[0]]
	assert.Equal(t, "onprem", r1.Live)
	assert.Equal(t, "cloud", r1.Shadow)
	assert.Positive(t, r1.LiveMeetings)
	assert.Equal(t, r1.LiveMeetings, r1.ShadowMeetings)
	assert.Equal(t, "to move it: integration: cloud on its endpoints (codec-1), then otj-edge reload", r1.Fix)
	r2 := got[rooms[1]]
	assert.Equal(t, store.RoomPolicyDenied, r2.ShadowStatus)
	assert.Contains(t, r2.Fix, rooms[1], "the shadow's own fix for the room (the RBAC or access policy command)")
	assert.Contains(t, r2.Fix, shadow.ClientID())

	// Codec 1 holds the live meetings (room 2's fall outside the codec's window); from now on
	// nothing the shadow does may push to either.
	if !assert.Eventually(t, func() bool { return len(codecs[rooms[0]].Puts()) > 0 }, 30*time.Second, 10*time.Millisecond, "first push to codec-1") {
		t.Fatalf("%s", logs)
	}
	puts := map[string]int{}
	for _, r := range rooms {
		puts[r] = len(codecs[r].Puts())
	}

	_, err := shadow.PatchEvent(rooms[0], boardIDs[1], map[string]any{
		"body": map[string]any{"contentType": "html", "content": "<p>Join: sip:other@vmr.example.com</p>"}})
	require.NoError(t, err)
	require.NoError(t, a.Sync(t.Context(), rooms[0], false), "a room's sync reaches its shadow too")
	got = waitMigration(t, a, logs, "room 1 differs", func(m map[string]migrate.Room) bool { return m[rooms[0]].State == migrate.Differs })
	r1 = got[rooms[0]]
	require.Len(t, r1.Differences, 1, "%+v", r1)
	assert.Regexp(t, `^([A-Z][a-z]{2} \d+ [A-Z][a-z]{2} )?\d\d:\d\d 'Board' join board@vmr\.example\.com \(live\) vs other@vmr\.example\.com \(shadow\)$`, r1.Differences[0])
	assert.Equal(t, "1 difference between onprem (live) and cloud (shadow)", r1.Detail)

	// The live store: the live tenant's Board, no cursor of the shadow integration, and the
	// shadow's store elsewhere.
	ms, err := stored.Meetings(t.Context(), a.store, rooms[0], time.Now(), time.Time{})
	require.NoError(t, err)
	var numbers []string
	for _, m := range ms {
		if m.Subject == "Board" {
			numbers = append(numbers, m.Number)
		}
	}
	assert.Equal(t, []string{"board@vmr.example.com"}, numbers)
	cursors, err := a.store.Cursors(t.Context(), "cloud")
	require.NoError(t, err)
	assert.Empty(t, cursors, "the shadow keeps its position in its own store")
	assert.FileExists(t, migrate.StorePath(cfg.StateDir, "cloud"))
	for _, r := range rooms {
		assert.Len(t, codecs[r].Puts(), puts[r], "%s: no push caused by the shadow", r)
		for _, b := range codecs[r].Bookings() {
			assert.NotContains(t, b.Number, "other@", "the shadow's address never reaches a codec")
		}
	}
	// The shadow's policy_denied room is the report's news, not the site's health.
	for _, it := range a.Health().Snapshot() {
		assert.NotContains(t, it.Message, rooms[1], "%+v", it)
		if strings.Contains(it.Component, "cloud") {
			assert.Equal(t, "ok", string(it.Level), "%+v", it)
		}
	}
}

package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// migrationSite has an EWS integration (the profile's) and a Graph one; %s is the Graph
// integration's extra lines, and %s the endpoints' extra lines (a, b, c in order).
func migrationSite(graphExtra, epA, epB, epC string) string {
	return `site: s1
integrations:
  - name: onprem
    type: ews
    url: https://mail.example.com/EWS/Exchange.asmx
    username: CONTOSO\svc
    password: ews-password-value
  - name: m365
    type: graph
    client_id: abc
    client_secret: graph-secret-value
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
` + graphExtra + `profiles:
  - name: default
    integration: onprem
    start_buffer: 10m
endpoints:
  - name: a1
    type: poly
    room: a@example.com
    calendar_username: a1
    calendar_password: calendar-password-a1
` + epA + `  - name: a2
    type: poly
    room: a@example.com
    calendar_username: a2
    calendar_password: calendar-password-a2
` + epB + `  - name: c1
    type: poly
    room: c@example.com
    calendar_username: c1
    calendar_password: calendar-password-c1
` + epC
}

// TestMovingARoomIsOneLinePerEndpoint: integration: on a room's endpoints reads it through
// another integration, with the same profile; the rooms of each integration follow.
func TestMovingARoomIsOneLinePerEndpoint(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(migrationSite("", "", "",
		"    integration: m365\n")), env(nil))
	require.NoError(t, err)
	rooms := cfg.Rooms()
	require.Len(t, rooms, 2)
	assert.Equal(t, Room{Mailbox: "a@example.com", Profile: "default", Integration: "onprem", Endpoints: []string{"a1", "a2"}}, rooms[0])
	assert.Equal(t, Room{Mailbox: "c@example.com", Profile: "default", Integration: "m365", Endpoints: []string{"c1"}}, rooms[1],
		"moved by one line; its profile (rules, settings) is the same one")

	// A room's endpoints must agree, and the integration must exist.
	_, err = Parse("c.yaml", []byte(migrationSite("", "    integration: m365\n", "",
		"    integration: m356\n")), env(nil))
	require.Error(t, err)
	assert.Equal(t, `c.yaml:24: endpoint "a2": room a@example.com is read through integration "onprem" here but "m365" for endpoint "a1"; a room is read through one integration: give every endpoint of the room the same integration:
c.yaml:34: endpoint "c1": integration "m356" is not defined (defined: m365, onprem)`, err.Error())
}

// TestShadowShapes: shadow.rooms is all or a list; all means every room another integration
// reads live, so a room moved to the shadow's integration leaves its shadow.
func TestShadowShapes(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(migrationSite("    shadow:\n      rooms: all\n", "", "", "")), env(nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"a@example.com", "c@example.com"}, mailboxes(cfg.ShadowRooms("m365")))
	assert.Equal(t, "onprem", cfg.ShadowRooms("m365")[0].Integration, "each with its live integration")
	require.Len(t, cfg.Shadows(), 1)
	assert.Nil(t, cfg.ShadowRooms("onprem"))

	cfg, err = Parse("c.yaml", []byte(migrationSite("    shadow:\n      rooms: all\n", "", "", "    integration: m365\n")), env(nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"a@example.com"}, mailboxes(cfg.ShadowRooms("m365")), "c moved: live on m365, shadowed no more")

	cfg, err = Parse("c.yaml", []byte(migrationSite("    shadow:\n      rooms: [C@example.com]\n", "", "", "")), env(nil))
	require.NoError(t, err)
	assert.Equal(t, []string{"c@example.com"}, mailboxes(cfg.ShadowRooms("m365")))

	cfg, err = Parse("c.yaml", []byte(migrationSite("    shadow:\n      rooms: all\n", "    integration: m365\n", "    integration: m365\n", "    integration: m365\n")), env(nil))
	require.NoError(t, err)
	assert.Empty(t, cfg.Shadows())
	assert.Contains(t, warningsOf(cfg), `integration "m365": shadow: every room already reads m365 live, so nothing is shadowed: the migration is done, remove shadow:`)
}

// TestAddingAShadowNeedsNoOtherEdit: a profile without integration: keeps the site's one
// integration when a second one is added in shadow.
func TestAddingAShadowNeedsNoOtherEdit(t *testing.T) {
	site := strings.Replace(migrationSite("    shadow: {rooms: all}\n", "", "", ""), "    integration: onprem\n    start_buffer", "    start_buffer", 1)
	cfg, err := Parse("c.yaml", []byte(site), env(nil))
	require.NoError(t, err)
	assert.Equal(t, "onprem", cfg.Profile("default").Integration)
	_, err = Parse("c.yaml", []byte(strings.Replace(site, "    shadow: {rooms: all}\n", "", 1)), env(nil))
	require.Error(t, err, "two live integrations: the profile must say which")
}

// TestShadowProblems: every mistake at its line.
func TestShadowProblems(t *testing.T) {
	for _, tc := range []struct{ shadow, eps, want string }{
		{"    shadow:\n      rooms: some\n", "", `c.yaml:14: shadow.rooms must be all, or a list of room mailboxes such as [room-1@example.com]`},
		{"    shadow:\n      room: all\n", "", `c.yaml:14: unknown key "room" in shadow (did you mean "rooms"?)`},
		{"    shadow: {}\n", "", `c.yaml:13: integration "m365": shadow: rooms is required: all, or a list of the room mailboxes to read in shadow`},
		{"    shadow:\n      rooms: [b@example.com, a@example.com, a@example.com]\n", "", `c.yaml:14: integration "m365": shadow: room b@example.com is not a room of this site (no endpoint names it) (defined: a@example.com, c@example.com)
c.yaml:14: integration "m365": shadow: room a@example.com is listed twice`},
		{"    shadow:\n      rooms: [c@example.com]\n", "    integration: m365\n", `c.yaml:14: integration "m365": shadow: room c@example.com already reads m365 live (endpoints c1); a room is never the shadow of its own integration: remove it from shadow.rooms`},
	} {
		_, err := Parse("c.yaml", []byte(migrationSite(tc.shadow, "", "", tc.eps)), env(nil))
		require.Error(t, err, tc.shadow)
		assert.Equal(t, tc.want, err.Error(), tc.shadow)
	}
}

func mailboxes(rooms []Room) []string {
	var out []string
	for _, r := range rooms {
		out = append(out, r.Mailbox)
	}
	return out
}

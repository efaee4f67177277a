package agent

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/source"
)

// vmrMeeting is a meeting whose body has a VMR link only the profile's regex rule turns into a
// SIP address.
func vmrMeeting(id, subject string, start time.Time, vmr string) calendar.Event {
	ev := fakeMeeting(id, subject, start, "")
	ev.Body = &calendar.ItemBody{ContentType: "html", Content: "<p>Join https://meet.example.com/vmr/" + vmr + "</p>"}
	return ev
}

// moveSite is a site with two fake integrations and one profile (read through calendar-a, with
// a regex rule); codec-1's endpoint carries endpointLine ("" or "    integration: calendar-b\n").
func moveSite(t *testing.T, dir, calA, calB string, codec *ciscosim.Codec, endpointLine string) string {
	t.Helper()
	return writeTestConfig(t, dir, fmt.Sprintf(`site: test
state_dir: state
status: {listen: "off"}
integrations:
  - {name: calendar-a, type: fake, calendar: %s, token: move-token-123}
  - {name: calendar-b, type: fake, calendar: %s, token: move-token-123}
profiles:
  - name: default
    integration: calendar-a
    rules:
      - name: vmr
        type: regex
        priority: 10
        match: 'https://meet\.example\.com/vmr/([0-9]+)'
        replace: '$1@vmr.example.com'
endpoints:
  - name: codec-1
    type: cisco
    room: room-1@example.com
    address: %s
    username: otj
    password: %s
%s`, calA, calB, codec.URL(), codecPassword, endpointLine))
}

// TestARoomMovedByOneLineIsSyncedByTheOtherSource: one integration: line on the room's
// endpoint, and a reload, make the other source read the room (its calendar is read, the
// store's room follows), and the codec shows the other source's meeting resolved with the same
// profile's rule: nothing was copied.
func TestARoomMovedByOneLineIsSyncedByTheOtherSource(t *testing.T) {
	room := "room-1@example.com"
	fleet := simFleet(t)
	codec := addSimCodec(t, fleet, "codec-1", ciscosim.CodecConfig{})
	calA, calB := newFakeCalendar(t.Name()+"-a", "move-token-123"), newFakeCalendar(t.Name()+"-b", "move-token-123")
	start := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	calA.put(room, vmrMeeting("m1", "Board (A)", start, "1111"))
	calB.put(room, vmrMeeting("m1", "Board (B)", start, "2222"))
	dir := t.TempDir()
	path := moveSite(t, dir, t.Name()+"-a", t.Name()+"-b", codec, "")
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	a, logs := runTestAgent(t, cfg)

	b := waitTitle(t, codec, logs, "Board (A)")
	assert.Equal(t, "1111@vmr.example.com", b.Number, "the profile's rule")
	readsB, _ := calB.readsSince(0)
	assert.Empty(t, readsB, "calendar-b does not read the room yet")

	moveSite(t, dir, t.Name()+"-a", t.Name()+"-b", codec, "    integration: calendar-b\n")
	require.NoError(t, a.Reload(t.Context()))
	b = waitTitle(t, codec, logs, "Board (B)")
	assert.Equal(t, "2222@vmr.example.com", b.Number, "the same profile's rule, on the other source's meeting")
	assert.Equal(t, []fakeRead{{room, true}}, waitReads(t, calB, 0, 1), "read in full by calendar-b")
	rs, _, err := a.store.Room(t.Context(), room)
	require.NoError(t, err)
	assert.Equal(t, "calendar-b", rs.Integration)
	assert.Equal(t, []string{}, mailboxesOrEmpty(sourceRooms(a.Config(), "calendar-a")))
	assert.Equal(t, []string{room}, mailboxesOrEmpty(sourceRooms(a.Config(), "calendar-b")))
}

func mailboxesOrEmpty(rooms []source.Room) []string {
	out := []string{}
	for _, r := range rooms {
		out = append(out, r.Mailbox)
	}
	return out
}

// TestCheckReadsTheShadowedRooms: `otj-edge check` checks a shadow integration on the rooms it
// shadows (can it read them?) besides its live ones, and the live integration on its own.
func TestCheckReadsTheShadowedRooms(t *testing.T) {
	fleet := simFleet(t)
	codec := addSimCodec(t, fleet, "codec-1", ciscosim.CodecConfig{})
	calA := newFakeCalendar(t.Name()+"-a", "move-token-123")
	newFakeCalendar(t.Name()+"-b", "move-token-123")
	calA.put("room-1@example.com")
	path := moveSite(t, t.TempDir(), t.Name()+"-a", t.Name()+"-b", codec, "")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	yaml := strings.Replace(string(data), "token: move-token-123}\nprofiles:", "token: move-token-123, shadow: {rooms: all}}\nprofiles:", 1)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	require.Len(t, cfg.Shadows(), 1)
	var out bytes.Buffer
	assert.Equal(t, 1, checkIntegrations(t.Context(), cfg, &out))
	assert.Equal(t, "fake/calendar-a: room-1@example.com: ok, readable (0 meetings)\n"+
		"fake/calendar-b: room-1@example.com: FAILED: the calendar has no such room\n", out.String())
}

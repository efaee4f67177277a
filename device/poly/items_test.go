package poly

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

func TestItemIDs(t *testing.T) {
	base64url := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	seen := map[string]bool{}
	for i := range 2000 {
		id := itemID(fmt.Sprintf("room-%d@x.example", i%7), fmt.Sprintf("uid|with spaces\r\n%d", i))
		require.Regexp(t, base64url, id, "never '|', white space, line breaks or padding")
		require.True(t, validItemID(id))
		require.False(t, seen[id], "unique")
		seen[id] = true
	}
	assert.Equal(t, itemID(roomA, "m1"), itemID(roomA, "m1"), "stable")
	assert.NotEqual(t, itemID(roomA, "m1"), itemID(roomB, "m1"), "bound to the room")

	m := roomAMeetings()[0]
	k := changeKey(m.Hash(), "t1")
	assert.Equal(t, k, changeKey(m.Hash(), "t1"))
	m.Subject += "!"
	assert.NotEqual(t, k, changeKey(m.Hash(), "t1"), "content changed")
	assert.NotEqual(t, k, changeKey(roomAMeetings()[0].Hash(), "t2"), "body template changed")
}

func TestDialString(t *testing.T) {
	for _, tc := range []struct {
		m    calendar.Meeting
		want string
	}{
		{calendar.Meeting{Join: true, Number: "123@vc.example", Protocol: calendar.ProtocolSIP}, "sip:123@vc.example"},
		{calendar.Meeting{Join: true, Number: "sips:123@vc.example", Protocol: calendar.ProtocolSIP}, "sips:123@vc.example"},
		{calendar.Meeting{Join: true, Number: "10.1.1.1##55", Protocol: calendar.ProtocolH323}, "10.1.1.1##55"},
		{calendar.Meeting{Join: true, Number: "h323:4711", Protocol: calendar.ProtocolH323}, "4711"},
		{calendar.Meeting{Join: true, Number: "https://meet.google.com/abc", Protocol: calendar.ProtocolWebRTC}, ""},
		{calendar.Meeting{Join: true, Number: "x@webex.com", Protocol: calendar.ProtocolSpark}, ""},
		{calendar.Meeting{Join: false, Number: "123@vc.example", Protocol: calendar.ProtocolSIP}, ""},
	} {
		assert.Equal(t, tc.want, DialString(&tc.m), "%+v", tc.m)
	}
}

// TestBodyTemplate: ews.body_template shapes the body the endpoint reads, changing it changes
// every ChangeKey (so endpoints fetch the new bodies), and a template that fails on a meeting
// still serves the dial string.
func TestBodyTemplate(t *testing.T) {
	f := newFixture(t)
	f.opts.BodyTemplate = `{{.DialString}}
{{if .Join}}Video meeting on {{default "an unknown platform" .Platform}}, organised by {{.Organizer}}{{end}}`
	svc := f.start()
	fl := f.fleet(svc, nil)
	ep := fl.Endpoint("poly-a")
	require.NoError(t, ep.PollNow(t.Context()))
	ms := ep.Meetings()
	assert.Equal(t, "sip:8004711@vc.contoso.example\nVideo meeting on MicrosoftTeams, organised by Alice Example", ms[0].Body)
	assert.Equal(t, "", ms[1].Body, "no address: the template renders nothing")
	assert.True(t, ms[0].CanDial)

	// Same meetings, other template: same ItemIds, new ChangeKeys.
	defBody, err := newBodyRenderer("")
	require.NoError(t, err)
	custom, err := newBodyRenderer(f.opts.BodyTemplate)
	require.NoError(t, err)
	now := func() time.Time { return t0 }
	v1, err := newItemCache(f.st, defBody, now).room(t.Context(), roomA)
	require.NoError(t, err)
	v2, err := newItemCache(f.st, custom, now).room(t.Context(), roomA)
	require.NoError(t, err)
	for i := range v1.items {
		assert.Equal(t, v1.items[i].ID, v2.items[i].ID)
		assert.NotEqual(t, v1.items[i].ChangeKey, v2.items[i].ChangeKey)
	}
	assert.True(t, strings.HasPrefix(v1.items[0].BodyText, "sip:8004711@vc.contoso.example\n\n"))

	_, err = NewService(Options{Store: f.st, BodyTemplate: "{{.Nope", StateDir: t.TempDir()})
	assert.ErrorContains(t, err, "body_template")

	// A template that fails at run time (an index out of range) serves the dial string alone.
	r, err := newBodyRenderer(`{{.DialString}} {{index .Subject 99}}`)
	require.NoError(t, err)
	body, err := r.render(roomAMeetings()[0], "sip:x@y.example")
	assert.Error(t, err)
	assert.Empty(t, body)
	c := newItemCache(f.st, r, func() time.Time { return t0 })
	v, err := c.room(t.Context(), roomA)
	require.NoError(t, err)
	assert.Equal(t, "sip:8004711@vc.contoso.example", v.items[0].BodyText)
}

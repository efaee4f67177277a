package poly

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// shown is the part of a polysim meeting the tests compare.
type shown struct {
	Subject string
	Start   time.Time
	End     time.Time
	Dial    string
	CanDial bool
	Private bool
}

func shownOf(ms []polysim.Meeting) []shown {
	out := []shown{}
	for _, m := range ms {
		out = append(out, shown{m.Subject, m.Start, m.End, m.DialString, m.CanDial, m.Private})
	}
	return out
}

// TestEndpointsShowTheirRoomsMeetings: over TLS on loopback, each simulated Poly endpoint shows
// exactly its own room's meetings in its calendar window, sorted, with Join (canDial) where a
// dialable address exists, and private meetings as the profile resolved them.
func TestEndpointsShowTheirRoomsMeetings(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	fl := f.fleet(svc, nil)

	for _, name := range []string{"poly-a", "poly-b"} {
		require.NoError(t, fl.Endpoint(name).PollNow(t.Context()), name)
		assert.Equal(t, polysim.StateOnline, fl.Endpoint(name).Status().State)
	}

	// Room A (replace_subject: private): the private meeting shows its organizer's name to an
	// endpoint that shows private subjects, and "Private Meeting" to poly-a, which does not
	// (the endpoint's own setting); it keeps its Join. The non-video meeting has no Join. The
	// meeting beyond the 7-day look-ahead is not in the view.
	assert.Equal(t, []shown{
		{"Weekly sync", at(9, 0), at(9, 30), "8004711@vc.contoso.example", true, false},
		{"Budget review & <forecast>", at(10, 0), at(11, 0), "", false, false},
		{"Stand-up", at(11, 0), at(11, 15), "85551234567.4321@zoomcrc.com", true, false},
		{"Private Meeting", at(13, 0), at(14, 0), "meet.dan@vmr.contoso.example", true, true},
	}, shownOf(fl.Endpoint("poly-a").Meetings()))

	// Room B (hide_private_address): the private meeting shows without Join; an H.323 address
	// is dialable; a browser-only Teams join is not something a Poly calendar can dial; the
	// meeting that ended at 07:00 is still in the view (it starts one day back).
	assert.Equal(t, []shown{
		{"Early call (already over)", at(6, 0), at(7, 0), "early@vc.contoso.example", true, false},
		{"Board meeting", at(9, 0), at(10, 0), "10.0.0.5##1234", true, false},
		{"Carol Example", at(12, 0), at(12, 30), "", false, true},
		{"Teams without SIP", at(15, 0), at(16, 0), "", false, false},
	}, shownOf(fl.Endpoint("poly-b").Meetings()))

	a := fl.Endpoint("poly-a").Meetings()
	assert.Equal(t, "sip:8004711@vc.contoso.example", a[0].Location, "the dial string is served as a SIP URI in Location")
	assert.Contains(t, a[0].Body, "sip:8004711@vc.contoso.example\n", "and on the first line of the body")
	assert.True(t, a[2].Recurring, "an occurrence of a series is marked recurring")

	// The poll is recorded in the endpoint's store row.
	st, ok, err := f.st.Endpoint(t.Context(), "poly-a")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.EndpointUp, st.State)
	assert.Equal(t, t0, st.LastPoll)
}

// TestChangeAppearsAtNextPoll: a changed, added and removed meeting shows at the next poll, and
// only new or changed items are fetched again with GetItem.
func TestChangeAppearsAtNextPoll(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	fl := f.fleet(svc, nil)
	ep := fl.Endpoint("poly-a")
	require.NoError(t, ep.PollNow(t.Context()))
	assert.Equal(t, []string{"GetFolder", "FindItem", "GetItem"}, ops(ep.Requests()))

	// Nothing changed: no GetItem.
	n := len(ep.Requests())
	f.clk.Advance(time.Minute)
	require.NoError(t, ep.PollNow(t.Context()))
	assert.Equal(t, []string{"GetFolder", "FindItem"}, ops(ep.Requests()[n:]))

	ms := roomAMeetings()
	ms[0].Subject = "Weekly sync (moved to Zoom)"
	ms[0].Number, ms[0].Platform = "99887766@zoomcrc.com", calendar.PlatformZoom
	ms = append(ms[:1], ms[2:]...) // the budget review is cancelled
	ms = append(ms, calendar.Meeting{ID: "new-20250505T1600", EventID: "ev9", Start: at(16, 0), End: at(16, 45),
		Subject: "Added late", Join: true, Number: "late@vc.contoso.example", Protocol: calendar.ProtocolSIP})
	require.NoError(t, f.st.Write(t.Context(), func(tx *store.Tx) error {
		_, err := stored.ReplaceMeetings(tx, roomA, ms)
		return err
	}))

	n = len(ep.Requests())
	f.clk.Advance(time.Minute)
	require.NoError(t, ep.PollNow(t.Context()))
	assert.Equal(t, []string{"GetFolder", "FindItem", "GetItem"}, ops(ep.Requests()[n:]))
	assert.Equal(t, []shown{
		{"Weekly sync (moved to Zoom)", at(9, 0), at(9, 30), "99887766@zoomcrc.com", true, false},
		{"Stand-up", at(11, 0), at(11, 15), "85551234567.4321@zoomcrc.com", true, false},
		{"Private Meeting", at(13, 0), at(14, 0), "meet.dan@vmr.contoso.example", true, true},
		{"Added late", at(16, 0), at(16, 45), "late@vc.contoso.example", true, false},
	}, shownOf(ep.Meetings()))

	// A meeting that loses its address loses its Join at the next poll.
	ms[1].Join, ms[1].Number, ms[1].Protocol = false, "", calendar.ProtocolNone
	require.NoError(t, f.st.Write(t.Context(), func(tx *store.Tx) error {
		_, err := stored.ReplaceMeetings(tx, roomA, ms)
		return err
	}))
	require.NoError(t, ep.PollNow(t.Context()))
	standup := ep.Meetings()[1]
	assert.Equal(t, "Stand-up", standup.Subject)
	assert.False(t, standup.CanDial)
}

func ops(rs []polysim.RequestLog) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Op)
	}
	return out
}

// TestUsernameForms: DOMAIN\user, user@domain and user all log in, as a Poly endpoint with a
// Domain field may send any of them.
func TestUsernameForms(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	fl := f.fleet(svc, func(o *polysim.EndpointOptions) {
		switch o.Name {
		case "poly-a":
			o.Domain = "CONTOSO" // sends CONTOSO\poly-a
		case "poly-b":
			o.Username = "poly-b" // configured as poly-b@contoso.example
			o.Domain = "contoso.example"
		}
	})
	for _, name := range []string{"poly-a", "poly-b"} {
		require.NoError(t, fl.Endpoint(name).PollNow(t.Context()), name)
	}
	c := f.client("")
	for _, user := range []string{"POLY-A", "poly-a@contoso.example", `CONTOSO\poly-a`, "poly-b", `X\poly-b@contoso.example`} {
		pass := passA
		if user == "poly-b" || user == `X\poly-b@contoso.example` {
			pass = passB
		}
		status, body := soap(t, c, svc, user, pass, `<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>room</m:UnresolvedEntry></m:ResolveNames>`)
		assert.Equal(t, 200, status, "%s: %s", user, body)
	}
}

// TestOwnLoginMailboxIsTheRoom: an endpoint that asks for the mailbox it logs in as (its user
// name is an address) gets its room's calendar: the credential stands for the room.
func TestOwnLoginMailboxIsTheRoom(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	_, body := soap(t, f.client(""), svc, userB, passB, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
		`<m:CalendarView StartDate="2025-05-04T00:00:00Z" EndDate="2025-05-12T00:00:00Z"/><m:ParentFolderIds>`+
		`<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>`+userB+`</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>`)
	assert.Equal(t, []string{"NoError"}, responseCodes(t, body))
	assert.Contains(t, body, itemID(roomB, "board-20250505T0900"))
}

// TestServiceRestarts: the agent's supervisor may run the service again after a failure.
func TestServiceRestarts(t *testing.T) {
	f := newFixture(t)
	f.opts.Listen = freeAddr(t)
	svc, err := NewService(f.opts)
	require.NoError(t, err)
	for range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		<-svc.Ready()
		status, _ := soap(t, f.client(""), svc, userA, passA, `<m:ResolveNames><m:UnresolvedEntry>room-a</m:UnresolvedEntry></m:ResolveNames>`)
		assert.Equal(t, 200, status)
		cancel()
		require.NoError(t, <-done)
	}
	// A port that is taken is a clear error (and a failed health item), not a hang.
	blocker, err := net.Listen("tcp", f.opts.Listen)
	require.NoError(t, err)
	defer blocker.Close()
	again, err := NewService(f.opts)
	require.NoError(t, err)
	err = again.Run(t.Context())
	require.ErrorContains(t, err, "listen on "+f.opts.Listen)
	assert.Equal(t, "error", healthOf(f.health, "ews").Level)
}

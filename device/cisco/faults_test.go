package cisco

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
)

func TestRebootAndDropsRestoreBookingsWithinTenSeconds(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	base := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Minute)
	ms := providerMeetings(room, base)[:4]
	h.meetings(room, ms...)
	// Production reconnect timing: the first retry after 1 s, never more than 8 s apart.
	h.start([]Endpoint{ep}, func(o *Options) { o.RetryMin, o.RetryMax = time.Second, 8*time.Second })
	want := ids(h.waitPuts(c, 1)[0].Bookings)

	// A reboot loses the bookings and the subscriptions; the codec answers 502 while it boots.
	c.Reboot(ciscosim.RebootOptions{Down: 3 * time.Second})
	require.Empty(t, c.Bookings())
	upAt := c.UpAt()
	puts := h.waitPuts(c, 2)
	assert.Equal(t, want, ids(c.Bookings()))
	assert.LessOrEqual(t, puts[1].At.Sub(upAt), 10*time.Second, "bookings restored within 10 s of the codec coming back")
	assert.Positive(t, c.Stats().Handshakes.ByStatus[http.StatusBadGateway], "the driver met the rebooting codec")
	h.waitEvent("codec-1", KindDown)
	h.waitEndpoint("codec-1", func(e store.EndpointState) bool {
		return e.State == store.EndpointUp && e.LastPush.After(upAt.Add(-time.Second))
	})
	assert.Equal(t, 4, c.Stats().Subscribed, "feedback subscriptions made again on the new connection")

	// A dropped connection: reconnect and push again (the codec may have lost anything).
	dropAt := time.Now()
	c.DropConnections()
	puts = h.waitPuts(c, 3)
	assert.LessOrEqual(t, puts[2].At.Sub(dropAt), 10*time.Second)
	assert.Equal(t, want, ids(c.Bookings()))

	// A connection cut in the middle of a Put: the change still lands after the reconnect.
	c.SetFaults(ciscosim.Faults{DropNext: "xCommand/Bookings/Put"})
	ms[0].Subject = "changed while the line dropped"
	h.meetings(room, ms...)
	puts = h.waitPuts(c, 5) // the dropped one is recorded as received, then the retry
	assert.False(t, puts[3].Accepted, "the first attempt never took effect")
	assert.Equal(t, "changed while the line dropped", byID(c.Bookings())["teams-cvi"].Title)
	assert.NotContains(t, h.logs.String(), testPassword)
}

func TestAuthFailureAtMostOneAttemptPerFiveMinutesInVirtualTime(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	c, ep := h.codec("codec-1", "room-01@contoso.example", ciscosim.CodecConfig{})
	ep.Password = "wrong-password-1"
	next := func() (<-chan struct{}, <-chan struct{}) { return c.HandshakeSignal(), h.fake.TimerCreated() }
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(waitLimit):
			t.Fatalf("timed out waiting for %s\n%s", what, h.logs.String())
		}
	}
	hs, slept := next()
	h.start([]Endpoint{ep}, nil)
	wait(hs, "the first attempt")
	wait(slept, "the driver to wait")
	e := h.waitEndpoint("codec-1", stateIs(store.EndpointAuthFailed))
	assert.Contains(t, e.Detail, "wrong username or password (HTTP 403)")
	assert.Contains(t, e.Detail, "at most once every 5m0s")
	assert.Equal(t, health.Error, findHealth(h.health, "cisco/codec-1").Level)
	assert.Equal(t, "wrong username or password", findHealth(h.health, "cisco/codec-1").Message)

	for minute := 1; minute <= 31; minute++ {
		if minute == 2 {
			require.NoError(t, h.mgr.PushNow("codec-1")) // an operator's push does not bypass the wait
		}
		hs, slept = next()
		h.fake.Advance(time.Minute)
		if minute%5 == 0 {
			wait(hs, "the next attempt")
			wait(slept, "the driver to wait again")
		}
	}
	st := c.Stats()
	require.Equal(t, 7, st.Handshakes.Attempts, "attempts at 0, 5, 10, … 30 minutes")
	assert.Equal(t, 7, st.Handshakes.ByStatus[http.StatusForbidden])
	for i := 1; i < len(st.Handshakes.History); i++ {
		assert.GreaterOrEqual(t, st.Handshakes.History[i].At.Sub(st.Handshakes.History[i-1].At), 5*time.Minute)
	}
	assert.Len(t, h.events("codec-1", KindAuthFailed), 1, "one event per failure streak")

	// A restart (a crash loop, a config reload) remembers the failure: the next attempt still
	// waits for the rest of the 5 minutes.
	h.stop()
	_, slept = next()
	m, err := New(h.mgr.opts)
	require.NoError(t, err)
	h.run(m)
	wait(slept, "the restarted driver to wait")
	assert.Equal(t, 7, c.Stats().Handshakes.Attempts)
	hs, slept = next()
	h.fake.Advance(4 * time.Minute)
	wait(hs, "the attempt 5 minutes after the last one")
	wait(slept, "the driver to wait")
	assert.Equal(t, 8, c.Stats().Handshakes.Attempts)

	// Fixed on the codec side (the password we use is set there): the next attempt connects.
	c.SetUser(ciscosim.User{Username: testUser, Password: "wrong-password-1", Roles: []string{ciscosim.RoleAdmin}})
	h.fake.Advance(5 * time.Minute)
	h.waitEndpoint("codec-1", stateIs(store.EndpointUp))
	assert.Equal(t, 9, c.Stats().Handshakes.Attempts)
}

func TestHandshakeRefusals(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	off, epOff := h.codec("ws-off", "room-01@contoso.example", ciscosim.CodecConfig{WebsocketDisabled: true})
	busy, epBusy := h.codec("busy", "room-02@contoso.example", ciscosim.CodecConfig{})
	busy.SetFaults(ciscosim.Faults{HandshakeStatus: http.StatusServiceUnavailable})
	h.start([]Endpoint{epOff, epBusy}, nil)

	e := h.waitEndpoint("ws-off", stateIs(store.EndpointUnsupported))
	assert.Contains(t, e.Detail, "NetworkServices Websocket")
	assert.Equal(t, 1, off.Stats().Handshakes.ByStatus[http.StatusNotFound])

	e = h.waitEndpoint("busy", stateIs(store.EndpointDown))
	assert.Contains(t, e.Detail, "HTTP 503")
	busy.SetFaults(ciscosim.Faults{})
	h.waitTimer(29*time.Second, 60*time.Second) // 503 backs off 30–60 s
	h.fake.Advance(61 * time.Second)
	h.waitEndpoint("busy", stateIs(store.EndpointUp))
}

func TestSubprotocolFallbackIsRemembered(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	c, ep := h.codec("codec-1", "room-01@contoso.example", ciscosim.CodecConfig{AuthStyle: ciscosim.AuthSubprotocol})
	h.meetings(ep.Room, providerMeetings(ep.Room, time.Now().UTC().Add(time.Hour))[:1]...)
	h.start([]Endpoint{ep}, nil)
	h.waitPuts(c, 1)
	st := c.Stats()
	assert.Equal(t, 1, st.Handshakes.ByStatus[http.StatusUnauthorized], "the header was not enough")
	assert.Equal(t, 1, st.Handshakes.ByStatus[http.StatusSwitchingProtocols])
	c.DropConnections()
	h.waitPuts(c, 2)
	assert.Equal(t, 1, c.Stats().Handshakes.ByStatus[http.StatusUnauthorized], "the next connection uses the subprotocol at once")
}

func TestOutOfOrderSlowRepliesWithFeedbackInBetween(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{SystemName: "Bjorvika", ProductID: "Cisco Room Bar"})
	c.SetFaults(ciscosim.Faults{Reorder: true, InterleaveFeedback: true, Delay: 20 * time.Millisecond})

	// The client alone: many requests in flight, answers overtaking each other.
	conn, err := Dial(t.Context(), DialOptions{URL: c.URL(), Username: testUser, Password: testPassword})
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Subscribe(t.Context(), true, "Status", "Bookings", "Current")
	require.NoError(t, err)
	paths := map[string][]any{
		"Cisco Room Bar":              {"Status", "SystemUnit", "ProductId"},
		ciscosim.RoomOS11.Version:     {"Status", "SystemUnit", "Software", "Version"},
		ciscosim.RoomOS11.DisplayName: {"Status", "SystemUnit", "Software", "DisplayName"},
		"Bjorvika":                    {"Configuration", "SystemUnit", "Name"},
		"FollowHTTPService":           {"Configuration", "NetworkServices", "Websocket"},
		"HTTPS":                       {"Configuration", "NetworkServices", "HTTP", "Mode"},
		"Room Bar":                    {"Status", "SystemUnit", "ProductPlatform"},
		"Registered":                  {"Status", "Webex", "Status"},
		"Auto":                        {"Configuration", "Bookings", "ProtocolPriority"},
		"Cisco Codec":                 {"Status", "SystemUnit", "ProductType"},
	}
	type answer struct{ want, got string }
	answers := make(chan answer, len(paths))
	for wantValue, path := range paths {
		go func() {
			var v string
			err := conn.Get(t.Context(), &v, path...)
			if err != nil {
				v = err.Error()
			}
			answers <- answer{wantValue, v}
		}()
	}
	for range paths {
		a := <-answers
		assert.Equal(t, a.want, a.got, "each answer reaches the request with its id")
	}
	assert.Greater(t, c.Stats().MaxInFlight, 1, "requests were in flight together")
	select {
	case <-conn.FeedbackReady():
		fbs := conn.TakeFeedback()
		require.NotEmpty(t, fbs)
		assert.Equal(t, "Status", fbs[0].Root)
	case <-time.After(waitLimit):
		t.Fatal("no feedback arrived between the answers")
	}

	// The driver on the same codec: information read right, bookings pushed.
	h.meetings(room, providerMeetings(room, time.Now().UTC().Add(time.Hour))[:3]...)
	h.start([]Endpoint{ep}, nil)
	h.waitPuts(c, 1)
	e := h.waitEndpoint("codec-1", func(e store.EndpointState) bool { return e.PushHash != "" })
	assert.Equal(t, "Cisco Room Bar", e.Product)
	assert.Equal(t, "RoomOS 11.14.4.0", e.Software)
	assert.Equal(t, store.EndpointUp, e.State, e.Detail)
	assert.Equal(t, []string{"teams-cvi", "teams-webrtc", "zoom"}, ids(c.Bookings()))
}

func TestForeignBookingsAreReportedNotFought(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	base := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	tms := `{"Bookings":[{"Id":"tms-4711","Title":"Pushed by TMS","Organizer":{"Name":"TMS"},
		"Time":{"StartTime":"` + base.Format("2006-01-02T15:04:05Z") + `","Duration":30},"Number":"4711@tms.example.com","Protocol":"SIP"}]}`
	require.NoError(t, c.ForeignPut(tms)) // already on the codec when otj-edge first connects
	h.meetings(room, providerMeetings(room, base)[:2]...)
	h.start([]Endpoint{ep}, nil)

	ev := h.waitEvent("codec-1", KindForeign)
	assert.Equal(t, "warn", ev.Level)
	assert.Contains(t, ev.Message, "tms-4711")
	assert.Contains(t, ev.Message, "only one system should push")
	h.waitPuts(c, 2)
	e := h.waitEndpoint("codec-1", func(e store.EndpointState) bool { return e.PushHash != "" })
	assert.Equal(t, store.EndpointDegraded, e.State)
	assert.Contains(t, e.Detail, "another system pushes bookings to this codec")
	assert.Equal(t, health.Warning, findHealth(h.health, "cisco/codec-1").Level)

	// While connected: another system replaces the list. otj-edge notices (Bookings Updated),
	// reports it, and does not push back at once.
	h.waitIdle("codec-1", 1)
	tms2 := strings.ReplaceAll(tms, "tms-4711", "tms-4712")
	require.NoError(t, c.ForeignPut(tms2))
	dropped := h.waitEvent("codec-1", KindDropped)
	assert.Contains(t, dropped.Message, "removed from the codec by something else")
	require.Eventually(t, func() bool { return len(h.events("codec-1", KindForeign)) == 2 }, waitLimit, 10*time.Millisecond)
	assert.Contains(t, h.events("codec-1", KindForeign)[0].Message, "tms-4712")
	assert.Len(t, c.Puts(), 3, "our list was not pushed back over theirs")
	assert.Equal(t, []string{"tms-4712"}, ids(c.Bookings()))

	// Our next push (here an operator's) restores the room's bookings.
	require.NoError(t, h.mgr.PushNow("codec-1"))
	h.waitPuts(c, 4)
	assert.Equal(t, []string{"teams-cvi", "teams-webrtc"}, ids(c.Bookings()))
}

func TestChangedCertificateIsRefusedUntilTrusted(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	h.meetings(room, providerMeetings(room, time.Now().UTC().Add(time.Hour))[:2]...)
	h.start([]Endpoint{ep}, nil)
	h.waitPuts(c, 1)
	first := c.Fingerprint()
	e := h.waitEndpoint("codec-1", func(e store.EndpointState) bool { return e.CertSHA256 != "" })
	assert.Equal(t, first, e.CertSHA256)

	attempts := c.Stats().Handshakes.Attempts
	presented, err := c.RotateCertificate() // and the connection drops, as when a codec is reset
	require.NoError(t, err)
	e = h.waitEndpoint("codec-1", stateIs(store.EndpointCertChanged))
	assert.Equal(t, first, e.CertSHA256, "the pin is kept")
	assert.Equal(t, presented, e.SeenSHA256)
	assert.Contains(t, e.Detail, "otj-edge endpoints trust codec-1")
	assert.Contains(t, e.Detail, ColonFingerprint(presented))
	assert.Equal(t, health.Error, findHealth(h.health, "cisco/codec-1").Level)
	ev := h.waitEvent("codec-1", KindCertChanged)
	assert.Equal(t, "error", ev.Level)
	require.NoError(t, h.mgr.PushNow("codec-1")) // retries the TLS handshake only
	assert.Equal(t, attempts, c.Stats().Handshakes.Attempts, "no upgrade request, so no credentials, reached the codec")
	assert.Len(t, c.Puts(), 1)

	trusted, err := h.st.TrustSeenCertificate(context.Background(), "codec-1")
	require.NoError(t, err)
	assert.Equal(t, presented, trusted.CertSHA256)
	h.waitPuts(c, 2)
	e = h.waitEndpoint("codec-1", stateIs(store.EndpointUp))
	assert.Equal(t, presented, e.CertSHA256)
	assert.Empty(t, e.SeenSHA256)
	h.waitEvent("codec-1", KindCertAccepted)
	assert.Len(t, h.events("codec-1", KindCertChanged), 1)

	_, err = h.st.TrustSeenCertificate(context.Background(), "codec-1")
	assert.ErrorIs(t, err, store.ErrNothingToTrust)
}

func TestConfiguredFingerprintAndCA(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	pinned, epPinned := h.codec("pinned", "room-01@contoso.example", ciscosim.CodecConfig{})
	epPinned.Fingerprint = ColonFingerprint(pinned.Fingerprint())
	wrong, epWrong := h.codec("wrong-pin", "room-02@contoso.example", ciscosim.CodecConfig{})
	epWrong.Fingerprint = strings.Repeat("ab", 32)
	h.meetings(epPinned.Room, providerMeetings(epPinned.Room, time.Now().UTC().Add(time.Hour))[:1]...)
	h.start([]Endpoint{epPinned, epWrong}, nil)

	h.waitPuts(pinned, 1)
	e := h.waitEndpoint("pinned", stateIs(store.EndpointUp))
	assert.Empty(t, e.CertSHA256, "a configured fingerprint is not copied into the store")
	e = h.waitEndpoint("wrong-pin", stateIs(store.EndpointCertChanged))
	assert.Contains(t, e.Detail, "update fingerprint for this endpoint in the config")
	assert.Equal(t, 0, wrong.Stats().Handshakes.Attempts)
}

func TestCE915PushesWhatTheFirmwareTakes(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-ce9", room, ciscosim.CodecConfig{Profile: ciscosim.CE915})
	onprem, epOnprem := h.codec("codec-ce9-onprem", "room-02@contoso.example", ciscosim.CodecConfig{Profile: ciscosim.CE915, NotCloudRegistered: true})
	base := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Minute)
	h.meetings(room, providerMeetings(room, base)...)
	h.meetings("room-02@contoso.example", providerMeetings("room-02@contoso.example", base)[:1]...)
	h.start([]Endpoint{ep, epOnprem}, nil)

	puts := h.waitPuts(c, 1)
	require.True(t, puts[0].Accepted, puts[0].Error)
	assert.NotContains(t, puts[0].Body, "MeetingPlatform", "CE 9.15 has no MeetingPlatform")
	assert.NotContains(t, puts[0].Body, "WebRTC")
	assert.Equal(t, []string{"teams-cvi", "zoom", "webex", "pexip", "h323"}, ids(c.Bookings()),
		"the Teams and Google Meet meetings with only a WebRTC link get no Join; the lunch is not listed")
	e := h.waitEndpoint("codec-ce9", func(e store.EndpointState) bool { return e.PushHash != "" })
	assert.Equal(t, store.EndpointDegraded, e.State)
	assert.Contains(t, e.Detail, "2 meetings get no Join button because CE 9.15 cannot take them")
	assert.Contains(t, e.Detail, `"Teams direct guest join"`)
	assert.Contains(t, e.Detail, "add a SIP (CVI) address to the invite or upgrade the codec to RoomOS 11")
	assert.Equal(t, "CE 9.15.17.4", e.Software)
	assert.Equal(t, health.Warning, findHealth(h.health, "cisco/codec-ce9").Level)

	e = h.waitEndpoint("codec-ce9-onprem", stateIs(store.EndpointUnsupported))
	assert.Contains(t, e.Detail, "CE 9.15 refuses Bookings Put on this codec")
	assert.Contains(t, e.Detail, "Webex Edge for Devices")
	h.waitEvent("codec-ce9-onprem", KindUnsupported)
	assert.Empty(t, onprem.Bookings())
}

func TestTeamsRoomsModeAndMissingAdminRole(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	mtr, epMTR := h.codec("mtr", "room-01@contoso.example", ciscosim.CodecConfig{Profile: ciscosim.RoomOS26MTR})
	user, epUser := h.codec("user-role", "room-02@contoso.example", ciscosim.CodecConfig{
		Users: []ciscosim.User{{Username: testUser, Password: testPassword, Roles: []string{ciscosim.RoleUser}}},
	})
	base := time.Now().UTC().Add(time.Hour)
	h.meetings("room-01@contoso.example", providerMeetings("room-01@contoso.example", base)[:1]...)
	h.meetings("room-02@contoso.example", providerMeetings("room-02@contoso.example", base)[:1]...)
	h.start([]Endpoint{epMTR, epUser}, nil)

	e := h.waitEndpoint("mtr", stateIs(store.EndpointUnsupported))
	assert.Contains(t, e.Detail, "RoomOS 26.4 in Microsoft Teams Rooms mode refuses Bookings Put")
	assert.Equal(t, health.Warning, findHealth(h.health, "cisco/mtr").Level)
	assert.Empty(t, mtr.Bookings())

	e = h.waitEndpoint("user-role", stateIs(store.EndpointDegraded))
	assert.Contains(t, e.Detail, `user "otj" is not an Admin`)
	assert.Equal(t, health.Error, findHealth(h.health, "cisco/user-role").Level)
	ev := h.waitEvent("user-role", KindPushFailed)
	assert.Contains(t, ev.Message, "give the user the Admin role")
	assert.Empty(t, user.Bookings())
	st := h.mgr.Stats()
	assert.Equal(t, int64(2), st.PushFailures)
}

// TestOnlyTheLatestPingsAnswerCounts: a pong read after a newer ping went out (the answer to
// an earlier one, or anything else) is no answer to it; a codec that froze just after
// answering the earlier ping would otherwise go unnoticed until the next one.
func TestOnlyTheLatestPingsAnswerCounts(t *testing.T) {
	c := &Conn{pingSeq: 2}
	c.pong(pingPayload(1))
	assert.Less(t, c.pongSeq, c.pingSeq, "the first ping's answer, read late")
	c.pong([]byte("otj"))
	assert.Less(t, c.pongSeq, c.pingSeq, "a payload we never sent")
	c.pong(pingPayload(2))
	assert.Equal(t, c.pingSeq, c.pongSeq)
}

func TestKeepAliveNoticesAFrozenConnection(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	h.meetings(room, providerMeetings(room, start.Add(time.Hour))[:2]...)
	h.start([]Endpoint{ep}, func(o *Options) { o.PingEvery, o.PongWait = 20*time.Second, 300*time.Millisecond })
	h.waitPuts(c, 1)
	h.waitIdle("codec-1", 1)

	// A healthy codec answers the pings: the connection stays up. The ping is sent (and the
	// next one armed) before the codec freezes (waitIdle would be satisfied by the first push
	// already); its answer may still be read only after the next ping has gone out, and must
	// not count as that one's (on a loaded machine it did, and the freeze went unnoticed).
	h.fake.Advance(20 * time.Second)
	h.waitTimer(19*time.Second, 20*time.Second)
	c.FreezeConnections() // the codec hangs: the socket stays open, nothing answers
	h.fake.Advance(20 * time.Second)
	e := h.waitEndpoint("codec-1", stateIs(store.EndpointDown))
	assert.Contains(t, e.Detail, "stopped answering keep-alive pings")
	h.waitTimer(0, time.Second) // the driver waits out its reconnect backoff (0.5–1 s)
	h.fake.Advance(time.Second)
	h.waitPuts(c, 2)
	h.waitEndpoint("codec-1", stateIs(store.EndpointUp))
}

package cisco

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/goroutines"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The on-demand model against ciscosim, in virtual time (the driver and the codec share the
// fake clock; the codec's connections are real TLS WebSockets on loopback).

// onDemand tunes a harness manager to the on-demand model with a channel told of releases.
func onDemand(rel chan string, every time.Duration) func(*Options) {
	return func(o *Options) {
		o.Connection, o.IdleAfter, o.CheckEvery, o.SafetyInterval = ConnOnDemand, time.Minute, every, 24*time.Hour
		o.released = func(name string) { rel <- name }
	}
}

func (h *harness) waitReleased(rel chan string) {
	h.t.Helper()
	select {
	case <-rel:
	case <-time.After(waitLimit):
		h.t.Fatalf("no connection released within %s\n%s", waitLimit, h.logs.String())
	}
}

// readers counts the xAPI reader goroutines alive (one per open connection).
func readers() int { return goroutines.All("cisco.(*Conn).readLoop") }

func TestOnDemandReleasesIdleCodecsRedialsForChangesAndRepushesAfterAReboot(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{UpFor: time.Hour})
	ms := providerMeetings(room, start.Add(3*time.Hour))[:3] // 11:00 on: no feedback needed before 10:50
	h.meetings(room, ms...)
	rel := make(chan string, 8)
	h.start([]Endpoint{ep}, onDemand(rel, 2*time.Minute))
	want := ids(h.waitPuts(c, 1)[0].Bookings)
	h.waitIdle("codec-1", 1)
	require.Equal(t, 1, h.mgr.Stats().Connected)

	// A quiet minute after its push, the connection is released and its reader has ended;
	// the endpoint stays up (nothing went down).
	h.fake.Advance(time.Minute)
	h.waitReleased(rel)
	st := h.mgr.Stats()
	assert.Equal(t, 0, st.Connected)
	assert.Equal(t, 1, st.Released)
	assert.Zero(t, readers(), "no reader goroutine left")
	assert.Equal(t, store.EndpointUp, h.waitEndpoint("codec-1", stateIs(store.EndpointUp)).State)
	assert.Empty(t, h.events("codec-1", KindDown))

	// The liveness check at 08:02 dials, finds the codec up since before, pushes nothing and
	// hangs up at once.
	hs := c.HandshakeSignal()
	h.fake.Advance(time.Minute)
	<-hs
	h.waitReleased(rel)
	assert.Equal(t, 2, c.Stats().Handshakes.ByStatus[http.StatusSwitchingProtocols])
	assert.Len(t, c.Puts(), 1, "a check of a codec that did not restart pushes nothing")

	// A change dials again (after its debounce) and pushes it; a quiet minute later, released.
	ms[0].Subject = "changed while released"
	h.meetings(room, ms...)
	h.waitTimer(0, 50*time.Millisecond)
	h.fake.Advance(50 * time.Millisecond)
	puts := h.waitPuts(c, 2)
	assert.Equal(t, "changed while released", byID(puts[1].Bookings)["teams-cvi"].Title)
	assert.Equal(t, 3, c.Stats().Handshakes.ByStatus[http.StatusSwitchingProtocols])
	h.waitIdle("codec-1", 2) // the release is armed: a minute from the push
	h.fake.Advance(time.Minute)
	h.waitReleased(rel)

	// The codec restarts (bookings lost) while released: the next check, at most CheckEvery
	// later, sees the short uptime and pushes everything again.
	c.Reboot(ciscosim.RebootOptions{Down: time.Nanosecond})
	require.Empty(t, c.Bookings())
	rebootAt := h.fake.Now()
	next := rebootAt.Truncate(2 * time.Minute).Add(2 * time.Minute)
	h.fake.Advance(next.Sub(rebootAt))
	puts = h.waitPuts(c, 3)
	assert.Equal(t, want, ids(c.Bookings()))
	assert.LessOrEqual(t, puts[2].At.Sub(rebootAt), 2*time.Minute, "bookings back within the check interval")
	ev := h.waitEvent("codec-1", KindRestarted)
	assert.Contains(t, ev.Message, "codec restarted")
	h.waitReleased(rel)
	assert.Zero(t, readers())
	assert.NotContains(t, h.logs.String(), testPassword)
}

// A cold start pushes every codec within seconds of the others: each is released
// DefaultIdleAfter (2 s) after its push (not a minute later), so a site's codecs are not all
// connected at once.
func TestOnDemandColdStartReleasesEachCodecSoonAfterItsPush(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	var cs []*ciscosim.Codec
	var eps []Endpoint
	for _, name := range []string{"codec-1", "codec-2", "codec-3"} {
		room := name + "@contoso.example"
		c, ep := h.codec(name, room, ciscosim.CodecConfig{UpFor: time.Hour})
		h.meetings(room, providerMeetings(room, start.Add(3*time.Hour))[:2]...)
		cs, eps = append(cs, c), append(eps, ep)
	}
	rel := make(chan string, 8)
	h.start(eps, func(o *Options) {
		o.Connection, o.SafetyInterval = ConnOnDemand, 24*time.Hour // IdleAfter: the default
		o.released = func(name string) { rel <- name }
	})
	for i, c := range cs {
		h.waitPuts(c, 1)
		h.waitIdle(eps[i].Name, 1)
	}
	require.Equal(t, 3, h.mgr.Stats().Connected)
	for _, c := range cs {
		assert.Zero(t, c.Stats().Subscribed, "no feedback subscribed for a connection about to be released (no meeting near)")
	}
	require.Equal(t, 2*time.Second, DefaultIdleAfter)
	h.fake.Advance(DefaultIdleAfter)
	for range cs {
		h.waitReleased(rel)
	}
	st := h.mgr.Stats()
	assert.Equal(t, 0, st.Connected)
	assert.Equal(t, 3, st.Released)
	assert.Zero(t, readers(), "no reader goroutine left")
	for _, c := range cs {
		assert.Len(t, c.Puts(), 1)
	}
}

func TestOnDemandWrongPasswordIsTriedNoMoreThanOncePerFiveMinutes(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{UpFor: time.Hour})
	h.meetings(room, providerMeetings(room, start.Add(3*time.Hour))[:2]...)
	rel := make(chan string, 8)
	h.start([]Endpoint{ep}, onDemand(rel, time.Minute))
	h.waitPuts(c, 1)
	h.waitIdle("codec-1", 1)
	h.fake.Advance(time.Minute)
	h.waitReleased(rel)

	// Someone changes the password on the codec; the next check's login fails.
	c.SetUser(ciscosim.User{Username: testUser, Password: "changed-on-the-codec", Roles: []string{ciscosim.RoleAdmin}})
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(waitLimit):
			t.Fatalf("timed out waiting for %s\n%s", what, h.logs.String())
		}
	}
	hs, slept := c.HandshakeSignal(), h.fake.TimerCreated()
	h.fake.Advance(time.Minute) // 08:02, the check
	wait(hs, "the check's login")
	wait(slept, "the driver to wait")
	e := h.waitEndpoint("codec-1", stateIs(store.EndpointAuthFailed))
	assert.Contains(t, e.Detail, "at most once every 5m0s")
	for minute := 1; minute <= 30; minute++ {
		hs, slept = c.HandshakeSignal(), h.fake.TimerCreated()
		h.fake.Advance(time.Minute)
		if minute%5 == 0 {
			wait(hs, "the next attempt")
			wait(slept, "the driver to wait again")
		}
	}
	st := c.Stats()
	assert.Equal(t, 7, st.Handshakes.ByStatus[http.StatusForbidden], "attempts at 08:02, 08:07, … 08:32: as the persistent model")
	var failed []time.Time
	for _, r := range st.Handshakes.History {
		if r.Status == http.StatusForbidden {
			failed = append(failed, r.At)
		}
	}
	for i := 1; i < len(failed); i++ {
		assert.GreaterOrEqual(t, failed[i].Sub(failed[i-1]), 5*time.Minute)
	}
	assert.Len(t, h.events("codec-1", KindAuthFailed), 1)
}

func TestOnDemandStaysConnectedForAMeetingsFeedback(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{UpFor: time.Hour})
	ms := providerMeetings(room, start.Add(30*time.Minute))[:1] // 08:30–09:00, joinable from 08:25
	h.meetings(room, ms...)
	rel := make(chan string, 8)
	h.start([]Endpoint{ep}, onDemand(rel, time.Hour))
	h.waitPuts(c, 1)
	h.waitIdle("codec-1", 1)
	h.fake.Advance(time.Minute)
	h.waitReleased(rel)
	assert.Zero(t, readers())

	// 08:20 (the join window less FeedbackMargin): connected and subscribed again.
	hs := c.HandshakeSignal()
	h.idleMu.Lock()
	h.idleAt["codec-1"] = 0
	h.idleMu.Unlock()
	h.fake.Advance(19 * time.Minute)
	<-hs
	h.waitIdle("codec-1", 1)
	assert.Equal(t, 4, c.Stats().Subscribed)
	assert.Equal(t, 1, h.mgr.Stats().Connected)

	h.fake.Advance(10 * time.Minute) // 08:30, the meeting starts
	c.Tick()
	h.waitEvent("codec-1", KindMeetingStarted)
	c.Dial("1234567890.acme@m.webex.com", "Sip", "")
	joined := h.waitEvent("codec-1", KindMeetingJoined)
	assert.Equal(t, "teams-cvi", joined.Data["booking_id"])
	assert.Len(t, c.Puts(), 1, "no push needed for it")
}

// TestOnDemandFirstContactDuringAMeetingSubscribes: a codec first reached while one of its
// meetings is near is subscribed for feedback on that first connection, as after any dial.
func TestOnDemandFirstContactDuringAMeetingSubscribes(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{UpFor: time.Hour})
	h.meetings(room, providerMeetings(room, start.Add(5*time.Minute))[:1]...) // joinable now
	rel := make(chan string, 8)
	h.start([]Endpoint{ep}, onDemand(rel, time.Hour))
	h.waitPuts(c, 1)
	h.waitIdle("codec-1", 1)
	assert.Equal(t, 4, c.Stats().Subscribed)
	assert.Equal(t, 1, h.mgr.Stats().Connected, "held for the meeting's feedback")
}

// TestOnDemandCodecsOfUnsyncedRoomsAreDialledByTheirFirstCheck: on a fresh store, a codec
// whose room has not synced is not dialled at start. An operator's Push dials it at once
// (and says it waits for the sync); otherwise its first liveness check does, within the check
// interval, so a wrong password or a new certificate shows without a calendar; and the room's
// first sync dials it for its first push. A first contact is no restart.
func TestOnDemandCodecsOfUnsyncedRoomsAreDialledByTheirFirstCheck(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	h.unsynced = map[string]bool{}
	var cs []*ciscosim.Codec
	var eps []Endpoint
	for _, name := range []string{"codec-1", "codec-2", "codec-3"} {
		room := name + "@contoso.example"
		h.unsynced[room] = true
		cfg := ciscosim.CodecConfig{UpFor: time.Hour}
		if name == "codec-2" { // its password was changed on the codec
			cfg.Users = []ciscosim.User{{Username: testUser, Password: "changed-on-the-codec", Roles: []string{ciscosim.RoleAdmin}}}
		}
		c, ep := h.codec(name, room, cfg)
		cs, eps = append(cs, c), append(eps, ep)
	}
	rel := make(chan string, 8)
	h.start(eps, onDemand(rel, 3*time.Minute)) // checks at 08:03, 08:01 and 08:02 (their phases)
	for _, ep := range eps {
		h.waitEndpoint(ep.Name, stateIs(store.EndpointWaiting))
	}
	for _, c := range cs {
		assert.Zero(t, c.Stats().Handshakes.Attempts, "no login at start for a room that has not synced")
	}

	// An operator's push dials at once and says why nothing was pushed.
	rs, err := h.mgr.Push(t.Context(), "codec-3")
	require.NoError(t, err)
	require.Len(t, rs, 1)
	assert.Equal(t, OutcomeWaiting, rs[0].Outcome, rs[0].Detail)
	assert.Equal(t, 1, cs[2].Stats().Handshakes.ByStatus[http.StatusSwitchingProtocols])

	// The first checks dial the other two: one logs in, is pinned and hung up at once; the
	// other's wrong password shows.
	hs1, hs2 := cs[0].HandshakeSignal(), cs[1].HandshakeSignal()
	h.fake.Advance(3 * time.Minute)
	for _, hs := range []<-chan struct{}{hs1, hs2} {
		select {
		case <-hs:
		case <-time.After(waitLimit):
			t.Fatalf("no first check within the check interval\n%s", h.logs.String())
		}
	}
	e := h.waitEndpoint("codec-2", stateIs(store.EndpointAuthFailed))
	assert.Contains(t, e.Detail, "wrong username or password")
	h.waitEvent("codec-1", KindCertPinned)
	for range 2 { // codec-3 after its quiet minute, codec-1 right after its check
		h.waitReleased(rel)
	}
	assert.Equal(t, store.EndpointWaiting, h.waitEndpoint("codec-1", stateIs(store.EndpointWaiting)).State)
	assert.Equal(t, 1, cs[0].Stats().Handshakes.ByStatus[http.StatusSwitchingProtocols])
	assert.Zero(t, h.mgr.Stats().Connected)
	assert.Zero(t, readers())

	// codec-1's room syncs: dialled at once and pushed.
	room := eps[0].Room
	require.NoError(t, h.st.Write(t.Context(), func(tx *store.Tx) error {
		if _, err := stored.ReplaceMeetings(tx, room, providerMeetings(room, start.Add(3*time.Hour))[:2]); err != nil {
			return err
		}
		return markSynced(tx, room)
	}))
	h.waitPuts(cs[0], 1)
	assert.Equal(t, 2, cs[0].Stats().Handshakes.ByStatus[http.StatusSwitchingProtocols], "the check's login and the push's")
	for _, ep := range eps {
		assert.Empty(t, h.events(ep.Name, KindRestarted), "a first contact is no restart")
	}
	assert.Len(t, cs[0].Bookings(), 2)
	for _, c := range cs[1:] {
		assert.Empty(t, c.Puts(), "nothing cleared or pushed before its room's sync")
	}
}

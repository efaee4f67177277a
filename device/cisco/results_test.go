package cisco

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
)

// TestRetryMakesExactlyOneAttemptNow: a codec refused the password; the driver waits 5
// minutes (virtual time: it never gets there). An operator's retry makes one login attempt at
// once, however many retries come together; with the password still wrong it says so, fixed it
// connects and pushes.
func TestRetryMakesExactlyOneAttemptNow(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	ep.Password = "wrong-password-1"
	h.meetings(room, providerMeetings(room, start.Add(time.Hour))[:3]...)
	m := h.build([]Endpoint{ep}, func(o *Options) { o.MaxConnecting = 1 })
	h.run(m)
	h.waitEndpoint("codec-1", stateIs(store.EndpointAuthFailed))
	require.Equal(t, 1, c.Stats().Handshakes.Attempts)

	// A push does not log in while the driver waits out the 403, and says how to try now.
	rs, err := m.Push(t.Context(), "codec-1")
	require.NoError(t, err)
	assert.Equal(t, OutcomeFailed, rs[0].Outcome)
	assert.Zero(t, rs[0].Attempts)
	assert.Contains(t, rs[0].Detail, "otj-edge endpoints retry codec-1")
	assert.Equal(t, start.Add(5*time.Minute), rs[0].NextAttempt)
	assert.Equal(t, 1, c.Stats().Handshakes.Attempts)

	// Three retries at once (a double click, a script): the connection slot is held so they
	// all arrive before the attempt is made. One login, one answer for all.
	m.connecting <- struct{}{}
	cd := m.byName["codec-1"]
	asked := []<-chan Result{cd.request(true), cd.request(true), cd.request(true)}
	<-m.connecting
	var got []Result
	for _, ch := range asked {
		got = append(got, <-ch)
	}
	assert.Equal(t, 2, c.Stats().Handshakes.Attempts, "one login for three retries")
	assert.Equal(t, 2, c.Stats().Handshakes.ByStatus[http.StatusForbidden])
	for _, r := range got {
		assert.Equal(t, got[0], r)
	}
	r := got[0]
	assert.Equal(t, OutcomeFailed, r.Outcome)
	assert.Equal(t, 1, r.Attempts)
	assert.Equal(t, store.EndpointAuthFailed, r.State)
	assert.Contains(t, r.Detail, "wrong username or password (HTTP 403)")
	assert.False(t, r.Connected)
	assert.Equal(t, start.Add(5*time.Minute), r.NextAttempt, "the 5 minutes start again from the retry")
	assert.Len(t, h.events("codec-1", KindAuthFailed), 1, "still one failure streak")

	// The operator sets the password on the codec to the configured one and retries.
	c.SetUser(ciscosim.User{Username: testUser, Password: "wrong-password-1", Roles: []string{ciscosim.RoleAdmin}})
	r, err = m.Retry(t.Context(), "codec-1")
	require.NoError(t, err)
	assert.Equal(t, 3, c.Stats().Handshakes.Attempts, "exactly one more login")
	assert.Equal(t, OutcomePushed, r.Outcome, r.Detail)
	assert.True(t, r.OK())
	assert.True(t, r.Connected)
	assert.Equal(t, 1, r.Attempts)
	assert.Equal(t, 3, r.Bookings)
	assert.Equal(t, store.EndpointUp, r.State)
	assert.Equal(t, []string{"teams-cvi", "teams-webrtc", "zoom"}, ids(c.Bookings()))
	assert.Equal(t, start, h.fake.Now(), "all of it without the clock moving")

	// A retry of a connected codec logs in no more: it pushes.
	r, err = m.Retry(t.Context(), "codec-1")
	require.NoError(t, err)
	assert.Equal(t, OutcomeUnchanged, r.Outcome)
	assert.Zero(t, r.Attempts)
	assert.Equal(t, 3, c.Stats().Handshakes.Attempts)

	_, err = m.Retry(t.Context(), "nope")
	assert.ErrorContains(t, err, `no Cisco endpoint named "nope"`)
	_, err = m.Retry(t.Context(), "")
	assert.Error(t, err)
}

// TestPushWaitsAndReportsEachCodec: a push to every codec returns once each has answered, with
// what happened to it.
func TestPushWaitsAndReportsEachCodec(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	h.unsynced = map[string]bool{"room-02@contoso.example": true}
	up, upEP := h.codec("codec-up", "room-01@contoso.example", ciscosim.CodecConfig{})
	_, waitEP := h.codec("codec-waiting", "room-02@contoso.example", ciscosim.CodecConfig{})
	wrong, wrongEP := h.codec("codec-wrong", "room-03@contoso.example", ciscosim.CodecConfig{})
	wrongEP.Password = "wrong-password-1"
	awayEP := Endpoint{Name: "codec-away", Room: "room-04@contoso.example", Address: "127.0.0.1:1", Username: testUser, Password: testPassword}
	h.eps = append(h.eps, awayEP)
	h.sync()
	base := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	h.meetings("room-01@contoso.example", providerMeetings("room-01@contoso.example", base)[:2]...)
	h.start([]Endpoint{upEP, waitEP, wrongEP, awayEP}, func(o *Options) { o.RetryMin, o.RetryMax = time.Hour, time.Hour })
	h.waitPuts(up, 1)
	h.waitEndpoint("codec-waiting", stateIs(store.EndpointWaiting))
	h.waitEndpoint("codec-wrong", stateIs(store.EndpointAuthFailed))
	h.waitEndpoint("codec-away", stateIs(store.EndpointDown))

	rs, err := h.mgr.Push(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, rs, 4)
	byName := map[string]Result{}
	for _, r := range rs {
		byName[r.Endpoint] = r
	}
	assert.Equal(t, OutcomeUnchanged, byName["codec-up"].Outcome, "pushed again, as last time")
	assert.Equal(t, 2, byName["codec-up"].Bookings)
	assert.Len(t, up.Puts(), 2, "forced: sent again")
	assert.Equal(t, OutcomeWaiting, byName["codec-waiting"].Outcome)
	assert.Equal(t, OutcomeFailed, byName["codec-wrong"].Outcome)
	assert.Zero(t, byName["codec-wrong"].Attempts)
	assert.Equal(t, 1, wrong.Stats().Handshakes.Attempts, "a push never logs in during the 5 minutes")
	assert.Equal(t, OutcomeFailed, byName["codec-away"].Outcome)
	assert.Equal(t, 1, byName["codec-away"].Attempts, "a codec away gets one attempt")
	assert.Contains(t, byName["codec-away"].Detail, "unreachable")
	assert.False(t, byName["codec-away"].NextAttempt.IsZero())
}

package webex

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/webexsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestRotatedTokenSurvivesRestart: Webex rotates the refresh token; the rotated one is stored
// sealed (not in plain text) and a restart with the same config uses it, although the config's
// first token is refused by then.
func TestRotatedTokenSurvivesRestart(t *testing.T) {
	h := newHarness(t, webexsim.Options{AccessTokenTTL: time.Hour})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep})
	h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
	h.start([]Endpoint{ep}, nil)
	require.Equal(t, 1, h.puts(id))
	first := h.sim.InitialRefreshToken()
	assert.Equal(t, "rotated", h.sim.TokenState(first), "the first refresh rotated the token")

	sealedFile, err := os.ReadFile(h.vault.Path(vaultName("hub")))
	require.NoError(t, err)
	assert.NotContains(t, string(sealedFile), "refresh_token", "sealed, not plain JSON")

	h.stop()
	h.advance0(2 * time.Hour) // the access token has expired: the restart must refresh
	h.meetings(room, meetingsAt(room, testStart.Add(3*time.Hour), 2)...)
	h.start([]Endpoint{ep}, nil)
	assert.Equal(t, 2, h.puts(id), h.logs.String())
	st := h.sim.Stats()
	assert.Zero(t, st.StaleRefreshes, "the old refresh token was never used again")
	assert.Zero(t, st.TokenFailures)
	assert.Equal(t, store.EndpointUp, h.endpoint("wx-1").State)

	// A new refresh token in the config (a re-authorisation) wins over the stored one.
	fresh := h.sim.IssueTokens(webexsim.DefaultScopes)
	h.stop()
	h.meetings(room, meetingsAt(room, testStart.Add(3*time.Hour), 3)...)
	h.start([]Endpoint{ep}, func(o *Options) { o.Connections[0].RefreshToken = fresh.RefreshToken })
	h.advance(3 * time.Second)
	assert.Equal(t, 3, h.puts(id))
}

// TestInvalidGrantIsAuthFailedWithTheSteps: a revoked authorisation turns every endpoint of
// the connection auth_failed with the re-authorisation steps, and nothing more is sent.
func TestInvalidGrantIsAuthFailedWithTheSteps(t *testing.T) {
	h := newHarness(t, webexsim.Options{})
	room := "room-1@contoso.example"
	id, ep := h.device("wx-1", room, webexsim.DeviceConfig{})
	_, ep2 := h.device("wx-2", "room-2@contoso.example", webexsim.DeviceConfig{})
	h.rooms([]Endpoint{ep, ep2})
	h.start([]Endpoint{ep, ep2}, nil)
	require.True(t, h.sim.Revoke("", true))
	h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 1)...)
	h.advance(3 * time.Second)
	h.advance(time.Minute)
	for _, name := range []string{"wx-1", "wx-2"} {
		e := h.endpoint(name)
		assert.Equal(t, store.EndpointAuthFailed, e.State, name)
		assert.Contains(t, e.Detail, "invalid_grant")
		assert.Contains(t, e.Detail, `put the new refresh token into webex "hub" refresh_token`)
		assert.NotContains(t, e.Detail, h.sim.InitialRefreshToken())
	}
	failures := h.sim.Stats().TokenFailures
	for range 5 {
		h.advance(time.Minute)
	}
	assert.Equal(t, failures, h.sim.Stats().TokenFailures, "a refused token is not tried again by itself")
	assert.Equal(t, 0, h.puts(id))
}

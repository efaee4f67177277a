package web

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

var refused = EndpointResult{Outcome: PushFailed, State: store.EndpointAuthFailed, Attempts: 1, NextAttempt: fixtureNow.Add(5 * time.Minute),
	Detail: `wrong username or password (HTTP 403) for user "otj": fix username/password of this endpoint`}

// TestRetryButtonMakesOneAttemptFromThisPageOnly: a codec that refused its password gets a
// "Try again now" button; pressing it runs one retry and shows how it went. A form on another
// web site cannot press it (each press is a login; five wrong ones lock the codec's account).
func TestRetryButtonMakesOneAttemptFromThisPageOnly(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.agent.retryResult = refused
	require.NoError(t, f.store.UpdateEndpoint(t.Context(), "codec-a", func(e *store.EndpointState) error {
		e.State, e.Detail = store.EndpointAuthFailed, refused.Detail
		return nil
	}))
	code, page := f.get("/endpoints")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `<form method="post" action="/endpoints/codec-a/retry"><button type="submit"`)
	assert.NotContains(t, page, `/endpoints/codec-c/retry`, "a changed certificate is accepted with endpoints trust, not retried")
	assert.NotContains(t, page, `/endpoints/poly-b/retry`)

	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		code, body := f.post("/endpoints/codec-a/retry", "application/x-www-form-urlencoded", "", h...)
		assert.Equal(t, http.StatusForbidden, code, body)
		assert.Contains(t, body, "the retry button works only from this status page")
	}
	assert.Empty(t, f.agent.retries, "no attempt for a foreign page")

	code, body := f.post("/endpoints/codec-a/retry", "application/x-www-form-urlencoded", "", "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, []string{"codec-a"}, f.agent.retries)
	assert.Contains(t, body, "still not connected: wrong username or password (HTTP 403)")
	assert.Contains(t, body, "the agent tries again by itself at ")
	assert.Contains(t, body, "One connection attempt was made.")
	assert.Contains(t, body, `href="/endpoints#ep-codec-a"`)

	code, _ = f.post("/endpoints/poly-b/retry", "application/x-www-form-urlencoded", "", "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = f.post("/endpoints/nope/retry", "application/x-www-form-urlencoded", "", "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, []string{"codec-a"}, f.agent.retries)
}

func TestRetryAction(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.agent.retryResult = refused
	token := []string{TokenHeader, f.server.Token()}
	code, raw := f.post("/api/actions/retry", "application/json", `{"endpoint": "codec-a"}`, token...)
	require.Equal(t, http.StatusOK, code, raw)
	var res ActionResult
	require.NoError(t, json.Unmarshal([]byte(raw), &res))
	assert.False(t, res.OK, "still not connected")
	require.Len(t, res.Endpoints, 1)
	assert.Equal(t, "codec-a", res.Endpoints[0].Endpoint)
	assert.Equal(t, 1, res.Endpoints[0].Attempts)
	assert.Contains(t, res.Message, "retry of codec-a: still not connected: wrong username or password (HTTP 403)")

	f.agent.retryResult = EndpointResult{Outcome: PushPushed, Bookings: 3, State: store.EndpointUp, Connected: true, Attempts: 1}
	code, raw = f.post("/api/actions/retry", "application/json", `{"endpoint": "codec-a"}`, token...)
	require.Equal(t, http.StatusOK, code, raw)
	require.NoError(t, json.Unmarshal([]byte(raw), &res))
	assert.True(t, res.OK)
	assert.Equal(t, "retry of codec-a: connected; 3 bookings pushed", res.Message)

	for body, want := range map[string]string{
		`{}`:                                   "retry needs the endpoint to try",
		`{"endpoint": "poly-b"}`:               "poly-b is a Poly endpoint",
		`{"endpoint": "codec-a", "room": "x"}`: "retry does not take room",
	} {
		code, raw := f.post("/api/actions/retry", "application/json", body, token...)
		assert.Equal(t, http.StatusBadRequest, code, body)
		assert.Contains(t, raw, want, body)
	}
	code, _ = f.post("/api/actions/retry", "application/json", `{"endpoint": "nope"}`, token...)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, []string{"codec-a", "codec-a"}, f.agent.retries)
}

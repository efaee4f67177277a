package googlesim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (e *env) adminDo(method, path string, body any) *http.Response {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.g.AdminURL()+path, rd)
	require.NoError(e.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestAdminAPI: graphsim's admin API is mounted as is; the /google/ parts change what the
// Calendar API answers.
func TestAdminAPI(t *testing.T) {
	e := newEnv(t, nil)
	assert.Equal(t, http.StatusOK, e.adminDo("GET", "/rooms", nil).StatusCode, "graphsim's admin API")
	id := e.post(room1, "Plain", "<p>x</p>", e.clk.Now().Add(time.Hour), time.Hour, nil)
	svc := e.admin()

	// Overlay: Meet conferenceData, description emptied.
	resp := e.adminDo("PUT", "/google/overlays/"+room1+"/"+id+"/meet", map[string]any{"code": "abc-defg-hij", "empty_description": true})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	evs, err := svc.Events.List(room1).Do()
	require.NoError(t, err)
	require.Len(t, evs.Items, 1)
	assert.Equal(t, "https://meet.google.com/abc-defg-hij", evs.Items[0].HangoutLink)
	assert.Empty(t, evs.Items[0].Description)
	tok := evs.NextSyncToken

	// Expire sync tokens: 410.
	require.Equal(t, http.StatusNoContent, e.adminDo("POST", "/google/sync-tokens/expire?calendar="+room1, nil).StatusCode)
	_, err = svc.Events.List(room1).SyncToken(tok).Do()
	assert.Equal(t, http.StatusGone, apiErr(t, err).Code)

	// ACL none for the admin: 403.
	require.Equal(t, http.StatusNoContent, e.adminDo("PUT", "/google/acl/"+room1+"/"+e.g.AdminUser(), map[string]string{"role": "none"}).StatusCode)
	_, err = svc.Events.List(room1).Do()
	assert.Equal(t, "forbidden", reason(apiErr(t, err)))
	require.Equal(t, http.StatusNoContent, e.adminDo("DELETE", "/google/acl/"+room1+"/"+e.g.AdminUser(), nil).StatusCode)

	// A fault through the admin API.
	resp = e.adminDo("POST", "/google/faults", map[string]any{"calendar": room1, "reason": "userRateLimitExceeded", "count": 1})
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	_, err = svc.Events.List(room1).Do()
	assert.Equal(t, "userRateLimitExceeded", reason(apiErr(t, err)))

	// Delegation withdrawn through the admin API.
	require.Equal(t, http.StatusNoContent, e.adminDo("DELETE", "/google/delegation/"+e.g.ClientID(""), nil).StatusCode)
	_, err = e.jwtConfig(e.g.AdminUser()).TokenSource(e.ctx()).Token()
	assert.Equal(t, "unauthorized_client", retrieveErr(t, err).ErrorCode)

	// The key file, and the stats.
	resp = e.adminDo("GET", "/google/service-accounts/"+e.g.ServiceAccountEmail()+"/key", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var kf map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&kf))
	assert.Equal(t, e.g.TokenURL(), kf["token_uri"])
	resp = e.adminDo("GET", "/google/stats", nil)
	var st Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Equal(t, 4, st.Calendars[room1].ByMethod["events.list"])
	assert.Equal(t, 1, st.Calendars[room1].Gone)
	assert.Equal(t, 1, st.DelegationRefusals)
}

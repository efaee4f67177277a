package graphsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func postForm(t *testing.T, s *Server, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.HTTPClient().PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func deviceURL(s *Server) string { return strings.TrimSuffix(s.TokenURL(), "/token") + "/devicecode" }

const svc = "svc-otj@contoso.example"

// signIn runs the device-code flow to the end as svc and returns the token answer.
func signIn(t *testing.T, s *Server) map[string]any {
	t.Helper()
	st, dc := postForm(t, s, deviceURL(s), url.Values{"client_id": {s.ClientID()},
		"scope": {"https://graph.microsoft.com/Calendars.Read.Shared offline_access openid profile"}})
	require.Equal(t, http.StatusOK, st, dc)
	require.Contains(t, dc["message"], dc["user_code"])
	poll := url.Values{"grant_type": {grantDeviceCode}, "client_id": {s.ClientID()}, "device_code": {dc["device_code"].(string)}}
	st, body := postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "authorization_pending", body["error"])
	require.NoError(t, s.ApproveCode(dc["user_code"].(string), svc))
	st, body = postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, http.StatusOK, st, body)
	// Redeemed once.
	st, again := postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "bad_verification_code", again["error"])
	return body
}

func TestDeviceCodeRefreshRotationAndRevocation(t *testing.T) {
	s, _ := start(t, Options{})
	tok := signIn(t, s)
	require.Equal(t, "Calendars.Read.Shared profile", tok["scope"])
	require.NotEmpty(t, tok["id_token"])
	rt1 := tok["refresh_token"].(string)
	refresh := func(rt string) (int, map[string]any) {
		return postForm(t, s, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {s.ClientID()}, "refresh_token": {rt}})
	}
	st, body := refresh(rt1)
	require.Equal(t, http.StatusOK, st, body)
	rt2 := body["refresh_token"].(string)
	require.NotEqual(t, rt1, rt2)
	st, body = refresh(rt1) // rotated out
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "invalid_grant", body["error"])
	require.Equal(t, []any{float64(70008)}, body["error_codes"])
	require.Equal(t, 1, s.RevokeUser(svc))
	st, body = refresh(rt2)
	require.Equal(t, "invalid_grant", body["error"])
	require.Contains(t, body["error_description"], "AADSTS50173")

	// Conditional Access: a later block also stops refreshes of device-code sessions.
	rt3 := signIn(t, s)["refresh_token"].(string)
	block := true
	s.SetDelegated(DelegatedSettings{BlockDeviceCode: &block})
	st, body = refresh(rt3)
	require.Equal(t, http.StatusBadRequest, st)
	require.Contains(t, body["error_description"], "AADSTS53003")
}

func TestDeviceCodeDeclineExpireSlowDown(t *testing.T) {
	s, _ := start(t, Options{})
	begin := func() (string, url.Values) {
		_, dc := postForm(t, s, deviceURL(s), url.Values{"client_id": {s.ClientID()}, "scope": {"Calendars.Read.Shared offline_access"}})
		return dc["user_code"].(string), url.Values{"grant_type": {grantDeviceCode}, "client_id": {s.ClientID()}, "device_code": {dc["device_code"].(string)}}
	}
	code, poll := begin()
	require.NoError(t, s.DeclineCode(code))
	_, body := postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, "authorization_declined", body["error"])
	code, poll = begin()
	require.NoError(t, s.ExpireCode(code))
	_, body = postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, "expired_token", body["error"])
	_, poll = begin()
	n := 1
	s.SetDelegated(DelegatedSettings{SlowDown: &n})
	_, body = postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, "slow_down", body["error"])
	_, body = postForm(t, s, s.TokenURL(), poll)
	require.Equal(t, "authorization_pending", body["error"])
}

// A delegated token reads a room only with delegate access, and never past the first page.
func TestDelegatedReadsOfARoom(t *testing.T) {
	s, _ := start(t, Options{})
	room := "room-1@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room}))
	for i := range 3 {
		_, err := s.PostEvent(room, newInvite("M", t0.Add(time.Duration(i+1)*time.Hour), 30*time.Minute))
		require.NoError(t, err)
	}
	access := signIn(t, s)["access_token"].(string)
	view := "/users/" + room + "/calendarView?startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z&$top=2"
	a := get(t, s, access, view)
	require.Equal(t, http.StatusForbidden, a.status)
	require.NoError(t, s.GrantDelegate(room, svc, true))
	a = get(t, s, access, view)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Len(t, values(a), 2)
	next := a.body["@odata.nextLink"].(string)
	a = get(t, s, access, next)
	require.Equal(t, http.StatusForbidden, a.status)
	require.Equal(t, "ErrorAccessDenied", a.body["error"].(map[string]any)["code"])
	require.Equal(t, 1, s.DelegatedStats().LinkDenied)
	// App-only follows the same link.
	a = get(t, s, token(t, s), next)
	require.Equal(t, http.StatusOK, a.status)
	require.NoError(t, s.GrantDelegate(room, svc, false))
	a = get(t, s, access, view)
	require.Equal(t, http.StatusForbidden, a.status)
}

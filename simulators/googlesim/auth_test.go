package googlesim

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"
)

// TestKeyFile: the generated key file is a service account key whose token_uri is the
// simulator, so google.JWTConfigFromJSON points x/oauth2 at it.
func TestKeyFile(t *testing.T) {
	e := newEnv(t, nil)
	var kf map[string]string
	require.NoError(t, json.Unmarshal(e.key, &kf))
	assert.Equal(t, "service_account", kf["type"])
	assert.Equal(t, e.g.TokenURL(), kf["token_uri"])
	assert.Equal(t, e.g.ServiceAccountEmail(), kf["client_email"])
	assert.Contains(t, kf["private_key"], "BEGIN PRIVATE KEY")
	cfg := e.jwtConfig(e.g.AdminUser())
	assert.Equal(t, e.g.TokenURL(), cfg.TokenURL)
}

// TestTokenGrant: a delegated token for the admin reads a room; the refusals are Google's.
func TestTokenGrant(t *testing.T) {
	e := newEnv(t, nil)
	tok, err := e.jwtConfig(e.g.AdminUser()).TokenSource(e.ctx()).Token()
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.WithinDuration(t, time.Now().Add(DefaultTokenTTL), tok.Expiry, 10*time.Second)
	_, err = e.admin().Events.List(ResourceEmail(room1)).Do()
	require.NoError(t, err)

	// Unknown subject: invalid_grant.
	_, err = e.jwtConfig("nobody@contoso.example").TokenSource(e.ctx()).Token()
	re := retrieveErr(t, err)
	assert.Equal(t, http.StatusBadRequest, re.Status)
	assert.Equal(t, "invalid_grant", re.ErrorCode)
	assert.Equal(t, "Invalid email or User ID", re.Description)

	// A scope the admin console did not grant: unauthorized_client, 401.
	_, err = e.jwtConfig(e.g.AdminUser(), calendar.CalendarScope).TokenSource(e.ctx()).Token()
	re = retrieveErr(t, err)
	assert.Equal(t, http.StatusUnauthorized, re.Status)
	assert.Equal(t, "unauthorized_client", re.ErrorCode)
	assert.Contains(t, re.Description, "not authorized for any of the scopes requested")

	// Delegation removed in the admin console: unauthorized_client for every scope.
	e.g.Delegate(e.g.ClientID(""), nil)
	_, err = e.jwtConfig(e.g.AdminUser()).TokenSource(e.ctx()).Token()
	assert.Equal(t, "unauthorized_client", retrieveErr(t, err).ErrorCode)
	assert.Equal(t, 2, e.g.Stats().DelegationRefusals)

	// Without a subject the service account acts as itself: a token, but rooms it is not on
	// the ACL of are forbidden until it is added.
	svc := e.service("")
	_, err = svc.Events.List(ResourceEmail(room1)).Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusForbidden, ge.Code)
	assert.Equal(t, "forbidden", reason(ge))
	require.NoError(t, e.g.SetACL(room1, e.g.ServiceAccountEmail(), RoleReader))
	_, err = svc.Events.List(ResourceEmail(room1)).Do()
	require.NoError(t, err)
	_, err = svc.Events.List(room2).Do()
	assert.Equal(t, "forbidden", reason(apiErr(t, err)))
}

// TestTokenSignatureAndClaims: a deleted key, a foreign key and a wrong audience are refused.
func TestTokenSignatureAndClaims(t *testing.T) {
	e := newEnv(t, nil)
	other := newEnv(t, nil)

	// A key of another project's account with our email: the signature does not verify.
	cfg := e.jwtConfig(e.g.AdminUser())
	foreign := other.jwtConfig(other.g.AdminUser())
	cfg.PrivateKey, cfg.PrivateKeyID = foreign.PrivateKey, ""
	_, err := cfg.TokenSource(e.ctx()).Token()
	re := retrieveErr(t, err)
	assert.Equal(t, "invalid_grant", re.ErrorCode)
	assert.Equal(t, "Invalid JWT Signature.", re.Description)

	// Audience other than the token URL.
	cfg = e.jwtConfig(e.g.AdminUser())
	cfg.Audience = "https://example.com/token"
	_, err = cfg.TokenSource(e.ctx()).Token()
	assert.Contains(t, retrieveErr(t, err).Description, "Failed audience check")

	// An assertion living longer than an hour.
	cfg = e.jwtConfig(e.g.AdminUser())
	cfg.Expires = 2 * time.Hour
	_, err = cfg.TokenSource(e.ctx()).Token()
	assert.Contains(t, retrieveErr(t, err).Description, "short-lived token (60 minutes)")

	// Key rotation: the old key deleted, a new key works.
	accts := e.g.ServiceAccounts()
	require.Len(t, accts, 1)
	newKey, err := e.g.AddKey(accts[0].Email)
	require.NoError(t, err)
	require.NoError(t, e.g.DeleteKey(accts[0].Email, accts[0].KeyIDs[0]))
	_, err = e.jwtConfig(e.g.AdminUser()).TokenSource(e.ctx()).Token()
	assert.Equal(t, "Invalid JWT Signature.", retrieveErr(t, err).Description)
	e.key = newKey
	_, err = e.jwtConfig(e.g.AdminUser()).TokenSource(e.ctx()).Token()
	require.NoError(t, err)
}

// TestAccessTokenChecked: API calls without a token, with an unknown one or an expired one get
// Google's 401 error JSON.
func TestAccessTokenChecked(t *testing.T) {
	e := newEnv(t, nil)
	path := "/calendar/v3/calendars/" + ResourceEmail(room1) + "/events"
	resp := e.rawGet(path, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	var body struct {
		Error apiError `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(b, &body), string(b))
	assert.Equal(t, "UNAUTHENTICATED", body.Error.Status)
	assert.Equal(t, "required", body.Error.Errors[0].Reason)

	e.g.SetSettings(SettingsPatch{TokenTTL: ptrDur(time.Minute)})
	tok, err := e.jwtConfig(e.g.AdminUser()).TokenSource(e.ctx()).Token()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, e.rawGet(path, tok.AccessToken).StatusCode)
	e.clk.Advance(61 * time.Second)
	resp = e.rawGet(path, tok.AccessToken)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	b, _ = io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(b, &body))
	assert.Equal(t, "authError", body.Error.Errors[0].Reason)
	assert.Equal(t, 401, body.Error.Code)
}

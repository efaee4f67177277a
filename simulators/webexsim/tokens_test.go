package webexsim

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// A refresh answers a new access token and a new refresh token with Webex's lifetimes; the old
// refresh token still works within the grace (same successor) and is refused after it.
func TestRefreshRotatesAndRefusesTheOldTokenAfterTheGrace(t *testing.T) {
	e := start(t, 0, nil)
	first := e.s.InitialRefreshToken()
	r := e.refresh(first)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	next, _ := r.body["refresh_token"].(string)
	if next == "" || next == first {
		t.Fatalf("refresh token not rotated: %s", r.raw)
	}
	if r.body["expires_in"].(float64) != 1209600 || r.body["refresh_token_expires_in"].(float64) != 7776000 || r.body["token_type"] != "Bearer" {
		t.Fatalf("lifetimes: %s", r.raw)
	}
	if st := e.s.TokenState(first); st != "rotated" {
		t.Fatalf("old token state %q", st)
	}
	// Within the grace: the lost answer can be fetched again, with the same successor.
	e.clock.Advance(10 * time.Second)
	again := e.refresh(first)
	if again.status != 200 || again.body["refresh_token"] != next {
		t.Fatalf("retry within grace: %d %s", again.status, again.raw)
	}
	e.clock.Advance(DefaultRotationGrace)
	msg := webexError(t, e.refresh(first), 400)
	if !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, invalidGrantDescription) {
		t.Fatalf("message %q", msg)
	}
	if r := e.refresh(next); r.status != 200 {
		t.Fatalf("newest token refused: %d %s", r.status, r.raw)
	}
	st := e.s.Stats()
	if st.StaleRefreshes != 1 || st.TokenRefreshes != 3 || st.TokenFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAccessTokenExpiresAndTokenExpiryTellsWhen(t *testing.T) {
	e := start(t, 0, func(o *Options) { o.AccessTokenTTL = time.Hour })
	tok := e.token()
	r := e.get("/authorizations/tokenExpiry", tok)
	want := e.clock.Now().Add(time.Hour).UnixMilli()
	if r.status != 200 || int64(r.body["exp"].(float64)) != want {
		t.Fatalf("tokenExpiry: %d %s, want exp %d", r.status, r.raw, want)
	}
	e.clock.Advance(time.Hour)
	msg := webexError(t, e.get("/devices", tok), 401)
	if msg != msgUnauthorized {
		t.Fatalf("message %q", msg)
	}
	if webexError(t, e.get("/devices", ""), 401) == "" {
		t.Fatal("no token accepted")
	}
}

func TestRefreshTokenExpiresAfterNinetyDays(t *testing.T) {
	e := start(t, 0, nil)
	e.clock.Advance(DefaultRefreshTokenTTL)
	webexError(t, e.refresh(e.s.InitialRefreshToken()), 400)
}

func TestWrongClientSecretIsInvalidClient(t *testing.T) {
	e := start(t, 0, nil)
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {e.s.ClientID()}, "client_secret": {"nope"}, "refresh_token": {e.s.InitialRefreshToken()}}
	msg := webexError(t, e.do("POST", e.s.TokenURL(), "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"), 401)
	if !strings.Contains(msg, "invalid_client") {
		t.Fatalf("message %q", msg)
	}
	if e.s.TokenState(e.s.InitialRefreshToken()) != "active" {
		t.Fatal("a refused refresh must not use up the token")
	}
}

func TestRevokedGrantRefusesRefreshAndAccessTokens(t *testing.T) {
	e := start(t, 1, nil)
	r := e.refresh(e.s.InitialRefreshToken())
	tok, rt := r.body["access_token"].(string), r.body["refresh_token"].(string)
	if a := e.admin("POST", "/tokens/revoke", `{"token":"`+rt+`","grant":true}`); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.raw)
	}
	webexError(t, e.get("/devices", tok), 401)
	webexError(t, e.refresh(rt), 400)
	if a := e.admin("GET", "/tokens/state?token="+url.QueryEscape(rt), ""); a.body["state"] != "revoked" {
		t.Fatalf("state %s", a.raw)
	}
	// A new consent works again.
	pair := e.admin("POST", "/tokens/issue", "")
	if r := e.get("/devices", pair.body["access_token"].(string)); r.status != 200 {
		t.Fatalf("new authorisation: %d %s", r.status, r.raw)
	}
}

func TestRotationOffKeepsTheRefreshToken(t *testing.T) {
	e := start(t, 0, func(o *Options) { o.KeepRefreshToken = true })
	r := e.refresh(e.s.InitialRefreshToken())
	if r.status != 200 || r.body["refresh_token"] != e.s.InitialRefreshToken() {
		t.Fatalf("refresh: %s", r.raw)
	}
}

func TestAuthorizationCodeGrantIsSingleUse(t *testing.T) {
	e := start(t, 0, nil)
	code := e.admin("POST", "/tokens/code", `{"scopes":["spark:xapi_statuses"]}`).body["code"].(string)
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {e.s.ClientID()}, "client_secret": {e.s.ClientSecret()},
		"code": {code}, "redirect_uri": {"https://localhost/cb"}}
	r := e.do("POST", e.s.TokenURL(), "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	if r.status != 200 || r.body["refresh_token"] == "" || r.body["scope"] != "spark:xapi_statuses" {
		t.Fatalf("code grant: %d %s", r.status, r.raw)
	}
	webexError(t, e.do("POST", e.s.TokenURL(), "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"), 400)
}

func TestBotTokenWorksWithoutRefresh(t *testing.T) {
	e := start(t, 1, nil)
	bot := e.admin("POST", "/tokens/bot", "").body["access_token"].(string)
	e.clock.Advance(365 * 24 * time.Hour)
	if r := e.get("/devices", bot); r.status != 200 {
		t.Fatalf("bot: %d %s", r.status, r.raw)
	}
}

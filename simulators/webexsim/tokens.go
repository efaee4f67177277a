package webexsim

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Credential kinds.
const (
	KindIntegration = "integration" // OAuth integration: refresh token → access tokens
	KindBot         = "bot"         // bot token: no refresh, effectively never expires
)

// grant is one authorisation (an admin consenting to the integration, or a bot): its access
// tokens share one rate-limit bucket and one revocation switch.
type grant struct {
	id      string
	kind    string
	scopes  []string
	revoked bool
}

type refreshToken struct {
	grant     *grant
	expires   time.Time
	successor string // set when rotated
	rotatedAt time.Time
	revoked   bool
}

type accessToken struct {
	grant   *grant
	expires time.Time
	revoked bool
}

type authCode struct {
	scopes  []string
	expires time.Time
	used    bool
}

type tokenStore struct {
	grants  map[string]*grant
	refresh map[string]*refreshToken
	access  map[string]*accessToken
	codes   map[string]*authCode
	nGrant  int
}

func (t *tokenStore) init() {
	t.grants = map[string]*grant{}
	t.refresh = map[string]*refreshToken{}
	t.access = map[string]*accessToken{}
	t.codes = map[string]*authCode{}
}

func (t *tokenStore) newGrant(kind string, scopes []string) *grant {
	t.nGrant++
	g := &grant{id: kind + "-" + itoa(t.nGrant), kind: kind, scopes: append([]string(nil), scopes...)}
	t.grants[g.id] = g
	return g
}

func (t *tokenStore) addRefresh(tok string, g *grant, exp time.Time) {
	t.refresh[tok] = &refreshToken{grant: g, expires: exp}
}

// TokenPair is what the token endpoint answers.
type TokenPair struct {
	AccessToken           string `json:"access_token"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	TokenType             string `json:"token_type"`
	Scope                 string `json:"scope,omitempty"`
}

// The description Webex's identity broker gives for a bad refresh token (seen in Webex SDK
// issues); Webex wraps it in its own error JSON together with the OAuth error code.
const invalidGrantDescription = "The refresh token provided is expired, revoked, malformed, or invalid."

// handleToken is POST /v1/access_token (form-encoded): grant_type refresh_token or
// authorization_code, with the integration's client_id and client_secret.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeErr(w, http.StatusBadRequest, "POST failed: the body is not a valid form: "+err.Error())
		return
	}
	s.mu.Lock()
	s.stats.TokenRequests++
	s.mu.Unlock()
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		s.tokenFail(w, http.StatusUnauthorized, "invalid_client", "The client_id or client_secret is invalid.")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "refresh_token":
		pair, code, desc := s.refresh(r.PostForm.Get("refresh_token"))
		if code != "" {
			s.tokenFail(w, http.StatusBadRequest, code, desc)
			return
		}
		writeJSON(w, http.StatusOK, pair)
	case "authorization_code":
		pair, code, desc := s.exchangeCode(r.PostForm.Get("code"))
		if code != "" {
			s.tokenFail(w, http.StatusBadRequest, code, desc)
			return
		}
		writeJSON(w, http.StatusOK, pair)
	case "":
		s.tokenFail(w, http.StatusBadRequest, "invalid_request", "grant_type is required.")
	default:
		s.tokenFail(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+gt+" is not supported.")
	}
}

// tokenFail answers like Webex does when the identity broker refuses: the OAuth error code and
// description inside Webex's message, errors[] and trackingId.
func (s *Server) tokenFail(w http.ResponseWriter, status int, code, desc string) {
	s.mu.Lock()
	s.stats.TokenFailures++
	s.mu.Unlock()
	msg := "POST failed: HTTP/1.1 " + itoa(status) + " " + http.StatusText(status) +
		" (url = https://idbroker.webex.com/idb/oauth2/v1/access_token, error = '" + code + "', description = '" + desc + "')"
	s.writeErr(w, status, msg)
}

// refresh runs the refresh grant: rotation, the grace for a rotated-out token, expiry, revocation.
func (s *Server) refresh(tok string) (TokenPair, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	rt := s.tokens.refresh[tok]
	switch {
	case tok == "" || rt == nil:
		return TokenPair{}, "invalid_grant", invalidGrantDescription
	case rt.revoked || rt.grant.revoked:
		return TokenPair{}, "invalid_grant", invalidGrantDescription
	case !now.Before(rt.expires):
		return TokenPair{}, "invalid_grant", invalidGrantDescription
	}
	if rt.successor != "" {
		grace := time.Duration(s.settings.RotationGraceMS) * time.Millisecond
		if grace < 0 || now.Sub(rt.rotatedAt) >= grace {
			s.stats.StaleRefreshes++
			return TokenPair{}, "invalid_grant", invalidGrantDescription
		}
		// A retry within the grace (the client lost our answer): same successor, new access token.
		next := s.tokens.refresh[rt.successor]
		s.stats.TokenRefreshes++
		return s.issueLocked(rt.grant, rt.successor, next.expires), "", ""
	}
	s.stats.TokenRefreshes++
	if s.opts.KeepRefreshToken {
		return s.issueLocked(rt.grant, tok, rt.expires), "", ""
	}
	nt := randomToken()
	exp := now.Add(s.opts.RefreshTokenTTL)
	s.tokens.addRefresh(nt, rt.grant, exp)
	rt.successor, rt.rotatedAt = nt, now
	return s.issueLocked(rt.grant, nt, exp), "", ""
}

func (s *Server) exchangeCode(code string) (TokenPair, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.tokens.codes[code]
	if code == "" || c == nil || c.used || !s.now().Before(c.expires) {
		return TokenPair{}, "invalid_grant", "The authorization code is invalid or expired."
	}
	c.used = true
	g := s.tokens.newGrant(KindIntegration, c.scopes)
	nt := randomToken()
	exp := s.now().Add(s.opts.RefreshTokenTTL)
	s.tokens.addRefresh(nt, g, exp)
	return s.issueLocked(g, nt, exp), "", ""
}

// issueLocked mints an access token for g, answered together with refresh token rt.
func (s *Server) issueLocked(g *grant, rt string, rtExp time.Time) TokenPair {
	now := s.now()
	ttl := time.Duration(s.settings.AccessTokenTTLS) * time.Second
	at := randomToken()
	s.tokens.access[at] = &accessToken{grant: g, expires: now.Add(ttl)}
	return TokenPair{AccessToken: at, ExpiresIn: int64(ttl / time.Second), RefreshToken: rt,
		RefreshTokenExpiresIn: int64(rtExp.Sub(now) / time.Second), TokenType: "Bearer", Scope: strings.Join(g.scopes, " ")}
}

// IssueTokens authorises the integration anew with the given scopes (nil: the integration's)
// and returns the pair, as if an admin had consented and the code had been exchanged.
func (s *Server) IssueTokens(scopes []string) TokenPair {
	if scopes == nil {
		scopes = s.opts.Scopes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.tokens.newGrant(KindIntegration, scopes)
	nt := randomToken()
	exp := s.now().Add(s.opts.RefreshTokenTTL)
	s.tokens.addRefresh(nt, g, exp)
	return s.issueLocked(g, nt, exp)
}

// IssueCode returns a one-use authorization code (valid 5 minutes) for the authorization_code grant.
func (s *Server) IssueCode(scopes []string) string {
	if scopes == nil {
		scopes = s.opts.Scopes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := randomToken()
	s.tokens.codes[c] = &authCode{scopes: append([]string(nil), scopes...), expires: s.now().Add(5 * time.Minute)}
	return c
}

// BotToken creates a bot and returns its token: it never expires (Webex bot tokens last ~100
// years) and cannot be refreshed; the rate limit applies per bot.
func (s *Server) BotToken(scopes []string) string {
	if scopes == nil {
		scopes = s.opts.Scopes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.tokens.newGrant(KindBot, scopes)
	at := randomToken()
	s.tokens.access[at] = &accessToken{grant: g, expires: s.now().AddDate(100, 0, 0)}
	return at
}

// Revoke revokes one token (access or refresh) or, with all, every grant (every token the
// simulator ever issued, as an admin revoking the integration in Control Hub). It reports
// whether anything matched.
func (s *Server) Revoke(token string, all bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if all {
		for _, g := range s.tokens.grants {
			g.revoked = true
		}
		return len(s.tokens.grants) > 0
	}
	if rt := s.tokens.refresh[token]; rt != nil {
		rt.revoked = true
		return true
	}
	if at := s.tokens.access[token]; at != nil {
		at.revoked = true
		return true
	}
	return false
}

// RevokeGrantOf revokes the whole authorisation token belongs to (every access and refresh
// token of it), as deleting the integration's authorisation does.
func (s *Server) RevokeGrantOf(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.tokens.refresh[token]; rt != nil {
		rt.grant.revoked = true
		return true
	}
	if at := s.tokens.access[token]; at != nil {
		at.grant.revoked = true
		return true
	}
	return false
}

// TokenState tells whether a refresh token is usable: "active", "rotated" (superseded, in or
// past its grace), "revoked", "expired" or "unknown".
func (s *Server) TokenState(refresh string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.tokens.refresh[refresh]
	switch {
	case rt == nil:
		return "unknown"
	case rt.revoked || rt.grant.revoked:
		return "revoked"
	case !s.now().Before(rt.expires):
		return "expired"
	case rt.successor != "":
		return "rotated"
	}
	return "active"
}

// authenticate resolves the bearer token of r; nil means 401.
func (s *Server) authenticate(r *http.Request) *accessToken {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.tokens.access[strings.TrimSpace(tok)]
	if at == nil || at.revoked || at.grant.revoked || !s.now().Before(at.expires) {
		return nil
	}
	return at
}

func (g *grant) has(scopes ...string) bool {
	for _, sc := range scopes {
		if slices.Contains(g.scopes, sc) {
			return true
		}
	}
	return false
}

// handleTokenExpiry is GET /v1/authorizations/tokenExpiry: {"exp": epoch ms} of the caller's token.
func (s *Server) handleTokenExpiry(w http.ResponseWriter, _ *http.Request, at *accessToken) {
	writeJSON(w, http.StatusOK, map[string]any{"exp": at.expires.UnixMilli()})
}

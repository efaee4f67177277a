package graphsim

// Delegated sign-in (ews-source.md part B): the device-code flow of a public (or confidential)
// client, the device_code and refresh_token grants with refresh-token rotation and
// revocation, a signed-in user's delegate access per room, the 403 Graph answers on nextLink
// and deltaLink for another mailbox's calendar read with a delegated token (§B2), and a
// Conditional Access policy that blocks the device-code flow (which, as Entra tracks the
// protocol, also stops refreshes of tokens that came from it).
//
// Admin API (plain HTTP): GET /delegated/device-codes; POST /delegated/device-codes/{code}/
// approve {"user":UPN} | decline | expire; PATCH /delegated {"block_device_code", "slow_down",
// "allow_public_client"}; POST /delegated/users/{user}/revoke; PUT and DELETE
// /rooms/{room}/delegates/{user}; GET /delegated (counters).

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	// DeviceCodeLifetime and DeviceCodeInterval are Entra's defaults (expires_in, interval).
	DeviceCodeLifetime = 15 * time.Minute
	DeviceCodeInterval = 5 * time.Second
)

// delegatedScopes are the Graph permissions the simulator knows for delegated tokens.
var delegatedScopes = map[string]bool{"Calendars.Read": true, "Calendars.Read.Shared": true, "Calendars.ReadWrite": true,
	"Calendars.ReadWrite.Shared": true, "Place.Read.All": true, "User.Read": true}

type deviceCode struct {
	device, user string // device_code, user_code
	clientID     string
	scopes       []string
	expires      time.Time
	state        string // pending, approved, declined
	upn          string
}

type refreshGrant struct {
	upn, clientID string
	scopes        []string
	viaDeviceCode bool
}

// delegated is the simulator's delegated state (under s.mu; made on first use).
type delegated struct {
	codes     map[string]*deviceCode // by device_code
	grants    map[string]*refreshGrant
	revoked   map[string]string          // refresh token → upn, revoked by an admin (50173)
	users     map[string]string          // access token → upn
	delegates map[string]map[string]bool // room → users with Reviewer on its calendar
	block     bool
	slowDown  int
	noPublic  bool
	stats     DelegatedStats
}

// DelegatedStats count the delegated flows.
type DelegatedStats struct {
	DeviceCodes   int `json:"device_codes"`
	Polls         int `json:"polls"`
	Refreshes     int `json:"refreshes"`
	RefreshFailed int `json:"refresh_failed"`
	LinkDenied    int `json:"link_denied"` // 403 on a nextLink/deltaLink (§B2)
}

// PendingCode is a device code waiting for the user.
type PendingCode struct {
	UserCode string    `json:"user_code"`
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes"`
	Expires  time.Time `json:"expires"`
	State    string    `json:"state"`
}

// DelegatedSettings change the delegated behaviour at run time.
type DelegatedSettings struct {
	// BlockDeviceCode is a Conditional Access policy blocking the device-code flow
	// (AADSTS53003), for new sign-ins and, protocol tracked, for refreshes of their tokens.
	BlockDeviceCode *bool `json:"block_device_code,omitempty"`
	// SlowDown makes the next N device-code polls answer slow_down.
	SlowDown *int `json:"slow_down,omitempty"`
	// AllowPublicClient is the app registration's "Allow public client flows" (default true).
	AllowPublicClient *bool `json:"allow_public_client,omitempty"`
}

func (s *Server) dlg() *delegated {
	if s.delegated == nil {
		s.delegated = &delegated{codes: map[string]*deviceCode{}, grants: map[string]*refreshGrant{}, revoked: map[string]string{},
			users: map[string]string{}, delegates: map[string]map[string]bool{}}
	}
	return s.delegated
}

// SetDelegated applies settings.
func (s *Server) SetDelegated(d DelegatedSettings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.dlg()
	if d.BlockDeviceCode != nil {
		st.block = *d.BlockDeviceCode
	}
	if d.SlowDown != nil {
		st.slowDown = *d.SlowDown
	}
	if d.AllowPublicClient != nil {
		st.noPublic = !*d.AllowPublicClient
	}
}

// DelegatedStats returns the counters.
func (s *Server) DelegatedStats() DelegatedStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dlg().stats
}

// PendingCodes lists the device codes not yet redeemed, oldest expiry first.
func (s *Server) PendingCodes() []PendingCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PendingCode
	for _, c := range s.dlg().codes {
		out = append(out, PendingCode{UserCode: c.user, ClientID: c.clientID, Scopes: c.scopes, Expires: c.expires, State: c.state})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out
}

func (s *Server) codeByUser(userCode string) (*deviceCode, error) {
	for _, c := range s.dlg().codes {
		if strings.EqualFold(c.user, userCode) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("device code %q: %w", userCode, ErrNotFound)
}

// ApproveCode signs in as upn on the device-login page with userCode and consents.
func (s *Server) ApproveCode(userCode, upn string) error {
	upn = strings.ToLower(strings.TrimSpace(upn))
	if upn == "" || !strings.Contains(upn, "@") {
		return errBadRequest("approve: give the user's UPN (user@domain)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.codeByUser(userCode)
	if err != nil {
		return err
	}
	c.state, c.upn = "approved", upn
	return nil
}

// DeclineCode is the user answering "No, cancel" on the consent page.
func (s *Server) DeclineCode(userCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.codeByUser(userCode)
	if err != nil {
		return err
	}
	c.state = "declined"
	return nil
}

// ExpireCode makes a device code expire now.
func (s *Server) ExpireCode(userCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.codeByUser(userCode)
	if err != nil {
		return err
	}
	c.expires = s.now().Add(-time.Second)
	return nil
}

// RevokeUser revokes upn's refresh tokens ("Revoke sessions", a password reset): the next
// refresh answers invalid_grant AADSTS50173. Access tokens already issued stay valid until
// they expire, as Entra's do.
func (s *Server) RevokeUser(upn string) int {
	upn = strings.ToLower(strings.TrimSpace(upn))
	s.mu.Lock()
	defer s.mu.Unlock()
	st, n := s.dlg(), 0
	for rt, g := range st.grants {
		if g.upn == upn {
			delete(st.grants, rt)
			st.revoked[rt] = upn
			n++
		}
	}
	return n
}

// GrantDelegate gives upn Reviewer on room's calendar (Add-MailboxFolderPermission); revoke
// false removes it.
func (s *Server) GrantDelegate(room, upn string, grant bool) error {
	room, upn = strings.ToLower(strings.TrimSpace(room)), strings.ToLower(strings.TrimSpace(upn))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boxes[room] == nil {
		return fmt.Errorf("room %s: %w", room, ErrNotFound)
	}
	st := s.dlg()
	if st.delegates[room] == nil {
		st.delegates[room] = map[string]bool{}
	}
	if grant {
		st.delegates[room][upn] = true
	} else {
		delete(st.delegates[room], upn)
	}
	return nil
}

// --- Entra --------------------------------------------------------------------------------

// serveDeviceCode answers POST /{tenant}/oauth2/v2.0/devicecode.
func (s *Server) serveDeviceCode(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.entraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	if tenant, ok := s.tenantOf(r.URL.Path); !ok {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	clientID := r.PostForm.Get("client_id")
	if !strings.EqualFold(clientID, s.opts.ClientID) {
		s.entraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, s.opts.TenantDomain))
		return
	}
	scopes, bad := parseDelegatedScopes(r.PostForm.Get("scope"))
	if bad != "" {
		s.entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: "+bad)
		return
	}
	c := &deviceCode{device: randToken(32), user: userCode(), clientID: clientID, scopes: scopes, expires: s.now().Add(DeviceCodeLifetime), state: "pending"}
	s.mu.Lock()
	st := s.dlg()
	st.codes[c.device] = c
	st.stats.DeviceCodes++
	s.mu.Unlock()
	uri := s.graphBase + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": c.device, "user_code": c.user, "verification_uri": uri,
		"expires_in": int(DeviceCodeLifetime / time.Second), "interval": int(DeviceCodeInterval / time.Second),
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", uri, c.user),
	})
}

// parseDelegatedScopes reads "offline_access https://graph.microsoft.com/Calendars.Read.Shared"
// into the granted scope names; bad names the first it does not know.
func parseDelegatedScopes(scope string) (names []string, bad string) {
	for _, sc := range strings.Fields(scope) {
		name := sc
		if i := strings.LastIndex(sc, "/"); i >= 0 && strings.Contains(sc, "://") {
			name = sc[i+1:]
		}
		switch {
		case name == "openid" || name == "profile" || name == "offline_access" || name == "email":
		case delegatedScopes[name]:
		default:
			return nil, sc
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, "(empty)"
	}
	return names, ""
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// serveDelegatedGrant answers the device_code and refresh_token grants (serveToken routes
// them here after the tenant and fault checks).
func (s *Server) serveDelegatedGrant(w http.ResponseWriter, form url.Values, clientID, secret string) {
	fail := func(status int, code string, aadsts int, msg string) {
		s.countTokenFailure()
		s.entraError(w, status, code, aadsts, msg)
	}
	if !strings.EqualFold(clientID, s.opts.ClientID) {
		fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, s.opts.TenantDomain))
		return
	}
	s.mu.Lock()
	st := s.dlg()
	wantSecret, noPublic, block := s.app.secret, st.noPublic, st.block
	s.mu.Unlock()
	switch {
	case secret != "" && secret != wantSecret:
		fail(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	case secret == "" && noPublic:
		fail(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	blocked := func() {
		fail(http.StatusBadRequest, "invalid_grant", 53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.")
	}
	var upn string
	var scopes []string
	var viaDevice bool
	if form.Get("grant_type") == grantDeviceCode {
		s.mu.Lock()
		st.stats.Polls++
		c := st.codes[form.Get("device_code")]
		slow := st.slowDown > 0
		if slow {
			st.slowDown--
		}
		expired := c != nil && !s.now().Before(c.expires)
		if c != nil && (expired || c.state != "pending") {
			delete(st.codes, c.device) // a device code is redeemed (or refused) once
		}
		s.mu.Unlock()
		switch {
		case c == nil:
			fail(http.StatusBadRequest, "bad_verification_code", 70018, "The provided value for the input parameter 'device_code' is not valid.")
			return
		case expired:
			fail(http.StatusBadRequest, "expired_token", 70019, "Verification code expired. Have the user retry the sign-in.")
			return
		case c.state == "declined":
			fail(http.StatusBadRequest, "authorization_declined", 70000, "The user declined the sign-in or the consent.")
			return
		case slow:
			fail(http.StatusBadRequest, "slow_down", 70016, "OAuth 2.0 device flow error. Polling too fast: wait longer between requests.")
			return
		case c.state == "pending":
			fail(http.StatusBadRequest, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
			return
		case block:
			blocked()
			return
		}
		upn, scopes, viaDevice = c.upn, c.scopes, true
	} else {
		rt := form.Get("refresh_token")
		s.mu.Lock()
		st.stats.Refreshes++
		g := st.grants[rt]
		_, revoked := st.revoked[rt]
		if g != nil && !(block && g.viaDeviceCode) {
			delete(st.grants, rt) // rotation: the old refresh token is spent
		}
		if g == nil || (block && g.viaDeviceCode) {
			st.stats.RefreshFailed++
		}
		s.mu.Unlock()
		switch {
		case rt == "":
			fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
			return
		case revoked:
			fail(http.StatusBadRequest, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
			return
		case g == nil:
			fail(http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
			return
		case block && g.viaDeviceCode:
			blocked()
			return
		}
		upn, scopes, viaDevice = g.upn, g.scopes, g.viaDeviceCode
		if asked, bad := parseDelegatedScopes(form.Get("scope")); form.Get("scope") != "" && bad == "" {
			for _, a := range asked {
				if !has(scopes, a) {
					fail(http.StatusBadRequest, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+clientID+"'. Send an interactive authorization request for this user and resource.")
					return
				}
			}
		}
	}
	s.issueDelegated(w, clientID, upn, scopes, viaDevice)
}

// issueDelegated writes a delegated token answer: an access token (Graph knows its user), a
// new refresh token with offline_access, an id_token with openid.
func (s *Server) issueDelegated(w http.ResponseWriter, clientID, upn string, scopes []string, viaDevice bool) {
	token := newAccessToken()
	s.mu.Lock()
	ttl := s.app.tokenTTL
	st := s.dlg()
	s.tokens[token] = s.now().Add(ttl)
	st.users[token] = upn
	var rt string
	if has(scopes, "offline_access") {
		rt = "0.A" + randToken(64)
		st.grants[rt] = &refreshGrant{upn: upn, clientID: clientID, scopes: scopes, viaDeviceCode: viaDevice}
	}
	s.mu.Unlock()
	secs := int(ttl / time.Second)
	var granted []string
	for _, sc := range scopes {
		if sc != "offline_access" && sc != "openid" {
			granted = append(granted, sc)
		}
	}
	body := map[string]any{"token_type": "Bearer", "scope": strings.Join(granted, " "), "expires_in": secs, "ext_expires_in": secs, "access_token": token}
	if rt != "" {
		body["refresh_token"] = rt
	}
	if has(scopes, "openid") {
		body["id_token"] = s.idToken(clientID, upn)
	}
	writeJSON(w, http.StatusOK, body)
}

// idToken is an unsigned JWT with the claims a client shows (the simulator's own tokens are
// not verified by anyone).
func (s *Server) idToken(clientID, upn string) string {
	name, _, _ := strings.Cut(upn, "@")
	claims, _ := json.Marshal(map[string]any{"aud": clientID, "iss": s.graphBase + "/" + s.opts.Tenant + "/v2.0", "tid": s.opts.Tenant,
		"preferred_username": upn, "name": name, "oid": newGUID(), "iat": s.now().Unix(), "exp": s.now().Add(time.Hour).Unix()})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"typ":"JWT","alg":"none"}`)) + "." + enc(claims) + "."
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// userCode is nine letters like Entra's (e.g. "FJX3KQ2PL").
func userCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// --- Graph --------------------------------------------------------------------------------

type principalKey struct{}

// withPrincipal tags a Graph request made with a delegated token with its user.
func (s *Server) withPrincipal(r *http.Request) *http.Request {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return r
	}
	s.mu.Lock()
	upn := ""
	if s.delegated != nil {
		upn = s.delegated.users[strings.TrimSpace(tok)]
	}
	s.mu.Unlock()
	if upn == "" {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, upn))
}

// delegatedDeny checks a delegated read of mailbox mb (under s.mu): the user's own mailbox is
// always readable; another one needs delegate access, and even then its nextLink and
// deltaLink pages are refused (microsoft-graph-docs#3997, msgraph-sdk-java#405).
func (s *Server) delegatedDeny(ctx context.Context, mb *mailbox, req gReq) (gResp, bool) {
	upn, _ := ctx.Value(principalKey{}).(string)
	if upn == "" || upn == mb.addr {
		return gResp{}, false
	}
	st := s.dlg()
	denied := errResp(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	if !st.delegates[mb.addr][upn] {
		return denied, true
	}
	q := req.query
	if q.Get("$skiptoken") != "" || q.Get("$deltatoken") != "" || (q.Get("$skip") != "" && q.Get("$skip") != "0") {
		st.stats.LinkDenied++
		return denied, true
	}
	return gResp{}, false
}

// delegatedAdmin adds the delegated admin routes.
func (s *Server) delegatedAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /delegated/device-codes", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.PendingCodes()) })
	mux.HandleFunc("GET /delegated", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.DelegatedStats()) })
	mux.HandleFunc("PATCH /delegated", func(w http.ResponseWriter, r *http.Request) {
		var d DelegatedSettings
		if !decode(w, r, &d) {
			return
		}
		s.SetDelegated(d)
		writeJSON(w, http.StatusOK, s.DelegatedStats())
	})
	mux.HandleFunc("POST /delegated/device-codes/{code}/{action}", func(w http.ResponseWriter, r *http.Request) {
		code := r.PathValue("code")
		var err error
		switch r.PathValue("action") {
		case "approve":
			var body struct {
				User string `json:"user"`
			}
			if !decode(w, r, &body) {
				return
			}
			err = s.ApproveCode(code, body.User)
		case "decline":
			err = s.DeclineCode(code)
		case "expire":
			err = s.ExpireCode(code)
		default:
			err = errBadRequest("action is approve, decline or expire")
		}
		if err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /delegated/users/{user}/revoke", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"revoked": s.RevokeUser(r.PathValue("user"))})
	})
	for method, grant := range map[string]bool{"PUT": true, "DELETE": false} {
		mux.HandleFunc(method+" /rooms/{room}/delegates/{user}", func(w http.ResponseWriter, r *http.Request) {
			if err := s.GrantDelegate(r.PathValue("room"), r.PathValue("user"), grant); err != nil {
				adminError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

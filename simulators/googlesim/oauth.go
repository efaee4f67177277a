package googlesim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Service accounts, domain-wide delegation and the OAuth2 token endpoint (JWT-bearer grant),
// as Google's "Using OAuth 2.0 for Server to Server Applications" describes them.

// serviceAccount is a Cloud service account with its uploaded keys (public halves).
type serviceAccount struct {
	Email    string
	ClientID string // the numeric "Unique ID" the admin console's delegation names
	keys     map[string]*rsa.PublicKey
	keyJSON  map[string][]byte // key id → the key file as Google hands it out (kept for the admin API)
	tokenURI string
}

// User is a Workspace user who can be the subject of delegation.
type User struct {
	Email string `json:"email"`
	Admin bool   `json:"admin"` // a super admin (the Directory API needs one)
}

// ServiceAccount describes a service account for the admin API (no private keys).
type ServiceAccount struct {
	Email    string   `json:"email"`
	ClientID string   `json:"client_id"`
	KeyIDs   []string `json:"key_ids"`
}

type accessToken struct {
	principal string // the subject, or the service account itself without delegation
	account   string
	scopes    []string
	expires   time.Time
}

// newServiceAccount creates an account with one key; caller holds no lock (New) or s.mu.
func (s *Server) newServiceAccount(name string) (*serviceAccount, error) {
	email := fmt.Sprintf(serviceAccountDomainPattern, name, s.opts.Project)
	if _, ok := s.accounts[email]; ok {
		return nil, fmt.Errorf("service account %s exists", email)
	}
	h := sha256.Sum256([]byte(email))
	id := new(big.Int).SetBytes(h[:9]).String()
	for len(id) < 21 {
		id = "1" + id
	}
	sa := &serviceAccount{Email: email, ClientID: id[:21], keys: map[string]*rsa.PublicKey{}, keyJSON: map[string][]byte{}, tokenURI: s.TokenURL()}
	if _, err := s.addKey(sa); err != nil {
		return nil, err
	}
	s.accounts[email] = sa
	return sa, nil
}

// addKey generates a key pair, keeps the public half and returns the key file JSON.
func (s *Server) addKey(sa *serviceAccount) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var kid [20]byte
	_, _ = rand.Read(kid[:])
	keyID := hex.EncodeToString(kid[:])
	sa.keys[keyID] = &key.PublicKey
	file := map[string]string{
		"type":                        "service_account",
		"project_id":                  s.opts.Project,
		"private_key_id":              keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                sa.Email,
		"client_id":                   sa.ClientID,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "", // filled when served: the port may not be known yet
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + strings.ReplaceAll(sa.Email, "@", "%40"),
		"universe_domain":             "googleapis.com",
	}
	b, _ := json.Marshal(file)
	sa.keyJSON[keyID] = b
	return b, nil
}

// keyFile renders a stored key file with the current token_uri.
func (sa *serviceAccount) keyFile(keyID string) []byte {
	var m map[string]string
	_ = json.Unmarshal(sa.keyJSON[keyID], &m)
	m["token_uri"] = sa.tokenURI
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// ServiceAccountEmail is the default service account's address.
func (s *Server) ServiceAccountEmail() string {
	return fmt.Sprintf(serviceAccountDomainPattern, "otj-calendar-sync", s.opts.Project)
}

// KeyFile is the JSON key file of a service account's first key ("" = the default account),
// with token_uri pointing at this simulator, as the Cloud console downloads it. Call it after
// Start (the token URI has the port).
func (s *Server) KeyFile(account string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if account == "" {
		account = s.ServiceAccountEmail()
	}
	sa := s.accounts[normalize(account)]
	if sa == nil {
		return nil, fmt.Errorf("service account %s: not found", account)
	}
	ids := make([]string, 0, len(sa.keyJSON))
	for id := range sa.keyJSON {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return sa.keyFile(ids[0]), nil
}

// CreateServiceAccount adds a service account (name → name@project.iam.gserviceaccount.com)
// and returns its key file. It has no delegation until Delegate grants it.
func (s *Server) CreateServiceAccount(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, err := s.newServiceAccount(name)
	if err != nil {
		return nil, err
	}
	for id := range sa.keyJSON {
		return sa.keyFile(id), nil
	}
	return nil, nil
}

// AddKey uploads a new key to a service account (key rotation) and returns its key file.
func (s *Server) AddKey(account string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.accounts[normalize(account)]
	if sa == nil {
		return nil, fmt.Errorf("service account %s: not found", account)
	}
	b, err := s.addKey(sa)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	return sa.keyFile(m["private_key_id"]), nil
}

// DeleteKey removes a key: assertions signed with it are refused from then on.
func (s *Server) DeleteKey(account, keyID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.accounts[normalize(account)]
	if sa == nil || sa.keys[keyID] == nil {
		return fmt.Errorf("key %s of %s: not found", keyID, account)
	}
	delete(sa.keys, keyID)
	delete(sa.keyJSON, keyID)
	return nil
}

// ServiceAccounts lists the accounts.
func (s *Server) ServiceAccounts() []ServiceAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ServiceAccount{}
	for _, sa := range s.accounts {
		a := ServiceAccount{Email: sa.Email, ClientID: sa.ClientID, KeyIDs: []string{}}
		for id := range sa.keys {
			a.KeyIDs = append(a.KeyIDs, id)
		}
		slices.Sort(a.KeyIDs)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b ServiceAccount) int { return strings.Compare(a.Email, b.Email) })
	return out
}

// ClientID is a service account's numeric client id ("" = the default account).
func (s *Server) ClientID(account string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if account == "" {
		account = s.ServiceAccountEmail()
	}
	if sa := s.accounts[normalize(account)]; sa != nil {
		return sa.ClientID
	}
	return ""
}

// Delegate sets the scopes granted to a client id in the admin console's domain-wide
// delegation (Security > API controls); no scopes removes the entry.
func (s *Server) Delegate(clientID string, scopes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(scopes) == 0 {
		delete(s.delegation, clientID)
		return
	}
	s.delegation[clientID] = append([]string(nil), scopes...)
}

// Delegations lists client id → granted scopes.
func (s *Server) Delegations() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, v := range s.delegation {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// PutUser adds or changes a Workspace user.
func (s *Server) PutUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Email = normalize(u.Email)
	s.users[u.Email] = &u
}

// RemoveUser deletes a user (delegation to it fails with invalid_grant from then on).
func (s *Server) RemoveUser(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, normalize(email))
}

// Users lists the Workspace users.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []User{}
	for _, u := range s.users {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Email, b.Email) })
	return out
}

func normalize(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// tokenError is the OAuth2 error body ({"error", "error_description"}).
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// serveToken is POST /token with grant_type=jwt-bearer and a signed assertion.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Invalid request body.")
		return
	}
	s.countToken()
	if gt := r.PostForm.Get("grant_type"); gt != jwtBearer {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	assertion := r.PostForm.Get("assertion")
	hdr, claims, signed, sig, err := splitJWT(assertion)
	if err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: "+err.Error())
		return
	}
	if hdr.Alg != "RS256" {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	now, wall := s.now(), s.opts.AssertionClock()
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.accounts[normalize(claims.Iss)]
	if sa == nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid grant: account not found")
		return
	}
	if !sa.verify(hdr.Kid, signed, sig) {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	if claims.Aud != s.TokenURL() && claims.Aud != googleTokenURL {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Failed audience check. The expected audience is "+s.TokenURL()+".")
		return
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	// Google allows a little clock skew, and an assertion living at most an hour.
	if claims.Iat == 0 || claims.Exp == 0 || exp.Sub(iat) > time.Hour || !exp.After(wall) || iat.After(wall.Add(5*time.Minute)) {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		tokenError(w, http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	for _, sc := range scopes {
		if !knownScope(sc) {
			tokenError(w, http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
			return
		}
	}
	principal := sa.Email
	if sub := normalize(claims.Sub); sub != "" {
		if _, ok := s.users[sub]; !ok {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "Invalid email or User ID")
			return
		}
		granted := s.delegation[sa.ClientID]
		for _, sc := range scopes {
			if !slices.Contains(granted, sc) {
				s.stats.DelegationRefusals++
				tokenError(w, http.StatusUnauthorized, "unauthorized_client",
					"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
				return
			}
		}
		principal = sub
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := "ya29.c." + base64.RawURLEncoding.EncodeToString(raw[:])
	ttl := time.Duration(s.settings.TokenTTL)
	s.tokens[tok] = &accessToken{principal: principal, account: sa.Email, scopes: scopes, expires: now.Add(ttl)}
	s.stats.Tokens++
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(ttl / time.Second), "token_type": "Bearer"})
}

func knownScope(sc string) bool {
	switch sc {
	case ScopeCalendar, ScopeCalendarReadonly, ScopeEvents, ScopeEventsReadonly, ScopeDirectoryResource, ScopeDirectoryResourceRead:
		return true
	}
	return strings.HasPrefix(sc, "https://www.googleapis.com/auth/")
}

func (sa *serviceAccount) verify(kid string, signed, sig []byte) bool {
	sum := sha256.Sum256(signed)
	try := func(k *rsa.PublicKey) bool { return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil }
	if k := sa.keys[kid]; k != nil {
		return try(k)
	}
	if kid != "" {
		return false
	}
	for _, k := range sa.keys {
		if try(k) {
			return true
		}
	}
	return false
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
}

func splitJWT(a string) (jwtHeader, jwtClaims, []byte, []byte, error) {
	var h jwtHeader
	var c jwtClaims
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return h, c, nil, nil, fmt.Errorf("wrong number of segments")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return h, c, nil, nil, fmt.Errorf("bad base64 segment")
	}
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return h, c, nil, nil, fmt.Errorf("bad JSON segment")
	}
	return h, c, []byte(parts[0] + "." + parts[1]), sig, nil
}

// authorize checks the Bearer token of an API call and that it has one of the scopes.
func (s *Server) authorize(r *http.Request, scopes ...string) (*accessToken, *apiError) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return nil, newAPIError(401, "required", "global", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.").at("header", "Authorization")
	}
	s.mu.Lock()
	at := s.tokens[tok]
	s.mu.Unlock()
	if at == nil || !s.now().Before(at.expires) {
		return nil, newAPIError(401, "authError", "global", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.").at("header", "Authorization")
	}
	for _, sc := range scopes {
		if slices.Contains(at.scopes, sc) {
			return at, nil
		}
	}
	return nil, newAPIError(403, "insufficientPermissions", "global", "Request had insufficient authentication scopes.")
}

package graphsim

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// tenantOf returns the tenant named in an Entra path (/{tenant}/...) and whether it is this
// simulator's tenant (by id or domain).
func (s *Server) tenantOf(path string) (string, bool) {
	t := firstSegment(path)
	return t, strings.EqualFold(t, s.opts.Tenant) || strings.EqualFold(t, s.opts.TenantDomain)
}

// serveDiscovery answers GET /{tenant}/v2.0/.well-known/openid-configuration, which MSAL reads
// before the first token request.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.tenantOf(r.URL.Path)
	if !ok {
		s.entraError(w, http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
				"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	base := s.graphBase + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.graphBase + "/" + s.opts.Tenant + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// serveToken answers POST /{tenant}/oauth2/v2.0/token for the client-credentials grant, with
// Entra's error shapes for the mistakes people make.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.totals.TokenRequests++
	fault := s.takeFault("", r.URL.Path, FaultToken)
	s.mu.Unlock()
	if fault != nil {
		s.sleep(r.Context(), fault.Latency.d())
		status := fault.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		s.countTokenFailure()
		s.entraError(w, status, "temporarily_unavailable", 90024, "The service is temporarily unavailable. Please try again later.")
		return
	}
	if r.Method != http.MethodPost {
		s.countTokenFailure()
		s.entraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	tenant, ok := s.tenantOf(r.URL.Path)
	if !ok {
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok { // RFC 6749 §2.3.1
		clientID, secret = u, p
	}
	switch {
	case form.Get("grant_type") == "":
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	case form.Get("grant_type") == grantDeviceCode || form.Get("grant_type") == "refresh_token":
		s.serveDelegatedGrant(w, form, clientID, secret)
		return
	case form.Get("grant_type") != "client_credentials":
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+form.Get("grant_type")+"'.")
		return
	case clientID == "":
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	case !strings.EqualFold(clientID, s.opts.ClientID):
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
				"installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication "+
				"request to the wrong tenant.", clientID, s.opts.TenantDomain))
		return
	}
	s.mu.Lock()
	wantSecret, expired, ttl, certs := s.app.secret, s.app.secretExpired, s.app.tokenTTL, s.app.certs
	s.mu.Unlock()
	if assertion := form.Get("client_assertion"); assertion != "" {
		if form.Get("client_assertion_type") != assertionType {
			s.countTokenFailure()
			s.entraError(w, http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed. The client_assertion_type must be '"+assertionType+"'.")
			return
		}
		if e := checkAssertion(assertion, clientID, s.graphBase+r.URL.Path, certs, s.now()); e != nil {
			s.countTokenFailure()
			s.entraError(w, http.StatusUnauthorized, "invalid_client", e.code, e.msg)
			return
		}
	} else {
		switch {
		case secret == "":
			s.countTokenFailure()
			s.entraError(w, http.StatusUnauthorized, "invalid_client", 7000218,
				"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
			return
		case secret != wantSecret:
			s.countTokenFailure()
			s.entraError(w, http.StatusUnauthorized, "invalid_client", 7000215,
				fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the "+
					"client secret ID, for a secret added to app '%s'.", s.opts.ClientID))
			return
		case expired:
			s.countTokenFailure()
			s.entraError(w, http.StatusUnauthorized, "invalid_client", 7000222,
				fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: "+
					"https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", s.opts.ClientID))
			return
		}
	}
	if !validScope(form.Get("scope")) {
		s.countTokenFailure()
		s.entraError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", form.Get("scope")))
		return
	}
	token := newAccessToken()
	s.mu.Lock()
	s.tokens[token] = s.now().Add(ttl)
	s.mu.Unlock()
	secs := int(ttl / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token,
	})
}

// validScope accepts "<resource>/.default" plus the OIDC scopes MSAL appends.
func validScope(scope string) bool {
	found := false
	for _, sc := range strings.Fields(scope) {
		switch {
		case sc == "openid" || sc == "offline_access" || sc == "profile":
		case strings.HasSuffix(sc, "/.default"):
			found = true
		default:
			return false
		}
	}
	return found
}

func (s *Server) countTokenFailure() {
	s.mu.Lock()
	s.totals.TokenFailures++
	s.mu.Unlock()
}

// entraError writes Entra's error JSON (reference-error-codes.md).
func (s *Server) entraError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	now := s.now().UTC()
	trace, corr := newGUID(), newGUID()
	desc := fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, msg, trace, corr, now.Format("2006-01-02 15:04:05Z"))
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": desc, "error_codes": []int{aadsts},
		"timestamp": now.Format("2006-01-02 15:04:05Z"), "trace_id": trace, "correlation_id": corr,
		"error_uri": fmt.Sprintf("%s/error?code=%d", s.graphBase, aadsts),
	})
}

// checkToken validates a Graph request's bearer token: "" when fine, else the message of the
// 401 InvalidAuthenticationToken answer.
func (s *Server) checkToken(header string) string {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return "Access token is empty."
	}
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !known:
		return "Invalid JWT token. The token is not in JWS or JWE compact serialization format."
	case !s.now().Before(exp):
		return "Lifetime validation failed, the token is expired."
	}
	return ""
}

func newAccessToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	// Shaped like a JWT's first segment so logs look familiar; the simulator only looks it up.
	return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(b)
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// writeJSON answers with v as JSON (appendJSON, then a newline, as json.Encoder ends it). HTML
// is written as it is (<, >, &), as Graph writes event bodies: Go's default escapes each to a
// six-byte \u003c, which made a Teams invite's JSON an eighth larger than Graph's and slower to
// encode, send, store and decode on both sides.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := answerBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxKeptBuffer {
			answerBuffers.Put(buf)
		}
	}()
	b, err := appendJSON((*buf)[:0], v)
	*buf = b
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	*buf = append(*buf, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(*buf) // Write keeps no reference to it (io.Writer)
}

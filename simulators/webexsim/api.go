package webexsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Webex's error JSON: {"message", "errors":[{"description"}], "trackingId"}.
type errorBody struct {
	Message    string        `json:"message"`
	Errors     []errorDetail `json:"errors"`
	TrackingID string        `json:"trackingId"`
}

type errorDetail struct {
	Description string `json:"description"`
}

// Messages Webex gives (the 401 one is Webex's wording; the others are the simulator's).
const (
	msgUnauthorized = "The request requires a valid access token set in the Authorization request header."
	msgNotFound     = "The requested resource could not be found."
	msgRateLimited  = "Too many requests. Please retry after the interval given in the Retry-After header."
)

func (s *Server) writeErr(w http.ResponseWriter, status int, msg string) {
	tid := s.trackingID()
	w.Header().Set("TrackingID", tid)
	writeJSON(w, status, errorBody{Message: msg, Errors: []errorDetail{{Description: msg}}, TrackingID: tid})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// APIHandler is the Webex API (the server's HTTPS handler; exported for httptest).
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/access_token", s.plain("POST /v1/access_token", s.handleToken))
	s.route(mux, "GET /v1/authorizations/tokenExpiry", nil, s.handleTokenExpiry)
	s.route(mux, "GET /v1/devices", []string{ScopeAdminDevicesRead, ScopeDevicesRead}, s.handleDevices)
	s.route(mux, "GET /v1/devices/{id}", []string{ScopeAdminDevicesRead, ScopeDevicesRead}, s.handleDevice)
	s.route(mux, "GET /v1/workspaces", []string{ScopeWorkspacesRead, ScopeUserWorkspaceRead}, s.handleWorkspaces)
	s.route(mux, "GET /v1/workspaces/{id}", []string{ScopeWorkspacesRead, ScopeUserWorkspaceRead}, s.handleWorkspace)
	s.route(mux, "POST /v1/xapi/command/{name}", []string{ScopeXAPICommands}, s.handleCommand)
	s.route(mux, "GET /v1/xapi/status", []string{ScopeXAPIStatuses}, s.handleStatus)
	mux.HandleFunc("/", s.plain("other", func(w http.ResponseWriter, _ *http.Request) {
		s.writeErr(w, http.StatusNotFound, msgNotFound)
	}))
	return mux
}

// plain wraps an unauthenticated endpoint: latency, counters, injected 5xx.
func (s *Server) plain(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.delay()
		s.countRequest(endpoint)
		defer func() { s.countStatus(sw.status) }()
		if st, ok := s.takeErrorFault(r); ok {
			s.writeErr(sw, st, http.StatusText(st))
			return
		}
		h(sw, r)
	}
}

// route registers an authenticated endpoint: latency, counters, 401 without a valid token, the
// per-token rate limit (429 + Retry-After), injected faults, then the scope check (403).
func (s *Server) route(mux *http.ServeMux, pattern string, scopes []string, h func(http.ResponseWriter, *http.Request, *accessToken)) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.delay()
		s.countRequest(pattern)
		defer func() { s.countStatus(sw.status) }()
		at := s.authenticate(r)
		if at == nil {
			s.writeErr(sw, http.StatusUnauthorized, msgUnauthorized)
			return
		}
		if wait, limited := s.admit(at.grant.id); limited {
			sw.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
			s.writeErr(sw, http.StatusTooManyRequests, msgRateLimited)
			return
		}
		if st, ok := s.takeErrorFault(r); ok {
			s.writeErr(sw, st, http.StatusText(st))
			return
		}
		if scopes != nil && !at.grant.has(scopes...) {
			s.writeErr(sw, http.StatusForbidden, "The access token does not have the scope this request needs ("+scopes[0]+").")
			return
		}
		h(sw, r, at)
	})
}

func (s *Server) delay() {
	s.mu.Lock()
	d := time.Duration(s.settings.LatencyMS) * time.Millisecond
	s.mu.Unlock()
	if d > 0 {
		time.Sleep(d) // simulated network latency (wall clock by design)
	}
}

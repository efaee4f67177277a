// Package googlesim is a faithful fake of the Google Calendar API v3 (the calls an OTJ agent
// makes on room calendars), Google's OAuth2 token endpoint for service accounts and the Admin
// SDK Directory's resources.calendars, for tests, benchmarks and the demo. It has no calendar
// of its own: it serves Google views of a *graphsim.Server's room mailboxes, so one scenario
// (graphsim's Load) and one set of edits (graphsim's admin operations) drive Graph, EWS and
// Google at once. Google-only data (conferenceData) comes from a small overlay per event.
//
// It serves HTTPS only and behaves like Google where a client can tell the difference
// (research webex-google.md part B):
//
//   - OAuth2: the JWT-bearer grant of service account keys (RS256 signature against the
//     uploaded key, iss/sub/aud/scope/exp/iat), domain-wide delegation per client id and
//     scopes, Google's error bodies; access tokens expire and are checked on every call.
//   - events.list with paging, timeMin/timeMax, singleEvents expansion, orderBy, showDeleted,
//     syncToken increments and 410 fullSyncRequired; events.watch channels and channels.stop.
//   - Limits: per-user and per-project rate limits (403 userRateLimitExceeded, 403/429
//     rateLimitExceeded), a daily quota, ACLs (403 forbidden), unknown calendars (404).
//
// An admin API (plain HTTP on loopback) mounts graphsim's and adds service accounts,
// delegation, ACLs, overlays, faults, channels and counters under /google/; the same operations
// are Go methods for in-process tests.
package googlesim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// Defaults of a simulator.
const (
	DefaultProject  = "otj-sim"
	DefaultCustomer = "C03az79cb"
	DefaultAdmin    = "admin" // local part of the Workspace admin user in the tenant's domain
	// DefaultUserRateLimit is Google's per-user limit (requests per minute per project).
	DefaultUserRateLimit = 600
	// DefaultProjectRateLimit is the per-project limit (requests per minute).
	DefaultProjectRateLimit = 10_000
	// DefaultDailyQuota is the per-project daily request quota (third-party note; unconfirmed).
	DefaultDailyQuota = 1_000_000
	DefaultTokenTTL   = 3599 * time.Second
	// DefaultPageSize and MaxPageSize are events.list's maxResults default and cap.
	DefaultPageSize = 250
	MaxPageSize     = 2500
	// DefaultChannelTTL is a watch channel's lifetime when the request asks for none or more.
	DefaultChannelTTL    = 7 * 24 * time.Hour
	DefaultWatchInterval = 100 * time.Millisecond
	// ExpansionHorizon is how far past now singleEvents expands series without an end.
	ExpansionHorizon = 365 * 24 * time.Hour
)

// Scopes the simulator knows.
const (
	ScopeCalendar               = "https://www.googleapis.com/auth/calendar"
	ScopeCalendarReadonly       = "https://www.googleapis.com/auth/calendar.readonly"
	ScopeEvents                 = "https://www.googleapis.com/auth/calendar.events"
	ScopeEventsReadonly         = "https://www.googleapis.com/auth/calendar.events.readonly"
	ScopeDirectoryResource      = "https://www.googleapis.com/auth/admin.directory.resource.calendar"
	ScopeDirectoryResourceRead  = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
	googleTokenURL              = "https://oauth2.googleapis.com/token"
	resourceDomain              = "resource.calendar.google.com"
	serviceAccountDomainPattern = "%s@%s.iam.gserviceaccount.com"
)

// Options configure a simulator. Calendar is required; the rest has defaults.
type Options struct {
	Calendar *graphsim.Server
	// CA signs the server certificate; default Calendar's CA (one trust file for all).
	CA       *simtls.CA
	Project  string // Cloud project id; default otj-sim
	Customer string // Workspace customer id; default C03az79cb
	// Domain is the Workspace's primary domain; default Calendar's tenant domain.
	Domain string
	// Admin is the admin user (subject of delegation); default admin@Domain.
	Admin string
	// Delegation grants domain-wide delegation to the default service account for the
	// read-only calendar and directory scopes unless NoDelegation is set.
	NoDelegation bool
	// Latency is added to every API call (not to the token endpoint).
	Latency          time.Duration
	UserRateLimit    int // per user per minute; default 600
	ProjectRateLimit int // per project per minute; default 10,000
	DailyQuota       int // per project per day; default 1,000,000
	TokenTTL         time.Duration
	// MeetShare is the fraction (0..1) of meetings without a conference link in their body
	// that carry Google Meet conferenceData (derived from the event, deterministic).
	MeetShare float64
	// NoConferenceDetection turns off deriving conferenceData from Meet, Zoom and Webex links
	// in the body (Meet invites as hangoutsMeet, Zoom and Webex as add-on conferencing).
	NoConferenceDetection bool
	// MeetSIP adds a SIP entry point to Meet conferenceData (a Meet hardware interop
	// subscription, as sites with Pexip's interop have).
	MeetSIP    bool
	ChannelTTL time.Duration // default and maximum channel lifetime; default 7 days
	// WatchInterval is how often watched calendars are checked for changes; default 100 ms.
	WatchInterval time.Duration
	// WebhookRoots are the CAs a webhook address's certificate must chain to (Google refuses
	// self-signed and untrusted certificates); default the CA.
	WebhookRoots *simtls.CA
	// Now is the simulator's clock; default Calendar's.
	Now func() time.Time
	// AssertionClock is what JWT assertions' iat and exp are checked against; default Now.
	// golang.org/x/oauth2 signs them with the wall clock, so a test whose fake clock sits far
	// from today (a fixed start date) sets time.Now here; access tokens still expire on Now.
	AssertionClock     func() time.Time
	APIAddr, AdminAddr string // default 127.0.0.1:0
	Logger             *slog.Logger
}

// Server is a running (or ready to start) simulator.
type Server struct {
	opts Options
	gs   *graphsim.Server
	log  *slog.Logger
	now  func() time.Time
	cert tls.Certificate

	mu         sync.Mutex
	settings   Settings
	accounts   map[string]*serviceAccount // by email
	delegation map[string][]string        // client id → scopes granted in the admin console
	users      map[string]*User           // by lower-case email
	tokens     map[string]*accessToken
	acl        map[string]map[string]string // calendar (mailbox) → principal → role
	overlays   map[string]Overlay           // graphsim stored id → overlay
	googleIDs  map[string]string            // Google event id → graphsim stored id
	resources  map[string]string            // resource email → mailbox (cache)
	cals       map[string]*calState         // by mailbox
	faults     []*Fault
	faultSeq   int
	stats      statsState
	limits     limitState
	channels   map[string]*channel
	throttles  map[string]*throttle // by mailbox: SetCalendarRateLimit
	lose       int                  // notifications to lose (admin fault); -1: all
	overlaySeq uint64               // bumped when overlays or the Meet share change what events render
	seq        uint64

	apiLn, adminLn   net.Listener
	apiSrv, adminSrv *http.Server
	apiBase          string
	adminBase        string
	stop             chan struct{}
	poke             chan struct{}
	done             sync.WaitGroup
}

// Settings are the run-time switches (PATCH /google/settings).
type Settings struct {
	Latency          graphsim.Duration `json:"latency"`
	UserRateLimit    int               `json:"user_rate_limit"`
	ProjectRateLimit int               `json:"project_rate_limit"`
	DailyQuota       int               `json:"daily_quota"`
	TokenTTL         graphsim.Duration `json:"token_ttl"`
	MeetShare        float64           `json:"meet_share"`
}

// New prepares a simulator; Start makes it listen.
func New(opts Options) (*Server, error) {
	if opts.Calendar == nil {
		return nil, errors.New("googlesim: Options.Calendar (a *graphsim.Server) is required")
	}
	gs := opts.Calendar
	if opts.CA == nil {
		opts.CA = gs.CA()
	}
	if opts.WebhookRoots == nil {
		opts.WebhookRoots = opts.CA
	}
	if opts.Project == "" {
		opts.Project = DefaultProject
	}
	if opts.Customer == "" {
		opts.Customer = DefaultCustomer
	}
	if opts.Domain == "" {
		opts.Domain = gs.TenantDomain()
	}
	if opts.Admin == "" {
		opts.Admin = DefaultAdmin + "@" + opts.Domain
	}
	if opts.Now == nil {
		opts.Now = gs.Now
	}
	if opts.AssertionClock == nil {
		opts.AssertionClock = opts.Now
	}
	if opts.UserRateLimit <= 0 {
		opts.UserRateLimit = DefaultUserRateLimit
	}
	if opts.ProjectRateLimit <= 0 {
		opts.ProjectRateLimit = DefaultProjectRateLimit
	}
	if opts.DailyQuota <= 0 {
		opts.DailyQuota = DefaultDailyQuota
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.ChannelTTL <= 0 {
		opts.ChannelTTL = DefaultChannelTTL
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = DefaultWatchInterval
	}
	if opts.APIAddr == "" {
		opts.APIAddr = "127.0.0.1:0"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cert, err := opts.CA.Issue("127.0.0.1", "localhost", "::1")
	if err != nil {
		return nil, fmt.Errorf("googlesim certificate: %w", err)
	}
	s := &Server{throttles: map[string]*throttle{}, opts: opts, gs: gs, log: opts.Logger, now: opts.Now, cert: cert,
		settings: Settings{Latency: graphsim.Duration(opts.Latency), UserRateLimit: opts.UserRateLimit,
			ProjectRateLimit: opts.ProjectRateLimit, DailyQuota: opts.DailyQuota, TokenTTL: graphsim.Duration(opts.TokenTTL),
			MeetShare: opts.MeetShare},
		accounts: map[string]*serviceAccount{}, delegation: map[string][]string{}, users: map[string]*User{},
		tokens: map[string]*accessToken{}, acl: map[string]map[string]string{}, overlays: map[string]Overlay{},
		googleIDs: map[string]string{}, cals: map[string]*calState{}, channels: map[string]*channel{},
		stop: make(chan struct{}), poke: make(chan struct{}, 1)}
	s.stats.reset()
	s.users[normalize(opts.Admin)] = &User{Email: normalize(opts.Admin), Admin: true}
	sa, err := s.newServiceAccount("otj-calendar-sync")
	if err != nil {
		return nil, err
	}
	if !opts.NoDelegation {
		s.delegation[sa.ClientID] = []string{ScopeCalendarReadonly, ScopeEventsReadonly, ScopeDirectoryResourceRead}
	}
	return s, nil
}

// Start listens on the configured (loopback) addresses and serves until Close.
func (s *Server) Start() error {
	al, err := net.Listen("tcp", s.opts.APIAddr)
	if err != nil {
		return fmt.Errorf("googlesim listen: %w", err)
	}
	ml, err := net.Listen("tcp", s.opts.AdminAddr)
	if err != nil {
		al.Close()
		return fmt.Errorf("googlesim admin listen: %w", err)
	}
	return s.Serve(al, ml)
}

// Serve serves the Google APIs (TLS) on al and the admin API (plain HTTP) on ml.
func (s *Server) Serve(al, ml net.Listener) error {
	s.apiLn, s.adminLn = al, ml
	s.apiBase = "https://" + al.Addr().String()
	s.adminBase = "http://" + ml.Addr().String()
	s.mu.Lock()
	for _, sa := range s.accounts {
		sa.tokenURI = s.TokenURL() // keys generated before the port was known
	}
	s.mu.Unlock()
	s.apiSrv = &http.Server{
		Handler:           s.apiHandler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.adminSrv = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.done.Add(3)
	go func() {
		defer s.done.Done()
		if err := s.apiSrv.ServeTLS(al, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("googlesim stopped", "err", err)
		}
	}()
	go func() {
		defer s.done.Done()
		if err := s.adminSrv.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("googlesim admin stopped", "err", err)
		}
	}()
	go func() {
		defer s.done.Done()
		s.watchLoop()
	}()
	s.log.Info("googlesim listening", "api", s.apiBase, "admin", s.adminBase)
	return nil
}

// Close stops both servers and the watcher, and waits for their goroutines.
func (s *Server) Close() {
	if s.apiSrv == nil {
		return
	}
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.apiSrv.Shutdown(ctx)
	_ = s.adminSrv.Shutdown(ctx)
	s.apiSrv.Close()
	s.adminSrv.Close()
	s.done.Wait()
}

// BaseURL is the API root, e.g. https://127.0.0.1:P.
func (s *Server) BaseURL() string { return s.apiBase }

// CalendarEndpoint is the Calendar API endpoint for option.WithEndpoint
// (https://127.0.0.1:P/calendar/v3/, like Google's https://www.googleapis.com/calendar/v3/).
func (s *Server) CalendarEndpoint() string { return s.apiBase + "/calendar/v3/" }

// DirectoryEndpoint is the Admin SDK endpoint for option.WithEndpoint (like
// https://admin.googleapis.com/).
func (s *Server) DirectoryEndpoint() string { return s.apiBase + "/" }

// TokenURL is the OAuth2 token endpoint (the key files' token_uri).
func (s *Server) TokenURL() string { return s.apiBase + "/token" }

// AdminURL is the admin API root, e.g. http://127.0.0.1:Q.
func (s *Server) AdminURL() string { return s.adminBase }

// CA is the CA that signed the server certificate.
func (s *Server) CA() *simtls.CA { return s.opts.CA }

// Calendar is the graphsim whose rooms are served.
func (s *Server) Calendar() *graphsim.Server { return s.gs }

// AdminUser is the Workspace admin (the usual delegation subject).
func (s *Server) AdminUser() string { return normalize(s.opts.Admin) }

// Customer is the Workspace customer id.
func (s *Server) Customer() string { return s.opts.Customer }

// HTTPClient is a client that trusts the simulator's CA.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.opts.CA.Pool()}}, Timeout: 30 * time.Second}
}

// Settings returns the run-time switches.
func (s *Server) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// SettingsPatch changes some settings (nil fields stay).
type SettingsPatch struct {
	Latency          *graphsim.Duration `json:"latency,omitempty"`
	UserRateLimit    *int               `json:"user_rate_limit,omitempty"`
	ProjectRateLimit *int               `json:"project_rate_limit,omitempty"`
	DailyQuota       *int               `json:"daily_quota,omitempty"`
	TokenTTL         *graphsim.Duration `json:"token_ttl,omitempty"`
	MeetShare        *float64           `json:"meet_share,omitempty"`
	RevokeTokens     bool               `json:"revoke_tokens,omitempty"`
}

// SetSettings applies a patch.
func (s *Server) SetSettings(p SettingsPatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Latency != nil {
		s.settings.Latency = *p.Latency
	}
	if p.UserRateLimit != nil && *p.UserRateLimit > 0 {
		s.settings.UserRateLimit = *p.UserRateLimit
	}
	if p.ProjectRateLimit != nil && *p.ProjectRateLimit > 0 {
		s.settings.ProjectRateLimit = *p.ProjectRateLimit
	}
	if p.DailyQuota != nil && *p.DailyQuota > 0 {
		s.settings.DailyQuota = *p.DailyQuota
	}
	if p.TokenTTL != nil && *p.TokenTTL > 0 {
		s.settings.TokenTTL = *p.TokenTTL
	}
	if p.MeetShare != nil {
		s.settings.MeetShare = *p.MeetShare
		s.overlaySeq++
	}
	if p.RevokeTokens {
		s.tokens = map[string]*accessToken{}
	}
}

// apiHandler routes the TLS port the way Google's hosts do (one host here).
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.serveToken)
	mux.HandleFunc("GET /calendar/v3/calendars/{calendarId}/events", s.api("events.list", s.eventsList))
	mux.HandleFunc("POST /calendar/v3/calendars/{calendarId}/events/watch", s.api("events.watch", s.eventsWatch))
	mux.HandleFunc("POST /calendar/v3/channels/stop", s.api("channels.stop", s.channelsStop))
	mux.HandleFunc("GET /admin/directory/v1/customer/{customer}/resources/calendars", s.api("resources.calendars.list", s.resourcesList))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
	})
	return mux
}

// apiError is Google's JSON error body.
type apiError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Errors  []errorDetail `json:"errors"`
	Status  string        `json:"status"`
	// retryAfter is sent as Retry-After (a calendar's rate limit asks for a pace).
	retryAfter time.Duration
}

type errorDetail struct {
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Message      string `json:"message"`
	LocationType string `json:"locationType,omitempty"`
	Location     string `json:"location,omitempty"`
}

var statusNames = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 410: "FAILED_PRECONDITION", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

func newAPIError(code int, reason, domain, msg string) *apiError {
	st := statusNames[code]
	if code == 403 && (reason == "rateLimitExceeded" || reason == "userRateLimitExceeded" || reason == "quotaExceeded" || reason == "dailyLimitExceeded") {
		st = "RESOURCE_EXHAUSTED"
	}
	return &apiError{Code: code, Message: msg, Status: st, Errors: []errorDetail{{Domain: domain, Reason: reason, Message: msg}}}
}

func (e *apiError) at(locationType, location string) *apiError {
	e.Errors[0].LocationType, e.Errors[0].Location = locationType, location
	return e
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, e.Errors[0].Reason, e.Message)
}

func writeError(w http.ResponseWriter, code int, reason, domain, msg string) {
	writeAPIError(w, newAPIError(code, reason, domain, msg))
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	writeJSON(w, e.Code, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Vary", "Origin, X-Origin, Referer")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

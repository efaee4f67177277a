// Package webexsim is a faithful fake of the Webex REST API (webexapis.com/v1) as far as a
// One-Touch Join agent uses it to reach cloud-registered Cisco devices: the OAuth token
// endpoint (refresh grant with rotation), devices and workspaces (paging with Link headers,
// filters, the documented fields), the cloud xAPI command and status endpoints carrying each
// device's Bookings (ciscosim's booking model: the same Put validation and List rendering), a
// per-token rate limit with 429 + Retry-After, and Webex's error JSON with a trackingId.
//
// It serves HTTPS only. An admin API (plain HTTP on loopback) shows each device's bookings and
// every Put it received, counts requests (and requests sent before a Retry-After elapsed), and
// injects faults: device offline, permission removed, token revoked, 429 bursts, 5xx. The same
// operations are Go methods for in-process tests. Choices where Webex's behaviour is not
// documented are listed in the README section "Webex simulator" (notes/webexsim.md).
package webexsim

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// Defaults of a simulator.
const (
	DefaultClientID     = "C0ffee5im0webex0integration0client0id00000000000000000000000000"
	DefaultClientSecret = "webexsim-client-secret"
	DefaultOrgID        = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9zaW0"
	// DefaultAccessTokenTTL: "access token (expires in 14 days)" (research A3).
	DefaultAccessTokenTTL = 14 * 24 * time.Hour
	// DefaultRefreshTokenTTL: "refresh token (expires in 90 days)".
	DefaultRefreshTokenTTL = 90 * 24 * time.Hour
	// DefaultRotationGrace is how long a rotated-out refresh token still works (it answers with
	// the same successor), so a client that lost the refresh response can retry once. After it,
	// the old token is refused with invalid_grant: a client that did not persist the new token
	// finds out within a minute, not in 90 days.
	DefaultRotationGrace = 30 * time.Second
	// DefaultRateLimit requests per DefaultRateWindow per token (Webex publishes no general
	// limit; the Contact Center page says 300 per minute).
	DefaultRateLimit  = 300
	DefaultRateWindow = time.Minute
	// DefaultOfflineStatus answers xAPI calls to a device that is not connected: the cloud
	// cannot reach it (Webex's exact answer is unconfirmed; 502 with the error JSON is chosen).
	DefaultOfflineStatus = http.StatusBadGateway
	// DefaultPageSize is the devices/workspaces page when max is not given.
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Scopes.
const (
	ScopeXAPICommands      = "spark:xapi_commands"
	ScopeXAPIStatuses      = "spark:xapi_statuses"
	ScopeDevicesRead       = "spark:devices_read"
	ScopeAdminDevicesRead  = "spark-admin:devices_read"
	ScopeWorkspacesRead    = "spark-admin:workspaces_read"
	ScopeUserWorkspaceRead = "spark:workspaces_read"
)

// DefaultScopes are the integration's granted scopes.
var DefaultScopes = []string{ScopeXAPICommands, ScopeXAPIStatuses, ScopeAdminDevicesRead, ScopeWorkspacesRead}

// Options configure a simulator; everything has a default.
type Options struct {
	CA           *simtls.CA // signs the server certificate; default a new CA
	ClientID     string
	ClientSecret string
	// RefreshToken is the integration's first refresh token (what an admin pastes into the
	// agent's config); default random.
	RefreshToken string
	Scopes       []string // granted to the integration; default DefaultScopes
	OrgID        string
	// AccessTokenTTL and RefreshTokenTTL: default 14 and 90 days; tests shorten them.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// KeepRefreshToken answers a refresh with the same refresh token instead of a new one
	// (rotation off).
	KeepRefreshToken bool
	// RotationGrace: default DefaultRotationGrace; negative means none.
	RotationGrace time.Duration
	RateLimit     int           // requests per RateWindow per token; default 300
	RateWindow    time.Duration // default 1 min
	OfflineStatus int           // default 502
	Latency       time.Duration // added to every API request
	// Profile is the devices' firmware (ciscosim's profiles); default RoomOS 11.
	Profile ciscosim.Profile
	// Location is the devices' time zone for Bookings List day filters; default UTC.
	Location           *time.Location
	Now                func() time.Time
	APIAddr, AdminAddr string // default 127.0.0.1:0
	Logger             *slog.Logger
}

// Server is a running (or ready to start) simulator.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	cert tls.Certificate

	mu         sync.Mutex
	settings   Settings
	devices    []*device
	workspaces []*workspace
	tokens     tokenStore
	buckets    map[string]*bucket
	faults     faultState
	stats      statsState
	seq        int

	apiLn, adminLn   net.Listener
	apiSrv, adminSrv *http.Server
	apiBase          string // https://127.0.0.1:P
	adminBase        string
}

// Settings are the run-time switches (PATCH /settings).
type Settings struct {
	LatencyMS       int   `json:"latency_ms"`
	RateLimit       int   `json:"rate_limit"`
	RateWindowMS    int   `json:"rate_window_ms"`
	RotationGraceMS int   `json:"rotation_grace_ms"` // negative: none
	AccessTokenTTLS int64 `json:"access_token_ttl_s"`
	OfflineStatus   int   `json:"offline_status"`
}

// New prepares a simulator; Start makes it listen.
func New(opts Options) (*Server, error) {
	if opts.CA == nil {
		ca, err := simtls.NewCA("webexsim CA")
		if err != nil {
			return nil, err
		}
		opts.CA = ca
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.RefreshToken == "" {
		opts.RefreshToken = randomToken()
	}
	if opts.Scopes == nil {
		opts.Scopes = DefaultScopes
	}
	if opts.OrgID == "" {
		opts.OrgID = DefaultOrgID
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if opts.RotationGrace == 0 {
		opts.RotationGrace = DefaultRotationGrace
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.OfflineStatus == 0 {
		opts.OfflineStatus = DefaultOfflineStatus
	}
	if opts.Profile.Name == "" {
		opts.Profile = ciscosim.RoomOS11
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
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
		return nil, fmt.Errorf("webexsim certificate: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, cert: cert, buckets: map[string]*bucket{}}
	s.settings = Settings{
		LatencyMS: int(opts.Latency / time.Millisecond), RateLimit: opts.RateLimit,
		RateWindowMS: int(opts.RateWindow / time.Millisecond), RotationGraceMS: int(opts.RotationGrace / time.Millisecond),
		AccessTokenTTLS: int64(opts.AccessTokenTTL / time.Second), OfflineStatus: opts.OfflineStatus,
	}
	s.tokens.init()
	s.stats.init()
	g := s.tokens.newGrant(KindIntegration, opts.Scopes)
	s.tokens.addRefresh(opts.RefreshToken, g, s.now().Add(opts.RefreshTokenTTL))
	return s, nil
}

// Start listens on the API (HTTPS) and admin (HTTP) addresses.
func (s *Server) Start() error {
	apiLn, err := net.Listen("tcp", s.opts.APIAddr)
	if err != nil {
		return fmt.Errorf("webexsim listen: %w", err)
	}
	adminLn, err := net.Listen("tcp", s.opts.AdminAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("webexsim admin listen: %w", err)
	}
	s.apiLn, s.adminLn = apiLn, adminLn
	s.apiBase = "https://" + apiLn.Addr().String()
	s.adminBase = "http://" + adminLn.Addr().String()
	s.apiSrv = &http.Server{Handler: s.APIHandler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.adminSrv = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.apiSrv.ServeTLS(apiLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("webexsim api stopped", "err", err)
		}
	}()
	go func() {
		if err := s.adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("webexsim admin stopped", "err", err)
		}
	}()
	return nil
}

// Close stops both listeners.
func (s *Server) Close() {
	if s.apiSrv != nil {
		s.apiSrv.Close()
	}
	if s.adminSrv != nil {
		s.adminSrv.Close()
	}
}

// APIURL is the API base, like https://webexapis.com/v1.
func (s *Server) APIURL() string { return s.apiBase + "/v1" }

// TokenURL is the OAuth token endpoint.
func (s *Server) TokenURL() string { return s.apiBase + "/v1/access_token" }

// AdminURL is the admin API base.
func (s *Server) AdminURL() string { return s.adminBase }

// CA is the certificate authority that signed the server certificate.
func (s *Server) CA() *simtls.CA { return s.opts.CA }

// ClientID and ClientSecret are the integration's credentials.
func (s *Server) ClientID() string     { return s.opts.ClientID }
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// InitialRefreshToken is the integration's first refresh token.
func (s *Server) InitialRefreshToken() string { return s.opts.RefreshToken }

// Settings returns the run-time switches.
func (s *Server) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// SetSettings replaces the run-time switches (zero fields keep their value; RotationGraceMS
// negative means none).
func (s *Server) SetSettings(in Settings) Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.LatencyMS != 0 {
		s.settings.LatencyMS = max(0, in.LatencyMS)
	}
	if in.RateLimit > 0 {
		s.settings.RateLimit = in.RateLimit
	}
	if in.RateWindowMS > 0 {
		s.settings.RateWindowMS = in.RateWindowMS
	}
	if in.RotationGraceMS != 0 {
		s.settings.RotationGraceMS = in.RotationGraceMS
	}
	if in.AccessTokenTTLS > 0 {
		s.settings.AccessTokenTTLS = in.AccessTokenTTLS
	}
	if in.OfflineStatus != 0 {
		s.settings.OfflineStatus = in.OfflineStatus
	}
	return s.settings
}

func randomToken() string {
	b := make([]byte, 36)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return strings.ToUpper(hex.EncodeToString(b[:4])) + hex.EncodeToString(b[4:])
}

// trackingID is a new Webex-style tracking id (also sent as the TrackingID header).
func (s *Server) trackingID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := strings.ToUpper(hex.EncodeToString(b))
	return "ROUTER_" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

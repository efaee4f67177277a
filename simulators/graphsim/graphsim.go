// Package graphsim is a faithful fake of Microsoft Graph (the calendar endpoints an OTJ agent
// uses) and of the Entra ID token endpoint, for tests, benchmarks and the demo. It serves HTTPS
// only, with a certificate from its own test CA, and behaves like the real services where the
// agent can tell the difference (README "Calendar sync (Microsoft Graph)"):
//
//   - Entra: OIDC discovery and the v2 client-credentials token endpoint, with Entra's error
//     shapes and AADSTS codes (wrong secret, expired secret, unknown app, unknown tenant, bad
//     scope); tokens expire and Graph checks them.
//   - Graph v1.0: calendarView (paged), calendarView/delta (also the delta() form and
//     %40-escaped UPNs the SDK sends) with skip/delta tokens, @removed, occurrence stubs and
//     410 SyncStateNotFound; events/{id} with $select; $batch (at most 20 parts, 4 executed at
//     a time); calendar/getSchedule (free/busy of up to 20 mailboxes, schedule.go).
//   - Limits and errors per app and mailbox: more than 4 requests in flight (429
//     MailboxConcurrency), N requests per 10 minutes (429 with Retry-After), the application
//     access policy (403 "Access to OData is disabled."), unknown mailboxes (404
//     ErrorInvalidUser), mailboxes outside Exchange Online (404 MailboxNotEnabledForRESTAPI),
//     and injectable faults (errors, latency, garbage bodies, dropped connections, expired
//     delta tokens).
//   - Room mailboxes apply their calendar processing settings (Set-CalendarProcessing) to the
//     invites they receive, like Exchange's resource booking attendant.
//
// An admin API (plain HTTP on loopback, see admin.go and simulators/README.md) adds rooms,
// sends invites, sets processing flags, injects faults and reads per-mailbox counters; the same
// operations are Go methods for in-process tests. Scenario generates realistic calendars.
package graphsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// Defaults of a simulator.
const (
	DefaultTenant       = "8f2c6a1e-4b7d-4e59-9c3a-1d2e3f405162"
	DefaultTenantDomain = "contoso.example"
	DefaultClientID     = "3b9d7c21-5e84-4f06-a1b2-c3d4e5f60718"
	DefaultClientSecret = "sim~Q8x.rT3vW9yZ2aB5cD7eF0gH4jK6mN1pQ3s"
	// DefaultSecretID is what the portal shows as the secret's "Secret ID" (a GUID); entering it
	// instead of the value is the classic mistake Entra answers with AADSTS7000215.
	DefaultSecretID  = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
	DefaultRateLimit = 10_000 // requests per app and mailbox per 10 minutes (Graph's Outlook limit)
	DefaultTokenTTL  = 3599 * time.Second
	DefaultPageSize  = 10  // page size when the client sends no odata.maxpagesize
	MaxPageSize      = 100 // largest page the simulator returns (the real maximum is not documented)
	// MailboxConcurrency is Graph's limit of requests in flight per app and mailbox.
	MailboxConcurrency = 4
	// BatchLimit is the most parts a $batch may hold.
	BatchLimit = 20
	// BatchParallelism is how many parts of one batch Graph executes at a time.
	BatchParallelism = 4
	// RateWindow is the period RateLimit counts over.
	RateWindow = 10 * time.Minute
)

// Options configure a simulator. The zero value works.
type Options struct {
	Tenant       string // tenant id (a GUID); default DefaultTenant
	TenantDomain string // the tenant's domain, also accepted in token URLs; default DefaultTenantDomain
	ClientID     string // the app registration's client id; default DefaultClientID
	ClientSecret string // the secret's value; default DefaultClientSecret
	// ClientCertificates are the certificates uploaded to the app registration: a client
	// assertion signed with one of their keys is accepted as the app's credential.
	ClientCertificates []*x509.Certificate
	// CA signs the server certificate; default a new CA (see CA()).
	CA *simtls.CA
	// Now is the simulator's clock (token expiry, rate windows, Retry-After); default time.Now.
	Now func() time.Time
	// Latency is added to every Graph operation (each part of a batch counts as one).
	Latency time.Duration
	// RateLimit is the default number of requests per mailbox per 10 minutes; default 10,000.
	RateLimit int
	// TokenTTL is the lifetime of issued access tokens; default 3599 s.
	TokenTTL time.Duration
	// PartialUpdates makes delta rounds send only the changed properties (plus id) of updated
	// events, which Graph may do (README "Calendar sync (Microsoft Graph)").
	PartialUpdates bool
	// FreeBusyDetails is what getSchedule shows of every room whose own level is not set:
	// FreeBusyAvailabilityOnly (default, Exchange's) or FreeBusyLimitedDetails.
	FreeBusyDetails string
	// DeltaTokenTTL expires delta tokens older than this (410 SyncStateNotFound); 0: never by age.
	DeltaTokenTTL time.Duration
	// GraphAddr and AdminAddr are the listen addresses; default 127.0.0.1:0 (loopback only).
	GraphAddr, AdminAddr string
	Logger               *slog.Logger
}

// Server is a running (or ready to start) simulator.
type Server struct {
	opts  Options
	log   *slog.Logger
	ca    *simtls.CA
	cert  tls.Certificate
	now   func() time.Time
	start time.Time

	mu       sync.Mutex
	boxes    map[string]*mailbox
	domains  map[string]bool      // the tenant's domains: its own and its rooms'
	tokens   map[string]time.Time // access token → expiry
	app      appState
	faults   []*Fault
	faultSeq int
	idSeq    uint64
	totals   Totals
	notify   notifyState // subscriptions.go
	places   placeState  // places.go
	// delegated is the delegated sign-in state (devicecode.go), made on first use.
	delegated *delegated

	graphLn, adminLn   net.Listener
	graphSrv, adminSrv *http.Server
	graphBase          string // https://127.0.0.1:P
	adminBase          string // http://127.0.0.1:Q
	done               sync.WaitGroup
}

type appState struct {
	secret        string
	secretExpired bool
	certs         []*x509.Certificate
	tokenTTL      time.Duration
	rateLimit     int
	latency       time.Duration
	partial       bool
	freeBusy      string
}

// New prepares a simulator; Start makes it listen.
func New(opts Options) (*Server, error) {
	if opts.Tenant == "" {
		opts.Tenant = DefaultTenant
	}
	if opts.TenantDomain == "" {
		opts.TenantDomain = DefaultTenantDomain
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.GraphAddr == "" {
		opts.GraphAddr = "127.0.0.1:0"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:0"
	}
	if err := validFreeBusyDetails(opts.FreeBusyDetails); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ca := opts.CA
	if ca == nil {
		var err error
		if ca, err = simtls.NewCA("graphsim CA"); err != nil {
			return nil, err
		}
	}
	cert, err := ca.Issue("127.0.0.1", "localhost", "::1")
	if err != nil {
		return nil, fmt.Errorf("graphsim certificate: %w", err)
	}
	s := &Server{
		opts: opts, log: opts.Logger, ca: ca, cert: cert, now: opts.Now, start: opts.Now(),
		boxes:   map[string]*mailbox{},
		domains: map[string]bool{strings.ToLower(opts.TenantDomain): true},
		tokens:  map[string]time.Time{},
		app: appState{secret: opts.ClientSecret, certs: opts.ClientCertificates, tokenTTL: opts.TokenTTL, rateLimit: opts.RateLimit,
			latency: opts.Latency, partial: opts.PartialUpdates, freeBusy: opts.FreeBusyDetails},
	}
	return s, nil
}

// Start listens on the configured (loopback) addresses and serves until Close.
func (s *Server) Start() error {
	gl, err := net.Listen("tcp", s.opts.GraphAddr)
	if err != nil {
		return fmt.Errorf("graphsim listen: %w", err)
	}
	al, err := net.Listen("tcp", s.opts.AdminAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("graphsim admin listen: %w", err)
	}
	return s.Serve(gl, al)
}

// Serve serves Graph and Entra (TLS) on gl and the admin API (plain HTTP) on al.
func (s *Server) Serve(gl, al net.Listener) error {
	s.graphLn, s.adminLn = gl, al
	s.graphBase = "https://" + gl.Addr().String()
	s.adminBase = "http://" + al.Addr().String()
	s.graphSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTPS),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.adminSrv = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.done.Add(2)
	go func() {
		defer s.done.Done()
		if err := s.graphSrv.ServeTLS(gl, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("graphsim stopped", "err", err)
		}
	}()
	go func() {
		defer s.done.Done()
		if err := s.adminSrv.Serve(al); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("graphsim admin stopped", "err", err)
		}
	}()
	s.log.Info("graphsim listening", "graph", s.GraphURL(), "admin", s.adminBase)
	return nil
}

// Close stops both servers and waits for their goroutines.
func (s *Server) Close() {
	if s.graphSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.graphSrv.Shutdown(ctx)
	_ = s.adminSrv.Shutdown(ctx)
	s.graphSrv.Close()
	s.adminSrv.Close()
	s.done.Wait()
	s.closeNotify()
}

// GraphURL is the Graph root with its version, e.g. https://127.0.0.1:P/v1.0 (config graph_url).
func (s *Server) GraphURL() string { return s.graphBase + "/v1.0" }

// TokenURL is the v2 token endpoint of the tenant (config token_url).
func (s *Server) TokenURL() string { return s.graphBase + "/" + s.opts.Tenant + "/oauth2/v2.0/token" }

// AuthorityHost is the Entra host, e.g. https://127.0.0.1:P/.
func (s *Server) AuthorityHost() string { return s.graphBase + "/" }

// AdminURL is the admin API root, e.g. http://127.0.0.1:Q.
func (s *Server) AdminURL() string { return s.adminBase }

// CA is the CA that signed the server certificate.
func (s *Server) CA() *simtls.CA { return s.ca }

// Tenant, TenantDomain, ClientID and ClientSecret are the app registration's values.
func (s *Server) Tenant() string       { return s.opts.Tenant }
func (s *Server) TenantDomain() string { return s.opts.TenantDomain }
func (s *Server) ClientID() string     { return s.opts.ClientID }

// ClientSecret is the secret's current value.
func (s *Server) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.app.secret
}

// HTTPClient is a client that trusts the simulator's CA (for tests that call it directly).
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}}, Timeout: 30 * time.Second}
}

// AppSettings change the app registration and global limits at run time.
type AppSettings struct {
	ClientSecret   *string   `json:"client_secret,omitempty"`   // rotate the secret
	SecretExpired  *bool     `json:"secret_expired,omitempty"`  // AADSTS7000222 from now on
	TokenTTL       *Duration `json:"token_ttl,omitempty"`       // lifetime of new tokens
	RateLimit      *int      `json:"rate_limit,omitempty"`      // default per-mailbox limit per 10 min
	Latency        *Duration `json:"latency,omitempty"`         // added to every Graph operation
	PartialUpdates *bool     `json:"partial_updates,omitempty"` // delta sends changed properties only
	RevokeTokens   bool      `json:"revoke_tokens,omitempty"`   // every issued token becomes invalid
	// FreeBusyDetails is the getSchedule detail level of rooms without their own:
	// "availability_only" or "limited_details".
	FreeBusyDetails *string `json:"free_busy_details,omitempty"`
	// ClientCertificates replaces the certificates uploaded to the app (PEM, one or more
	// CERTIFICATE blocks each); an empty list removes them all.
	ClientCertificates *[]string `json:"client_certificates,omitempty"`
}

// SetApp applies settings; a certificate that does not parse changes nothing.
func (s *Server) SetApp(a AppSettings) error {
	if a.FreeBusyDetails != nil && *a.FreeBusyDetails != "" {
		if err := validFreeBusyDetails(*a.FreeBusyDetails); err != nil {
			return err
		}
	}
	var certs []*x509.Certificate
	if a.ClientCertificates != nil {
		for i, p := range *a.ClientCertificates {
			rest, found := []byte(p), false
			for {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				c, err := x509.ParseCertificate(b.Bytes)
				if b.Type != "CERTIFICATE" || err != nil {
					return fmt.Errorf("client_certificates[%d]: a %s block that is not a certificate", i, b.Type)
				}
				certs, found = append(certs, c), true
			}
			if !found {
				return fmt.Errorf("client_certificates[%d]: no PEM certificate in it", i)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ClientCertificates != nil {
		s.app.certs = certs
	}
	if a.ClientSecret != nil {
		s.app.secret = *a.ClientSecret
	}
	if a.SecretExpired != nil {
		s.app.secretExpired = *a.SecretExpired
	}
	if a.TokenTTL != nil && *a.TokenTTL > 0 {
		s.app.tokenTTL = time.Duration(*a.TokenTTL)
	}
	if a.RateLimit != nil && *a.RateLimit > 0 {
		s.app.rateLimit = *a.RateLimit
	}
	if a.Latency != nil {
		s.app.latency = time.Duration(*a.Latency)
	}
	if a.PartialUpdates != nil {
		s.app.partial = *a.PartialUpdates
	}
	if a.FreeBusyDetails != nil {
		s.app.freeBusy = *a.FreeBusyDetails
	}
	if a.RevokeTokens {
		s.tokens = map[string]time.Time{}
	}
	return nil
}

// serveHTTPS routes the TLS port: Entra under /{tenant}/..., Graph under /v1.0/.
func (s *Server) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1.0/"):
		s.serveGraph(w, s.withPrincipal(r))
	case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/devicecode"):
		s.serveDeviceCode(w, r)
	case strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration"):
		s.serveDiscovery(w, r)
	case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		s.serveToken(w, r)
	default:
		writeJSON(w, http.StatusNotFound, graphError("BadRequest", "Resource not found for the segment '"+firstSegment(r.URL.Path)+"'."))
	}
}

func firstSegment(p string) string {
	p = strings.TrimPrefix(p, "/")
	seg, _, _ := strings.Cut(p, "/")
	return seg
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON (numbers are milliseconds).
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON accepts "250ms"-style strings or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if v, err := time.ParseDuration(s); err == nil {
		*d = Duration(v)
		return nil
	}
	var ms float64
	if _, err := fmt.Sscan(s, &ms); err != nil {
		return fmt.Errorf("duration %s: want \"250ms\" or milliseconds", b)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

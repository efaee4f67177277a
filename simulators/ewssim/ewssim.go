// Package ewssim is a faithful fake of Exchange Server 2019's Exchange Web Services (the calendar
// operations an OTJ agent uses) for tests, benchmarks and the demo. It has no calendar of its
// own: it serves EWS views of a *graphsim.Server's room mailboxes, so one scenario (graphsim's
// Load) and one set of edits (graphsim's admin operations) drive Graph and EWS at once.
//
// It serves HTTPS only (HTTP/1.1, as IIS does for NTLM) and behaves like Exchange where a client
// can tell the difference (README "Calendar sync (Exchange on-premises, EWS)"):
//
//   - Auth: NTLMv2 verified against the account's password, per TCP connection like IIS, and
//     Basic when enabled; Extended Protection refuses NTLM without channel binding.
//   - Accounts with ApplicationImpersonation (all rooms or a management scope) and delegate
//     grants per room; the errors Exchange gives when they are missing.
//   - SyncFolderItems, FindItem (CalendarView), GetItem, Subscribe, GetStreamingEvents and
//     Unsubscribe on room calendars; SOAP and POX autodiscover.
//   - Throttling: EWSMaxConcurrency per account, a request-rate budget, HangingConnectionLimit,
//     and injected ErrorServerBusy faults with BackOffMilliseconds.
//
// An admin API (plain HTTP on loopback) mounts graphsim's and adds accounts, rights, faults and
// counters under /ews/; the same operations are Go methods for in-process tests.
package ewssim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// Defaults of a simulator.
const (
	DefaultDomain   = "CONTOSO" // NetBIOS domain of the accounts
	DefaultUser     = "svc-otj"
	DefaultPassword = "Sim-Exch4nge!pw"
	DefaultComputer = "EXCH01"
	// DefaultMaxConcurrency is EWSMaxConcurrency of the default throttling policy (2013+).
	DefaultMaxConcurrency = 27
	// DefaultHangingConnectionLimit is the streaming connections per account (2016/2019).
	DefaultHangingConnectionLimit = 10
	// DefaultFindCountLimit is EWSFindCountLimit.
	DefaultFindCountLimit = 1000
	// MaxCalendarViewRange is the longest CalendarView Exchange accepts (2 years).
	MaxCalendarViewRange = 2 * 366 * 24 * time.Hour
	// DefaultSubscriptionTTL is how long a streaming subscription lives with no connection.
	DefaultSubscriptionTTL = 30 * time.Minute
	DefaultKeepAlive       = time.Minute
	DefaultWatchInterval   = 100 * time.Millisecond
	// DefaultBackends is how many mailbox servers (GroupingInformation values) the rooms are
	// spread over.
	DefaultBackends = 2
)

// Exchange 2019 CU14's build, as ServerVersionInfo reports it.
const (
	MajorVersion     = 15
	MinorVersion     = 2
	MajorBuildNumber = 1544
	MinorBuildNumber = 4
	SchemaVersion    = "V2017_07_11"
)

// Options configure a simulator. Calendar is required; the rest has defaults.
type Options struct {
	Calendar *graphsim.Server
	// CA signs the server certificate; default Calendar's CA (one trust file for both).
	CA        *simtls.CA
	Domain    string // NetBIOS domain; default CONTOSO
	DNSDomain string // default Calendar's tenant domain
	// Accounts are the service accounts; default one, DefaultUser/DefaultPassword with
	// impersonation rights on every room.
	Accounts []Account
	// Basic offers Basic auth besides NTLM and Negotiate (Exchange's EWS vdir default: off).
	Basic bool
	// ExtendedProtection is IIS's Extended Protection "Require" on /EWS: NTLM without a
	// matching channel binding is refused.
	ExtendedProtection bool
	// Latency is added to every EWS request (not to streamed events).
	Latency                time.Duration
	MaxConcurrency         int // per account; default 27
	HangingConnectionLimit int // streaming connections per account; default 10
	FindCountLimit         int // default 1000
	// RequireAffinity answers ErrorSubscriptionNotFound to a GetStreamingEvents that does not
	// carry the X-BackEndOverrideCookie of its subscriptions (as a multi-server site does).
	RequireAffinity bool
	// Backends is how many mailbox servers the rooms live on (default 2): autodiscover gives
	// each room its server's GroupingInformation (EXCH01, EXCH02, …) and a room's streaming
	// subscription lives on its server, so with RequireAffinity a GetStreamingEvents whose
	// subscriptions span servers finds only those of the server its cookie routes to.
	Backends        int
	SubscriptionTTL time.Duration // default 30 min
	KeepAlive       time.Duration // streaming keepalive; default 1 min
	// StreamMinute is the length of one minute of ConnectionTimeout (tests shorten it).
	StreamMinute time.Duration
	// WatchInterval is how often subscribed mailboxes are checked for changes; default 100 ms.
	WatchInterval time.Duration
	// Now is the simulator's clock; default Calendar's.
	Now                func() time.Time
	EWSAddr, AdminAddr string // default 127.0.0.1:0
	Logger             *slog.Logger
}

// Server is a running (or ready to start) simulator.
type Server struct {
	opts Options
	gs   *graphsim.Server
	log  *slog.Logger
	now  func() time.Time
	cert tls.Certificate
	leaf *x509.Certificate
	cbt  []byte // the channel binding hash of our certificate

	mu       sync.Mutex
	settings Settings
	accounts map[string]*account // by lower-case sAMAccountName
	faults   []*Fault
	faultSeq int
	stats    statsState
	subs     map[string]*subscription
	watch    map[string]*watchState // subscribed mailboxes
	streams  map[*stream]bool

	ewsLn, adminLn   net.Listener
	ewsSrv, adminSrv *http.Server
	ewsBase          string
	adminBase        string
	stop             chan struct{}
	poke             chan struct{}
	done             sync.WaitGroup
}

// Settings are the run-time switches (PATCH /ews/settings).
type Settings struct {
	Basic                  bool              `json:"basic"`
	ExtendedProtection     bool              `json:"extended_protection"`
	Latency                graphsim.Duration `json:"latency"`
	MaxConcurrency         int               `json:"max_concurrency"`
	HangingConnectionLimit int               `json:"hanging_connection_limit"`
	RequireAffinity        bool              `json:"require_affinity"`
	Backends               int               `json:"backends"`
}

// New prepares a simulator; Start makes it listen.
func New(opts Options) (*Server, error) {
	if opts.Calendar == nil {
		return nil, errors.New("ewssim: Options.Calendar (a *graphsim.Server) is required")
	}
	gs := opts.Calendar
	if opts.CA == nil {
		opts.CA = gs.CA()
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.DNSDomain == "" {
		opts.DNSDomain = gs.TenantDomain()
	}
	if opts.Now == nil {
		opts.Now = gs.Now
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = DefaultMaxConcurrency
	}
	if opts.HangingConnectionLimit <= 0 {
		opts.HangingConnectionLimit = DefaultHangingConnectionLimit
	}
	if opts.FindCountLimit <= 0 {
		opts.FindCountLimit = DefaultFindCountLimit
	}
	if opts.Backends <= 0 {
		opts.Backends = DefaultBackends
	}
	if opts.SubscriptionTTL <= 0 {
		opts.SubscriptionTTL = DefaultSubscriptionTTL
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.StreamMinute <= 0 {
		opts.StreamMinute = time.Minute
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = DefaultWatchInterval
	}
	if opts.EWSAddr == "" {
		opts.EWSAddr = "127.0.0.1:0"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Accounts) == 0 {
		opts.Accounts = []Account{{User: DefaultUser, Password: DefaultPassword, Impersonation: ImpersonateAll}}
	}
	cert, err := opts.CA.Issue("127.0.0.1", "localhost", "::1")
	if err != nil {
		return nil, fmt.Errorf("ewssim certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("ewssim certificate: %w", err)
	}
	s := &Server{opts: opts, gs: gs, log: opts.Logger, now: opts.Now, cert: cert, leaf: leaf, cbt: channelBindingHash(leaf),
		accounts: map[string]*account{}, subs: map[string]*subscription{}, watch: map[string]*watchState{},
		streams: map[*stream]bool{}, stop: make(chan struct{}), poke: make(chan struct{}, 1),
		settings: Settings{Basic: opts.Basic, ExtendedProtection: opts.ExtendedProtection, Latency: graphsim.Duration(opts.Latency),
			MaxConcurrency: opts.MaxConcurrency, HangingConnectionLimit: opts.HangingConnectionLimit, RequireAffinity: opts.RequireAffinity,
			Backends: opts.Backends}}
	s.stats.reset()
	for _, a := range opts.Accounts {
		if err := s.PutAccount(a); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start listens on the configured (loopback) addresses and serves until Close.
func (s *Server) Start() error {
	el, err := net.Listen("tcp", s.opts.EWSAddr)
	if err != nil {
		return fmt.Errorf("ewssim listen: %w", err)
	}
	al, err := net.Listen("tcp", s.opts.AdminAddr)
	if err != nil {
		el.Close()
		return fmt.Errorf("ewssim admin listen: %w", err)
	}
	return s.Serve(el, al)
}

// Serve serves EWS and autodiscover (TLS) on el and the admin API (plain HTTP) on al.
func (s *Server) Serve(el, al net.Listener) error {
	s.ewsLn, s.adminLn = el, al
	s.ewsBase = "https://" + el.Addr().String()
	s.adminBase = "http://" + al.Addr().String()
	s.ewsSrv = &http.Server{
		Handler: http.HandlerFunc(s.serveHTTPS),
		// HTTP/1.1 only: NTLM authenticates a connection, which HTTP/2 multiplexing breaks.
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connState{})
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.adminSrv = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.done.Add(3)
	go func() {
		defer s.done.Done()
		if err := s.ewsSrv.ServeTLS(el, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ewssim stopped", "err", err)
		}
	}()
	go func() {
		defer s.done.Done()
		if err := s.adminSrv.Serve(al); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ewssim admin stopped", "err", err)
		}
	}()
	go func() {
		defer s.done.Done()
		s.watchLoop()
	}()
	s.log.Info("ewssim listening", "ews", s.EWSURL(), "admin", s.adminBase)
	return nil
}

// Close stops the servers (ending open streams) and waits for their goroutines.
func (s *Server) Close() {
	if s.ewsSrv == nil {
		return
	}
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.ewsSrv.Shutdown(ctx)
	_ = s.adminSrv.Shutdown(ctx)
	s.ewsSrv.Close()
	s.adminSrv.Close()
	s.done.Wait()
}

// EWSURL is the EWS endpoint, e.g. https://127.0.0.1:P/EWS/Exchange.asmx.
func (s *Server) EWSURL() string { return s.ewsBase + "/EWS/Exchange.asmx" }

// AutodiscoverURL is the SOAP autodiscover service (…/autodiscover/autodiscover.svc).
func (s *Server) AutodiscoverURL() string { return s.ewsBase + "/autodiscover/autodiscover.svc" }

// AutodiscoverPOXURL is the POX autodiscover service (…/autodiscover/autodiscover.xml).
func (s *Server) AutodiscoverPOXURL() string { return s.ewsBase + "/autodiscover/autodiscover.xml" }

// AdminURL is the admin API root, e.g. http://127.0.0.1:Q.
func (s *Server) AdminURL() string { return s.adminBase }

// CA is the CA that signed the server certificate.
func (s *Server) CA() *simtls.CA { return s.opts.CA }

// Certificate is the server's certificate (for pinning tests).
func (s *Server) Certificate() *x509.Certificate { return s.leaf }

// Calendar is the graphsim server whose mailboxes this serves.
func (s *Server) Calendar() *graphsim.Server { return s.gs }

// Domain is the NetBIOS domain of the accounts (DOMAIN\user).
func (s *Server) Domain() string { return s.opts.Domain }

// DNSDomain is the accounts' UPN suffix.
func (s *Server) DNSDomain() string { return s.opts.DNSDomain }

// HTTPClient is a plain client trusting the simulator's CA, HTTP/1.1 only (add auth yourself).
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.Transport(), Timeout: 30 * time.Second}
}

// Transport is an HTTP/1.1 transport trusting the simulator's CA.
func (s *Server) Transport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.opts.CA.Pool()},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
}

// Settings returns the run-time switches.
func (s *Server) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// SettingsPatch changes some switches (nil fields stay).
type SettingsPatch struct {
	Basic                  *bool              `json:"basic,omitempty"`
	ExtendedProtection     *bool              `json:"extended_protection,omitempty"`
	Latency                *graphsim.Duration `json:"latency,omitempty"`
	MaxConcurrency         *int               `json:"max_concurrency,omitempty"`
	HangingConnectionLimit *int               `json:"hanging_connection_limit,omitempty"`
	RequireAffinity        *bool              `json:"require_affinity,omitempty"`
	Backends               *int               `json:"backends,omitempty"`
}

// SetSettings applies a patch.
func (s *Server) SetSettings(p SettingsPatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Basic != nil {
		s.settings.Basic = *p.Basic
	}
	if p.ExtendedProtection != nil {
		s.settings.ExtendedProtection = *p.ExtendedProtection
	}
	if p.Latency != nil {
		s.settings.Latency = *p.Latency
	}
	if p.MaxConcurrency != nil && *p.MaxConcurrency > 0 {
		s.settings.MaxConcurrency = *p.MaxConcurrency
	}
	if p.HangingConnectionLimit != nil && *p.HangingConnectionLimit > 0 {
		s.settings.HangingConnectionLimit = *p.HangingConnectionLimit
	}
	if p.RequireAffinity != nil {
		s.settings.RequireAffinity = *p.RequireAffinity
	}
	if p.Backends != nil && *p.Backends > 0 {
		s.settings.Backends = *p.Backends
	}
}

// serveHTTPS routes the TLS port; paths are case-insensitive as on IIS.
func (s *Server) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "Microsoft-IIS/10.0")
	w.Header().Set("X-FEServer", DefaultComputer)
	acct, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	switch strings.ToLower(r.URL.Path) {
	case "/ews/exchange.asmx":
		if r.Method != http.MethodPost {
			http.Error(w, "EWS expects a SOAP POST", http.StatusMethodNotAllowed)
			return
		}
		s.serveEWS(w, r, acct)
	case "/autodiscover/autodiscover.svc":
		s.serveAutodiscoverSOAP(w, r, acct)
	case "/autodiscover/autodiscover.xml":
		s.serveAutodiscoverPOX(w, r, acct)
	default:
		http.Error(w, "404 - File or directory not found.", http.StatusNotFound)
	}
}

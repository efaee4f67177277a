package poly

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/store"
)

// Account is one Poly endpoint as the service knows it.
type Account struct {
	Name string // endpoint name
	Room string // the room mailbox its credential is bound to
	// Username and Password are what the endpoint logs in to the calendar service with
	// (calendar_username / calendar_password).
	Username string
	Password secret.Secret
	// Address, AdminUsername and AdminPassword enable REST health checks (address, username,
	// password); CAFile or Fingerprint verify the endpoint's certificate, which is otherwise
	// pinned on first use.
	Address       string
	AdminUsername string
	AdminPassword secret.Secret
	CAFile        string
	Fingerprint   string
}

// Options configure the service; the agent fills them from its config.
type Options struct {
	Listen           string // HTTPS address; default :8443
	CertFile         string // PEM certificate and key; empty: self-signed, kept in StateDir
	KeyFile          string
	StateDir         string
	BodyTemplate     string  // Go text/template over the meeting; empty: DefaultBodyTemplate
	Capture          bool    // log endpoint traffic and refused requests (credentials redacted)
	NotPollingFactor float64 // alarm after this many usual intervals of silence; default 3
	Endpoints        []Account

	// Tuning of the REST health checks; the defaults suit production.
	RESTEvery   time.Duration // how often each endpoint is checked; default 5m
	CertRecheck time.Duration // how often a refused certificate's pin is re-read; default 30s

	Store  *store.Store
	Logger *slog.Logger
	Clock  clock.Clock
	Health *health.Tracker // may be nil
}

// Service is the calendar service, and the Poly endpoint type's driver: Poly endpoints fetch
// their calendar themselves, so a push or retry is answered with device.ErrPulled.
type Service struct {
	device.Pulled

	opts        Options
	log         *slog.Logger
	clock       clock.Clock
	health      *health.Tracker
	st          *store.Store
	list        []*account
	accts       *accounts
	folderRooms map[string]string // folder id → room, to tell "another room" from "no such folder"
	cache       *itemCache
	certs       *certSource
	thr         *throttle
	capture     *capturer
	gate        *syncGate

	pollMu sync.Mutex
	polls  map[string]*pollState
	rest   map[string]*restStatus
	// restWake asks for an early REST check of an endpoint (restsched.go): the endpoint polls
	// us while its last REST check said its calendar was not online (it was checked before the
	// agent served it, say), so the alarm clears at the next poll instead of minutes later.
	restWake map[string]bool
	restKick chan struct{} // the REST scheduler has a wake to take
	restBusy clock.Pending // wakes and checks the scheduler has not finished with (tests)

	limits connLimits // defaultConnLimits; tests shrink them

	addrMu sync.Mutex
	addr   string
	conns  *connLimiter  // the running listener's
	ready  chan struct{} // closed while a Run listens; replaced when it returns
}

var _ device.Driver = (*Service)(nil)

// NewService checks the options, loads (or makes, the first time) the certificate and prepares
// the service; nothing listens until Run.
func NewService(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("poly: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Listen == "" {
		opts.Listen = ":8443"
	}
	if opts.NotPollingFactor == 0 {
		opts.NotPollingFactor = 3
	}
	if opts.RESTEvery <= 0 {
		opts.RESTEvery = restEvery
	}
	if opts.CertRecheck <= 0 {
		opts.CertRecheck = 30 * time.Second
	}
	if opts.NotPollingFactor < 1.5 {
		return nil, fmt.Errorf("poly: not_polling_factor %g must be at least 1.5", opts.NotPollingFactor)
	}
	body, err := newBodyRenderer(opts.BodyTemplate)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts: opts, log: opts.Logger, clock: opts.Clock, health: opts.Health, st: opts.Store,
		accts: newAccounts(opts.Endpoints), folderRooms: map[string]string{},
		thr: newThrottle(), capture: newCapturer(), gate: newSyncGate(opts.Store),
		polls: map[string]*pollState{}, rest: map[string]*restStatus{}, ready: make(chan struct{}), restKick: make(chan struct{}, 1),
		limits: defaultConnLimits,
	}
	seenUser := map[string]string{}
	for i := range opts.Endpoints {
		e := opts.Endpoints[i]
		if e.Name == "" || e.Room == "" || e.Username == "" || !e.Password.IsSet() {
			return nil, fmt.Errorf("poly: endpoint %q needs a name, room, calendar username and calendar password", e.Name)
		}
		u := normalizeUser(e.Username)
		if other, dup := seenUser[u]; dup {
			return nil, fmt.Errorf("poly: endpoints %s and %s share the calendar username %s; each needs its own", other, e.Name, e.Username)
		}
		seenUser[u] = e.Name
		a := s.accts.lookup(e.Username)
		s.list = append(s.list, a)
		s.folderRooms[folderID(a.room)] = a.room
	}
	s.cache = newItemCache(opts.Store, body, opts.Clock.Now)
	s.certs, err = newCertSource(opts.CertFile, opts.KeyFile, opts.StateDir, opts.Logger, opts.Clock.Now)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Fingerprint is the SHA-256 of the certificate the service presents (AB:CD:… form).
func (s *Service) Fingerprint() string { return fingerprintOf(s.certs.current()) }

// Addr is the address the service listens on, once Ready is closed.
func (s *Service) Addr() string {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// Ready is closed once the service listens. When Run returns it is replaced by a new channel
// for the next Run (the agent's supervisor restarts failed parts).
func (s *Service) Ready() <-chan struct{} {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.ready
}

// Run serves until ctx ends. It fails when the address cannot be bound.
func (s *Service) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		if s.health != nil {
			s.health.Fail("ews", fmt.Sprintf("cannot listen on %s: %s", s.opts.Listen, err))
		}
		return fmt.Errorf("ews: listen on %s: %w", s.opts.Listen, err)
	}
	// Bounded per source address and in all, so one client's flood of idle connections
	// neither exhausts file descriptors nor leaves no connection for real endpoints.
	lim := newConnLimiter(ln, s.limits, s.log)

	s.loadPollState(ctx)
	for _, a := range s.list {
		s.reportHealth(a)
	}
	srv := &http.Server{
		Handler:           s,
		ConnState:         lim.connState,
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(&serverErrorLog{log: s.log, seen: map[string]time.Time{}}, "", 0),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			CipherSuites:   tls12Suites, // TLS 1.3's are Go's own, all AEAD
			GetCertificate: s.certs.get,
			NextProtos:     []string{"http/1.1"},
		},
	}
	s.addrMu.Lock()
	s.addr, s.conns = ln.Addr().String(), lim
	ready := s.ready
	s.addrMu.Unlock()
	defer func() {
		s.addrMu.Lock()
		s.addr, s.ready, s.conns = "", make(chan struct{}), nil
		s.addrMu.Unlock()
	}()

	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { s.monitor(wctx) })
	var checked []*account
	for _, a := range s.list {
		if a.Address != "" && a.AdminUsername != "" {
			checked = append(checked, a)
		}
	}
	s.pollMu.Lock()
	s.restWake = map[string]bool{}
	s.pollMu.Unlock()
	if len(checked) > 0 {
		wg.Go(func() { s.restSchedule(wctx, checked) })
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(lim, "", "") }()
	if s.health != nil {
		s.health.OK("ews", fmt.Sprintf("serving %d Poly endpoint(s) on %s; certificate SHA-256 %s", len(s.list), ln.Addr(), s.Fingerprint()))
	}
	s.log.Info("ews: calendar service listening", "addr", ln.Addr().String(), "endpoints", len(s.list), "sha256", s.Fingerprint())
	close(ready)

	select {
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		if s.health != nil {
			s.health.Fail("ews", err.Error())
		}
		return fmt.Errorf("ews: serve: %w", err)
	}
}

// ServeHTTP routes: the EWS endpoint and POX autodiscover (paths compared case-insensitively,
// as IIS does); everything else is 404.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.ToLower(r.URL.Path)
	switch path {
	case "/ews/exchange.asmx", "/autodiscover/autodiscover.xml":
	default:
		w.Header().Set("Connection", "close") // nothing here for anyone: no keep-alive either
		http.NotFound(w, r)
		return
	}
	a, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	markAuthenticated(r)
	now := s.clock.Now()
	synced, err := s.gate.known(r.Context(), a.room)
	if err != nil {
		s.log.Warn("ews: cannot tell whether the room's calendar has synced; the endpoint is asked to retry", "endpoint", a.Name, "err", err)
	}
	// The poll is recorded even if the client hangs up meanwhile.
	s.polled(context.WithoutCancel(r.Context()), a, now, !synced)
	if r.Method != http.MethodPost {
		if r.Method == http.MethodGet && path == "/ews/exchange.asmx" {
			// Lets an installer check the address and credential with a browser.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "otj-edge calendar service: signed in as %s for %s. Poly endpoints POST SOAP requests here.\n", a.Name, a.room)
			if !synced {
				fmt.Fprintf(w, "The room's calendar has not synced yet: until it has, endpoints are told to keep what they show and retry.\n")
			}
			return
		}
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	body, status := readBody(w, r)
	if status != 0 {
		s.log.Warn("ews: request refused", "endpoint", a.Name, "remote", r.RemoteAddr, "status", status)
		http.Error(w, http.StatusText(status), status)
		return
	}
	if path == "/autodiscover/autodiscover.xml" {
		resp := autodiscover(bytes.NewReader(body), a, requestHost(r), now)
		s.captureExchange(r, a, body, http.StatusOK, resp, false)
		writeXML(w, http.StatusOK, resp)
		return
	}
	if !synced {
		s.answerNotSynced(w, r, a, body)
		return
	}
	resp, fault := s.handleSOAP(r.Context(), a, body)
	if fault != nil {
		resp = faultBody(fault)
		s.captureExchange(r, a, body, http.StatusInternalServerError, resp, true)
		writeXML(w, http.StatusInternalServerError, resp)
		return
	}
	s.captureExchange(r, a, body, http.StatusOK, resp, false)
	writeXML(w, http.StatusOK, resp)
}

// answerNotSynced answers a calendar request for a room that has not synced yet: HTTP 503
// with Retry-After and Exchange's ErrorServerBusy fault (see notSyncedFault for why), never
// an empty calendar.
func (s *Service) answerNotSynced(w http.ResponseWriter, r *http.Request, a *account, body []byte) {
	f := notSyncedFault()
	resp := faultBody(f)
	s.captureExchange(r, a, body, http.StatusServiceUnavailable, resp, true)
	w.Header().Set("Retry-After", retryAfterSeconds(f.backOff))
	writeXML(w, http.StatusServiceUnavailable, resp)
}

// requestHost is the name the client reached the service by: the Host header, else the TLS
// server name, else the local address.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	if r.TLS != nil && r.TLS.ServerName != "" {
		return r.TLS.ServerName
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return la.String()
	}
	return "localhost"
}

// readBody reads at most maxRequestBytes; status is 413 beyond that and 400 when the client
// stops sending.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	if r.ContentLength > maxRequestBytes {
		return nil, http.StatusRequestEntityTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, http.StatusBadRequest
	}
	return b, 0
}

// handleSOAP answers one SOAP request for an authenticated endpoint. A bad request is a
// fault; should a bug ever panic, that request gets a fault too and the service carries on.
func (s *Service) handleSOAP(ctx context.Context, a *account, body []byte) (resp []byte, fault *faultError) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("ews: request handler panicked; answering with a fault", "endpoint", a.Name, "panic", p)
			resp, fault = nil, &faultError{soapCode: "Server", code: codeInternalServerError, msg: "internal error"}
		}
	}()
	return s.answerSOAP(ctx, a, body)
}

// answerSOAP parses and answers a request. It must not panic on any input: the fuzz test
// calls it directly, without handleSOAP's safety net.
func (s *Service) answerSOAP(ctx context.Context, a *account, body []byte) ([]byte, *faultError) {
	req, err := parseRequest(bytes.NewReader(body))
	if err != nil {
		var f *faultError
		if errors.As(err, &f) {
			return nil, f
		}
		return nil, clientFault(codeSchemaValidation, "%s", err)
	}
	if !supportedOps[req.Op] {
		if s.capture.firstUnsupported(a.Name, req.Op) {
			s.log.Warn("ews: an endpoint used an operation the calendar service does not support; set ews.capture: true to log its requests",
				"endpoint", a.Name, "operation", req.Op)
		}
		return nil, &faultError{soapCode: "Client", code: codeInvalidOperation, msg: fmt.Sprintf("The operation %s is not supported by this calendar service.", req.Op)}
	}
	c := &call{ctx: ctx, s: s, acc: a, req: req}
	resp, f := c.answer()
	if f != nil {
		switch {
		case f.soapCode != "Server":
		case ctx.Err() != nil:
			// The endpoint hung up (or the service is stopping) before its answer was read:
			// nothing failed here, and it asks again.
			s.log.Debug("ews: request ended before its answer", "endpoint", a.Name, "operation", req.Op, "err", f.cause)
		default:
			s.log.Warn("ews: could not answer", "endpoint", a.Name, "operation", req.Op, "err", f.msg, "cause", f.cause)
		}
		return nil, f
	}
	return resp, nil
}

func writeXML(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "private")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// authenticate checks the Basic credential. On failure it has answered the request (401, or
// 429 while the source is being slowed down).
func (s *Service) authenticate(w http.ResponseWriter, r *http.Request) (*account, bool) {
	now := s.clock.Now()
	src := sourceKey(r.RemoteAddr)
	if until, blocked := s.thr.blocked(src, now); blocked {
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", strconv.Itoa(int(until.Sub(now).Seconds())+1))
		http.Error(w, "too many failed logins from this address; try again later", http.StatusTooManyRequests)
		return nil, false
	}
	h := r.Header.Get("Authorization")
	scheme, user, pass, ok := parseBasic(h)
	if h == "" || !ok {
		if h != "" && s.opts.Capture {
			s.log.Info("ews capture: a client offered an authentication scheme other than Basic", "remote", r.RemoteAddr, "scheme", scheme)
		}
		challenge(w)
		return nil, false
	}
	a, good := s.accts.check(user, pass)
	if good {
		return a, true
	}
	source := src.String()
	emit, count, _ := s.thr.failure(src, now)
	if a != nil {
		s.authFailed(r.Context(), a, source, emit, count)
	} else if emit {
		if err := s.st.Write(r.Context(), func(tx *store.Tx) error { return authEvent(tx, nil, source, count) }); err != nil {
			s.log.Warn("ews: record auth failure", "err", err)
		}
	}
	if emit {
		s.log.Warn("ews: login failed", "user", logSafe(user), "known_user", a != nil, "remote", source, "failures", count)
	}
	challenge(w)
	return nil, false
}

// challenge answers 401 and ends the connection: a client without the right credential gets
// no idle connection to hold (an endpoint that sends its credential after the challenge
// simply reconnects, as it does after any close).
func challenge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("WWW-Authenticate", `Basic realm="otj-edge"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// logSafe trims a client-supplied string for a log line.
func logSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return limitRunes(s, 64)
}

// captureExchange logs a request and its answer in capture mode.
func (s *Service) captureExchange(r *http.Request, a *account, body []byte, status int, resp []byte, fault bool) {
	if !s.opts.Capture || !s.capture.want(a.Name, fault) {
		return
	}
	s.log.Info("ews capture", "endpoint", a.Name, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"user_agent", r.UserAgent(), "headers", redactHeaders(r.Header), "request", redactBody(body, captureMaxBody),
		"status", status, "response", redactBody(resp, captureMaxReply))
}

// tls12Suites are the TLS 1.2 cipher suites the calendar service accepts: forward-secret ECDHE
// with an AEAD cipher only. CBC suites (Go offers ECDHE-CBC ones by default) are refused: they
// are the ones with padding-oracle and Lucky13 history. No Poly firmware is known to need them
// (the cipher set of old Group Series firmware is not documented: close that gap with a
// capture, ews.capture); a TLS 1.2 client from the last decade offers ECDHE with AES-GCM. A
// device that offers none of these is told apart in the log (tooOldTLS), so an installer
// sees the cause instead of a silent OFFLINE.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tooOldTLS reports whether a handshake error means the client offered no TLS version or
// cipher suite the service accepts.
func tooOldTLS(msg string) bool {
	return strings.Contains(msg, "no cipher suite supported") || strings.Contains(msg, "unsupported versions") ||
		strings.Contains(msg, "protocol version not supported")
}

// serverErrorLog receives net/http's own error lines. A failed TLS handshake is what an endpoint
// that does not trust the certificate produces, so it is logged as a warning with the likely
// cause, once an hour per address (scanners make them too); other lines go to debug.
type serverErrorLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]time.Time
}

func (l *serverErrorLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	const prefix = "http: TLS handshake error from "
	if !strings.HasPrefix(line, prefix) {
		l.log.Debug("ews: http server", "msg", line)
		return len(p), nil
	}
	addr, msg, _ := strings.Cut(strings.TrimPrefix(line, prefix), ": ")
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	l.mu.Lock()
	now := time.Now()
	warn := now.Sub(l.seen[host]) >= time.Hour
	if warn {
		if len(l.seen) > 10000 {
			clear(l.seen)
		}
		l.seen[host] = now
	}
	l.mu.Unlock()
	switch {
	case warn && tooOldTLS(msg):
		l.log.Warn("ews: TLS handshake failed: the client offers only TLS versions or cipher suites the calendar service refuses (it needs TLS 1.3, or TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305); if this is a Poly endpoint, update its software",
			"remote", host, "err", msg)
	case warn:
		l.log.Warn("ews: TLS handshake failed; if this is a Poly endpoint, it probably does not trust the calendar service's certificate",
			"remote", host, "err", msg)
	default:
		l.log.Debug("ews: TLS handshake failed", "remote", host, "err", msg)
	}
	return len(p), nil
}

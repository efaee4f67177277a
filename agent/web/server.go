// Package web is otj-edge's local status page and JSON API: what an on-site technician opens
// on a laptop or phone, and what the operator CLI talks to. Pages are server-rendered
// html/template with embedded CSS and no JavaScript, so they work offline and from any browser.
//
// Everything shown comes from the store (rooms, meetings, endpoints, events, outbox), the
// health tracker, and the Agent interface for what only the running agent knows. The
// read-only API lives under /api/; control actions (POST /api/actions/<name>) are accepted
// only from this machine and only with the per-start token the server writes to a 0600 file
// in the state directory, so no web page in a browser can trigger them.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// Options configure the server.
type Options struct {
	// Listen is host:port (status.listen; the config defaults it to 127.0.0.1:8787). Empty:
	// the page is off and Run only waits for ctx to end.
	Listen string
	// Username and Password protect every page and API call with HTTP Basic authentication.
	// Required when Listen is not a loopback address.
	Username string
	Password config.Secret
	// Store, Health and Agent are where the data comes from (all required).
	Store  *store.Store
	Health *health.Tracker
	Agent  Agent
	// TokenFile is where the per-start action token is written (mode 0600), normally
	// TokenPath(state_dir). Empty: actions are refused.
	TokenFile string
	Logger    *slog.Logger
	Clock     clock.Clock // default clock.Real
	// Location is the site's time zone for the page's times and "today"; default time.Local.
	Location *time.Location
	// StaleAfter is when calendar data counts as stale; default 30 minutes.
	StaleAfter time.Duration
	// Metrics serves the Prometheus exposition at /metrics, behind the same authentication as
	// the API (nil: /metrics is 404).
	Metrics http.Handler
	// MaxAuthFailures is how many failed logins a minute one client (IP address, or IPv6 /64)
	// gets answered before the server answers that client 429 for the rest of that minute;
	// default 20. Other clients are not affected.
	MaxAuthFailures int
}

// Server is the status page and API.
type Server struct {
	opts    Options
	log     *slog.Logger
	clock   clock.Clock
	token   string
	handler http.Handler

	auth *authLimiter
	// lifeCtx is the serving context (*context.Context): sign-in flows started from the page
	// end with it (signin.go).
	lifeCtx atomic.Value

	scrubMu  sync.Mutex
	scrubCfg *config.Config
	scrub    *scrubber
}

// New prepares the server; nothing listens until Run or Serve.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Health == nil || opts.Agent == nil {
		return nil, errors.New("status page: Store, Health and Agent are required")
	}
	if (opts.Username == "") != !opts.Password.IsSet() {
		return nil, errors.New("status page: give both a username and a password, or neither")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.MaxAuthFailures <= 0 {
		opts.MaxAuthFailures = 20
	}
	s := &Server{opts: opts, log: opts.Logger.With("part", "status page"), clock: opts.Clock, token: newToken(),
		auth: newAuthLimiter(opts.MaxAuthFailures)}
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's HTTP handler (for tests and for embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Token is this start's action token.
func (s *Server) Token() string { return s.token }

// Run listens on Options.Listen and serves until ctx ends. It refuses a non-loopback address
// without credentials.
func (s *Server) Run(ctx context.Context) error {
	if s.opts.Listen == "" {
		s.log.Info("status page is off (status.listen: off)")
		<-ctx.Done()
		return nil
	}
	host, _, err := net.SplitHostPort(s.opts.Listen)
	if err != nil {
		return fmt.Errorf("status page: listen address %q is not host:port", s.opts.Listen)
	}
	if !s.hasCredentials() && !loopbackHost(host) {
		return fmt.Errorf("status page: refusing to serve on %s without status.username and status.password (it would be reachable from the network)", s.opts.Listen)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("status page: listen on %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then closes it. It checks the address actually bound
// again: a host name that resolved to a routable address is refused without credentials.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.hasCredentials() {
		addr, ok := ln.Addr().(*net.TCPAddr)
		if !ok || !addr.IP.IsLoopback() {
			ln.Close()
			return fmt.Errorf("status page: refusing to serve on %s without status.username and status.password (it would be reachable from the network)", ln.Addr())
		}
	}
	if s.opts.TokenFile != "" {
		if err := writeToken(s.opts.TokenFile, s.token); err != nil {
			ln.Close()
			return fmt.Errorf("status page: %w", err)
		}
		defer removeToken(s.opts.TokenFile, s.token)
	}
	s.setLife(ctx)
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Actions (a push to every codec) may take minutes.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return ctx },
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("status page listening", "url", "http://"+ln.Addr().String()+"/")
	select {
	case err := <-errc:
		return fmt.Errorf("status page: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

func (s *Server) hasCredentials() bool { return s.opts.Username != "" && s.opts.Password.IsSet() }

// loopbackHost reports whether a listen host is a loopback name or address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// routes builds the handler: security headers, then the host check and authentication, then
// the mux.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page(s.overviewPage))
	mux.HandleFunc("GET /rooms", s.page(s.roomsPage))
	mux.HandleFunc("GET /rooms/{room}", s.page(func(r *http.Request) (*page, error) {
		p, err := s.roomPage(r)
		return p, s.noSuchRoom(r, r.PathValue("room"), err)
	}))
	mux.HandleFunc("GET /endpoints", s.page(s.endpointsPage))
	mux.HandleFunc("POST /endpoints/{name}/retry", s.page(s.retryPage))
	mux.HandleFunc("GET /events", s.page(s.echoInput(s.eventsPage)))
	mux.HandleFunc("GET /rules", s.page(s.echoInput(s.rulesPage)))
	mux.HandleFunc("GET /report", s.page(s.reportPage))
	mux.HandleFunc("POST /rules", s.page(s.echoInput(s.rulesPage)))
	mux.HandleFunc("GET /migration", s.page(s.migrationPage))
	mux.HandleFunc("GET /signin", s.page(s.signInPage))
	mux.HandleFunc("POST /signin/{integration}/{action}", s.signInPost)
	mux.HandleFunc("GET /static/{file}", s.static)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("/", s.page(func(*http.Request) (*page, error) { return nil, errNotFound("no such page") }))

	mux.HandleFunc("GET /api/status", s.api(s.apiStatus))
	mux.HandleFunc("GET /api/health", s.api(s.apiHealth))
	mux.HandleFunc("GET /api/rooms", s.api(s.apiRooms))
	mux.HandleFunc("GET /api/rooms/{room}", s.api(s.apiRoom))
	mux.HandleFunc("GET /api/meetings", s.api(s.apiMeetings))
	mux.HandleFunc("GET /api/endpoints", s.api(s.apiEndpoints))
	mux.HandleFunc("GET /api/events", s.api(s.apiEvents))
	mux.HandleFunc("GET /api/runtime", s.api(s.apiRuntime))
	mux.HandleFunc("GET /api/report", s.api(s.apiReport))
	mux.HandleFunc("GET /api/migration", s.api(s.apiMigration))
	mux.HandleFunc("POST /api/actions/{name}", s.api(s.apiAction))
	mux.HandleFunc("/api/actions/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		s.writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "actions are POST requests with a JSON body"})
	})
	mux.HandleFunc("/api/", s.api(func(r *http.Request) (any, error) {
		return nil, httpError{http.StatusNotFound, "no such API endpoint: " + s.echo(r, r.Method+" "+r.URL.Path)}
	}))
	return s.secure(mux)
}

// secure sets the headers every response carries, rejects requests for foreign host names
// when the server runs without credentials (DNS rebinding would otherwise let any web site
// read the page through a name that points at 127.0.0.1), and authenticates.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r = withEchoes(w, r)
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !s.hasCredentials() && !loopbackRequestHost(r.Host) {
			s.fail(w, r, http.StatusMisdirectedRequest, "this status page answers only to localhost and loopback addresses")
			return
		}
		if s.validToken(r) {
			next.ServeHTTP(w, r)
			return
		}
		if s.hasCredentials() {
			if code, msg := s.checkBasic(r); code != 0 {
				if code == http.StatusUnauthorized {
					h.Set("WWW-Authenticate", `Basic realm="otj-edge", charset="UTF-8"`)
				} else {
					h.Set("Retry-After", "60")
				}
				s.fail(w, r, code, msg)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackRequestHost reports whether a Host header names this machine's loopback.
func loopbackRequestHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return loopbackHost(host)
}

// validToken reports whether the request carries this start's action token and comes from
// this machine.
func (s *Server) validToken(r *http.Request) bool {
	got := r.Header.Get(TokenHeader)
	if got == "" || !fromThisMachine(r) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// fromThisMachine reports whether the client is on this machine: a loopback address, or the
// very address it connected to (a tool on the box calling the box's own LAN address).
func fromThisMachine(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if tcp, ok := local.(*net.TCPAddr); ok && tcp.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// checkBasic checks HTTP Basic credentials in constant time. It returns 0 when they are
// right, 401 when they are missing or wrong, and 429 when too many wrong ones came from this
// client in the last minute.
func (s *Server) checkBasic(r *http.Request) (int, string) {
	now := s.clock.Now()
	client := authClient(r.RemoteAddr)
	if s.auth.limited(client, now) {
		return http.StatusTooManyRequests, "too many failed logins; try again in a minute"
	}
	user, pass, ok := r.BasicAuth()
	if ok {
		// Hashing first makes the comparison constant-time whatever the lengths.
		uh, wantU := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(s.opts.Username))
		ph, wantP := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(s.opts.Password.Value()))
		userOK := subtle.ConstantTimeCompare(uh[:], wantU[:])
		passOK := subtle.ConstantTimeCompare(ph[:], wantP[:])
		if userOK&passOK == 1 {
			return 0, ""
		}
	}
	if ok {
		s.auth.fail(client, now)
		s.log.Warn("status page: wrong username or password", "remote", r.RemoteAddr)
		return http.StatusUnauthorized, "wrong username or password"
	}
	return http.StatusUnauthorized, "log in with the status page's username and password"
}

// fail answers an error in the form the path calls for: JSON under /api/, a plain page
// elsewhere.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.writeJSON(w, code, apiError{Error: msg})
		return
	}
	body := fmt.Sprintf("<!doctype html><meta charset=utf-8><title>otj-edge</title><p>%d %s: %s</p>\n",
		code, http.StatusText(code), htmlEscape(msg))
	s.write(w, code, "text/html; charset=utf-8", []byte(body))
}

// httpError is an error with the status code to answer.
type httpError struct {
	code int
	msg  string
}

func (e httpError) Error() string { return e.msg }

func errNotFound(msg string) error   { return httpError{http.StatusNotFound, msg} }
func errBadRequest(msg string) error { return httpError{http.StatusBadRequest, msg} }

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var he httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// write sends a body after scrubbing every configured secret from it; then the client's own
// text goes back where the handler echoed it (echo.go).
func (s *Server) write(w http.ResponseWriter, code int, contentType string, body []byte) {
	body = echoesOf(w).restore(s.scrubber().scrub(body), contentType)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// writeJSON answers v as indented JSON (README "JSON API"). The document is indented into a
// buffer grown once to fit (json.Indent), not through an Encoder's growing buffer and then
// copied into another: at 1,000 codecs the status document's health list alone is ~300 KB.
func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	compact, err := json.Marshal(v)
	if err == nil {
		err = json.Indent(&buf, compact, "", "  ")
		buf.WriteByte('\n') // as json.Encoder ends a document
	}
	if err != nil {
		s.log.Error("status page: encode JSON", "err", err)
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error": "internal error: could not encode the response"}` + "\n")
	}
	s.write(w, code, "application/json; charset=utf-8", buf.Bytes())
}

// scrubber returns the scrubber for the running config's secrets (rebuilt after a reload).
func (s *Server) scrubber() *scrubber {
	cfg := s.opts.Agent.Config()
	s.scrubMu.Lock()
	defer s.scrubMu.Unlock()
	if s.scrub == nil || cfg != s.scrubCfg {
		secrets := secretValues(cfg)
		if v := s.opts.Password.Value(); len(v) >= 4 {
			secrets = append(secrets, v)
		}
		secrets = append(secrets, s.token)
		s.scrub, s.scrubCfg = newScrubber(secrets), cfg
	}
	return s.scrub
}

// reader makes the document builder for this request's moment.
func (s *Server) reader() *Reader {
	return &Reader{
		Store: s.opts.Store, Config: s.opts.Agent.Config(), Health: s.opts.Health, Now: s.clock.Now(),
		Location: s.opts.Location, StaleAfter: s.opts.StaleAfter,
	}
}

// Status builds the site overview document (GET /api/status); the agent can answer the MQTT
// status command with it too.
func (s *Server) Status(ctx context.Context) (Status, error) {
	return s.summary(ctx, s.reader())
}

// status is the overview document and the rooms' documents it was counted from (the overview
// page shows both).
func (s *Server) status(ctx context.Context, rd *Reader) (Status, []Room, error) {
	rooms, err := rd.Rooms(ctx)
	if err != nil {
		return Status{}, nil, err
	}
	eps, err := rd.Endpoints(ctx)
	if err != nil {
		return Status{}, nil, err
	}
	st, err := s.statusDoc(ctx, rd, rd.DataAge(rooms), countBy(rooms, func(r Room) string { return r.Status }),
		countBy(eps, func(e Endpoint) string { return e.State }))
	return st, rooms, err
}

// summary is the overview document counted by the store (store.Tally). Building every room's
// agenda, advice and devices and every endpoint's alarms only to count them held ~9 MB per
// request in flight at 1,000 rooms and 1,000 codecs, on every status poll; listing the rows
// to count them still ~3 MB.
func (s *Server) summary(ctx context.Context, rd *Reader) (Status, error) {
	t, err := rd.Store.Tally(ctx, rd.Now.Add(-rd.staleAfter()))
	if err != nil {
		return Status{}, err
	}
	return s.statusDoc(ctx, rd, rd.tallyAge(t), t.Rooms, t.Endpoints)
}

func (s *Server) statusDoc(ctx context.Context, rd *Reader, age DataAge, rooms, eps map[string]int) (Status, error) {
	ob, err := s.opts.Store.OutboxStats(ctx)
	if err != nil {
		return Status{}, err
	}
	a := s.opts.Agent
	st := Status{
		Version:   a.Version(),
		StartedAt: a.Started(),
		Now:       rd.Now,
		Health:    Health{Overall: s.opts.Health.Overall(), Items: nonNilItems(s.opts.Health.Snapshot())},
		Calendar:  age,
		Rooms:     rooms,
		Endpoints: eps,
		Sources:   a.SourceStats(),
		MQTT:      MQTTStatus{MQTTState: a.MQTT(), OutboxDepth: ob.Depth, OutboxBytes: ob.Bytes, OutboxDropped: ob.Dropped},
	}
	if st.Sources == nil {
		st.Sources = []SourceStats{}
	}
	st.MQTT.Broker = stripUserinfo(st.MQTT.Broker)
	if cfg := rd.Config; cfg != nil {
		st.Site = cfg.Site
	}
	return st, nil
}

func nonNilItems(items []health.Item) []health.Item {
	if items == nil {
		return []health.Item{}
	}
	return items
}

// stripUserinfo drops user:password@ from a URL.
func stripUserinfo(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if slash := strings.Index(rest, "/"); slash < 0 || at < slash {
			rest = rest[at+1:]
		}
	}
	return scheme + "://" + rest
}

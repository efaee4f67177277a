package ciscosim

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// Roles a codec user can have (schema 26.4.1).
const (
	RoleAdmin       = "Admin"
	RoleUser        = "User"
	RoleIntegrator  = "Integrator"
	RoleRoomControl = "RoomControl"
	RoleAudit       = "Audit"
)

// User is a local account on the codec.
type User struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

func (u User) has(roles ...string) bool {
	for _, r := range roles {
		if containsFold(u.Roles, r) {
			return true
		}
	}
	return false
}

// Auth styles a codec accepts on the WebSocket upgrade.
const (
	AuthBoth        = ""            // Basic header or auth-<token> subprotocol (real codecs)
	AuthHeaderOnly  = "header"      // only Authorization: Basic
	AuthSubprotocol = "subprotocol" // only the auth-<token> subprotocol
)

// CodecConfig describes one simulated codec.
type CodecConfig struct {
	Name       string
	Users      []User
	Profile    Profile // default RoomOS11
	SystemName string  // Configuration SystemUnit Name; default Name
	ProductID  string  // Status SystemUnit ProductId; default "Cisco Webex Room Kit Pro"
	// Addr is the listen address; default 127.0.0.1:0.
	Addr string
	// Certificate replaces the self-signed certificate (e.g. one issued by a test CA, for
	// codecs whose owners installed a CA-signed certificate).
	Certificate *tls.Certificate
	// AuthStyle limits the accepted authentication (AuthBoth by default). A request without an
	// accepted credential gets 401; a wrong one gets 403.
	AuthStyle string
	// NotCloudRegistered makes a PutNeedsCloud profile (CE 9.15) refuse Bookings Put.
	NotCloudRegistered bool
	// WebsocketDisabled answers every /ws request 404 (NetworkServices Websocket: Off).
	WebsocketDisabled bool
	// KeepBookingsOnReboot keeps the stored bookings across a reboot (unconfirmed on real
	// codecs; default: lost).
	KeepBookingsOnReboot bool
	// UpFor is how long the codec has been up when the simulator starts it (Status
	// SystemUnit Uptime, in whole seconds of the simulator clock; default 0). A reboot starts
	// the count again.
	UpFor time.Duration
	// MaxFailedLogins locks a user out after this many wrong passwords in a row (default 5;
	// negative: never). LockoutFor is how long (default 10 min of the simulator clock).
	MaxFailedLogins int
	LockoutFor      time.Duration
	// Session limits (Security Session MaxSessionsPerUser / MaxTotalSessions); over them the
	// upgrade is answered 503. Defaults 20 and 30.
	MaxSessionsPerUser int
	MaxTotalSessions   int
	// MaxSubscriptions caps feedback subscriptions per connection (-31998 past it); default 50.
	MaxSubscriptions int
	// KeyExchanges are the TLS key exchange groups the codec accepts, its preference first
	// (default Go's, which prefer the post-quantum hybrid X25519MLKEM768; a codec whose TLS
	// library predates it: []tls.CurveID{tls.X25519, tls.CurveP256}).
	KeyExchanges []tls.CurveID
}

// Faults are injected misbehaviours. Set them with Codec.SetFaults or the admin API.
type Faults struct {
	// Delay holds every reply this long (a slow codec).
	Delay time.Duration
	// Reorder holds replies briefly and sends them newest first, so a client that has several
	// requests in flight gets its answers out of order.
	Reorder bool
	// InterleaveFeedback sends the current value of every Status subscription of the
	// connection just before each reply (feedback arriving between a request and its answer).
	InterleaveFeedback bool
	// DropNext: the next request whose method equals this (e.g. "xCommand/Bookings/Put") is
	// received and the connection is cut before any reply. DropApplies decides whether the
	// request took effect first.
	DropNext    string
	DropApplies bool
	// HandshakeStatus answers every upgrade with this HTTP status (e.g. 502, 503, 404) until
	// cleared.
	HandshakeStatus int
	// JunkFrames sends garbage before every reply: text that is not JSON, a binary frame, an
	// answer to a request never made, JSON-RPC with the wrong types, a notification with
	// params that are not an object, a JSON array, and a 256 KiB string (JunkFrameKinds).
	JunkFrames bool
}

// HandshakeStats count WebSocket upgrade attempts on /ws (TLS handshakes that fail never get
// here: no credentials were sent).
type HandshakeStats struct {
	Attempts int               `json:"attempts"`
	ByStatus map[int]int       `json:"by_status"` // 101 for accepted
	Last     time.Time         `json:"last"`      // simulator clock
	History  []HandshakeRecord `json:"history"`   // the latest 1000
}

// HandshakeRecord is one upgrade attempt.
type HandshakeRecord struct {
	At     time.Time `json:"at"` // simulator clock
	Status int       `json:"status"`
}

// Stats describe what a codec has seen.
type Stats struct {
	Handshakes  HandshakeStats `json:"handshakes"`
	Connections int            `json:"connections"`      // open now
	Requests    map[string]int `json:"requests"`         // by method
	Puts        int            `json:"puts"`             // Bookings Put received (accepted or not)
	Reboots     int            `json:"reboots"`          // so far
	Subscribed  int            `json:"subscriptions"`    // feedback subscriptions open now
	MaxInFlight int            `json:"max_in_flight"`    // most requests in flight at once on a connection
	JunkFrames  int            `json:"junk_frames"`      // garbage frames sent (the JunkFrames fault)
	Fingerprint string         `json:"cert_fingerprint"` // SHA-256 of the current certificate
}

// Codec is one simulated Cisco codec: its own listener, certificate, users, bookings and
// connections.
type Codec struct {
	fleet *Fleet
	cfg   CodecConfig
	log   *slog.Logger

	ln     net.Listener
	srv    *http.Server
	addr   string
	wsURL  string
	closed chan struct{}

	mu           sync.Mutex
	offered      []tls.CurveID // key exchange groups of the latest TLS ClientHello
	cert         tls.Certificate
	profile      Profile
	users        map[string]User
	failed       map[string]int
	lockedUntil  map[string]time.Time
	downUntil    time.Time // wall clock: rebooting until then (502)
	readyAt      time.Time // wall clock: requests before this get -31997 (still booting)
	boots        int
	bootedAt     time.Time // simulator clock: Status SystemUnit Uptime counts from here
	conns        map[*conn]bool
	connSeq      int
	dropGen      int // bumped by every drop of all connections
	faults       Faults
	stats        Stats
	config       map[string]any // xSet overrides: lower-case dotted path → value
	bookings     []Booking
	puts         []PutRecord
	putSignal    chan struct{} // closed and replaced on every Put received
	hsSignal     chan struct{} // closed and replaced on every upgrade attempt
	phases       map[string]uint8
	current      string // Status Bookings Current Id
	calls        []*call
	callSeq      int
	availability string
}

// PutRecord is one Bookings Put the codec received.
type PutRecord struct {
	At       time.Time `json:"at"` // simulator clock
	User     string    `json:"user"`
	Source   string    `json:"source"` // "xapi" or "admin" (another system's push)
	Accepted bool      `json:"accepted"`
	Error    string    `json:"error,omitempty"`
	Bookings []Booking `json:"bookings,omitempty"`
	Body     string    `json:"body"`
	Hash     string    `json:"sha256"`
	Count    int       `json:"count"`
}

func newCodec(f *Fleet, cfg CodecConfig) (*Codec, error) {
	if cfg.Name == "" {
		return nil, errors.New("ciscosim: codec name is required")
	}
	if cfg.Profile.Name == "" {
		cfg.Profile = RoomOS11
	}
	if cfg.SystemName == "" {
		cfg.SystemName = cfg.Name
	}
	if cfg.ProductID == "" {
		cfg.ProductID = "Cisco Webex Room Kit Pro"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MaxFailedLogins == 0 {
		cfg.MaxFailedLogins = 5
	}
	if cfg.LockoutFor == 0 {
		cfg.LockoutFor = 10 * time.Minute
	}
	if cfg.MaxSessionsPerUser == 0 {
		cfg.MaxSessionsPerUser = 20
	}
	if cfg.MaxTotalSessions == 0 {
		cfg.MaxTotalSessions = 30
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = 50
	}
	cert, err := simtls.SelfSigned("127.0.0.1", "localhost", cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("codec %s: %w", cfg.Name, err)
	}
	c := &Codec{
		fleet:       f,
		cfg:         cfg,
		log:         f.log.With("codec", cfg.Name),
		closed:      make(chan struct{}),
		cert:        cert,
		profile:     cfg.Profile,
		users:       map[string]User{},
		failed:      map[string]int{},
		lockedUntil: map[string]time.Time{},
		conns:       map[*conn]bool{},
		config:      map[string]any{},
		phases:      map[string]uint8{},
		putSignal:   make(chan struct{}),
		hsSignal:    make(chan struct{}),
	}
	if cfg.Certificate != nil {
		c.cert = *cfg.Certificate
	}
	c.bootedAt = c.now().Add(-cfg.UpFor)
	c.stats.Handshakes.ByStatus = map[int]int{}
	c.stats.Requests = map[string]int{}
	for _, u := range cfg.Users {
		c.users[u.Username] = u
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("codec %s: listen: %w", cfg.Name, err)
	}
	c.ln = ln
	c.addr = ln.Addr().String()
	c.wsURL = "wss://" + c.addr + "/ws"
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", c.handleWS)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "404 page not found (the simulator serves the xAPI WebSocket on /ws only)", http.StatusNotFound)
	})
	c.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	tlsCfg := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: c.cfg.KeyExchanges,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.offered = slices.Clone(hello.SupportedCurves)
			cert := c.cert
			return &cert, nil
		},
	}
	go func() {
		if err := c.srv.Serve(tls.NewListener(ln, tlsCfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Warn("codec listener stopped", "err", err)
		}
	}()
	return c, nil
}

// Name is the codec's name.
func (c *Codec) Name() string { return c.cfg.Name }

// URL is the codec's xAPI WebSocket address, wss://127.0.0.1:P/ws.
func (c *Codec) URL() string { return c.wsURL }

// Addr is host:port.
func (c *Codec) Addr() string { return c.addr }

// Fingerprint is the SHA-256 of the certificate the codec presents now.
func (c *Codec) Fingerprint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return simtls.Fingerprint(c.cert)
}

// Profile is the firmware profile the codec runs.
func (c *Codec) Profile() Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.profile
}

func (c *Codec) now() time.Time { return c.fleet.now() }

func (c *Codec) close() {
	select {
	case <-c.closed:
		return
	default:
	}
	close(c.closed)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	c.dropAll()
}

// handleWS is the WebSocket upgrade on /ws: injected failures, rebooting, authentication,
// session limits, then a JSON-RPC connection.
func (c *Codec) handleWS(w http.ResponseWriter, r *http.Request) {
	status, user, proto, gen := c.admit(r)
	if status != http.StatusSwitchingProtocols {
		c.countHandshake(status)
		msg := http.StatusText(status)
		switch status {
		case http.StatusForbidden:
			msg = "Forbidden: authentication failed"
		case http.StatusUnauthorized:
			msg = "Unauthorized: no credentials"
		case http.StatusBadGateway:
			msg = "Bad Gateway: the codec is restarting"
		case http.StatusServiceUnavailable:
			msg = "Service Unavailable: connection or session limit"
		case http.StatusNotFound:
			msg = "Not Found: NetworkServices Websocket is Off"
		}
		http.Error(w, msg, status)
		return
	}
	var hdr http.Header
	if proto != "" {
		hdr = http.Header{"Sec-Websocket-Protocol": {proto}} // echoed, as browsers require
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, ReadBufferSize: 4096, WriteBufferSize: 4096}
	// Counted before the 101 goes out, so a client that has its connection sees the count.
	c.countHandshake(http.StatusSwitchingProtocols)
	ws, err := up.Upgrade(w, r, hdr)
	if err != nil {
		c.mu.Lock()
		c.stats.Handshakes.ByStatus[http.StatusSwitchingProtocols]--
		c.stats.Handshakes.ByStatus[http.StatusBadRequest]++
		if h := c.stats.Handshakes.History; len(h) > 0 {
			h[len(h)-1].Status = http.StatusBadRequest
		}
		c.mu.Unlock()
		return
	}
	cn := c.newConn(ws, user, gen)
	if cn == nil {
		ws.Close()
		return
	}
	cn.serve()
}

func (c *Codec) countHandshake(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	h := &c.stats.Handshakes
	h.Attempts++
	h.ByStatus[status]++
	h.Last = now
	h.History = append(h.History, HandshakeRecord{At: now, Status: status})
	if len(h.History) > 1000 {
		h.History = h.History[len(h.History)-1000:]
	}
	close(c.hsSignal)
	c.hsSignal = make(chan struct{})
}

// HandshakeSignal returns a channel closed at the next upgrade attempt.
func (c *Codec) HandshakeSignal() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hsSignal
}

// admit decides the upgrade's fate: 101 with the user, the subprotocol to echo and the drop
// generation it was admitted in, or an HTTP error status.
func (c *Codec) admit(r *http.Request) (int, User, string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, u, proto := c.admitLocked(r)
	return st, u, proto, c.dropGen
}

func (c *Codec) admitLocked(r *http.Request) (int, User, string) {
	switch {
	case c.faults.HandshakeStatus != 0:
		return c.faults.HandshakeStatus, User{}, ""
	case time.Now().Before(c.downUntil):
		return http.StatusBadGateway, User{}, ""
	case c.cfg.WebsocketDisabled:
		return http.StatusNotFound, User{}, ""
	}
	username, password, proto, ok := credentials(r, c.cfg.AuthStyle)
	if !ok {
		return http.StatusUnauthorized, User{}, ""
	}
	now := c.now()
	if now.Before(c.lockedUntil[username]) {
		return http.StatusForbidden, User{}, ""
	}
	u, known := c.users[username]
	if !known || u.Password != password {
		c.failed[username]++
		if c.cfg.MaxFailedLogins > 0 && c.failed[username] >= c.cfg.MaxFailedLogins {
			c.lockedUntil[username] = now.Add(c.cfg.LockoutFor)
			c.failed[username] = 0
			c.log.Info("user locked out after failed logins", "user", username)
		}
		return http.StatusForbidden, User{}, ""
	}
	c.failed[username] = 0
	perUser := 0
	for cn := range c.conns {
		if cn.user.Username == username {
			perUser++
		}
	}
	if perUser >= c.cfg.MaxSessionsPerUser || len(c.conns) >= c.cfg.MaxTotalSessions {
		return http.StatusServiceUnavailable, User{}, ""
	}
	return http.StatusSwitchingProtocols, u, proto
}

// credentials reads Basic auth from the Authorization header or the auth-<token> subprotocol
// (base64url without padding, as jsxapi sends it; standard base64 is accepted too).
func credentials(r *http.Request, style string) (user, pass, proto string, ok bool) {
	if style != AuthSubprotocol {
		if u, p, found := r.BasicAuth(); found {
			return u, p, "", true
		}
	}
	if style == AuthHeaderOnly {
		return "", "", "", false
	}
	for _, sp := range websocket.Subprotocols(r) {
		tok, found := strings.CutPrefix(sp, "auth-")
		if !found {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
			b, err := enc.DecodeString(tok)
			if err != nil {
				continue
			}
			if u, p, found := strings.Cut(string(b), ":"); found {
				return u, p, sp, true
			}
		}
		return "", "", sp, true // undecodable token: a wrong credential, not a missing one
	}
	return "", "", "", false
}

// SetFaults replaces the injected faults.
func (c *Codec) SetFaults(f Faults) {
	c.mu.Lock()
	c.faults = f
	c.mu.Unlock()
}

// Faults returns the injected faults.
func (c *Codec) Faults() Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// Stats returns what the codec has seen so far.
func (c *Codec) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Handshakes.ByStatus = map[int]int{}
	for k, v := range c.stats.Handshakes.ByStatus {
		s.Handshakes.ByStatus[k] = v
	}
	s.Handshakes.History = append([]HandshakeRecord(nil), c.stats.Handshakes.History...)
	s.Requests = map[string]int{}
	for k, v := range c.stats.Requests {
		s.Requests[k] = v
	}
	s.Connections = len(c.conns)
	s.Subscribed = 0
	for cn := range c.conns {
		s.Subscribed += cn.subscriptionCount()
	}
	s.Fingerprint = simtls.Fingerprint(c.cert)
	return s
}

// SetUser adds or replaces a local user (change a password, take a role away).
func (c *Codec) SetUser(u User) {
	c.mu.Lock()
	c.users[u.Username] = u
	delete(c.lockedUntil, u.Username)
	c.failed[u.Username] = 0
	c.mu.Unlock()
}

// SetProfile switches the firmware (as after an upgrade); open connections are dropped, as the
// codec restarts.
func (c *Codec) SetProfile(p Profile) {
	c.mu.Lock()
	c.profile = p
	c.mu.Unlock()
	c.dropAll()
}

// SetCloudRegistered toggles whether the codec counts as Webex-registered or Edge-linked (a
// PutNeedsCloud profile refuses Put when it is not).
func (c *Codec) SetCloudRegistered(on bool) {
	c.mu.Lock()
	c.cfg.NotCloudRegistered = !on
	c.mu.Unlock()
}

// RotateCertificate gives the codec a new self-signed certificate (as after a factory reset or
// a certificate renewal) and drops open connections; it returns the new fingerprint.
func (c *Codec) RotateCertificate() (string, error) {
	cert, err := simtls.SelfSigned("127.0.0.1", "localhost", c.cfg.Name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.cert = cert
	c.mu.Unlock()
	c.dropAll()
	return simtls.Fingerprint(cert), nil
}

// RebootOptions shape a reboot.
type RebootOptions struct {
	// Down is how long (wall clock) the codec answers 502 before it accepts connections again;
	// default 2 s.
	Down time.Duration
	// KeepBookings overrides the codec's KeepBookingsOnReboot for this reboot when set.
	KeepBookings *bool
	// NotReady is how long after Down the codec accepts connections but answers requests with
	// -31997 "system not ready"; default 0.
	NotReady time.Duration
}

// Reboot drops every connection (subscriptions die with them), forgets the bookings unless
// kept, and answers 502 for a while.
func (c *Codec) Reboot(o RebootOptions) {
	if o.Down <= 0 {
		o.Down = 2 * time.Second
	}
	keep := c.cfg.KeepBookingsOnReboot
	if o.KeepBookings != nil {
		keep = *o.KeepBookings
	}
	c.mu.Lock()
	c.downUntil = time.Now().Add(o.Down)
	c.readyAt = c.downUntil.Add(o.NotReady)
	c.boots++
	c.bootedAt = c.now()
	c.stats.Reboots++
	if !keep {
		c.bookings = nil
		c.phases = map[string]uint8{}
		c.current = ""
	}
	c.calls = nil
	c.mu.Unlock()
	c.dropAll()
	c.log.Info("codec rebooting", "down", o.Down, "keep_bookings", keep)
}

// Up reports whether the codec accepts connections now (not rebooting).
func (c *Codec) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !time.Now().Before(c.downUntil)
}

// UpAt is when the current reboot ends (zero when not rebooting).
func (c *Codec) UpAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downUntil
}

// FreezeConnections makes every open connection hang: it stays open but nothing more is
// answered, pings included (a codec that froze, or a path that silently drops packets). New
// connections work.
func (c *Codec) FreezeConnections() {
	for _, cn := range c.openConns() {
		cn.wmu.Lock()
		cn.frozen = true
		cn.wmu.Unlock()
	}
}

func (c *Codec) openConns() []*conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := make([]*conn, 0, len(c.conns))
	for cn := range c.conns {
		list = append(list, cn)
	}
	return list
}

// DropConnections cuts every open connection at once, without a close frame (a network
// glitch).
func (c *Codec) DropConnections() { c.dropAll() }

func (c *Codec) dropAll() {
	c.mu.Lock()
	c.dropGen++ // a connection admitted before now but not yet registered is cut on arrival
	list := make([]*conn, 0, len(c.conns))
	for cn := range c.conns {
		list = append(list, cn)
	}
	c.conns = map[*conn]bool{} // gone now, with their subscriptions
	c.mu.Unlock()
	for _, cn := range list {
		cn.kill()
	}
}

// Package webex pushes the rooms' meetings as bookings to Cisco devices registered to Webex,
// through Webex's cloud xAPI (POST /v1/xapi/command/Bookings.Put), for sites whose devices'
// local API cannot be reached. The bookings are the same document device/cisco pushes over
// the LAN (device/bookings). A connection is one Webex integration: its refresh token, kept
// rotated and sealed in the state directory, and one rate-limit bucket for every device it
// reaches. Facts and choices: README "Webex devices" (notes/webex.md).
//
// Cisco's terms require Cisco's permission for commercial use of Bookings Put (README).
package webex

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/store"
)

// Connection is one Webex integration the driver acts as.
type Connection struct {
	Name         string
	APIURL       string // e.g. https://webexapis.com/v1
	TokenURL     string // e.g. https://webexapis.com/v1/access_token
	ClientID     string
	ClientSecret string
	RefreshToken string // the config's (first) refresh token
	// RootCAs verifies the API's certificate (nil: the system's roots).
	RootCAs *x509.CertPool
}

// LogValue keeps the secrets out of logs.
func (c Connection) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", c.Name), slog.String("api_url", c.APIURL))
}

// String keeps the secrets out of %v.
func (c Connection) String() string { return fmt.Sprintf("%s (%s)", c.Name, c.APIURL) }

// GoString keeps the secrets out of %#v.
func (c Connection) GoString() string { return "webex.Connection{" + c.String() + "}" }

// Endpoint is one configured Webex device.
type Endpoint struct {
	Name       string
	Room       string // room mailbox
	Connection string // Connection.Name
	// Exactly one of these names the device.
	DeviceID   string
	Workspace  string // workspace id or display name
	DeviceName string
}

// Options configure the manager. Store, Logger, Clock and Health are the agent's.
type Options struct {
	Connections []Connection
	Endpoints   []Endpoint
	Store       *store.Store
	// Vault keeps the rotated refresh tokens (nil: memory only, tests of other things).
	Vault  *tokenvault.Vault
	Logger *slog.Logger
	Clock  clock.Clock
	Health *health.Tracker
	// WindowPast, WindowDays, SafetyInterval, Location: as device/cisco (the cisco: section).
	WindowPast     time.Duration
	WindowDays     int
	SafetyInterval time.Duration
	Location       *time.Location

	// Tuning; the defaults suit production.
	StatusEvery  time.Duration // device list (connection status, software) per connection; default 1m
	Debounce     time.Duration // quiet time after a change; default 2s
	MaxDebounce  time.Duration // longest a burst delays a push; default 10s
	RefusalRetry time.Duration // a refused push (403, 404, 400) is tried again after; default 5m
	RetryMin     time.Duration // after a network error or 5xx; default 5s
	RetryMax     time.Duration // default 5m
	CallTimeout  time.Duration // one request; default 30s
	MidnightSkew time.Duration // push this long after local midnight; default 30s
	// MidnightSpread spreads the devices' midnight pushes over this much after the skew, each
	// device at its own offset (bookings.MidnightPush); default 10m, negative: none.
	MidnightSpread time.Duration
	// Verify lists the bookings back after a changed push (one more request); default on.
	NoVerify bool
	// HTTPClient replaces the client built from the connections' RootCAs (tests).
	HTTPClient *http.Client

	// onChanged, when set (tests), hears each endpoint's notice of a change of its room.
	onChanged func(name string)
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Health == nil {
		o.Health = health.New(o.Clock.Now)
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.SafetyInterval, 30*time.Minute)
	def(&o.StatusEvery, time.Minute)
	def(&o.Debounce, 2*time.Second)
	def(&o.MaxDebounce, 10*time.Second)
	def(&o.RefusalRetry, 5*time.Minute)
	def(&o.RetryMin, 5*time.Second)
	def(&o.RetryMax, 5*time.Minute)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.MidnightSkew, 30*time.Second)
	if o.MidnightSpread == 0 {
		o.MidnightSpread = bookings.DefaultMidnightSpread
	}
}

// Manager runs every Webex device of the site.
type Manager struct {
	opts    Options
	log     *slog.Logger
	http    *http.Client
	conns   map[string]*conn
	devices []*dev
	byName  map[string]*dev
	byRoom  map[string][]*dev
	stats   statsState
	busy    clock.Pending // wakes and steps not yet handled (tests wait for none on a fake clock)
	wake    chan struct{} // an endpoint was kicked (sched.go)

	mu      sync.Mutex
	running bool
}

var _ device.Driver = (*Manager)(nil)

// New checks the endpoints against the connections and prepares a manager; nothing is sent
// until Run.
func New(opts Options) (*Manager, error) {
	opts.defaults()
	if opts.Store == nil {
		return nil, errors.New("webex: a store is required")
	}
	m := &Manager{opts: opts, log: opts.Logger, conns: map[string]*conn{}, byName: map[string]*dev{}, byRoom: map[string][]*dev{},
		wake: make(chan struct{}, 1)}
	m.http = opts.HTTPClient
	var errs []error
	for _, c := range opts.Connections {
		if _, dup := m.conns[c.Name]; dup {
			errs = append(errs, fmt.Errorf("webex connection %s: configured twice", c.Name))
			continue
		}
		cn := &conn{m: m, cfg: c, log: opts.Logger.With("webex", c.Name)}
		cn.loadTokens()
		m.conns[c.Name] = cn
	}
	if m.http == nil {
		m.http = newHTTPClient(opts.Connections)
	}
	for _, ep := range opts.Endpoints {
		cn := m.conns[ep.Connection]
		switch {
		case cn == nil:
			errs = append(errs, fmt.Errorf("webex endpoint %s: connection %q is not configured", ep.Name, ep.Connection))
			continue
		case m.byName[ep.Name] != nil:
			errs = append(errs, fmt.Errorf("webex endpoint %s: configured twice", ep.Name))
			continue
		}
		d := newDev(m, cn, ep)
		m.devices = append(m.devices, d)
		m.byName[ep.Name] = d
		m.byRoom[ep.Room] = append(m.byRoom[ep.Room], d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// newHTTPClient trusts the system roots plus every connection's CA.
func newHTTPClient(conns []Connection) *http.Client {
	var pool *x509.CertPool
	for _, c := range conns {
		if c.RootCAs != nil {
			pool = c.RootCAs // one box talks to one Webex (or one simulator)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// Run serves the devices until ctx ends, then returns nil.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("webex: the manager runs already (make a new one)")
	}
	m.running = true
	m.mu.Unlock()
	sub := m.opts.Store.Subscribe(store.TopicMeetings)
	defer sub.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	now := m.opts.Clock.Now()
	for _, d := range m.devices {
		d.load(ctx)
		d.start(now)
	}
	for _, c := range m.conns {
		if len(m.devicesOf(c)) > 0 {
			wg.Go(func() { c.poll(ctx) })
		}
	}
	m.schedule(ctx, sub)
	return nil
}

func (m *Manager) devicesOf(c *conn) []*dev {
	var out []*dev
	for _, d := range m.devices {
		if d.c == c {
			out = append(out, d)
		}
	}
	return out
}

func (m *Manager) pick(name string) ([]*dev, error) {
	if name == "" {
		return m.devices, nil
	}
	d := m.byName[name]
	if d == nil {
		return nil, fmt.Errorf("webex: no endpoint %q", name)
	}
	return []*dev{d}, nil
}

// Push sends the named device's bookings ("" every one) now, in full, and waits for the
// answers (those still going when ctx ends are pending).
func (m *Manager) Push(ctx context.Context, name string) ([]device.Result, error) {
	ds, err := m.pick(name)
	if err != nil {
		return nil, err
	}
	return m.ask(ctx, ds, false), nil
}

// Retry is Push for one endpoint that also lets a connection whose refresh token was refused
// try it once more (after a re-authorisation written by another process).
func (m *Manager) Retry(ctx context.Context, name string) (device.Result, error) {
	ds, err := m.pick(name)
	if err != nil {
		return device.Result{}, err
	}
	if len(ds) != 1 {
		return device.Result{}, errors.New("webex: retry needs an endpoint name")
	}
	return m.ask(ctx, ds, true)[0], nil
}

func (m *Manager) ask(ctx context.Context, ds []*dev, retry bool) []device.Result {
	out := make([]device.Result, len(ds))
	chans := make([]chan device.Result, len(ds))
	for i, d := range ds {
		chans[i] = make(chan device.Result, 1)
		d.request(request{reply: chans[i], retry: retry})
	}
	for i, d := range ds {
		select {
		case r := <-chans[i]:
			out[i] = r
		case <-ctx.Done():
			out[i] = device.Result{Endpoint: d.ep.Name, Outcome: device.OutcomePending, Detail: "still pushing when the request ended"}
		}
	}
	return out
}

// Names lists the managed endpoints.
func (m *Manager) Names() []string {
	out := make([]string, len(m.devices))
	for i, d := range m.devices {
		out[i] = d.ep.Name
	}
	return out
}

// Stats are figures for metrics.
type Stats struct {
	Devices        int            `json:"devices"`
	Online         int            `json:"online"`
	States         map[string]int `json:"states"`
	Pushes         int64          `json:"pushes"`
	PushFailures   int64          `json:"push_failures"`
	Unchanged      int64          `json:"unchanged"`
	Requests       int64          `json:"requests"`
	RateLimited    int64          `json:"rate_limited"` // 429 answers
	TokenRefreshes int64          `json:"token_refreshes"`
}

type statsState struct {
	mu                                                     sync.Mutex
	pushes, failures, unchanged, requests, limits, refresh int64
}

func (s *statsState) add(p *int64) {
	s.mu.Lock()
	*p++
	s.mu.Unlock()
}
func (s *statsState) pushed()    { s.add(&s.pushes) }
func (s *statsState) failed()    { s.add(&s.failures) }
func (s *statsState) same()      { s.add(&s.unchanged) }
func (s *statsState) request()   { s.add(&s.requests) }
func (s *statsState) limited()   { s.add(&s.limits) }
func (s *statsState) refreshed() { s.add(&s.refresh) }

// Stats returns the current figures.
func (m *Manager) Stats() Stats {
	st := Stats{Devices: len(m.devices), States: map[string]int{}}
	for _, d := range m.devices {
		state, online := d.status()
		st.States[state]++
		if online {
			st.Online++
		}
	}
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	st.Pushes, st.PushFailures, st.Unchanged = m.stats.pushes, m.stats.failures, m.stats.unchanged
	st.Requests, st.RateLimited, st.TokenRefreshes = m.stats.requests, m.stats.limits, m.stats.refresh
	return st
}

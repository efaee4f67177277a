// Package cisco pushes the rooms' meetings to Cisco codecs as bookings (One-Button-To-Push):
// an xAPI WebSocket connection per codec (JSON-RPC 2.0 at wss://<codec>/ws; persistent, or on
// demand with idle codecs released and checked: ondemand.go), the
// codec's certificate pinned on first use, a full-replace Bookings Put whenever the room's
// meetings change (and after every reconnect, on a slow safety timer and just after local
// midnight), feedback turned into telemetry events. Protocol facts: README "Cisco endpoints".
//
// Cisco's terms require Cisco's permission for commercial use of Bookings Put (README).
package cisco

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/store"
)

// Endpoint is one configured Cisco codec.
type Endpoint struct {
	Name     string
	Room     string // room mailbox
	Address  string // host, host:port, or a wss:// / https:// URL
	Username string // an Admin-role user on the codec
	Password string
	// Fingerprint pins the certificate up front (hex SHA-256); CAFile verifies it against a
	// CA instead. With neither, the certificate is pinned on first use.
	Fingerprint string
	CAFile      string
}

// LogValue keeps the password out of logs.
func (e Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", e.Name), slog.String("room", e.Room), slog.String("address", e.Address))
}

// String keeps the password out of %v.
func (e Endpoint) String() string { return fmt.Sprintf("%s (%s, %s)", e.Name, e.Address, e.Room) }

// Options configure the manager. Store, Logger, Clock and Health are the agent's.
type Options struct {
	Endpoints []Endpoint
	Store     *store.Store
	Logger    *slog.Logger
	Clock     clock.Clock
	Health    *health.Tracker
	// WindowPast and WindowDays are cisco.window_past and cisco.window_days: bookings from
	// now-WindowPast to the end of today + WindowDays (0: end of today) in Location.
	WindowPast time.Duration
	WindowDays int
	// SafetyInterval is cisco.safety_interval: a full push even without changes; default 30m.
	SafetyInterval time.Duration
	// Location is the box's zone, for "end of day" and midnight; default time.Local.
	Location *time.Location

	// Tuning; the defaults suit production.
	Debounce      time.Duration // quiet time after a change before pushing; default 2s
	MaxDebounce   time.Duration // longest a burst can delay a push; default 10s
	RetryMin      time.Duration // first reconnect delay after a transient failure; default 1s
	RetryMax      time.Duration // longest such delay; default 8s (a codec back from a reboot gets its bookings within 10 s)
	AuthRetry     time.Duration // after HTTP 403: one attempt per this; default 5m (never less)
	CertRecheck   time.Duration // how often a refused certificate's pin is re-read; default 30s
	PingEvery     time.Duration // keep-alive; default 20s
	PongWait      time.Duration // default 10s
	DialTimeout   time.Duration // default 10s
	MaxConnecting int           // codecs connecting (handshake to first push) at once; default 32
	CallTimeout   time.Duration // one request; default 30s
	MidnightSkew  time.Duration // push this long after local midnight; default 30s
	// MidnightSpread spreads the codecs' midnight pushes over this much after the skew, each
	// codec at its own offset (bookings.MidnightPush); default 10m, negative: none.
	MidnightSpread time.Duration

	// Connection is cisco.connection: ConnOnDemand (default) or ConnPersistent (ondemand.go).
	Connection ConnectionModel
	// CheckEvery is cisco.check_interval: on_demand's liveness check of each released codec
	// (a restarted codec gets its bookings back within this, plus the dial); default 5m.
	CheckEvery time.Duration
	// IdleAfter is how long a codec stays connected after its last push; default 2s. Short:
	// at a cold start every codec is pushed within seconds of the others, and a long hold
	// keeps a site's codecs connected at once (the start's memory peak, issue 22: 10 s cost
	// about 8 MB of it at 1,000 codecs against 2 s); a change after the release costs one dial
	// (about 1 ms of CPU). It could be this short only once codecs of rooms not yet synced were
	// no longer dialled at start (awaitFirstSync): each released before its room synced was
	// dialled again for its first push (about 550 more logins at a cold start, measured).
	IdleAfter time.Duration
	// FeedbackMargin widens a pushed meeting's join window: the codec stays connected (and
	// subscribed) from this long before it until this long after; default 5m.
	FeedbackMargin time.Duration

	// idle, when set (tests), is called each time a connected codec's loop waits, with the
	// number of pushes it has made: virtual-time tests advance the clock only then.
	idle func(name string, pushes int)
	// released, when set (tests), is called each time an on-demand codec's connection has
	// been released (nothing reads its connection any more).
	released func(name string)
}

// DefaultIdleAfter is Options.IdleAfter's default.
const DefaultIdleAfter = 2 * time.Second

// MinAuthRetry is the floor for AuthRetry: codecs lock an account after 5 failed logins
// (Security Session MaxFailedLogins), so a wrong password is never tried more often.
const MinAuthRetry = 5 * time.Minute

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
	if o.SafetyInterval <= 0 {
		o.SafetyInterval = 30 * time.Minute
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Debounce, 2*time.Second)
	def(&o.MaxDebounce, 10*time.Second)
	def(&o.RetryMin, time.Second)
	def(&o.RetryMax, 8*time.Second)
	def(&o.AuthRetry, MinAuthRetry)
	o.AuthRetry = max(o.AuthRetry, MinAuthRetry)
	def(&o.CertRecheck, 30*time.Second)
	def(&o.PingEvery, 20*time.Second)
	def(&o.PongWait, 10*time.Second)
	def(&o.DialTimeout, 10*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.MidnightSkew, 30*time.Second)
	if o.MidnightSpread == 0 {
		o.MidnightSpread = bookings.DefaultMidnightSpread
	}
	if o.MaxConnecting <= 0 {
		o.MaxConnecting = 32
	}
	if o.Connection == "" {
		o.Connection = ConnOnDemand
	}
	def(&o.CheckEvery, 5*time.Minute)
	def(&o.IdleAfter, DefaultIdleAfter)
	def(&o.FeedbackMargin, 5*time.Minute)
}

// Manager runs every Cisco codec of the site.
type Manager struct {
	opts   Options
	log    *slog.Logger
	codecs []*codec
	byName map[string]*codec
	byRoom map[string][]*codec

	stats statsState
	work  chan func() // store calls, run by a few workers (see db)

	connecting chan struct{} // a slot per codec connecting now
	sched      *scheduler

	// Set by Run: the context handlers run in, and the handlers running.
	ctx      context.Context
	hmu      sync.Mutex
	stopping bool
	handlers sync.WaitGroup
}

// New checks the endpoints (addresses, CA files) and prepares a manager; nothing connects
// until Run.
func New(opts Options) (*Manager, error) {
	opts.defaults()
	if opts.Store == nil {
		return nil, errors.New("cisco: a store is required")
	}
	if _, err := ParseConnectionModel(string(opts.Connection)); err != nil {
		return nil, fmt.Errorf("cisco: %w", err)
	}
	m := &Manager{opts: opts, log: opts.Logger, byName: map[string]*codec{}, byRoom: map[string][]*codec{}, work: make(chan func()),
		connecting: make(chan struct{}, opts.MaxConnecting), sched: newScheduler(opts.Clock)}
	var errs []error
	for _, ep := range opts.Endpoints {
		if _, dup := m.byName[ep.Name]; dup {
			errs = append(errs, fmt.Errorf("cisco endpoint %s: configured twice", ep.Name))
			continue
		}
		c, err := newCodec(m, ep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.codecs = append(m.codecs, c)
		m.byName[ep.Name] = c
		m.byRoom[ep.Room] = append(m.byRoom[ep.Room], c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i, c := range m.codecs { // liveness checks spread evenly over the interval
		c.phase = opts.CheckEvery * time.Duration(i) / time.Duration(len(m.codecs))
	}
	return m, nil
}

// Run keeps every codec connected and pushed until ctx ends. It returns nil when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.hmu.Lock()
	if m.ctx != nil {
		m.hmu.Unlock()
		return errors.New("cisco: the manager runs already (make a new one)")
	}
	m.ctx = ctx
	m.hmu.Unlock()
	sub := m.opts.Store.Subscribe(store.TopicMeetings)
	defer sub.Close()
	var workers sync.WaitGroup
	for range storeWorkers {
		workers.Go(func() {
			for fn := range m.work {
				fn()
			}
		})
	}
	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	var sched sync.WaitGroup
	sched.Go(func() { m.sched.run(schedCtx) })
	for _, c := range m.codecs {
		c.kick(evStart)
	}
	for {
		select {
		case <-ctx.Done():
			// No new handlers; the running ones see ctx and end. Then the connections close
			// and their readers end, and the scheduler and store workers stop.
			m.hmu.Lock()
			m.stopping = true
			m.hmu.Unlock()
			m.handlers.Wait()
			for _, c := range m.codecs {
				c.dropConn()
			}
			stopSched()
			sched.Wait()
			close(m.work)
			workers.Wait()
			return nil
		case <-sub.C:
			for _, room := range sub.Take() {
				for _, c := range m.byRoom[room] {
					c.kick(evDirty)
				}
			}
		}
	}
}

// startHandler counts a new handler goroutine; false once the manager is stopping.
func (m *Manager) startHandler() bool {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if m.stopping || m.ctx == nil {
		return false
	}
	m.handlers.Add(1)
	return true
}

// storeWorkers run the codecs' store reads. SQLite (modernc) code runs deep stacks, and a
// goroutine keeps its grown stack: running the reads on two workers instead of on each codec's
// goroutine saves megabytes at a thousand codecs. Writes run on the store's own writer
// goroutine, so codecs call Store.Write directly.
const storeWorkers = 2

// db runs fn on a store worker and waits for it. Called only while Run runs.
func (m *Manager) db(ctx context.Context, fn func()) {
	done := make(chan struct{})
	select {
	case m.work <- func() { defer close(done); fn() }:
		<-done
	case <-ctx.Done():
		fn() // shutting down: run it here (it fails fast on the ended context)
	}
}

// PushNow asks for an immediate full push to the named codec ("" for all) without waiting
// for it (Push waits). A codec that answered 403 still waits out its 5 minutes.
func (m *Manager) PushNow(name string) error {
	cs, err := m.pick(name)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.kick(evForce)
	}
	return nil
}

// Names lists the managed codecs.
func (m *Manager) Names() []string {
	out := make([]string, len(m.codecs))
	for i, c := range m.codecs {
		out[i] = c.ep.Name
	}
	return out
}

// Stats are figures for metrics.
type Stats struct {
	Codecs       int            `json:"codecs"`
	Connected    int            `json:"connected"`
	Released     int            `json:"released"`      // on_demand: idle codecs without a connection, up as far as known
	States       map[string]int `json:"states"`        // codecs per endpoint state
	Pushes       int64          `json:"pushes"`        // Puts and Clears the codecs accepted
	PushFailures int64          `json:"push_failures"` // refused or lost
	Unchanged    int64          `json:"unchanged"`     // pushes skipped: same payload as last time
	// Push latency (request to answer) over the last 512 pushes.
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP95 time.Duration `json:"latency_p95"`
	LatencyMax time.Duration `json:"latency_max"`
}

type statsState struct {
	mu        sync.Mutex
	pushes    int64
	failures  int64
	unchanged int64
	latencies []time.Duration // ring
	next      int
}

const latencyWindow = 512

func (s *statsState) pushed(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushes++
	if len(s.latencies) < latencyWindow {
		s.latencies = append(s.latencies, d)
	} else {
		s.latencies[s.next] = d
		s.next = (s.next + 1) % latencyWindow
	}
}

func (s *statsState) failed() {
	s.mu.Lock()
	s.failures++
	s.mu.Unlock()
}

func (s *statsState) same() {
	s.mu.Lock()
	s.unchanged++
	s.mu.Unlock()
}

// Stats returns the current figures.
func (m *Manager) Stats() Stats {
	st := Stats{Codecs: len(m.codecs), States: map[string]int{}}
	for _, c := range m.codecs {
		state, connected, released := c.status()
		st.States[state]++
		if connected {
			st.Connected++
		}
		if released {
			st.Released++
		}
	}
	m.stats.mu.Lock()
	st.Pushes, st.PushFailures, st.Unchanged = m.stats.pushes, m.stats.failures, m.stats.unchanged
	lat := slices.Clone(m.stats.latencies)
	m.stats.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		st.LatencyP50 = lat[len(lat)*50/100]
		st.LatencyP95 = lat[min(len(lat)-1, len(lat)*95/100)]
		st.LatencyMax = lat[len(lat)-1]
	}
	return st
}

// GoString keeps the password out of %#v.
func (e Endpoint) GoString() string { return "cisco.Endpoint{" + e.String() + "}" }

package cisco

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// Event kinds the driver emits (store.Event.Kind; they reach MQTT otj/v1/<site>/events).
const (
	KindUp             = "endpoint.up"
	KindDown           = "endpoint.down"
	KindAuthFailed     = "endpoint.auth_failed"
	KindCertPinned     = "endpoint.cert_pinned"
	KindCertChanged    = "endpoint.cert_changed"
	KindCertAccepted   = "endpoint.cert_accepted"
	KindUnsupported    = "endpoint.unsupported"
	KindPushOK         = "push.ok"
	KindPushFailed     = "push.failed"
	KindForeign        = "bookings.foreign"
	KindDropped        = "bookings.dropped"
	KindMeetingStarted = "meeting.started"
	KindMeetingJoined  = "meeting.joined"
	KindNotJoined      = "meeting.not_joined"
)

// foreignMemory is how long bookings pushed by another system keep the codec degraded after
// they were last seen.
const foreignMemory = 24 * time.Hour

// endpointData is the driver's part of the endpoint row (EndpointState.Data).
type endpointData struct {
	PushedIDs    []string  `json:"pushed_ids,omitempty"`
	AuthFailedAt time.Time `json:"auth_failed_at,omitzero"`
	AuthUser     string    `json:"auth_user,omitempty"`
	Auth         string    `json:"auth,omitempty"`
	Skipped      int       `json:"skipped,omitempty"`
	SystemName   string    `json:"system_name,omitempty"`
}

// codec drives one codec. Everything below mu is owned by the run goroutine.
type codec struct {
	m     *Manager
	ep    Endpoint
	url   string
	roots *x509.CertPool
	pin   string // configured fingerprint, normalised
	log   *slog.Logger
	comp  string // health component

	sched schedState // its timers (the scheduler's lock guards them)

	mu        sync.Mutex
	state     string
	connected bool
	pending   uint32 // events not handled yet (ev*)
	handling  bool   // a handler goroutine runs
	asked     asked  // callers waiting for the outcome of a push or retry (results.go)

	// Owned by the handler (one runs at a time).
	conn       *Conn     // the live connection; nil while disconnected
	waitWake   wake      // while disconnected: what may cut the wait short
	burstStart time.Time // first change of a burst the debounce is waiting out

	auth         AuthStyle
	authFailedAt time.Time
	fails        int // transient failures in a row
	fw           Firmware
	product      string
	systemName   string
	lastHash     string
	lastPushAt   time.Time
	known        map[string]bool // ids we pushed recently (not foreign)
	lastAttempt  []string        // ids of the latest Put sent
	booked       []pushedBooking // the last accepted payload, compactly (a few dozen at most)
	live         map[string]*liveBooking
	current      string
	skipped      []Skip
	pushedCount  int
	pushes       int    // pushes the codec accepted, for the tests' idle hook
	refusal      string // why the codec refuses Put; "" when it takes it
	refusalState string
	permission   bool // the refusal is a missing Admin role
	foreignAt    time.Time
	foreignIDs   []string
	foreignKey   string
	missing      []string
	ownUpdates   int
	certEventFor string
	triedPin     string // the stored pin the last attempt used (a change means an operator trusted a new one)
	lastState    string
	lastDetail   string
	roomSynced   bool   // the room's meetings are resolved from a completed sync (gate.go)
	waiting      bool   // connected, but nothing pushed: the room has not synced yet
	outcome      Result // what this pass did, for the callers asking (results.go)
}

type liveBooking struct {
	started bool
	joined  bool
}

func newCodec(m *Manager, ep Endpoint) (*codec, error) {
	u, err := WebSocketURL(ep.Address)
	if err != nil {
		return nil, fmt.Errorf("cisco endpoint %s: %w", ep.Name, err)
	}
	c := &codec{
		m: m, ep: ep, url: u, pin: NormalizeFingerprint(ep.Fingerprint),
		log:   m.log.With("endpoint", ep.Name),
		comp:  "cisco/" + ep.Name,
		sched: schedState{idx: -1},
		state: store.EndpointUnknown,
		known: map[string]bool{}, live: map[string]*liveBooking{},
	}
	if ep.CAFile != "" {
		c.roots, err = loadRoots(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cisco endpoint %s: ca_file: %w", ep.Name, err)
		}
	}
	return c, nil
}

func (c *codec) status() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.connected
}

func (c *codec) clk() clock.Clock { return c.m.opts.Clock }

// Events a codec reacts to (codec.pending).
const (
	evStart uint32 = 1 << iota // the manager started: load and connect
	evTimer                    // the scheduler says a timer is due
	evDirty                    // the room's meetings changed
	evForce                    // PushNow
	evConn                     // feedback arrived, or the connection ended
	evRetry                    // Retry: one connection attempt now, even while waiting out a 403
)

// kick records events and makes sure a handler goroutine runs for them. A codec has no
// goroutine of its own while it waits: its connection's reader and the manager's scheduler
// kick it, and the handler ends when nothing is left to do (at a thousand codecs a waiting
// goroutine per codec costs megabytes of stack).
func (c *codec) kick(ev uint32) {
	c.mu.Lock()
	c.pending |= ev
	if c.handling {
		c.mu.Unlock()
		return
	}
	c.handling = true
	c.mu.Unlock()
	if !c.m.startHandler() {
		c.mu.Lock()
		c.handling = false
		c.mu.Unlock()
		return
	}
	go c.handle()
}

// handle runs the codec's events until none is left.
func (c *codec) handle() {
	defer c.m.handlers.Done()
	ctx := c.m.ctx
	for {
		c.mu.Lock()
		ev := c.pending
		c.pending = 0
		if ev == 0 || ctx.Err() != nil {
			c.handling = false
			connected, pushes := c.connected, c.pushes
			var stranded callers
			if ctx.Err() != nil {
				stranded = c.asked.take()
			}
			c.mu.Unlock()
			stranded.answer(Result{Endpoint: c.ep.Name, Outcome: OutcomeFailed, Detail: "the agent is stopping"})
			if ev == 0 && connected && c.m.opts.idle != nil {
				c.m.opts.idle(c.ep.Name, pushes)
			}
			return
		}
		callers := c.asked.takeFor(ev)
		c.mu.Unlock()
		c.outcome = Result{}
		c.process(ctx, ev)
		c.answer(callers)
	}
}

// process handles one batch of events: connecting and reconnecting while disconnected;
// pushes, keep-alives and feedback while connected.
func (c *codec) process(ctx context.Context, ev uint32) {
	var due uint32
	if ev&evTimer != 0 {
		due = c.m.sched.take(c, c.clk().Now())
	}
	now := ev&evRetry != 0 // one attempt now, even while waiting out a 403; never a second in this pass
	if ev&evStart != 0 {
		c.load(ctx)
		c.connect(ctx, now)
		return
	}
	if c.conn == nil {
		retry := now || due&timerReconnect.bit() != 0 || (ev&evForce != 0 && c.waitWake != wakeNever)
		if !retry && due&timerPin.bit() != 0 {
			// A refused certificate: the operator may have trusted the new one meanwhile.
			if c.storedPin(ctx) != c.triedPin {
				retry = true
			} else {
				c.m.sched.after(c, timerPin, c.m.opts.CertRecheck)
			}
		}
		if retry {
			c.connect(ctx, now)
		}
		return
	}
	if now { // connected already: a retry is a push
		ev |= evForce
	}
	c.whileUp(ctx, ev, due)
}

// connect makes one connection attempt (now: even while waiting out a 403); when it fails,
// it schedules the next.
func (c *codec) connect(ctx context.Context, now bool) {
	c.m.sched.clear(c, timerReconnect, timerPin)
	wait, w := c.session(ctx, now)
	if c.conn != nil || ctx.Err() != nil {
		return
	}
	c.waitWake = w
	c.m.sched.after(c, timerReconnect, max(wait, 0))
	if w == wakeOnPin {
		c.m.sched.after(c, timerPin, c.m.opts.CertRecheck)
	}
}

// connected1 handles events on a live connection.
func (c *codec) whileUp(ctx context.Context, ev, due uint32) {
	conn, o, sch := c.conn, c.m.opts, c.m.sched
	if conn.Err() != nil {
		c.lost(ctx)
		return
	}
	if ev&evConn != 0 {
		for _, fb := range conn.TakeFeedback() {
			if c.onFeedback(ctx, fb) {
				sch.after(c, timerCheck, 2*time.Second)
			}
		}
	}
	if ev&evDirty != 0 {
		now := c.clk().Now()
		if c.burstStart.IsZero() {
			c.burstStart = now
		}
		wait := min(o.Debounce, o.MaxDebounce-now.Sub(c.burstStart))
		sch.set(c, timerDebounce, now.Add(max(wait, 0)))
	}
	if due&timerPing.bit() != 0 {
		conn.Ping(o.PongWait)
		sch.after(c, timerPing, o.PingEvery)
	}
	if due&timerDebounce.bit() != 0 {
		c.burstStart = time.Time{}
	}
	// Timers that fired together push once.
	switch {
	case ev&evForce != 0 || due&(timerRetry.bit()|timerSafety.bit()|timerMidnight.bit()) != 0:
		c.pushed(c.push(ctx, conn, true))
	case due&(timerDebounce.bit()|timerEdge.bit()) != 0:
		c.pushed(c.push(ctx, conn, false))
	}
	if due&timerMidnight.bit() != 0 {
		sch.after(c, timerMidnight, c.untilMidnight())
	}
	if due&timerCheck.bit() != 0 {
		c.verify(ctx, conn, afterUpdate)
	}
	if conn.Err() != nil {
		c.lost(ctx)
	}
}

// pushed re-arms the timers that follow a push.
func (c *codec) pushed(retryIn time.Duration) {
	sch := c.m.sched
	sch.after(c, timerSafety, c.m.opts.SafetyInterval)
	if next := c.nextEdge(); !next.IsZero() {
		sch.set(c, timerEdge, maxTime(next, c.clk().Now().Add(time.Second)))
	} else {
		sch.clear(c, timerEdge)
	}
	if retryIn > 0 {
		sch.after(c, timerRetry, retryIn)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// lost schedules the reconnect and records the end of the connection (in that order: once
// the store says "down", the next attempt is on the schedule).
func (c *codec) lost(ctx context.Context) {
	why := c.conn.Err().Error()
	c.dropConn()
	c.waitWake = wakeOnForce
	c.m.sched.after(c, timerReconnect, c.backoff())
	c.down(ctx, why)
}

// dropConn closes the connection, waits for its reader and disarms the connected timers.
func (c *codec) dropConn() {
	if c.conn == nil {
		return
	}
	c.conn.Close()
	c.conn.Wait()
	c.conn = nil
	c.burstStart = time.Time{}
	c.setConnected(false)
	c.m.sched.clear(c, timerDebounce, timerRetry, timerSafety, timerMidnight, timerEdge, timerCheck, timerPing)
}

// load restores what must survive a restart: the last pushed payload's hash and ids, and a
// recent 403 (so a crash loop never tries a wrong password faster than once per 5 minutes).
func (c *codec) load(ctx context.Context) {
	var st store.EndpointState
	var ok bool
	var err error
	c.m.db(ctx, func() { st, ok, err = c.m.opts.Store.Endpoint(ctx, c.ep.Name) })
	if err != nil || !ok {
		return
	}
	c.lastHash = st.PushHash
	c.state, c.lastState, c.lastDetail = st.State, st.State, st.Detail
	var d endpointData
	if len(st.Data) > 0 && json.Unmarshal(st.Data, &d) == nil {
		c.lastAttempt = d.PushedIDs
		for _, id := range d.PushedIDs {
			c.known[id] = true
		}
		if st.State == store.EndpointAuthFailed && d.AuthUser == c.ep.Username {
			c.authFailedAt = d.AuthFailedAt
		}
		if d.Auth == AuthSubprotocol.String() {
			c.auth = AuthSubprotocol
		}
	}
}

// wake says what may cut a wait short.
type wake int

const (
	wakeNever   wake = iota // only time (after a 403)
	wakeOnForce             // PushNow
	wakeOnPin               // PushNow, or the pin in the store changing (endpoints trust)
)

func (c *codec) storedPin(ctx context.Context) string {
	var st store.EndpointState
	c.m.db(ctx, func() { st, _, _ = c.m.opts.Store.Endpoint(ctx, c.ep.Name) })
	return st.CertSHA256
}

// session makes one connection attempt and, when it succeeds, sets the connection up (serve).
// When it fails, it returns how long to wait before the next attempt. Within AuthRetry of a
// 403 it makes none, unless an operator asked for one attempt now (Retry).
func (c *codec) session(ctx context.Context, retryNow bool) (time.Duration, wake) {
	now := c.clk().Now()
	if !c.authFailedAt.IsZero() && !retryNow {
		if left := c.m.opts.AuthRetry - now.Sub(c.authFailedAt); left > 0 {
			return left, wakeNever
		}
	}
	var st store.EndpointState
	var ok bool
	var err error
	c.m.db(ctx, func() { st, ok, err = c.m.opts.Store.Endpoint(ctx, c.ep.Name) })
	if err != nil {
		c.log.Warn("cannot read endpoint state", "err", err)
		return c.m.opts.RetryMax, wakeOnForce
	}
	if !ok {
		st = store.EndpointState{Name: c.ep.Name, Type: "cisco", Room: c.ep.Room}
	}
	pin := c.pin
	if pin == "" && c.roots == nil {
		pin = st.CertSHA256
	}
	c.triedPin = st.CertSHA256
	// Connecting (TLS handshake, reads, the first push) is the costly part; a bounded number
	// of codecs do it at once, so a cold start of a thousand stays smooth and small.
	select {
	case c.m.connecting <- struct{}{}:
	case <-ctx.Done():
		return 0, wakeNever
	}
	var once sync.Once
	release := func() { once.Do(func() { <-c.m.connecting }) }
	defer release()
	dctx, cancel := context.WithTimeout(ctx, c.m.opts.DialTimeout)
	c.outcome.Attempts++
	conn, err := Dial(dctx, DialOptions{
		URL: c.url, Username: c.ep.Username, Password: c.ep.Password,
		TLS:  TLSPolicy{Roots: c.roots, Pin: pin},
		Auth: c.auth, HandshakeTimeout: c.m.opts.DialTimeout, Logger: c.log,
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return 0, wakeNever
		}
		return c.dialFailed(ctx, err, pin)
	}
	if ctx.Err() != nil {
		conn.Close()
		conn.Wait()
		return 0, wakeNever
	}
	c.serve(ctx, conn, st, release)
	return 0, wakeNever
}

// backoff is the next transient retry delay: doubling from RetryMin to RetryMax, with jitter
// (half fixed, half random) so a site's codecs do not reconnect in step.
func (c *codec) backoff() time.Duration {
	c.fails++
	d := c.m.opts.RetryMin << min(c.fails-1, 10)
	d = min(d, c.m.opts.RetryMax)
	return d/2 + rand.N(d/2+1)
}

func (c *codec) dialFailed(ctx context.Context, err error, pin string) (time.Duration, wake) {
	var (
		he  *HandshakeError
		cce *CertChangedError
		cue *CertUntrustedError
	)
	c.setConnected(false)
	switch {
	case errors.As(err, &cce):
		fix := "if the codec was replaced, reset or its certificate renewed, accept the new one with: otj-edge endpoints trust " + c.ep.Name
		if c.pin != "" {
			fix = "if the codec's certificate was renewed on purpose, update fingerprint for this endpoint in the config"
		}
		detail := fmt.Sprintf("certificate changed: the codec presents %s, pinned is %s; nothing is sent to it until an operator accepts the new certificate (%s)",
			ColonFingerprint(cce.Presented), ColonFingerprint(cce.Pinned), fix)
		var evs []store.Event
		if c.certEventFor != cce.Presented {
			c.certEventFor = cce.Presented
			evs = append(evs, c.event(KindCertChanged, "error", "codec certificate changed: "+detail,
				map[string]any{"presented": cce.Presented, "pinned": cce.Pinned}))
		}
		c.log.Error("codec certificate changed; refusing to connect", "presented", cce.Presented, "pinned", cce.Pinned)
		c.m.opts.Health.Fail(c.comp, detail)
		c.update(ctx, store.EndpointCertChanged, detail, func(e *store.EndpointState) { e.SeenSHA256 = cce.Presented }, evs...)
		return 5 * time.Minute, wakeOnPin
	case errors.As(err, &cue):
		detail := cue.Error()
		c.m.opts.Health.Fail(c.comp, detail)
		c.update(ctx, store.EndpointDown, detail, nil)
		return 5 * time.Minute, wakeOnForce
	case errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusUnauthorized):
		c.authFailedAt = c.clk().Now()
		detail := fmt.Sprintf("wrong username or password (HTTP %d) for user %q: fix username/password of this endpoint; otj-edge tries again at most once every %s, because the codec locks the account after 5 failed logins",
			he.Status, c.ep.Username, c.m.opts.AuthRetry)
		var evs []store.Event
		if c.lastState != store.EndpointAuthFailed {
			evs = append(evs, c.event(KindAuthFailed, "error", "codec login failed: wrong username or password", map[string]any{"status": he.Status}))
		}
		c.log.Error("codec login failed: wrong username or password", "status", he.Status, "next_attempt_in", c.m.opts.AuthRetry)
		c.m.opts.Health.Fail(c.comp, "wrong username or password")
		at := c.authFailedAt
		c.update(ctx, store.EndpointAuthFailed, detail, func(e *store.EndpointState) {
			c.patchData(e, func(d *endpointData) { d.AuthFailedAt, d.AuthUser = at, c.ep.Username })
		}, evs...)
		return c.m.opts.AuthRetry, wakeNever
	case errors.As(err, &he) && he.Status == http.StatusNotFound:
		detail := he.Error()
		c.m.opts.Health.Fail(c.comp, detail)
		var evs []store.Event
		if c.lastState != store.EndpointUnsupported {
			evs = append(evs, c.event(KindUnsupported, "error", "codec has no xAPI WebSocket: "+detail, nil))
		}
		c.update(ctx, store.EndpointUnsupported, detail, nil, evs...)
		return 5 * time.Minute, wakeOnForce
	case errors.As(err, &he) && he.Status == http.StatusServiceUnavailable:
		c.down(ctx, he.Error())
		d := 30 * time.Second
		return d + rand.N(d), wakeOnForce
	default:
		c.down(ctx, "unreachable: "+err.Error())
		return c.backoff(), wakeOnForce
	}
}

// down records that the codec cannot be reached; the event fires once per outage.
func (c *codec) down(ctx context.Context, detail string) {
	var evs []store.Event
	if c.lastState != store.EndpointDown {
		evs = append(evs, c.event(KindDown, "warn", "codec unreachable: "+detail, nil))
		c.log.Warn("codec down", "why", detail)
	}
	c.m.opts.Health.Warn(c.comp, detail)
	c.update(ctx, store.EndpointDown, detail, nil, evs...)
}

func (c *codec) setConnected(on bool) {
	c.mu.Lock()
	c.connected = on
	c.mu.Unlock()
}

// serve sets up a new connection: read the codec, subscribe, push, and arm the timers of a
// live connection. From then on the codec reacts to changes, timers and feedback (whileUp)
// until the connection ends (lost).
func (c *codec) serve(ctx context.Context, conn *Conn, st store.EndpointState, connected func()) {
	c.fails = 0
	c.auth = conn.Auth()
	c.authFailedAt = time.Time{}
	c.ownUpdates = 0
	c.conn = conn
	c.setConnected(true)

	var evs []store.Event
	newPin := ""
	if c.pin == "" && c.roots == nil && st.CertSHA256 == "" {
		newPin = conn.Fingerprint()
		evs = append(evs, c.event(KindCertPinned, "info", "codec certificate pinned on first use: "+ColonFingerprint(newPin), map[string]any{"fingerprint": newPin}))
		c.log.Info("codec certificate pinned on first use", "fingerprint", newPin)
	}
	if c.lastState == store.EndpointCertChanged {
		evs = append(evs, c.event(KindCertAccepted, "info", "codec connected with its new certificate "+ColonFingerprint(conn.Fingerprint()), nil))
	}
	c.certEventFor = ""
	c.readInfo(ctx, conn)
	c.subscribe(ctx, conn)
	if c.lastState != store.EndpointUp && c.lastState != store.EndpointDegraded {
		evs = append(evs, c.event(KindUp, "info", fmt.Sprintf("codec connected: %s, %s", c.product, c.fw.Name()), nil))
	}
	c.log.Info("codec connected", "product", c.product, "firmware", c.fw.Label(), "auth", c.auth)
	c.refusal, c.permission = "", false
	c.update(ctx, store.EndpointUp, "connected", func(e *store.EndpointState) {
		if newPin != "" {
			e.CertSHA256 = newPin
		}
		e.SeenSHA256 = ""
		e.Product, e.Software, e.LastContact = c.product, c.fw.Label(), c.clk().Now()
		c.patchData(e, func(d *endpointData) {
			d.AuthFailedAt, d.AuthUser, d.Auth, d.SystemName = time.Time{}, "", c.auth.String(), c.systemName
		})
	}, evs...)

	// After every (re)connect: look for bookings someone else pushed, then push in full (a
	// reboot may have emptied the list); before the room's first sync, neither (gate.go).
	retryIn := c.firstPush(ctx, conn)
	connected()

	o, sch := c.m.opts, c.m.sched
	sch.after(c, timerMidnight, c.untilMidnight())
	sch.after(c, timerPing, o.PingEvery)
	c.pushed(retryIn)
	// Feedback and the connection's end kick the codec from the reader goroutine.
	conn.Notify(func() { c.kick(evConn) })
}

func (c *codec) untilMidnight() time.Duration {
	now := c.clk().Now()
	return NextMidnight(now, c.m.opts.Location).Add(c.m.opts.MidnightSkew).Sub(now)
}

// nextEdge is when the earliest pushed meeting falls out of the window.
func (c *codec) nextEdge() time.Time {
	now := c.clk().Now()
	var next time.Time
	for _, b := range c.booked {
		out := b.end().Add(c.m.opts.WindowPast)
		if out.After(now) && (next.IsZero() || out.Before(next)) {
			next = out
		}
	}
	if !next.IsZero() {
		next = next.Add(time.Second)
	}
	return next
}

func (c *codec) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.m.opts.CallTimeout)
}

// readInfo reads version, product and system name, all at once (answers come in any order).
func (c *codec) readInfo(ctx context.Context, conn *Conn) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	var version, display, product, name string
	var wg sync.WaitGroup
	get := func(out *string, path ...any) {
		defer wg.Done()
		var v any
		if err := conn.Get(ctx, &v, path...); err == nil {
			*out = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	wg.Add(4)
	go get(&version, "Status", "SystemUnit", "Software", "Version")
	go get(&display, "Status", "SystemUnit", "Software", "DisplayName")
	go get(&product, "Status", "SystemUnit", "ProductId")
	go get(&name, "Configuration", "SystemUnit", "Name")
	wg.Wait()
	c.fw = ParseFirmware(version, display)
	c.product, c.systemName = product, name
}

// subscribe registers the feedback the driver uses. Subscriptions die with the connection,
// so this runs after every connect.
func (c *codec) subscribe(ctx context.Context, conn *Conn) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	for _, q := range []struct {
		current bool
		path    []any
	}{
		{false, []any{"Event", "Bookings"}},
		{false, []any{"Event", "CallSuccessful"}},
		{false, []any{"Event", "CallDisconnect"}},
		{true, []any{"Status", "Bookings", "Current"}},
	} {
		if _, err := conn.Subscribe(ctx, q.current, q.path...); err != nil {
			c.log.Warn("feedback subscription refused", "query", q.path, "err", err)
		}
	}
}

// push sends the room's bookings when they differ from what the codec last accepted, or
// always when forced (reconnect, safety timer, midnight, PushNow). It returns when to try
// again when the codec asked for patience (still booting), else 0.
func (c *codec) push(ctx context.Context, conn *Conn, force bool) time.Duration {
	if !c.hasSynced(ctx) {
		c.waitForSync(ctx) // the store does not know the room yet: the codec keeps what it has
		return 0
	}
	if c.waiting { // the first push once the room has synced: in full, whatever the hash says
		c.waiting, force = false, true
		c.lookForForeign(ctx, conn)
	}
	now := c.clk().Now()
	p, err := c.payload(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("cannot read meetings to push", "err", err)
		}
		c.failed("cannot read the room's meetings: " + err.Error())
		return 0
	}
	if !force && p.Hash == c.lastHash && c.refusal == "" {
		c.m.stats.same()
		c.done(OutcomeUnchanged, len(p.Bookings))
		return 0
	}
	if c.refusal != "" && !force {
		c.failed(c.refusal)
		return 0 // a codec that refuses Put is asked again only on reconnect, safety timer or PushNow
	}
	// Ours from the moment they are sent: a Put the codec applied but whose answer was lost
	// must not make our own bookings look foreign after the reconnect.
	// "Known" stays bounded: this attempt, the one before, and what the codec last accepted.
	known := map[string]bool{}
	for _, id := range c.lastAttempt {
		known[id] = true
	}
	for _, b := range c.booked {
		known[b.ID] = true
	}
	c.lastAttempt = p.IDs()
	for _, id := range c.lastAttempt {
		known[id] = true
	}
	c.known = known
	cctx, cancel := c.callCtx(ctx)
	start := time.Now()
	if len(p.Bookings) == 0 {
		err = conn.Call(cctx, "xCommand/Bookings/Clear", nil, nil)
	} else {
		err = conn.Call(cctx, "xCommand/Bookings/Put", map[string]any{"body": string(p.Body)}, nil)
	}
	latency := time.Since(start)
	cancel()
	if err != nil {
		return c.pushFailed(ctx, conn, p, err)
	}
	c.ownUpdates++
	c.pushes++
	c.m.stats.pushed(latency)
	changed := p.Hash != c.lastHash
	if changed {
		c.done(OutcomePushed, len(p.Bookings))
	} else {
		c.done(OutcomeUnchanged, len(p.Bookings))
	}
	c.lastHash, c.lastPushAt = p.Hash, now
	c.refusal, c.permission = "", false
	c.skipped, c.pushedCount = p.Skipped, len(p.Bookings)
	c.booked = make([]pushedBooking, len(p.Bookings))
	for i, b := range p.Bookings {
		c.booked[i] = compact(b)
	}
	for id := range c.live { // meetings no longer pushed (their End may never come)
		if _, ok := c.bookingByID(id); !ok {
			delete(c.live, id)
		}
	}
	c.log.Info("bookings pushed", "bookings", len(p.Bookings), "skipped", len(p.Skipped), "forced", force, "latency", latency)
	c.verify(ctx, conn, afterPush)
	var evs []store.Event
	if changed {
		msg := fmt.Sprintf("%d bookings pushed", len(p.Bookings))
		if len(p.Bookings) == 0 {
			msg = "bookings cleared: no meetings in the window"
		}
		evs = append(evs, c.event(KindPushOK, "info", msg, map[string]any{"bookings": len(p.Bookings), "skipped": len(p.Skipped), "latency_ms": latency.Milliseconds()}))
	}
	ids := p.IDs()
	c.updateSummary(ctx, func(e *store.EndpointState) {
		e.LastPush, e.LastContact, e.PushHash = now, now, p.Hash
		c.patchData(e, func(d *endpointData) { d.PushedIDs, d.Skipped = ids, len(p.Skipped) })
	}, evs...)
	return 0
}

func (c *codec) pushFailed(ctx context.Context, conn *Conn, p Payload, err error) time.Duration {
	if errors.Is(err, ErrClosed) || conn.Err() != nil || ctx.Err() != nil {
		c.failed("the connection ended during the push; otj-edge reconnects and pushes again")
		return 0 // the connection ended; the loop reconnects and pushes again
	}
	c.m.stats.failed()
	var re *RPCError
	isRPC := errors.As(err, &re)
	switch {
	case isRPC && re.Code == CodeNotReady:
		c.log.Info("codec still starting; pushing again shortly")
		c.failed("the codec is still starting up; otj-edge pushes again in 3 seconds")
		return 3 * time.Second
	case isRPC && re.Code == CodePermission:
		c.permission = true
		c.refusalState = store.EndpointDegraded
		c.refusal = fmt.Sprintf("user %q is not an Admin on the codec, so it refuses Bookings Put (permission denied): give the user the Admin role", c.ep.Username)
	case isRPC && re.Code == CodeCommandError && mentionsTeams(re.Message):
		c.refusalState = store.EndpointUnsupported
		c.refusal = fmt.Sprintf("%s in Microsoft Teams Rooms mode refuses Bookings Put (%s): the room's Teams Rooms app shows its calendar itself, so no push is needed", c.fw.Name(), re.Message)
	case isRPC && re.Code == CodeCommandError && c.fw.Caps().CloudOnly:
		c.refusalState = store.EndpointUnsupported
		c.refusal = fmt.Sprintf("%s refuses Bookings Put on this codec (%s): on %s it works only for codecs registered to Webex or linked with Webex Edge for Devices; link the codec or upgrade it to RoomOS 11",
			c.fw.Name(), re.Message, c.fw.Name())
	case isRPC && re.Code == CodeMethodNotFound:
		c.refusalState = store.EndpointUnsupported
		c.refusal = fmt.Sprintf("%s has no Bookings Put command (%s)", c.fw.Name(), re.Message)
	default:
		c.refusalState = store.EndpointDegraded
		c.refusal = "the codec refused the bookings: " + err.Error()
	}
	c.log.Error("push refused", "err", err, "state", c.refusalState)
	var evs []store.Event
	if c.lastDetail != c.refusal {
		kind := KindPushFailed
		if c.refusalState == store.EndpointUnsupported {
			kind = KindUnsupported
		}
		evs = append(evs, c.event(kind, "error", c.refusal, map[string]any{"bookings": len(p.Bookings)}))
	}
	c.failed(c.refusal)
	c.updateSummary(ctx, func(e *store.EndpointState) { e.LastContact = c.clk().Now() }, evs...)
	return 0
}

func mentionsTeams(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "teams") || strings.Contains(s, "microsoft")
}

// When verify runs.
type verifyMode int

const (
	beforePush  verifyMode = iota // on connect: only foreign bookings matter
	afterPush                     // ids we pushed but the codec lacks were dropped silently
	afterUpdate                   // the list changed by another hand (Event Bookings Updated)
)

// verify lists the codec's bookings: ids we did not push are another system's (reported,
// never fought); ids we pushed that the codec lacks were dropped.
func (c *codec) verify(ctx context.Context, conn *Conn, mode verifyMode) {
	cctx, cancel := c.callCtx(ctx)
	ids, err := listIDs(cctx, conn)
	cancel()
	if err != nil {
		if conn.Err() == nil && ctx.Err() == nil {
			c.log.Warn("cannot list the codec's bookings", "err", err)
		}
		return
	}
	have := map[string]bool{}
	var foreign []string
	for _, id := range ids {
		have[id] = true
		if !c.known[id] {
			foreign = append(foreign, id)
		}
	}
	var missing []string
	if mode != beforePush {
		for _, b := range c.booked {
			if !have[b.ID] {
				missing = append(missing, b.ID)
			}
		}
	}
	slices.Sort(foreign)
	slices.Sort(missing)
	var evs []store.Event
	if len(foreign) > 0 {
		c.foreignAt = c.clk().Now()
		c.foreignIDs = foreign
		key := strings.Join(foreign, "\x00")
		if key != c.foreignKey {
			c.foreignKey = key
			msg := fmt.Sprintf("the codec holds %d bookings otj-edge did not push (another system pushes to it: %s); only one system should push bookings to a codec", len(foreign), listSome(foreign))
			evs = append(evs, c.event(KindForeign, "warn", msg, map[string]any{"ids": foreign}))
			c.log.Warn("foreign bookings on the codec", "ids", foreign)
		}
	}
	if len(missing) > 0 && !slices.Equal(missing, c.missing) {
		msg := fmt.Sprintf("the codec kept %d of %d pushed bookings (missing: %s)", len(c.booked)-len(missing), len(c.booked), listSome(missing))
		if mode == afterUpdate {
			msg = fmt.Sprintf("%d pushed bookings were removed from the codec by something else (missing: %s)", len(missing), listSome(missing))
		}
		evs = append(evs, c.event(KindDropped, "warn", msg, map[string]any{"ids": missing}))
	}
	if mode != beforePush {
		c.missing = missing
	}
	if len(evs) > 0 || mode == afterUpdate {
		c.updateSummary(ctx, func(e *store.EndpointState) { e.LastContact = c.clk().Now() }, evs...)
	}
}

func listSome(ids []string) string {
	if len(ids) <= 3 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:3], ", ") + fmt.Sprintf(" and %d more", len(ids)-3)
}

// summary is the state and detail the codec's situation adds up to, and its health level.
func (c *codec) summary() (state, detail, level string) {
	switch {
	case c.waiting:
		return store.EndpointWaiting, waitingDetail, "warn"
	case c.refusal != "":
		level = "warn"
		if c.permission {
			level = "error"
		}
		return c.refusalState, c.refusal, level
	case len(c.missing) > 0:
		return store.EndpointDegraded, fmt.Sprintf("the codec holds %d of the %d bookings pushed (missing: %s)", len(c.booked)-len(c.missing), len(c.booked), listSome(c.missing)), "warn"
	case !c.foreignAt.IsZero() && c.clk().Now().Sub(c.foreignAt) < foreignMemory:
		return store.EndpointDegraded, fmt.Sprintf("another system pushes bookings to this codec (%d bookings otj-edge did not push, last seen %s: %s); only one system should push to a codec",
			len(c.foreignIDs), c.foreignAt.In(c.m.opts.Location).Format("2006-01-02 15:04"), listSome(c.foreignIDs)), "warn"
	}
	var lost, unlisted []Skip
	for _, s := range c.skipped {
		if s.LostJoin {
			lost = append(lost, s)
		} else {
			unlisted = append(unlisted, s)
		}
	}
	when := func(s Skip) string { return s.Start.In(c.m.opts.Location).Format("2006-01-02 15:04") }
	if len(lost) > 0 {
		s := lost[0]
		return store.EndpointDegraded, fmt.Sprintf("%d bookings pushed; %d meetings get no Join button because %s cannot take them, e.g. %q at %s: %s",
			c.pushedCount, len(lost), c.fw.Name(), s.Subject, when(s), s.Reason), "warn"
	}
	detail = fmt.Sprintf("%d bookings pushed", c.pushedCount)
	if c.pushedCount == 0 {
		detail = "no meetings in the window; bookings cleared"
	}
	if len(unlisted) > 0 {
		detail += fmt.Sprintf("; %d meetings without a join address not shown: %s", len(unlisted), unlisted[0].Reason)
	} else if l := c.fw.Limits(); l != "" {
		detail += " (" + l + ")"
	}
	return store.EndpointUp, detail, "ok"
}

// updateSummary writes the summarised state with the extra changes and events.
func (c *codec) updateSummary(ctx context.Context, fn func(*store.EndpointState), evs ...store.Event) {
	state, detail, level := c.summary()
	switch level {
	case "error":
		c.m.opts.Health.Fail(c.comp, detail)
	case "warn":
		c.m.opts.Health.Warn(c.comp, detail)
	default:
		c.m.opts.Health.OK(c.comp, detail)
	}
	c.update(ctx, state, detail, fn, evs...)
}

// update writes the endpoint row (state, detail and fn's changes) and the events in one
// transaction. It never touches the certificate pin unless fn does, so an operator's
// `endpoints trust` between two writes is kept.
func (c *codec) update(ctx context.Context, state, detail string, fn func(*store.EndpointState), evs ...store.Event) {
	c.mu.Lock()
	c.state = state
	c.mu.Unlock()
	if state == c.lastState && detail == c.lastDetail && fn == nil && len(evs) == 0 {
		return
	}
	var err error
	c.m.db(ctx, func() {
		err = c.m.opts.Store.Write(ctx, func(tx *store.Tx) error {
			e, ok, err := tx.Endpoint(c.ep.Name)
			if err != nil {
				return err
			}
			if !ok {
				e = store.EndpointState{Name: c.ep.Name, Type: "cisco", Room: c.ep.Room}
			}
			e.State, e.Detail = state, detail
			if fn != nil {
				fn(&e)
			}
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
			for _, ev := range evs {
				if err := tx.Emit(ev); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("cannot record endpoint state", "err", err)
		}
		return
	}
	c.lastState, c.lastDetail = state, detail
}

func (c *codec) patchData(e *store.EndpointState, fn func(*endpointData)) {
	var d endpointData
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &d) // a row written by another version: start afresh
	}
	fn(&d)
	b, err := json.Marshal(d)
	if err == nil {
		e.Data = b
	}
}

func (c *codec) event(kind, level, msg string, data map[string]any) store.Event {
	return store.Event{Kind: kind, Level: level, Room: c.ep.Room, Endpoint: c.ep.Name, Message: msg, Data: data}
}

var _ slog.LogValuer = Endpoint{} // the password never reaches a log

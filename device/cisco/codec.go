package cisco

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/device/pin"
	"github.com/otj-edge/otj-edge/store"
)

// One codec's driver: its state (codec) and the events that drive it, run by one handler at
// a time (kick, handle, process, whileUp). The rest of its work is in connection.go (connecting
// and the connection's end), push.go (pushing the bookings), foreign.go (bookings another
// system pushed, or the codec dropped), state.go (the endpoint row and health), gate.go (the
// room's first sync), feedback.go (meetings started and joined) and results.go (answers to
// Push and Retry).

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
	KindRestarted      = "endpoint.restarted" // on_demand: a liveness check found the codec restarted
)

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
	released  bool   // parked, for Stats (the handler's parked, under mu)
	pending   uint32 // events not handled yet (ev*)
	handling  bool   // a handler goroutine runs
	asked     asked  // callers waiting for the outcome of a push or retry (results.go)

	// Owned by the handler (one runs at a time).
	conn       *Conn     // the live connection; nil while disconnected
	waitWake   wake      // while disconnected: what may cut the wait short
	burstStart time.Time // first change of a burst the debounce is waiting out

	auth         AuthStyle
	kex          tls.CurveID // the TLS key exchange the codec chose; 0: offer Go's defaults (connection.go)
	authFailedAt time.Time
	fails        int // transient failures in a row
	fw           Firmware
	product      string
	systemName   string
	lastHash     string
	lastPushAt   time.Time
	known        idSet           // ids we pushed recently (not foreign)
	lastAttempt  []string        // ids of the latest Put sent
	booked       []pushedBooking // the last accepted payload, compactly (a few dozen at most)
	live         map[string]*liveBooking
	current      string
	skipped      skipSummary // what the status says of the meetings the last push left out
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

	// The on-demand model (ondemand.go).
	parked      bool          // the connection was released on purpose; the codec is up as far as we know
	subscribed  bool          // the live connection carries the feedback subscriptions
	lastContact time.Time     // when the codec last answered (a restart after it lost the bookings)
	phase       time.Duration // the codec's offset in the liveness check interval
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
	}
	if ep.CAFile != "" {
		c.roots, err = pin.LoadRoots(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cisco endpoint %s: ca_file: %w", ep.Name, err)
		}
	}
	return c, nil
}

func (c *codec) status() (state string, connected, released bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.connected, c.released
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
			connected, pushes := c.connected || c.released, c.pushes
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
	if c.onDemand() {
		defer func() {
			if c.conn != nil {
				c.settle(ctx, ev, due)
			}
		}()
	}
	if ev&evStart != 0 {
		c.load(ctx)
		if c.onDemand() && ev&(evForce|evRetry) == 0 && !c.hasSynced(ctx) {
			c.awaitFirstSync(ctx)
			return
		}
		c.connect(ctx, now)
		return
	}
	if c.conn == nil && c.parked {
		c.whileParked(ctx, ev, due, now)
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

// whileUp handles events on a live connection.
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
	if ev&evDirty != 0 && c.debounce(ctx) {
		due |= timerDebounce.bit()
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

// debounce (re)arms the push that follows a change once the burst goes quiet; it reports
// true when the push is due now instead: the change is the room's first sync opening the gate
// (gate.go). That one is no burst: the room's whole window arrived at once, and waiting out the
// quiet time only added it to every codec's first push (2 s at the end of a cold start).
func (c *codec) debounce(ctx context.Context) bool {
	if c.waiting && c.hasSynced(ctx) {
		c.m.sched.clear(c, timerDebounce)
		c.burstStart = time.Time{}
		return true
	}
	o, now := c.m.opts, c.clk().Now()
	if c.burstStart.IsZero() {
		c.burstStart = now
	}
	wait := min(o.Debounce, o.MaxDebounce-now.Sub(c.burstStart))
	c.m.sched.set(c, timerDebounce, now.Add(max(wait, 0)))
	return false
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

func (c *codec) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.m.opts.CallTimeout)
}

var _ slog.LogValuer = Endpoint{} // the password never reaches a log

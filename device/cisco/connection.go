package cisco

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/device/pin"
	"github.com/otj-edge/otj-edge/store"
)

// A codec's connection: one attempt at a time (connect, session) within the bounded number
// of codecs that may connect at once, what a failed attempt means and when to try again
// (dialFailed: changed or untrusted certificate, wrong login, no xAPI, unreachable), setting
// up a new connection (serve: pin on first use, read the codec, subscribe, first push), and
// its end (lost).

// connect makes one connection attempt (now: even while waiting out a 403); when it fails,
// it schedules the next.
func (c *codec) connect(ctx context.Context, now bool) {
	c.m.sched.clear(c, timerReconnect, timerPin)
	wait, w := c.session(ctx, now, c.serve)
	if c.conn != nil || ctx.Err() != nil {
		return
	}
	c.waitWake = w
	c.m.sched.after(c, timerReconnect, max(wait, 0))
	if w == wakeOnPin {
		c.m.sched.after(c, timerPin, c.m.opts.CertRecheck)
	}
}

// lost schedules the reconnect and records the end of the connection (in that order: once
// the store says "down", the next attempt is on the schedule).
func (c *codec) lost(ctx context.Context) {
	why := c.conn.Err().Error()
	c.kex = 0
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
	c.m.sched.clear(c, timerDebounce, timerRetry, timerSafety, timerMidnight, timerEdge, timerCheck, timerPing, timerRelease, timerLive, timerHot)
	c.parked, c.subscribed = false, false
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
func (c *codec) session(ctx context.Context, retryNow bool, up func(ctx context.Context, conn *Conn, st store.EndpointState, connected func())) (time.Duration, wake) {
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
	policy := pin.For(c.roots, c.pin, st.CertSHA256)
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
		TLS:  policy,
		Auth: c.auth, HandshakeTimeout: c.m.opts.DialTimeout, Logger: c.log,
		KeyExchange: c.kex,
	})
	cancel()
	if err != nil {
		c.kex = 0
		if ctx.Err() != nil {
			return 0, wakeNever
		}
		return c.dialFailed(ctx, err, policy.Pin)
	}
	// The next dial offers only the key exchange the codec chose (a liveness check then costs
	// a third less CPU when the codec does not do the post-quantum hybrid Go offers first).
	// Learned from a handshake whose certificate checked out, so nobody in between chose it;
	// forgotten whenever the codec is lost or restarted (a firmware upgrade may add groups).
	c.kex = conn.KeyExchange()
	if ctx.Err() != nil {
		conn.Close()
		conn.Wait()
		return 0, wakeNever
	}
	up(ctx, conn, st, release)
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

func (c *codec) dialFailed(ctx context.Context, err error, tried string) (time.Duration, wake) {
	var (
		he  *HandshakeError
		cce *CertChangedError
		cue *CertUntrustedError
	)
	c.setConnected(false)
	switch {
	case errors.As(err, &cce):
		detail := fmt.Sprintf("certificate changed: the codec presents %s, pinned is %s; nothing is sent to it until an operator accepts the new certificate (%s)",
			ColonFingerprint(cce.Presented), ColonFingerprint(cce.Pinned), pin.Fix(c.ep.Name, c.pin != ""))
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
	c.connected, c.released = on, false
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
	// On demand, feedback is subscribed only while it matters (settle, after this pass): a
	// codec with no meeting near is released in IdleAfter, and its four subscriptions were
	// four round trips for nothing on every codec of a cold start.
	c.subscribed = !c.onDemand()
	if c.subscribed {
		c.subscribe(ctx, conn)
	}
	c.parked, c.lastContact = false, c.clk().Now()
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
	// Feedback and the connection's end kick the codec from whatever reads the connection.
	conn.Notify(func() { c.kick(evConn) })
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

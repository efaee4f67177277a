package cisco

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// The on-demand connection model (cisco.connection: on_demand; issue 22). A connection costs
// the agent ~15 KB per codec for as long as it is open (TLS session and buffers, the parsed
// certificate; where there is no poller, a reader goroutine's stack besides), and most of the
// day most codecs have nothing to hear or say. So once its bookings are pushed and verified and a
// quiet period (IdleAfter) has passed, a codec's connection is released ("parked": the
// endpoint stays up, nothing is recorded as down). Then:
//   - a change, PushNow, Retry or any push timer (safety, midnight, a meeting leaving the
//     window) dials again and pushes, as a connected codec would;
//   - every CheckEvery a liveness check dials, reads Status SystemUnit Uptime and the booking
//     list, and hangs up. An uptime shorter than the time since the codec was last seen means
//     it restarted (and lost its bookings): they are pushed again in full, as after a
//     reconnect. A check that cannot connect is a lost connection, as today: the codec is
//     recorded down and reconnected with the same back-off, and a wrong password stops it
//     for AuthRetry, as today. Checks are spread evenly over the interval across the fleet;
//   - feedback matters while a pushed meeting is near or running (meeting started, joined,
//     not joined): from FeedbackMargin before its join window opens until FeedbackMargin
//     after it ends, the codec stays connected and subscribed, as in the persistent model
//     (the keep-alive pings and the dropped connection then detect a reboot within seconds).

// ConnectionModel is cisco.connection.
type ConnectionModel string

// Connection models.
const (
	// ConnPersistent keeps one connection per codec open all the time.
	ConnPersistent ConnectionModel = "persistent"
	// ConnOnDemand connects for pushes, checks and meetings, and releases idle codecs.
	ConnOnDemand ConnectionModel = "on_demand"
)

// ParseConnectionModel reads a cisco.connection value.
func ParseConnectionModel(s string) (ConnectionModel, error) {
	switch m := ConnectionModel(s); m {
	case ConnPersistent, ConnOnDemand:
		return m, nil
	}
	return "", fmt.Errorf("connection %q: must be %q or %q", s, ConnPersistent, ConnOnDemand)
}

func (c *codec) onDemand() bool { return c.m.opts.Connection == ConnOnDemand }

// readUptime reads Status SystemUnit Uptime (seconds since the codec started).
func readUptime(ctx context.Context, conn *Conn) (time.Duration, error) {
	var v json.RawMessage
	if err := conn.Get(ctx, &v, "Status", "SystemUnit", "Uptime"); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.Trim(string(v), `" `), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("uptime: unexpected answer %s", v)
	}
	return time.Duration(n) * time.Second, nil
}

// hotUntil reports whether feedback matters now (a pushed meeting's join window, widened by
// FeedbackMargin, holds now) and when that stretch ends.
func (c *codec) hotUntil(now time.Time) (bool, time.Time) {
	margin := c.m.opts.FeedbackMargin
	var until time.Time
	hot := false
	for _, b := range c.booked {
		from := b.Start.Add(-time.Duration(b.StartBuffer)*time.Second - margin)
		to := b.end().Add(time.Duration(b.EndBuffer)*time.Second + margin)
		if !now.Before(from) && now.Before(to) {
			hot = true
			if to.After(until) {
				until = to
			}
		}
	}
	return hot, until
}

// nextHot is when the next pushed meeting's feedback stretch begins; zero when none does.
func (c *codec) nextHot(now time.Time) time.Time {
	var next time.Time
	for _, b := range c.booked {
		from := b.Start.Add(-time.Duration(b.StartBuffer)*time.Second - c.m.opts.FeedbackMargin)
		if from.After(now) && (next.IsZero() || from.Before(next)) {
			next = from
		}
	}
	return next
}

// nextCheck is the codec's next liveness check: its own phase of the interval, so a site's
// checks are spread evenly (1,000 codecs every 60 s: one every 60 ms).
func (c *codec) nextCheck(now time.Time) time.Time {
	every := c.m.opts.CheckEvery
	at := now.Truncate(every).Add(c.phase)
	if !at.After(now) {
		at = at.Add(every)
	}
	return at
}

// whileParked handles events while the connection is released: a change waits out its
// debounce; anything that needs the codec dials it (resume).
func (c *codec) whileParked(ctx context.Context, ev, due uint32, retryNow bool) {
	if ev&evDirty != 0 && c.debounce(ctx) {
		due |= timerDebounce.bit()
	}
	if due&timerDebounce.bit() != 0 {
		c.burstStart = time.Time{}
	}
	need := ev&(evForce|evRetry) != 0 ||
		due&(timerDebounce.bit()|timerRetry.bit()|timerSafety.bit()|timerMidnight.bit()|timerEdge.bit()|
			timerCheck.bit()|timerLive.bit()|timerHot.bit()) != 0
	if !need {
		return
	}
	sch := c.m.sched
	sch.clear(c, timerLive, timerHot)
	wait, w := c.session(ctx, retryNow, func(ctx context.Context, conn *Conn, st store.EndpointState, connected func()) {
		c.resume(ctx, conn, st, connected, ev, due)
	})
	if c.conn != nil || ctx.Err() != nil {
		return
	}
	// The codec could not be reached (or refused the login): from here on it is a codec whose
	// connection was lost, with the reconnect and back-off of the persistent model.
	c.parked = false
	sch.clear(c, timerDebounce, timerRetry, timerSafety, timerMidnight, timerEdge, timerCheck)
	c.waitWake = w
	sch.after(c, timerReconnect, max(wait, 0))
	if w == wakeOnPin {
		sch.after(c, timerPin, c.m.opts.CertRecheck)
	}
}

// resume takes a parked codec's new connection. A codec that restarted since it was last
// seen (or whose uptime cannot be read) is set up as after a reconnect: read, subscribed and
// pushed in full. Otherwise the events that dialled it are handled as on a live connection,
// and a liveness check lists the bookings (foreign or dropped ones are reported, as the
// persistent model does on Bookings Updated).
func (c *codec) resume(ctx context.Context, conn *Conn, st store.EndpointState, connected func(), ev, due uint32) {
	if c.lastContact.IsZero() {
		// Never contacted (awaitFirstSync): its first connection, set up in full. There is no
		// earlier contact to compare its uptime with, and no restart to report.
		c.parked = false
		c.serve(ctx, conn, st, connected)
		return
	}
	cctx, cancel := c.callCtx(ctx)
	up, err := readUptime(cctx, conn)
	cancel()
	now := c.clk().Now()
	// Booted after the last contact (2 s of slack for whole seconds and transit): restarted.
	// A spurious "restarted" costs one full push; a missed one would leave the room empty.
	if err != nil || up < now.Sub(c.lastContact)+2*time.Second {
		c.parked, c.kex = false, 0
		if err != nil {
			c.log.Info("codec uptime unreadable; pushing in full", "err", err)
		} else {
			c.log.Warn("codec restarted since it was last seen; pushing its bookings again", "uptime", up, "last_seen", c.lastContact)
			c.emit(ctx, c.event(KindRestarted, "warn", fmt.Sprintf("codec restarted (up for %s, last seen %s ago); bookings pushed again",
				up, now.Sub(c.lastContact).Round(time.Second)), map[string]any{"uptime_s": int64(up / time.Second)}))
		}
		c.serve(ctx, conn, st, connected)
		return
	}
	connected()
	c.fails = 0
	c.auth = conn.Auth()
	c.authFailedAt = time.Time{}
	c.ownUpdates = 0
	c.subscribed = false
	c.conn, c.parked = conn, false
	c.lastContact = now
	c.setConnected(true)
	conn.Notify(func() { c.kick(evConn) })
	c.m.sched.after(c, timerPing, c.m.opts.PingEvery)
	if due&timerLive.bit() != 0 {
		c.verify(ctx, conn, onCheck)
	}
	c.whileUp(ctx, ev, due)
}

// settle runs after every pass of a connected on-demand codec: it keeps the connection
// (subscribed) while feedback matters, and releases it once the codec has been quiet for
// IdleAfter; a pass that only checked liveness hangs up at once.
func (c *codec) settle(ctx context.Context, ev, due uint32) {
	sch, now := c.m.sched, c.clk().Now()
	if c.conn.Err() != nil {
		return // lost: the next pass reconnects
	}
	c.lastContact = now
	if hot, until := c.hotUntil(now); hot {
		if !c.subscribed {
			c.ownUpdates = 0
			c.subscribe(ctx, c.conn)
			c.subscribed = true
		}
		sch.set(c, timerRelease, until)
		return
	}
	busy := !sch.dueAt(c, timerDebounce).IsZero() || !sch.dueAt(c, timerRetry).IsZero() || !sch.dueAt(c, timerCheck).IsZero()
	active := ev&(evStart|evDirty|evForce|evRetry) != 0 ||
		due&(timerReconnect.bit()|timerDebounce.bit()|timerRetry.bit()|timerSafety.bit()|timerMidnight.bit()|timerEdge.bit()|timerCheck.bit()|timerHot.bit()) != 0
	switch {
	case busy:
		sch.clear(c, timerRelease)
	case active:
		sch.after(c, timerRelease, c.m.opts.IdleAfter)
	case due&(timerRelease.bit()|timerLive.bit()) != 0 || sch.dueAt(c, timerRelease).IsZero():
		c.release(now)
	}
}

// release closes an idle codec's connection on purpose: the endpoint stays up, and the
// liveness check, the next meeting's feedback stretch and the push timers are armed.
func (c *codec) release(now time.Time) {
	conn := c.conn
	conn.Notify(nil) // its end is ours, not news
	conn.Close()
	conn.Wait()
	c.conn, c.parked, c.subscribed = nil, true, false
	c.lastContact = now
	c.mu.Lock()
	c.connected, c.released = false, true
	c.mu.Unlock()
	sch := c.m.sched
	sch.clear(c, timerPing, timerRelease)
	sch.set(c, timerLive, c.nextCheck(now))
	if next := c.nextHot(now); !next.IsZero() {
		sch.set(c, timerHot, next)
	}
	c.log.Debug("idle codec released; next liveness check", "at", sch.dueAt(c, timerLive))
	if c.m.opts.released != nil {
		c.m.opts.released(c.ep.Name)
	}
}

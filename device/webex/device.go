package webex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// Each endpoint's steps decide when to push; the manager's scheduler (sched.go) runs them, one
// at a time per endpoint. Changes of the room's meetings are coalesced (Debounce quiet time,
// MaxDebounce at most), so a busy calendar makes one command per burst; a push is also due on a
// status round that finds the device back online, on the safety timer, just after local
// midnight, and when a refusal or a Retry-After has been waited out.

type request struct {
	reply chan device.Result
	retry bool
}

type statusUpdate struct {
	dev Device
	err error
	at  time.Time
}

// dev is one Webex endpoint.
type dev struct {
	m    *Manager
	c    *conn
	ep   Endpoint
	log  *slog.Logger
	comp string

	mu          sync.Mutex // guards what other goroutines hand over, and state/online
	woken       bool       // a wake the scheduler has not taken yet
	dirtyAt     time.Time  // first change of the burst not pushed yet (zero: none)
	lastChange  time.Time
	reqs        []request
	st          *statusUpdate
	state       string
	online      bool
	workspaceID string // poller's cache

	// Owned by the step running (the scheduler runs one step of an endpoint at a time, and
	// reads nextDeadline only between steps).
	resolved    bool
	device      Device
	resolveErr  error
	offlineErr  bool // the last push found the device unreachable; wait for a round
	fw          bookings.Firmware
	roomSynced  bool
	waiting     bool
	lastHash    string
	pushedIDs   []string
	lastAttempt []string    // the ids of the last Put sent (known as ours even if its answer was lost)
	pushedEnds  []time.Time // when the pushed meetings end (the window's edge)
	edgeAt      time.Time   // when the first pushed meeting leaves the window (zero: none)
	foreignIDs  []string    // bookings on the device that otj-edge did not push, last seen at foreignAt
	foreignAt   time.Time
	pushedCount int
	skipped     []bookings.Skip
	missing     []string
	refusal     string
	refState    string
	refusalAt   time.Time
	retryAt     time.Time
	limited     bool // retryAt waits out a Retry-After (staggered by yieldAfterLimit unless a change is owed)
	backoff     time.Duration
	safetyAt    time.Time
	midnightAt  time.Time
	due         bool // a push is owed (offline, rate-limited, not resolved yet)
	full        bool // the owed push is a full one: sent even if unchanged, after a look for foreign bookings
	changeOwed  bool // the owed push carries a change of the room's meetings (its turn comes first)
	foreignRead bool // the owed full push has looked for foreign bookings already (a retry does not again)
	lastState   string
	lastDetail  string
	outcome     device.Result
}

func newDev(m *Manager, c *conn, ep Endpoint) *dev {
	return &dev{m: m, c: c, ep: ep, comp: "webex/" + ep.Name,
		log: m.log.With("endpoint", ep.Name, "room", ep.Room, "webex", ep.Connection), state: store.EndpointUnknown}
}

func (d *dev) clk() clock.Clock { return d.m.opts.Clock }

// kick asks the scheduler for a step of this endpoint soon.
func (d *dev) kick() {
	d.mu.Lock()
	pending := d.woken
	d.woken = true
	d.mu.Unlock()
	if pending {
		return // one wake is pending already
	}
	d.m.busy.Add(1) // until the scheduler has run the step and armed its next deadline
	select {
	case d.m.wake <- struct{}{}:
	default:
	}
}

// takeWake reports (and clears) a pending wake.
func (d *dev) takeWake() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.woken
	d.woken = false
	return w
}

// changed: the room's meetings changed.
func (d *dev) changed() {
	now := d.clk().Now()
	d.mu.Lock()
	if d.dirtyAt.IsZero() {
		d.dirtyAt = now
	}
	d.lastChange = now
	d.mu.Unlock()
	d.kick()
	if h := d.m.opts.onChanged; h != nil {
		h(d.ep.Name)
	}
}

func (d *dev) request(r request) {
	d.mu.Lock()
	d.reqs = append(d.reqs, r)
	d.mu.Unlock()
	d.kick()
}

func (d *dev) setStatus(st statusUpdate) {
	d.mu.Lock()
	d.st = &st
	d.mu.Unlock()
	d.kick()
}

func (d *dev) status() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state, d.online
}

// midnight is when the device's push for the day's roll is due after now.
func (d *dev) midnight(now time.Time) time.Time {
	return bookings.MidnightPush(now, d.m.opts.Location, d.m.opts.MidnightSkew, d.m.opts.MidnightSpread, d.ep.Name)
}

// start sets the timers an endpoint has from the start.
func (d *dev) start(now time.Time) {
	d.safetyAt = now.Add(d.m.opts.SafetyInterval)
	d.midnightAt = d.midnight(now)
	d.due, d.full = true, true // the first push after start is in full, once the device is known
}

// nextDeadline is the earliest time something is due.
func (d *dev) nextDeadline() time.Time {
	var next time.Time
	add := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	d.mu.Lock()
	if !d.dirtyAt.IsZero() {
		add(d.debounceDue())
	}
	d.mu.Unlock()
	add(d.retryAt)
	add(d.edgeAt)
	add(d.safetyAt)
	add(d.midnightAt)
	return next
}

// debounceDue is when a burst's push is due (d.mu held).
func (d *dev) debounceDue() time.Time {
	at := d.lastChange.Add(d.m.opts.Debounce)
	if limit := d.dirtyAt.Add(d.m.opts.MaxDebounce); limit.Before(at) {
		at = limit
	}
	return at
}

// step does what is due now.
func (d *dev) step(ctx context.Context) {
	now := d.clk().Now()
	d.mu.Lock()
	reqs, st := d.reqs, d.st
	d.reqs, d.st = nil, nil
	changed := !d.dirtyAt.IsZero()
	// A change while the device waits for its room's first sync may be that sync: no burst to
	// wait out (its whole window arrives at once), so it goes at once (device/cisco's debounce).
	burst := changed && (d.waiting || !now.Before(d.debounceDue()))
	d.mu.Unlock()

	force := false
	if st != nil {
		force = d.applyStatus(ctx, *st) || force
	}
	if !d.retryAt.IsZero() && !now.Before(d.retryAt) {
		d.retryAt = time.Time{} // the owed push (d.due) goes now, in full only if it was a full one
	}
	if !now.Before(d.safetyAt) {
		d.safetyAt, force = now.Add(d.m.opts.SafetyInterval), true
	}
	if !now.Before(d.midnightAt) {
		d.midnightAt, force = d.midnight(now), true
	}
	// A pushed meeting leaving the window is a change of the payload (device/cisco's edge
	// timer): pushed like a burst, so an unchanged payload sends nothing.
	edge := !d.edgeAt.IsZero() && !now.Before(d.edgeAt)
	if edge { // the next edge after this one, whatever the push does (a push re-arms it)
		d.edgeAt = bookings.NextEdge(d.pushedEnds, now, d.m.opts.WindowPast)
	}
	retry := false
	for _, r := range reqs {
		retry = retry || r.retry
	}
	if retry && d.c.authFailed() != nil {
		d.c.clearAuthErr()
	}
	if changed {
		d.changeOwed = true // whichever push covers the change (an owed one takes it along)
	}
	prio := prioPush
	if len(reqs) > 0 || d.changeOwed {
		prio = prioChange // someone asked, or the room's meetings changed: a user waits for it
	}
	switch {
	case len(reqs) > 0 || force:
		d.foreignRead = false // a new full push looks again; only a retry of one does not
		d.attempt(ctx, true, len(reqs) > 0, prio)
	case burst || d.due || edge:
		d.attempt(ctx, d.full, false, prio)
	default:
		return
	}
	res := d.result()
	for _, r := range reqs {
		if retry {
			res.Attempts = 1
		}
		r.reply <- res
	}
}

// attempt pushes and clears the burst it covered. Unless someone asked (Push, Retry), a
// refused push waits out RefusalRetry and a failed one its backoff or Retry-After: a busy
// calendar or a status round does not turn a refusal into a request storm.
func (d *dev) attempt(ctx context.Context, force, asked bool, prio priority) {
	d.mu.Lock()
	d.dirtyAt, d.lastChange = time.Time{}, time.Time{}
	d.mu.Unlock()
	d.outcome = device.Result{}
	now := d.clk().Now()
	if !asked {
		if d.refusal != "" && now.Before(d.refusalAt.Add(d.m.opts.RefusalRetry)) {
			d.due = true
			d.failed(d.refusal)
			return
		}
		if d.limited && prio == prioChange && now.Before(d.retryAt) {
			// A change came while a full push waited out a Retry-After behind the changes:
			// it waits only for the bucket itself now.
			d.retryAt = d.c.waitUntil()
		}
		if !d.retryAt.IsZero() && now.Before(d.retryAt) {
			d.due = true
			d.failed(d.lastDetail)
			return
		}
	}
	d.push(ctx, force, prio)
}

// applyStatus takes a status round's news; it reports whether a push is due because of it.
func (d *dev) applyStatus(ctx context.Context, st statusUpdate) bool {
	wasOnline := d.resolved && d.device.Online() && !d.offlineErr
	if st.err != nil {
		d.resolveErr = st.err
		var nf *NotFoundError
		var am *AmbiguousError
		if errors.As(st.err, &nf) || errors.As(st.err, &am) {
			d.resolved = false
		}
		d.updateSummary(ctx, nil) // auth_failed, a device gone: the state says so now
		return false
	}
	before := d.device
	d.resolveErr, d.resolved, d.device, d.offlineErr = nil, true, st.dev, false
	d.fw = bookings.ParseFirmware(st.dev.Software, st.dev.Software)
	d.mu.Lock()
	d.online = st.dev.Online()
	d.mu.Unlock()
	switch {
	case st.dev.Online() && !wasOnline:
		if before.ID != "" {
			d.log.Info("device online in Webex again", "status", st.dev.ConnectionStatus)
		}
		return true
	case d.refusal != "" && !st.at.Before(d.refusalAt.Add(d.m.opts.RefusalRetry)):
		return true // a refusal (403, 404) is tried again at most every RefusalRetry
	case before.Software != st.dev.Software || before.ID != st.dev.ID:
		return true
	}
	if !st.dev.Online() {
		d.updateSummary(ctx, nil) // the state says so now, not at the next push
	}
	return false
}

// hasSynced is the first-sync gate (device/cisco's): nothing, not even a Clear, goes to a
// device before its room has synced from this store.
func (d *dev) hasSynced(ctx context.Context) bool {
	if d.roomSynced {
		return true
	}
	ok, _, err := d.m.opts.Store.RoomResolved(ctx, d.ep.Room)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("cannot read whether the room has synced; pushing nothing", "err", err)
		}
		return false
	}
	d.roomSynced = ok
	return ok
}

// payload is the room's Bookings Put document for the device's firmware.
func (d *dev) payload(ctx context.Context, now time.Time) (bookings.Payload, error) {
	from, to := bookings.Window(now, d.m.opts.Location, d.m.opts.WindowPast, d.m.opts.WindowDays)
	ms, err := stored.Meetings(ctx, d.m.opts.Store, d.ep.Room, from, to)
	if err != nil {
		return bookings.Payload{}, err
	}
	return bookings.BuildPayload(ms, d.fw), nil
}

func (d *dev) failed(why string) {
	d.outcome.Outcome, d.outcome.Detail = device.OutcomeFailed, why
}

func (d *dev) result() device.Result {
	r := d.outcome
	d.mu.Lock()
	r.Endpoint, r.State, r.Connected = d.ep.Name, d.state, d.online
	d.mu.Unlock()
	if r.Outcome == "" {
		r.Outcome, r.Detail = device.OutcomeFailed, d.lastDetail
	}
	if r.Outcome == device.OutcomeFailed && !d.retryAt.IsZero() {
		r.NextAttempt = d.retryAt
	}
	return r
}

func (d *dev) String() string { return fmt.Sprintf("webex endpoint %s", d.ep.Name) }

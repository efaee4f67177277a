package cisco

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The first-sync gate. A store that does not know a room yet (a first start, an empty or
// moved-aside store, Microsoft 365 not reachable yet) has no meetings for it, and pushing that
// would empty the codec: every Join button of the building gone two seconds after start. So a
// codec gets neither a Put nor a Clear, and its bookings are not judged, until the meeting
// processor has resolved its room from a completed calendar sync (store.RoomResolved). A room
// that synced once stays known: when its source fails later, the codec keeps its last good
// bookings, pushed from the store as before.

// waitingDetail is the endpoint's detail while the gate is closed.
const waitingDetail = "waiting for the room's first sync: otj-edge pushes nothing to this codec until the room's calendar has synced from this store, so the codec keeps the bookings it has"

// hasSynced reports whether the room's meetings are known. Once they are, they stay known for
// the manager's life (a room removed from the config takes its endpoints with it).
func (c *codec) hasSynced(ctx context.Context) bool {
	if c.roomSynced {
		return true
	}
	var ok bool
	var err error
	c.m.db(ctx, func() { ok, _, err = c.m.opts.Store.RoomResolved(ctx, c.ep.Room) })
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("cannot read whether the room has synced; pushing nothing", "err", err)
		}
		return false
	}
	c.roomSynced = ok
	return ok
}

// waitForSync records that the codec is left as it is until the room syncs. The processor's
// first mark announces the room's meetings, which kicks the codec (evDirty) into its first push.
func (c *codec) waitForSync(ctx context.Context) {
	if !c.waiting {
		c.log.Info("room not synced yet; the codec keeps its bookings until it has", "room", c.ep.Room)
	}
	c.waiting = true
	c.done(OutcomeWaiting, 0)
	c.outcome.Detail = waitingDetail
	c.updateSummary(ctx, nil)
}

// awaitFirstSync starts an on-demand codec whose room has not synced without dialling it: it
// waits parked, not yet contacted (lastContact zero). The room's first sync dials it at once
// for its first push (debounce), and so do PushNow and Retry; a room still not synced by the
// codec's first liveness check (within CheckEvery, spread across the site) has it dialled then,
// so a new site's wrong password or untrusted certificate still shows without a calendar.
// Dialling every codec at start instead cost a second login for each one whose room synced
// after IdleAfter had released it (about 300 of 1,000 at a cold start with a 10 s hold, 800
// with 2 s, measured).
func (c *codec) awaitFirstSync(ctx context.Context) {
	c.parked = true
	// The check is armed before the state says "waiting": once it does, the first check is on
	// the schedule (a test that then moves the clock finds it armed).
	c.m.sched.set(c, timerLive, c.nextCheck(c.clk().Now()))
	c.waitForSync(ctx)
}

// firstPush is the push after a (re)connect: bookings another system pushed are looked for
// first (they are about to be replaced), then the room's bookings go in full.
func (c *codec) firstPush(ctx context.Context, conn *Conn) time.Duration {
	return c.pushAll(ctx, conn, true, true)
}

// lookForForeign reads the codec's bookings before p, a full push, replaces them and reports
// those another system pushed. It runs before the first push of a connection and before the
// first push once the room has synced, whichever comes last, so the report does not depend on
// whether the codec connected before or after the room's first sync.
func (c *codec) lookForForeign(ctx context.Context, conn *Conn, p Payload) {
	// A booking that carries the id of a meeting about to be pushed is this room's own,
	// pushed from an earlier store or before a restart, not another system's.
	c.known = c.known.with(p.IDs())
	c.verify(ctx, conn, beforePush)
}

// payload builds the Bookings Put document of the room's meetings in the window at now.
func (c *codec) payload(ctx context.Context, now time.Time) (Payload, error) {
	from, to := Window(now, c.m.opts.Location, c.m.opts.WindowPast, c.m.opts.WindowDays)
	var meetings []calendar.Meeting
	var err error
	c.m.db(ctx, func() { meetings, err = stored.Meetings(ctx, c.m.opts.Store, c.ep.Room, from, to) })
	if err != nil {
		return Payload{}, err
	}
	return BuildPayload(meetings, c.fw), nil
}

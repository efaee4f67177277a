package cisco

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/store"
)

// Pushing the room's bookings: when a push is due besides changes (midnight, a meeting leaving
// the window), the push itself (push), and what a codec's refusal means (pushFailed).

func (c *codec) untilMidnight() time.Duration {
	now := c.clk().Now()
	return bookings.MidnightPush(now, c.m.opts.Location, c.m.opts.MidnightSkew, c.m.opts.MidnightSpread, c.ep.Name).Sub(now)
}

// nextEdge is when the earliest pushed meeting falls out of the window.
func (c *codec) nextEdge() time.Time {
	ends := make([]time.Time, len(c.booked))
	for i, b := range c.booked {
		ends[i] = b.end()
	}
	return bookings.NextEdge(ends, c.clk().Now(), c.m.opts.WindowPast)
}

// push sends the room's bookings when they differ from what the codec last accepted, or
// always when forced (reconnect, safety timer, midnight, PushNow). It returns when to try
// again when the codec asked for patience (still booting), else 0.
func (c *codec) push(ctx context.Context, conn *Conn, force bool) time.Duration {
	return c.pushAll(ctx, conn, force, false)
}

// pushAll is push, and with connected the first push of a connection (firstPush), which looks
// for another system's bookings first. The payload is read once for both: each read goes
// through the manager's store workers, which a thousand codecs share at a cold start.
func (c *codec) pushAll(ctx context.Context, conn *Conn, force, connected bool) time.Duration {
	if !c.hasSynced(ctx) {
		c.waitForSync(ctx) // the store does not know the room yet: the codec keeps what it has
		return 0
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
	foreign := connected
	if c.waiting { // the first push once the room has synced: in full, whatever the hash says
		c.waiting, force, foreign = false, true, true
	}
	if foreign {
		c.lookForForeign(ctx, conn, p)
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
	known := idSet(nil).with(c.lastAttempt)
	for _, b := range c.booked {
		known = append(known, b.ID)
	}
	c.lastAttempt = p.IDs()
	c.known = known.with(c.lastAttempt)
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
	c.skipped, c.pushedCount = summarizeSkips(p.Skipped), len(p.Bookings)
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

package webex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/device/bookings"
	"github.com/otj-edge/otj-edge/store"
)

// authFailed is the connection's refused refresh, or nil.
func (c *conn) authFailed() *AuthError {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.tok.authErr
}

// push sends the room's bookings when they differ from what the device last accepted, or
// always when forced; its requests take their turn at prio. What it did is in d.outcome, and
// the endpoint row says where it stands.
func (d *dev) push(ctx context.Context, force bool, prio priority) {
	d.due = true // until a push lands or is rightly held back
	if force {
		d.full = true // and a retry of it is in full too
	}
	if ae := d.c.authFailed(); ae != nil {
		d.failed(ae.Error())
		d.updateSummary(ctx, nil)
		return
	}
	if !d.resolved {
		switch {
		case d.resolveErr != nil:
			d.failed(d.resolveErr.Error())
		default:
			d.failed("the device's status has not been read from Webex yet; it is pushed once it has")
		}
		d.updateSummary(ctx, nil)
		return
	}
	if !d.device.Online() || d.offlineErr {
		d.failed(d.offlineDetail())
		d.updateSummary(ctx, nil)
		return
	}
	if !d.hasSynced(ctx) {
		if !d.waiting {
			d.log.Info("room not synced yet; the device keeps its bookings until it has")
		}
		d.waiting = true
		d.outcome.Outcome = device.OutcomeWaiting
		d.updateSummary(ctx, nil)
		d.due = false // the processor's first mark of the room kicks the push
		return
	}
	if d.waiting {
		d.waiting, force, d.full = false, true, true
	}
	now := d.clk().Now()
	p, err := d.payload(ctx, now)
	if err != nil {
		d.failed("cannot read the room's meetings: " + err.Error())
		return
	}
	if !force && p.Hash == d.lastHash && d.refusal == "" {
		d.m.stats.same()
		d.due = false
		d.outcome.Outcome, d.outcome.Bookings = device.OutcomeUnchanged, len(p.Bookings)
		return
	}
	if d.refusal != "" && !force {
		d.failed(d.refusal)
		return
	}
	t, err := d.c.take(ctx, prio)
	if err != nil {
		d.failed("stopped before the push")
		return
	}
	if force && !d.m.opts.NoVerify && !d.foreignRead {
		// Before the Put replaces what another system put there, in the same turn; once per
		// owed push, so a retry after a 429 spends no second request on it.
		d.foreignRead = d.lookForForeign(ctx, t, p)
	}
	d.lastAttempt = p.IDs() // ours from the moment they are sent (an answer may get lost)
	cmd, body := "Bookings.Put", map[string]any{"deviceId": d.device.ID, "arguments": map[string]any{}, "body": json.RawMessage(p.Body)}
	if len(p.Bookings) == 0 {
		cmd, body = "Bookings.Clear", map[string]any{"deviceId": d.device.ID, "arguments": map[string]any{}}
	}
	err = t.call(ctx, "push the bookings ("+cmd+")", http.MethodPost, "/xapi/command/"+cmd, nil, body, nil)
	t.done()
	if err != nil {
		d.pushFailed(ctx, p, err, prio)
		return
	}
	d.m.stats.pushed()
	changed := p.Hash != d.lastHash
	d.due, d.full, d.changeOwed, d.foreignRead, d.retryAt, d.limited, d.backoff = false, false, false, false, time.Time{}, false, 0
	d.refusal, d.refState = "", ""
	d.lastHash, d.pushedIDs, d.pushedCount, d.skipped = p.Hash, p.IDs(), len(p.Bookings), p.Skipped
	d.pushedEnds = make([]time.Time, len(p.Bookings))
	for i, b := range p.Bookings {
		d.pushedEnds[i] = b.End()
	}
	d.edgeAt = bookings.NextEdge(d.pushedEnds, now, d.m.opts.WindowPast)
	d.outcome.Outcome, d.outcome.Bookings = device.OutcomeUnchanged, len(p.Bookings)
	var evs []store.Event
	if changed {
		d.outcome.Outcome = device.OutcomePushed
		msg := fmt.Sprintf("%d bookings pushed through Webex", len(p.Bookings))
		if len(p.Bookings) == 0 {
			msg = "bookings cleared through Webex: no meetings in the window"
		}
		evs = append(evs, d.event("push.ok", "info", msg, map[string]any{"bookings": len(p.Bookings), "skipped": len(p.Skipped)}))
		d.missing = nil
		if !d.m.opts.NoVerify && len(p.Bookings) > 0 {
			d.verify(ctx, p, now)
		}
	}
	d.log.Info("bookings pushed through Webex", "command", cmd, "bookings", len(p.Bookings), "skipped", len(p.Skipped), "forced", force)
	ids := p.IDs()
	d.updateSummary(ctx, func(e *store.EndpointState) {
		e.LastPush, e.LastContact, e.PushHash = now, now, p.Hash
		patchData(e, func(x *endpointData) { x.PushedIDs, x.Skipped = ids, len(p.Skipped) })
	}, evs...)
}

// verify lists the device's bookings back (Bookings.List through the cloud) and notes the
// pushed ones it does not hold. Bookings that start before today (local) are not looked for:
// List counts days from the device's today. A failed List changes nothing: the Put landed.
func (d *dev) verify(ctx context.Context, p bookings.Payload, now time.Time) {
	ln := now.In(d.m.opts.Location)
	today := time.Date(ln.Year(), ln.Month(), ln.Day(), 0, 0, 0, 0, d.m.opts.Location)
	t, err := d.c.take(ctx, prioRead) // after the changes waiting for their turn
	if err != nil {
		return
	}
	ids, err := d.listIDs(ctx, t)
	t.done()
	if err != nil {
		d.log.Info("cannot list the bookings back; the push stands", "err", err)
		return
	}
	have := map[string]bool{}
	for _, id := range ids {
		have[id] = true
	}
	for _, b := range p.Bookings {
		start, err := time.Parse(time.RFC3339, b.Time.StartTime)
		if err == nil && !start.Before(today) && !have[b.ID] {
			d.missing = append(d.missing, b.ID)
		}
	}
	if len(d.missing) > 0 {
		d.log.Warn("the device does not hold every booking pushed", "missing", d.missing)
	}
}

// pushFailed says what a refusal means and when to try again; prio is the failed push's turn.
func (d *dev) pushFailed(ctx context.Context, p bookings.Payload, err error, prio priority) {
	if ctx.Err() != nil {
		d.failed("stopped during the push")
		return
	}
	d.m.stats.failed()
	d.limited = false
	var rl *RateLimitedError
	var ae *APIError
	var auth *AuthError
	switch {
	case errors.As(err, &rl):
		d.retryAt, d.limited = rl.Until, true
		if prio != prioChange {
			// The window that opens at Retry-After goes to the changes first: they take
			// their turns before the others wake.
			d.retryAt = d.retryAt.Add(yieldAfterLimit)
		}
		d.failed(rl.Error() + "; the push waits until then")
		return // the state stays what it was: nothing is wrong with the device
	case errors.As(err, &auth):
		d.failed(auth.Error())
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		d.refuse(store.EndpointDegraded, fmt.Sprintf("Webex refuses the xAPI command (HTTP 403: %s): the integration needs the scope spark:xapi_commands "+
			"and the device must give it xapi:all (Control Hub → the device's workspace → API access: full access, or the authorising admin's role); "+
			"after a change of scopes re-authorise the integration and put the new refresh token into webex %q. otj-edge tries again every %s",
			ae.Message, d.ep.Connection, d.m.opts.RefusalRetry))
	case errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusGone):
		d.resolved, d.resolveErr = false, &NotFoundError{What: "device " + d.device.ID,
			Fix: fmt.Sprintf("Webex no longer knows it (HTTP %d: %s): it was removed from Control Hub or moved; fix device_id/workspace/device_name of endpoint %s", ae.Status, ae.Message, d.ep.Name)}
		d.failed(d.resolveErr.Error())
	case errors.As(err, &ae) && (ae.Status == http.StatusBadGateway || ae.Status == http.StatusGatewayTimeout || mentionsOffline(ae.Message)):
		d.offlineErr = true // no retries until a status round sees it connected
		d.failed(d.offlineDetail())
	case errors.As(err, &ae) && ae.Status/100 == 4 && ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusRequestTimeout:
		d.refuse(store.EndpointDegraded, fmt.Sprintf("Webex refused the bookings (%s); %s; otj-edge tries again every %s", ae.Error(), d.fw.Name(), d.m.opts.RefusalRetry))
	default:
		d.backoff = min(max(d.backoff*2, d.m.opts.RetryMin), d.m.opts.RetryMax)
		d.retryAt = d.clk().Now().Add(d.backoff)
		d.failed(fmt.Sprintf("cannot reach Webex: %s; otj-edge tries again in %s", err, d.backoff))
	}
	d.log.Error("push through Webex failed", "err", err)
	var evs []store.Event
	if d.outcome.Detail != d.lastDetail {
		evs = append(evs, d.event("push.failed", "error", d.outcome.Detail, map[string]any{"bookings": len(p.Bookings)}))
	}
	d.updateSummary(ctx, nil, evs...)
}

func (d *dev) refuse(state, why string) {
	d.refusal, d.refState, d.refusalAt = why, state, d.clk().Now()
	d.failed(why)
}

func mentionsOffline(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "offline") || strings.Contains(s, "not connected") || strings.Contains(s, "unreachable")
}

func (d *dev) offlineDetail() string {
	status := d.device.ConnectionStatus
	if d.offlineErr && d.device.Online() {
		status = "the cloud could not reach it"
	}
	return fmt.Sprintf("offline in Webex (%s): %s is not connected to the Webex cloud, so it cannot take bookings; "+
		"check it in Control Hub (Devices → status). otj-edge pushes when Webex shows it connected (checked every %s)",
		status, d.deviceRef(), d.m.opts.StatusEvery)
}

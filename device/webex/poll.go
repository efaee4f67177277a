package webex

import (
	"context"
	"errors"
	"time"
)

// The status round: each connection lists its devices every StatusEvery (one request per
// thousand devices), resolves its endpoints' devices in the list and hands each endpoint its
// device's connection status, software and permissions. Offline devices are never asked
// anything between rounds: a device that comes back online is pushed at the round that sees it.

// poll runs the rounds of c until ctx ends.
func (c *conn) poll(ctx context.Context) {
	devs := c.m.devicesOf(c)
	backoff := c.m.opts.RetryMin
	for {
		wait := c.m.opts.StatusEvery
		list, err := c.listDevices(ctx)
		if ctx.Err() != nil {
			return
		}
		var rl *RateLimitedError
		switch {
		case errors.As(err, &rl):
			// After the changes owed (turns.go); the devices keep their last known status.
			wait = max(rl.Until.Add(yieldAfterLimit).Sub(c.m.opts.Clock.Now()), time.Second)
			err = nil
			list = nil
		case err != nil:
			c.log.Warn("cannot list the Webex devices", "err", err)
			wait = min(backoff, c.m.opts.StatusEvery)
			backoff = min(backoff*2, c.m.opts.RetryMax)
		default:
			backoff = c.m.opts.RetryMin
		}
		if err != nil || list != nil {
			for _, d := range devs {
				var st statusUpdate
				if err != nil {
					st.err = err
				} else {
					st.dev, st.err = c.resolveCached(ctx, d, list)
				}
				st.at = c.m.opts.Clock.Now()
				d.setStatus(st)
			}
		}
		t := c.m.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// resolveCached resolves d's device; a workspace found once is looked for by id afterwards
// (its name may change; its id does not).
func (c *conn) resolveCached(ctx context.Context, d *dev, list []Device) (Device, error) {
	ep := d.ep
	if ep.Workspace != "" && d.workspaceID != "" {
		var hits []Device
		for _, x := range list {
			if x.WorkspaceID == d.workspaceID && hasXAPI(x) {
				hits = append(hits, x)
			}
		}
		return pickOne("workspace "+quote(ep.Workspace), hits, list)
	}
	got, err := c.resolve(ctx, ep, list)
	if err == nil && ep.Workspace != "" {
		d.workspaceID = got.WorkspaceID
	}
	return got, err
}

func quote(s string) string { return "\"" + s + "\"" }

package cisco

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// The endpoint row: what survives a restart (load), the state and detail the codec's
// situation adds up to (summary) with its health, and writing the row with its events
// (update) in one transaction.

// endpointData is the driver's part of the endpoint row (EndpointState.Data).
type endpointData struct {
	PushedIDs    []string  `json:"pushed_ids,omitempty"`
	AuthFailedAt time.Time `json:"auth_failed_at,omitzero"`
	AuthUser     string    `json:"auth_user,omitempty"`
	Auth         string    `json:"auth,omitempty"`
	Skipped      int       `json:"skipped,omitempty"`
	SystemName   string    `json:"system_name,omitempty"`
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
		c.known = c.known.with(d.PushedIDs)
		if st.State == store.EndpointAuthFailed && d.AuthUser == c.ep.Username {
			c.authFailedAt = d.AuthFailedAt
		}
		if d.Auth == AuthSubprotocol.String() {
			c.auth = AuthSubprotocol
		}
	}
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
	sk := c.skipped
	if sk.lost > 0 {
		s := sk.firstLost
		return store.EndpointDegraded, fmt.Sprintf("%d bookings pushed; %d meetings get no Join button because %s cannot take them, e.g. %q at %s: %s",
			c.pushedCount, sk.lost, c.fw.Name(), s.Subject, s.Start.In(c.m.opts.Location).Format("2006-01-02 15:04"), s.Reason), "warn"
	}
	detail = fmt.Sprintf("%d bookings pushed", c.pushedCount)
	if c.pushedCount == 0 {
		detail = "no meetings in the window; bookings cleared"
	}
	if sk.unlisted > 0 {
		detail += fmt.Sprintf("; %d meetings without a join address not shown: %s", sk.unlisted, sk.firstUnlisted.Reason)
	} else if l := c.fw.Limits(); l != "" {
		detail += " (" + l + ")"
	}
	return store.EndpointUp, detail, "ok"
}

// skipSummary is what the status detail says of the meetings a push left out: how many of
// each kind and the first of each. A codec keeps this, not the skipped meetings: at 1,000
// codecs, each with a few meetings its firmware cannot list, the whole lists (each meeting
// with its id, subject and reason) were about 0.6 MB of the steady heap (issue 22).
type skipSummary struct {
	lost, unlisted           int
	firstLost, firstUnlisted Skip // only Subject, Start and Reason are kept
}

func summarizeSkips(skips []Skip) skipSummary {
	var sk skipSummary
	for _, s := range skips {
		s.ID = "" // the detail never names it; it would keep the meeting's id alive
		if s.LostJoin {
			if sk.lost == 0 {
				sk.firstLost = s
			}
			sk.lost++
		} else {
			if sk.unlisted == 0 {
				sk.firstUnlisted = s
			}
			sk.unlisted++
		}
	}
	return sk
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
	// Straight to the store: the write runs on its writer goroutine, not on this one's stack.
	err := c.m.opts.Store.Write(ctx, func(tx *store.Tx) error {
		e, err := tx.EndpointOr(store.EndpointState{Name: c.ep.Name, Type: "cisco", Room: c.ep.Room})
		if err != nil {
			return err
		}
		e.State, e.Detail = state, detail
		if fn != nil {
			fn(&e)
		}
		if err := tx.PutEndpoint(e); err != nil {
			return err
		}
		return tx.Emit(evs...)
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

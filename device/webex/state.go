package webex

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/otj-edge/otj-edge/store"
)

// endpointData is the driver's part of the endpoint row (EndpointState.Data).
type endpointData struct {
	DeviceID         string   `json:"device_id,omitempty"`
	DisplayName      string   `json:"display_name,omitempty"`
	WorkspaceID      string   `json:"workspace_id,omitempty"`
	ConnectionStatus string   `json:"connection_status,omitempty"`
	Connection       string   `json:"connection,omitempty"`
	PushedIDs        []string `json:"pushed_ids,omitempty"`
	Skipped          int      `json:"skipped,omitempty"`
}

// load restores the last pushed payload's hash, so a restart with unchanged meetings does not
// look like a change (the first push after start is in full anyway).
func (d *dev) load(ctx context.Context) {
	st, ok, err := d.m.opts.Store.Endpoint(ctx, d.ep.Name)
	if err != nil || !ok {
		return
	}
	d.lastHash, d.lastState, d.lastDetail = st.PushHash, st.State, st.Detail
	var x endpointData
	if len(st.Data) > 0 && json.Unmarshal(st.Data, &x) == nil {
		d.pushedIDs = x.PushedIDs
	}
}

// summary is the state and detail the endpoint's situation adds up to, and its health level.
func (d *dev) summary() (state, detail, level string) {
	if ae := d.c.authFailed(); ae != nil {
		return store.EndpointAuthFailed, ae.Error(), "error"
	}
	switch {
	case !d.resolved && d.resolveErr != nil:
		var nf *NotFoundError
		var am *AmbiguousError
		if asAny(d.resolveErr, &nf, &am) {
			return store.EndpointDegraded, d.resolveErr.Error(), "error"
		}
		return store.EndpointDown, "cannot read the device from Webex: " + d.resolveErr.Error(), "error"
	case !d.resolved:
		return store.EndpointUnknown, "not read from Webex yet", "warn"
	case !d.device.Online() || d.offlineErr:
		return store.EndpointDown, d.offlineDetail(), "error"
	case d.waiting:
		return store.EndpointWaiting, "waiting for the room's first sync: otj-edge pushes nothing to this device until the room's calendar has synced from this store, so the device keeps the bookings it has", "warn"
	case d.refusal != "":
		return d.refState, d.refusal, "error"
	case d.foreignDetail() != "":
		return store.EndpointDegraded, d.foreignDetail(), "warn"
	case len(d.missing) > 0:
		return store.EndpointDegraded, fmt.Sprintf("the device holds %d of the %d bookings pushed (missing: %s)", d.pushedCount-len(d.missing), d.pushedCount, strings.Join(d.missing[:min(3, len(d.missing))], ", ")), "warn"
	}
	var lost int
	for _, s := range d.skipped {
		if s.LostJoin {
			lost++
		}
	}
	if lost > 0 {
		s := d.skipped[0]
		return store.EndpointDegraded, fmt.Sprintf("%d bookings pushed through Webex; %d meetings get no Join button because %s cannot take them, e.g. %q: %s",
			d.pushedCount, lost, d.fw.Name(), s.Subject, s.Reason), "warn"
	}
	detail = fmt.Sprintf("%d bookings pushed through Webex", d.pushedCount)
	if d.lastHash == "" {
		detail = "online in Webex; nothing pushed yet"
	} else if d.pushedCount == 0 {
		detail = "no meetings in the window; bookings cleared"
	}
	if l := d.fw.Limits(); l != "" {
		detail += " (" + l + ")"
	}
	return store.EndpointUp, detail + "; " + d.deviceRef(), "ok"
}

// deviceRef names the resolved device as Control Hub shows it, with its id: the page's and
// `otj-edge endpoints`' line that says which Webex device the endpoint reaches.
func (d *dev) deviceRef() string {
	return fmt.Sprintf("Webex device %q, id %s", d.device.DisplayName, d.device.ID)
}

func asAny(err error, nf **NotFoundError, am **AmbiguousError) bool {
	switch e := err.(type) {
	case *NotFoundError:
		*nf = e
		return true
	case *AmbiguousError:
		*am = e
		return true
	}
	return false
}

// updateSummary writes the summarised state with the extra changes and events.
func (d *dev) updateSummary(ctx context.Context, fn func(*store.EndpointState), evs ...store.Event) {
	state, detail, level := d.summary()
	switch level {
	case "error":
		d.m.opts.Health.Fail(d.comp, detail)
	case "warn":
		d.m.opts.Health.Warn(d.comp, detail)
	default:
		d.m.opts.Health.OK(d.comp, detail)
	}
	d.mu.Lock()
	d.state = state
	d.mu.Unlock()
	if state == d.lastState && detail == d.lastDetail && fn == nil && len(evs) == 0 {
		return
	}
	if state != d.lastState {
		switch state {
		case store.EndpointDown, store.EndpointAuthFailed:
			evs = append(evs, d.event("endpoint."+map[string]string{store.EndpointDown: "down", store.EndpointAuthFailed: "auth_failed"}[state], "error", detail, nil))
		case store.EndpointUp:
			if d.lastState == store.EndpointDown || d.lastState == store.EndpointAuthFailed {
				evs = append(evs, d.event("endpoint.up", "info", "device reachable through Webex again", nil))
			}
		}
	}
	dv, fw := d.device, d.fw
	err := d.m.opts.Store.Write(ctx, func(tx *store.Tx) error {
		e, err := tx.EndpointOr(store.EndpointState{Name: d.ep.Name, Type: "webex", Room: d.ep.Room})
		if err != nil {
			return err
		}
		e.State, e.Detail = state, detail
		if dv.ID != "" {
			e.Product, e.Software = dv.Product, fw.Label()
			patchData(&e, func(x *endpointData) {
				x.DeviceID, x.DisplayName, x.WorkspaceID, x.ConnectionStatus, x.Connection = dv.ID, dv.DisplayName, dv.WorkspaceID, dv.ConnectionStatus, d.ep.Connection
			})
		}
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
			d.log.Error("cannot record endpoint state", "err", err)
		}
		return
	}
	d.lastState, d.lastDetail = state, detail
}

func patchData(e *store.EndpointState, fn func(*endpointData)) {
	var x endpointData
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &x) // a row written by another version: start afresh
	}
	fn(&x)
	if b, err := json.Marshal(x); err == nil {
		e.Data = b
	}
}

func (d *dev) event(kind, level, msg string, data map[string]any) store.Event {
	return store.Event{Kind: kind, Level: level, Room: d.ep.Room, Endpoint: d.ep.Name, Message: msg, Data: data}
}

package webex

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/device/bookings"
)

// Bookings another system pushed to the device (Webex Hybrid Calendar, TMS, a second
// otj-edge): reported, never fought, like device/cisco does on the LAN. Without the LAN's
// "Bookings Updated" events, the device's list is read before each full push (the first after
// start, the safety push, midnight, a device back online, an operator's push): the Put that
// follows replaces the list, so that is when another system's bookings can be seen.

// foreignMemory is how long bookings another system pushed keep the endpoint degraded after
// they were last seen (device/cisco's).
const foreignMemory = 24 * time.Hour

// KindForeign is the event of another system's bookings found on a device (device/cisco's).
const KindForeign = "bookings.foreign"

// listIDs reads the booking ids the device holds from today on (Bookings.List through the
// cloud), as a LAN codec's are read (bookings.ListIDs).
func (d *dev) listIDs(ctx context.Context, t *turn) ([]string, error) {
	var out struct {
		Result struct {
			Booking json.RawMessage `json:"Booking"`
		} `json:"result"`
	}
	args := map[string]any{"DayOffset": 0, "Days": d.m.opts.WindowDays + 1, "Limit": 65534, "Offset": 0}
	err := t.call(ctx, "list the bookings (Bookings.List)", http.MethodPost, "/xapi/command/Bookings.List", nil,
		map[string]any{"deviceId": d.device.ID, "arguments": args}, &out)
	if err != nil {
		return nil, err
	}
	ids, err := bookings.ListIDs(out.Result.Booking)
	if err != nil {
		return nil, fmt.Errorf("list the bookings (Bookings.List): %w", err)
	}
	return ids, nil
}

// lookForForeign reads the device's bookings before a full push of p and notes the ones
// otj-edge did not push: not in p (a meeting about to be pushed is this room's own, pushed
// before a restart), not in the last Put sent, not in what the device last accepted from us.
// A failed List changes nothing (the push goes ahead); it reports whether the list was read.
// It is sent in the push's turn t.
func (d *dev) lookForForeign(ctx context.Context, t *turn, p bookings.Payload) bool {
	ids, err := d.listIDs(ctx, t)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Info("cannot list the device's bookings before the push", "err", err)
		}
		return false
	}
	known := map[string]bool{}
	for _, set := range [][]string{p.IDs(), d.lastAttempt, d.pushedIDs} {
		for _, id := range set {
			known[id] = true
		}
	}
	var foreign []string
	for _, id := range ids {
		if !known[id] {
			foreign = append(foreign, id)
		}
	}
	if len(foreign) == 0 {
		return true
	}
	slices.Sort(foreign)
	now := d.clk().Now()
	if !slices.Equal(foreign, d.foreignIDs) {
		msg := fmt.Sprintf("the device holds %d bookings otj-edge did not push (another system pushes to it: %s); only one system should push bookings to a device",
			len(foreign), listSome(foreign))
		d.log.Warn("foreign bookings on the device", "ids", foreign)
		d.foreignIDs, d.foreignAt = foreign, now
		d.updateSummary(ctx, nil, d.event(KindForeign, "warn", msg, map[string]any{"ids": foreign}))
		return true
	}
	d.foreignAt = now
	return true
}

// foreignDetail is the degraded detail while another system's bookings were seen within
// foreignMemory ("" when not).
func (d *dev) foreignDetail() string {
	if len(d.foreignIDs) == 0 || d.clk().Now().Sub(d.foreignAt) > foreignMemory {
		return ""
	}
	return fmt.Sprintf("another system pushes bookings to this device too: it held %d bookings otj-edge did not push (%s), last seen %s",
		len(d.foreignIDs), listSome(d.foreignIDs), d.foreignAt.Format(time.RFC3339))
}

func listSome(ids []string) string {
	if len(ids) <= 3 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:3], ", ") + fmt.Sprintf(" and %d more", len(ids)-3)
}

package cisco

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// The codec's own list of bookings compared with what otj-edge pushed (verify): bookings
// another system pushed (reported, never fought) and pushed bookings the codec dropped.

// foreignMemory is how long bookings pushed by another system keep the codec degraded after
// they were last seen.
const foreignMemory = 24 * time.Hour

// When verify runs.
type verifyMode int

const (
	beforePush  verifyMode = iota // on connect: only foreign bookings matter
	afterPush                     // ids we pushed but the codec lacks were dropped silently
	afterUpdate                   // the list changed by another hand (Event Bookings Updated)
	onCheck                       // on_demand's liveness check: as afterPush, recorded when it changes
)

// verify lists the codec's bookings: ids we did not push are another system's (reported,
// never fought); ids we pushed that the codec lacks were dropped.
func (c *codec) verify(ctx context.Context, conn *Conn, mode verifyMode) {
	cctx, cancel := c.callCtx(ctx)
	ids, err := listIDs(cctx, conn)
	cancel()
	if err != nil {
		if conn.Err() == nil && ctx.Err() == nil {
			c.log.Warn("cannot list the codec's bookings", "err", err)
		}
		return
	}
	have := map[string]bool{}
	var foreign []string
	for _, id := range ids {
		have[id] = true
		if !c.known.has(id) {
			foreign = append(foreign, id)
		}
	}
	var missing []string
	if mode != beforePush {
		for _, b := range c.booked {
			if !have[b.ID] {
				missing = append(missing, b.ID)
			}
		}
	}
	slices.Sort(foreign)
	slices.Sort(missing)
	var evs []store.Event
	if len(foreign) > 0 {
		c.foreignAt = c.clk().Now()
		c.foreignIDs = foreign
		key := strings.Join(foreign, "\x00")
		if key != c.foreignKey {
			c.foreignKey = key
			msg := fmt.Sprintf("the codec holds %d bookings otj-edge did not push (another system pushes to it: %s); only one system should push bookings to a codec", len(foreign), listSome(foreign))
			evs = append(evs, c.event(KindForeign, "warn", msg, map[string]any{"ids": foreign}))
			c.log.Warn("foreign bookings on the codec", "ids", foreign)
		}
	}
	if len(missing) > 0 && !slices.Equal(missing, c.missing) {
		msg := fmt.Sprintf("the codec kept %d of %d pushed bookings (missing: %s)", len(c.booked)-len(missing), len(c.booked), listSome(missing))
		if mode == afterUpdate {
			msg = fmt.Sprintf("%d pushed bookings were removed from the codec by something else (missing: %s)", len(missing), listSome(missing))
		}
		evs = append(evs, c.event(KindDropped, "warn", msg, map[string]any{"ids": missing}))
	}
	changed := !slices.Equal(missing, c.missing)
	if mode != beforePush {
		c.missing = missing
	}
	if len(evs) > 0 || mode == afterUpdate || (mode == onCheck && changed) {
		c.updateSummary(ctx, func(e *store.EndpointState) { e.LastContact = c.clk().Now() }, evs...)
	}
}

func listSome(ids []string) string {
	if len(ids) <= 3 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:3], ", ") + fmt.Sprintf(" and %d more", len(ids)-3)
}

// idSet is a set of booking ids: sorted, without repeats. A codec keeps one (known) for as
// long as it runs; a slice costs a quarter of what a map of the same ids did (issue 22).
type idSet []string

func (s idSet) has(id string) bool {
	_, ok := slices.BinarySearch(s, id)
	return ok
}

// with is s plus ids (s's backing array may be reused).
func (s idSet) with(ids []string) idSet {
	s = append(s, ids...)
	slices.Sort(s)
	return slices.Clip(slices.Compact(s))
}

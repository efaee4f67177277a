package cisco

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// Feedback from a connected codec turned into telemetry: meetings started, joined and not
// joined. Moved out of codec.go as is.

// onFeedback turns notifications into telemetry. It reports whether the booking list changed
// by someone else's hand (so it should be checked).
func (c *codec) onFeedback(ctx context.Context, fb Feedback) bool {
	switch fb.Root {
	case "Status":
		if b, ok := fb.Body["Bookings"].(map[string]any); ok {
			if cur, ok := b["Current"].(map[string]any); ok {
				c.current = str(cur["Id"])
			}
		}
		return false
	case "Event":
	default:
		return false
	}
	if b, ok := fb.Body["Bookings"].(map[string]any); ok {
		for name, v := range b {
			body, _ := v.(map[string]any)
			id := str(body["Id"])
			switch name {
			case "Updated":
				if c.ownUpdates > 0 {
					c.ownUpdates--
					return false
				}
				return true
			case "Start":
				c.bookingStarted(ctx, id)
			case "End":
				c.bookingEnded(ctx, id)
			}
		}
	}
	if ev, ok := fb.Body["CallSuccessful"].(map[string]any); ok {
		c.callConnected(ctx, ev)
	}
	return false
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// pushedBooking is what the driver remembers of a pushed booking, for telemetry.
type pushedBooking struct {
	ID, Title, Number, Protocol, Platform string
	Start                                 time.Time
	Minutes, StartBuffer, EndBuffer       int32 // minutes; seconds; seconds
	Private                               bool
}

func compact(b Booking) pushedBooking {
	start, _ := time.Parse(time.RFC3339, b.Time.StartTime) // written by BuildPayload: always valid
	return pushedBooking{ID: b.ID, Title: b.Title, Number: b.Number, Protocol: b.Protocol, Platform: b.MeetingPlatform,
		Start: start, Minutes: int32(b.Time.Duration), StartBuffer: int32(b.Time.StartTimeBuffer), EndBuffer: int32(b.Time.EndTimeBuffer),
		Private: b.Privacy == "Private"}
}

func (b pushedBooking) end() time.Time { return b.Start.Add(time.Duration(b.Minutes) * time.Minute) }

// bookingByID finds a pushed booking.
func (c *codec) bookingByID(id string) (pushedBooking, bool) {
	for _, b := range c.booked {
		if b.ID == id {
			return b, true
		}
	}
	return pushedBooking{}, false
}

func (c *codec) bookingStarted(ctx context.Context, id string) {
	b, ours := c.bookingByID(id)
	if !ours {
		return
	}
	lb := c.liveFor(id)
	if lb.started {
		return
	}
	lb.started = true
	c.current = id
	c.emit(ctx, c.event(KindMeetingStarted, "info", fmt.Sprintf("meeting started: %q", b.Title), bookingData(b)))
}

func (c *codec) bookingEnded(ctx context.Context, id string) {
	b, ours := c.bookingByID(id)
	lb := c.live[id]
	delete(c.live, id)
	if c.current == id {
		c.current = ""
	}
	if !ours || b.Protocol == "None" || (lb != nil && lb.joined) {
		return
	}
	c.emit(ctx, c.event(KindNotJoined, "info", fmt.Sprintf("booked but not joined: %q", b.Title), bookingData(b)))
}

// callConnected ties a successful call to a pushed booking: by BookingId when the codec says
// (Dial BookingId), else by the number dialled, else the booking running now.
func (c *codec) callConnected(ctx context.Context, ev map[string]any) {
	now := c.clk().Now()
	id := str(ev["BookingId"])
	if _, ok := c.bookingByID(id); !ok {
		id = ""
		remote := normalizeNumber(str(ev["RemoteURI"]))
		for _, b := range c.booked {
			if remote != "" && normalizeNumber(b.Number) == remote && joinable(b, now) {
				id = b.ID
				break
			}
		}
	}
	if id == "" {
		if b, ok := c.bookingByID(c.current); ok && joinable(b, now) {
			id = c.current
		}
	}
	if id == "" {
		return // an ad-hoc call, not a booked meeting
	}
	lb := c.liveFor(id)
	if lb.joined {
		return
	}
	lb.joined = true
	b, _ := c.bookingByID(id)
	data := bookingData(b)
	data["remote"] = str(ev["RemoteURI"])
	c.emit(ctx, c.event(KindMeetingJoined, "info", fmt.Sprintf("meeting joined from the room: %q", b.Title), data))
}

func (c *codec) liveFor(id string) *liveBooking {
	lb := c.live[id]
	if lb == nil {
		if c.live == nil { // most codecs never see a meeting start: no map until one does
			c.live = map[string]*liveBooking{}
		}
		lb = &liveBooking{}
		c.live[id] = lb
	}
	return lb
}

func joinable(b pushedBooking, now time.Time) bool {
	from := b.Start.Add(-time.Duration(b.StartBuffer) * time.Second)
	until := b.end().Add(time.Duration(b.EndBuffer) * time.Second)
	return !now.Before(from) && now.Before(until)
}

func normalizeNumber(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"sip:", "sips:", "h323:", "spark:"} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func bookingData(b pushedBooking) map[string]any {
	// private: the daily report lists a meeting's title only when it is false.
	return map[string]any{"booking_id": b.ID, "start": b.Start.UTC().Format(time.RFC3339), "protocol": b.Protocol, "platform": b.Platform,
		"private": b.Private}
}

func (c *codec) emit(ctx context.Context, ev store.Event) {
	err := c.m.opts.Store.Write(ctx, func(tx *store.Tx) error { return tx.Emit(ev) })
	if err != nil && ctx.Err() == nil {
		c.log.Error("cannot record event", "kind", ev.Kind, "err", err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Edits made through graphsim's admin API, and how long each takes to reach its codec.

// hotLead is how far ahead the hot sample's meetings start when they are created, just
// before the process starts: they still start within 30 minutes when the edits are made.
const hotLead = 28 * time.Minute

// hotMeeting is a meeting created for the hot sample.
type hotMeeting struct {
	codec *codecPlan
	id    string
}

// createHotMeetings books one video meeting hotLead ahead in each room (the same kind of
// invite people send: an internal organizer, a SIP address in the body).
func createHotMeetings(ctx context.Context, st *site, codecs []*codecPlan, now time.Time) ([]hotMeeting, error) {
	start := now.Add(hotLead).Truncate(time.Minute)
	var out []hotMeeting
	for i, c := range codecs {
		local, domain, _ := strings.Cut(c.room, "@")
		ev := map[string]any{
			"subject": fmt.Sprintf("Bench stand-up %d", i+1),
			"body": map[string]any{"contentType": "html",
				"content": fmt.Sprintf(`<html><body><p>Join the video meeting: <a href="sip:bench.%s.%d@vc.%s">sip:bench.%s.%d@vc.%s</a></p></body></html>`,
					local, i, domain, local, i, domain)},
			"start":     graphTime(start),
			"end":       graphTime(start.Add(30 * time.Minute)),
			"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada Lovelace", "address": "ada.lovelace@" + domain}},
			"location":  map[string]any{"displayName": local},
		}
		var res struct {
			ID string `json:"id"`
		}
		if err := adminCall(ctx, http.MethodPost, roomPath(st, c.room), ev, &res); err != nil {
			return nil, fmt.Errorf("book the hot meeting in %s: %w", c.room, err)
		}
		out = append(out, hotMeeting{codec: c, id: res.ID})
	}
	return out, nil
}

func graphTime(t time.Time) map[string]any {
	return map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
}

// edit is one change and what it takes.
type edit struct {
	hot     bool
	codec   *codecPlan
	eventID string
	patch   map[string]any
	want    bookingKey // compared without the id: a time change changes the booking's id
	at      time.Time  // when the PATCH was answered
	latency time.Duration
	state   int // pending, seen, missed
}

// slowEdit is the latency past which an edit is logged by name: the p95 target for changes
// to meetings later than 30 minutes.
const slowEdit = 120 * time.Second

const (
	pending = iota
	seen
	missed
)

// changes is the change sample in progress.
type changes struct {
	mu      sync.Mutex
	edits   []*edit
	skipped [2]int // hot, cold
	limit   time.Duration
	done    chan error
}

// startChanges plans the edits (hot: the created meetings; cold: a later single-instance
// video meeting in each cold room), makes them evenly spread over span (at least a quarter of
// a second apart, so that they sample every phase of a poller's cycle instead of landing
// together just before or after one) and watches the codecs until each edit shows or limit
// passes.
func startChanges(ctx context.Context, st *site, hot []hotMeeting, cold []*codecPlan, span, limit time.Duration) *changes {
	ch := &changes{done: make(chan error, 1), limit: limit}
	now := time.Now()
	var plan []*edit
	for i, h := range hot {
		m, ok := findMeeting(h.codec, h.id)
		if !ok || !m.Start.After(now.Add(time.Minute)) || m.Start.After(now.Add(30*time.Minute)) {
			ch.skipped[0]++ // not on the calendar as expected, or no longer hot
			continue
		}
		if e := planEdit(h.codec, m, i, true, -2*time.Minute); e != nil {
			plan = append(plan, e)
		} else {
			ch.skipped[0]++
		}
	}
	_, to := cisco.Window(now, time.Local, st.past, st.days)
	for i, c := range cold {
		var e *edit
		for _, m := range c.meetings {
			if c.single[m.EventID] && !m.Private && m.Join && !strings.HasPrefix(m.Subject, "Canceled") &&
				m.Start.After(now.Add(2*time.Hour)) && m.End.Before(to.Add(-3*time.Hour)) {
				if e = planEdit(c, m, i, false, 30*time.Minute); e != nil {
					break
				}
			}
		}
		if e == nil {
			ch.skipped[1]++
			continue
		}
		plan = append(plan, e)
	}
	// Interleave hot and cold so neither kind waits for the other.
	slices.SortStableFunc(plan, func(a, b *edit) int { return strings.Compare(a.codec.name, b.codec.name) })
	gap := 250 * time.Millisecond
	if len(plan) > 1 {
		gap = max(gap, span/time.Duration(len(plan)-1))
	}
	go func() { ch.done <- ch.run(ctx, st, plan, gap, limit) }()
	return ch
}

func findMeeting(c *codecPlan, eventID string) (calendar.Meeting, bool) {
	for _, m := range c.meetings {
		if m.EventID == eventID {
			return m, true
		}
	}
	return calendar.Meeting{}, false
}

// planEdit changes the subject (even i) or moves the meeting by shift (odd i), and works out
// the booking that must appear. Nil when the codec would not show the meeting.
func planEdit(c *codecPlan, m calendar.Meeting, i int, hot bool, shift time.Duration) *edit {
	e := &edit{hot: hot, codec: c, eventID: m.EventID}
	after := m
	if i%2 == 0 {
		after.Subject = m.Subject + " (moved to the big screen)"
		e.patch = map[string]any{"subject": after.Subject}
	} else {
		after.Start, after.End = m.Start.Add(shift), m.End.Add(shift)
		e.patch = map[string]any{"start": graphTime(after.Start), "end": graphTime(after.End)}
	}
	p := cisco.BuildPayload([]calendar.Meeting{after}, c.fw)
	if len(p.Bookings) != 1 {
		return nil
	}
	b := p.Bookings[0]
	e.want = keyOf("", b.Title, b.Time.StartTime, b.Time.Duration)
	return e
}

func (ch *changes) run(ctx context.Context, st *site, plan []*edit, gap, limit time.Duration) error {
	for i, e := range plan {
		if i > 0 && !sleepCtx(ctx, gap) {
			return ctx.Err()
		}
		if err := adminCall(ctx, http.MethodPatch, roomPath(st, e.codec.room)+"/"+e.eventID, e.patch, nil); err != nil {
			return fmt.Errorf("edit %s in %s: %w", e.eventID, e.codec.room, err)
		}
		e.at = time.Now()
		ch.mu.Lock()
		ch.edits = append(ch.edits, e)
		ch.mu.Unlock()
	}
	for {
		open := 0
		for _, e := range plan {
			if e.state != pending {
				continue
			}
			now := time.Now()
			got, err := st.codecBookings(ctx, e.codec.name)
			if err != nil {
				return err
			}
			if !showsEdit(got, e.want) {
				if now.Sub(e.at) > limit {
					e.state = missed
				} else {
					open++
				}
				continue
			}
			e.state = seen
			e.latency = now.Sub(e.at)
			puts, err := st.codecPuts(ctx, e.codec.name)
			if err != nil {
				return err
			}
			for _, p := range puts {
				if p.Accepted && !p.At.Before(e.at) && showsEdit(p.Bookings, e.want) {
					e.latency = p.At.Sub(e.at)
					break
				}
			}
			if e.latency > slowEdit {
				// Named, so the agent's log (BENCH_KEEP) can say why.
				logf("changes: slow edit: %s in %s (codec %s, edited %s) took %.1f s",
					e.eventID, e.codec.room, e.codec.name, e.at.UTC().Format("15:04:05.000"), e.latency.Seconds())
			}
		}
		if open == 0 {
			return nil
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func showsEdit(bookings []ciscosim.Booking, want bookingKey) bool {
	for _, b := range bookings {
		k := keyOf(b.Id, b.Title, b.Time.StartTime, b.Time.Duration)
		if k.title == want.title && k.start.Equal(want.start) && k.minutes == want.minutes {
			return true
		}
	}
	return false
}

// wait returns the statistics of both kinds once every edit is seen or missed.
func (ch *changes) wait() (hot, cold ChangeStats, err error) {
	if err := <-ch.done; err != nil {
		return hot, cold, err
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	hot, cold = stats(ch.edits, true, ch.limit), stats(ch.edits, false, ch.limit)
	hot.Skipped, cold.Skipped = ch.skipped[0], ch.skipped[1]
	return hot, cold, nil
}

// stats: an edit missed counts as the limit, so a percentile that lands on one shows the limit.
func stats(edits []*edit, hot bool, limit time.Duration) ChangeStats {
	var s ChangeStats
	var lat []float64
	for _, e := range edits {
		if e.hot != hot {
			continue
		}
		s.Count++
		switch e.state {
		case seen:
			s.Seen++
			lat = append(lat, e.latency.Seconds())
		case missed:
			s.Missed++
			lat = append(lat, limit.Seconds())
		}
	}
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	pct := func(p float64) *float64 {
		v := lat[max(0, int(math.Ceil(p*float64(len(lat))))-1)]
		return ptr(round2(v))
	}
	s.P50, s.P95, s.Max = pct(0.5), pct(0.95), pct(1)
	return s
}

// adminCall sends a JSON request to an admin API and decodes the answer into out (if not nil).
func adminCall(ctx context.Context, method, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := adminClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

var adminClient = &http.Client{Timeout: 30 * time.Second}

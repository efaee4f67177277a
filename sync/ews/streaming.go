package ews

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// Streaming notifications (impersonation only: Exchange refuses delegates with
// ErrorSubscriptionDelegateAccessNotSupported). Rooms are subscribed in groups of at most 200
// (one GetStreamingEvents connection each), anchored on the group's first mailbox with
// X-PreferServerAffinity and the X-BackEndOverrideCookie the first Subscribe returns (research
// §A3). A notification makes that room read its window after StreamDebounce. While a room's
// stream is open its polls are a safety net for a lost notification, at longer intervals
// (safetyNet); when the stream drops, the group's rooms go back to the usual intervals at
// once and the group is subscribed again (with backoff), reading every room once.

// streamGroup is the most subscriptions one GetStreamingEvents carries.
const streamGroup = 200

// subscribeInFlight is how many Subscribe/Unsubscribe requests may run at once, besides the
// rooms' MaxInFlight reads (10 + 4 stays well under Exchange's default EWSMaxConcurrency of 27).
const subscribeInFlight = 4

// connectionTimeout is GetStreamingEvents' ConnectionTimeout in minutes (1–30).
const connectionTimeout = 30

type streamState struct {
	note     string            // for the health line
	disabled bool              // Exchange refused subscriptions for the account
	subs     map[string]string // subscription id → mailbox
	live     int               // groups with an open stream
	groups   int               // subscription groups
	fallback string            // why the groups are not by GroupingInformation ("": they are)
	rooms    map[string]bool   // rooms subscribed on an open stream
}

func (s *Syncer) streaming() bool { return s.in.Streaming && s.in.Access == AccessImpersonation }

// delegateNote is the health line's note when streaming is asked for a delegate account:
// Exchange refuses delegates' subscriptions (ErrorSubscriptionDelegateAccessNotSupported),
// so none is tried.
const delegateNote = "no streaming notifications for delegate access (Exchange refuses them: ErrorSubscriptionDelegateAccessNotSupported); polling"

// safetyNet is how much longer a room's poll interval is while its stream is open: hot
// rooms poll at the cold interval (4 min), cold ones at 4× it (16 min). Changes come with the
// notification within seconds (the bench's p95 change → codec target is 10 s), so polls only
// catch what a stream may lose; a hot room, whose meeting is about to start, still gets a
// lost change within 4 minutes. At 1,000 rooms this spends about 100,000 requests a day on
// polls instead of 360,000+ (the daily quota defaults to 1,000,000 and Exchange's throttling
// budget is shared with every other EWS client), and a dropped stream brings the usual
// intervals back at once.
func (s *Syncer) safetyNet(r *room, hot bool) (time.Duration, bool) {
	if !s.stream.rooms[r.spec.Mailbox] {
		return 0, false
	}
	if hot {
		return s.coldInterval(), true
	}
	return 4 * s.coldInterval(), true
}

// runStreams keeps each group's stream open until ctx ends.
func (s *Syncer) runStreams(ctx context.Context) {
	s.mu.Lock()
	s.stream.subs = map[string]string{}
	order := append([]string(nil), s.order...)
	s.mu.Unlock()
	s.setSubscribing(true)
	var c *client
	for failures := 1; ; failures++ {
		var f *failure
		if c, f = s.client(ctx); f == nil {
			break
		}
		s.setSubscribing(false)
		ok := clock.Sleep(s.clk, poll.Jitter(s.rng2(), s.tune.Jitter, poll.Backoff(failures)), ctx.Done())
		s.setSubscribing(true)
		if !ok {
			s.setSubscribing(false)
			return
		}
	}
	plan := s.planGroups(ctx, c.url, order)
	if ctx.Err() != nil {
		s.setSubscribing(false)
		return
	}
	s.mu.Lock()
	s.stream.groups, s.stream.fallback = len(plan.groups), plan.fallback
	s.mu.Unlock()
	done := make(chan struct{}, len(plan.groups))
	for range plan.groups {
		s.setSubscribing(true) // each group is busy until it first waits or streams
	}
	s.setSubscribing(false)
	for _, group := range plan.groups {
		go func() {
			defer func() { done <- struct{}{} }()
			s.runGroup(ctx, group)
		}()
	}
	for range plan.groups {
		<-done
	}
}

// runGroup subscribes a group's rooms and reads their stream, again and again.
// The group is counted in s.subscribing by the caller: it is busy (subscribing) until it
// waits on the clock or reads its stream.
func (s *Syncer) runGroup(ctx context.Context, group []string) {
	busy := true
	setBusy := func(b bool) {
		if b != busy {
			busy = b
			s.setSubscribing(b)
		}
	}
	defer setBusy(false)
	failures := 0
	wait := func() bool {
		failures++
		// The timer is set before the group says it is idle: a test driving a fake clock
		// moves it once Quiet, and a timer set after that move would wake that much later.
		t := s.clk.NewTimer(poll.Jitter(s.rng2(), s.tune.Jitter, poll.Backoff(failures)))
		defer t.Stop()
		setBusy(false)
		defer setBusy(true)
		select {
		case <-t.C():
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		c, f := s.client(ctx)
		if f != nil {
			if !wait() {
				return
			}
			continue
		}
		ids, cookie, err := s.subscribeGroup(ctx, c, group)
		if errors.Is(err, errDelegateStreaming) {
			return
		}
		if len(ids) == 0 {
			if !wait() {
				return
			}
			continue
		}
		// Events may have come while there was no subscription: since the loss of the last
		// one, or, the first time, since the rooms' reads. Read every room once: a room
		// mid-step steps again, one that has not stepped yet only reads its view in full on
		// its first step (as it would anyway).
		for _, m := range group {
			s.notify(m)
		}
		// The rooms count as streamed (polls become a safety net, health says "on") once
		// Exchange has accepted the stream, not when the subscriptions are made: a stream it
		// refuses (ErrorSubscriptionNotFound from a server without them) leaves them polling.
		live := false
		opened := func() {
			if !live {
				live = true
				s.setLive(group, ids, true)
			}
		}
		setBusy(false)
		for ctx.Err() == nil {
			closed, err := s.readStream(ctx, c, group[0], cookie, ids, opened)
			if err != nil || !closed {
				if err != nil && ctx.Err() == nil {
					s.log.Info("the notification stream dropped; polling until it is back", "rooms", len(group), "err", err)
				}
				break
			}
			failures = 0 // a stream that ran its full time is healthy
		}
		setBusy(true)
		if live {
			s.setLive(group, ids, false)
		} else {
			s.streamRefused()
		}
		s.unsubscribeAll(context.WithoutCancel(ctx), c, group[0], cookie, ids)
		if ctx.Err() != nil || !wait() {
			return
		}
	}
}

// setLive marks a group's subscribed rooms as streamed (their polls become a safety net) or
// not (their next poll comes within the usual interval, from now).
func (s *Syncer) setLive(group, ids []string, live bool) {
	s.mu.Lock()
	if s.stream.rooms == nil {
		s.stream.rooms = map[string]bool{}
	}
	now := s.clk.Now()
	if live {
		s.stream.live++
		for _, id := range ids {
			s.stream.rooms[s.stream.subs[id]] = true
		}
	} else {
		s.stream.live--
		for _, m := range group {
			if !s.stream.rooms[m] {
				continue
			}
			delete(s.stream.rooms, m)
			if r := s.rooms[m]; r != nil && !r.running && r.hidx >= 0 {
				if next := s.nextPoll(r, now); next.Before(r.due) && !next.Before(r.notBefore) {
					r.due = next
					s.due.Queue(r)
				}
			}
		}
	}
	switch {
	case s.stream.disabled:
	case s.stream.live > 0 && s.stream.fallback != "":
		s.stream.note = fmt.Sprintf("streaming notifications on, %d of %d subscription groups open, grouped by room name (%s)",
			s.stream.live, s.stream.groups, s.stream.fallback)
	case s.stream.live > 0:
		s.stream.note = fmt.Sprintf("streaming notifications on, %d of %d subscription groups open (by mailbox server)", s.stream.live, s.stream.groups)
	default:
		s.stream.note = "notification stream down; polling"
	}
	s.mu.Unlock()
	s.updateHealth()
	s.signal()
}

// setSubscribing counts a goroutine of the streams that is making requests (planning,
// subscribing) or stops counting it; Quiet is false while any is, so a test driving a fake
// clock waits for them before moving time.
func (s *Syncer) setSubscribing(busy bool) {
	if busy {
		s.subscribing.Add(1)
		return
	}
	s.subscribing.Add(-1)
	s.progressed()
}

// streamRefused says so in the health line when no group's stream is open.
func (s *Syncer) streamRefused() {
	s.mu.Lock()
	if !s.stream.disabled && s.stream.live == 0 {
		s.stream.note = "notification stream down; polling"
	}
	s.mu.Unlock()
	s.updateHealth()
}

// rng2 draws under s.mu (the scheduler's rng is not safe for concurrent use).
func (s *Syncer) rng2() *lockedRand { return &lockedRand{s} }

var errDelegateStreaming = errors.New("delegate access cannot subscribe to notifications")

// subscribeGroup subscribes each room of a group; rooms that cannot be subscribed just poll.
func (s *Syncer) subscribeGroup(ctx context.Context, c *client, group []string) ([]string, string, error) {
	var ids []string
	var cookie string
	anchor := group[0]
	for _, m := range group {
		tg := target{mailbox: m, anchor: anchor, cookie: cookie, subscription: true}
		if cookie == "" {
			tg.gotCookie = &cookie
		}
		id, err := c.subscribe(ctx, tg)
		if err != nil {
			var e *ewsError
			if errors.As(err, &e) && e.code == "ErrorSubscriptionDelegateAccessNotSupported" {
				s.mu.Lock()
				s.stream.disabled = true
				s.stream.note = "streaming notifications refused for a delegate account (ErrorSubscriptionDelegateAccessNotSupported); polling"
				s.mu.Unlock()
				s.log.Warn("Exchange refuses notifications to a delegate; the rooms are polled", "code", e.code)
				return nil, "", errDelegateStreaming
			}
			if ctx.Err() == nil {
				s.log.Debug("cannot subscribe a room to notifications; it is polled", "room", m, "err", err)
			}
			continue
		}
		ids = append(ids, id)
		s.mu.Lock()
		s.stream.subs[id] = m
		s.mu.Unlock()
	}
	return ids, cookie, nil
}

func (s *Syncer) unsubscribeAll(ctx context.Context, c *client, anchor, cookie string, ids []string) {
	s.mu.Lock()
	var rooms []string
	for _, id := range ids {
		rooms = append(rooms, s.stream.subs[id])
		delete(s.stream.subs, id)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i, id := range ids {
		_ = c.unsubscribe(ctx, target{mailbox: rooms[i], anchor: anchor, cookie: cookie, subscription: true}, id)
	}
}

// streamMessage is one GetStreamingEventsResponseMessage.
type streamMessage struct {
	responseMessage
	Notifications []struct {
		SubscriptionID string     `xml:"SubscriptionId"`
		Events         []xml.Name `xml:",any"`
	} `xml:"Notifications>Notification"`
	ErrorIDs         []string `xml:"ErrorSubscriptionIds>SubscriptionId"`
	ConnectionStatus string   `xml:"ConnectionStatus"`
}

// readStream holds one GetStreamingEvents open and wakes the rooms it reports on. closed is
// true when Exchange ended the connection normally (ConnectionStatus Closed after
// ConnectionTimeout): open it again with the same subscriptions.
func (s *Syncer) readStream(ctx context.Context, c *client, anchor, cookie string, ids []string, opened func()) (closed bool, err error) {
	var b strings.Builder
	b.WriteString(`<m:GetStreamingEvents><m:SubscriptionIds>`)
	for _, id := range ids {
		b.WriteString(`<t:SubscriptionId>` + esc(id) + `</t:SubscriptionId>`)
	}
	fmt.Fprintf(&b, `</m:SubscriptionIds><m:ConnectionTimeout>%d</m:ConnectionTimeout></m:GetStreamingEvents>`, connectionTimeout)
	resp, err := c.send(ctx, "GetStreamingEvents", target{mailbox: anchor, anchor: anchor, cookie: cookie}, b.String())
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return false, fmt.Errorf("GetStreamingEvents: HTTP %d: %s", resp.StatusCode, oneLine(string(raw)))
	}
	dec := xml.NewDecoder(resp.Body)
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, errors.New("the stream ended without ConnectionStatus Closed")
			}
			return false, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "Fault":
			return false, errors.New("GetStreamingEvents failed with a SOAP fault")
		case "GetStreamingEventsResponseMessage":
		default:
			continue
		}
		var m streamMessage
		if err := dec.DecodeElement(&m, &se); err != nil {
			return false, err
		}
		if m.failed() {
			// ErrorSubscriptionNotFound, ErrorExpiredSubscription, ErrorMissedNotificationEvents…:
			// subscribe again (and read the rooms, in case events were lost).
			return false, m.err("GetStreamingEvents")
		}
		opened()
		for _, n := range m.Notifications {
			for _, ev := range n.Events {
				if ev.Local != "StatusEvent" && ev.Local != "SubscriptionId" && ev.Local != "PreviousWatermark" && ev.Local != "MoreEvents" {
					s.notifyID(n.SubscriptionID)
					break
				}
			}
		}
		if strings.TrimSpace(m.ConnectionStatus) == "Closed" {
			return true, nil
		}
	}
}

func (s *Syncer) notifyID(id string) {
	s.mu.Lock()
	m := s.stream.subs[id]
	s.mu.Unlock()
	if m != "" {
		s.notify(m)
	}
}

// notify makes a room read its window after the debounce (never before a back-off).
func (s *Syncer) notify(mailbox string) {
	s.mu.Lock()
	r, ok := s.rooms[mailbox]
	if !ok {
		s.mu.Unlock()
		return
	}
	r.dirty = true
	at := s.clk.Now().Add(s.tune.StreamDebounce)
	if r.notBefore.After(at) {
		at = r.notBefore
	}
	if !r.running && at.Before(r.due) {
		r.due = at
		s.due.Queue(r)
	} else if r.running {
		// The step running now may have listed the view before the change: go again.
		r.woken = true
	}
	s.mu.Unlock()
	s.signal()
	s.progressed()
}

// lockedRand draws from the scheduler's rng under s.mu.
type lockedRand struct{ s *Syncer }

func (l *lockedRand) Float64() float64 {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.s.rng.Float64()
}

package graph

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Change notifications (notifications_url, README "Calendar sync (Microsoft Graph)"): one
// subscription per room to users/{room}/events, created, renewed before it expires and
// re-created when Graph says it is gone. A notification syncs its room at once (an incremental
// round); polling goes on at the low safety-net intervals below for rooms whose subscription is
// live, and at the usual ones for the others. Subscription calls count against the budget like
// any request. The HTTP side (validation handshake, clientState, lifecycle events) is
// notify_http.go.

// NotifyTuning adjusts change notifications; zero values take the defaults.
type NotifyTuning struct {
	// HotInterval and ColdInterval are the safety-net poll intervals of a room with a live
	// subscription (defaults 60 s and 30 min; never shorter than the plain ones). A lost
	// notification is thus found within a minute while a meeting is about to start, and within
	// half an hour otherwise, long before the meeting's room turns hot.
	HotInterval  time.Duration
	ColdInterval time.Duration
	// Lifetime is the expiry asked for (default 4,200 min: within Graph's limit for events in
	// every documented version, 4,230 and 10,080 min); RenewBefore how long before expiry the
	// subscription is renewed (default 24 h, a day of retries before it lapses).
	Lifetime    time.Duration
	RenewBefore time.Duration
}

func (t *NotifyTuning) defaults() {
	if t.HotInterval <= 0 {
		t.HotInterval = time.Minute
	}
	if t.ColdInterval <= 0 {
		t.ColdInterval = 30 * time.Minute
	}
	if t.Lifetime <= 0 {
		t.Lifetime = 4200 * time.Minute
	}
	if t.RenewBefore <= 0 || t.RenewBefore >= t.Lifetime {
		t.RenewBefore = min(24*time.Hour, t.Lifetime/2)
	}
}

// NotifyStats are the change-notification figures of an integration (status page, MQTT
// metrics, tests); Stats carries them too.
type NotifyStats = source.NotifyStats

// notifier is the subscriptions of one integration (fields under Syncer.mu).
type notifier struct {
	url   string
	tune  NotifyTuning
	subs  map[string]*subState // by mailbox
	byID  map[string]*subState
	kick  chan struct{}
	busy  bool
	stats NotifyStats
}

// subState is a room's subscription, or the wait before the next attempt to create one.
type subState struct {
	mailbox     string
	id          string // "" = none
	clientState string
	url         string // notificationUrl it was created with
	expires     time.Time
	due         time.Time // next create or renew
	failures    int
	recreate    bool // the room's previous subscription was lost: sync it once the new one is live
}

// storedSub is a subscription as the store keeps it (kv), so a restart renews it instead of
// creating another (Graph allows 1,000 per mailbox across all apps).
type storedSub struct {
	ID          string    `json:"id"`
	ClientState string    `json:"client_state"`
	URL         string    `json:"url"`
	Expires     time.Time `json:"expires"`
}

func subKey(integration, mailbox string) string {
	return "graph.subscription." + integration + "." + mailbox
}

func newNotifier(url string, tune NotifyTuning, rooms []string) *notifier {
	tune.defaults()
	n := &notifier{url: url, tune: tune, subs: map[string]*subState{}, byID: map[string]*subState{}, kick: make(chan struct{}, 1)}
	for _, m := range rooms {
		n.subs[m] = &subState{mailbox: m}
	}
	return n
}

// subscribed reports whether the room has a live subscription (under s.mu).
func (s *Syncer) subscribed(r *room, now time.Time) bool {
	if s.nt == nil {
		return false
	}
	st := s.nt.subs[r.spec.Mailbox]
	return st != nil && st.id != "" && st.expires.After(now)
}

// pollIntervals are the room's hot and cold poll intervals: the safety net's while its
// subscription or the change probe is live (under s.mu).
func (s *Syncer) pollIntervals(r *room, now time.Time) (hot, cold time.Duration) {
	hot, cold = s.hotInterval(), s.coldInterval()
	if s.subscribed(r, now) {
		hot = max(hot, time.Duration(float64(s.nt.tune.HotInterval)*s.budget.stretch))
		cold = max(cold, time.Duration(float64(s.nt.tune.ColdInterval)*s.budget.stretch))
	} else if s.probeLive(r, now) { // the change probe watches it (probe.go)
		hot = max(hot, time.Duration(float64(s.pr.tune.PollHot)*s.budget.stretch))
		cold = max(cold, time.Duration(float64(s.pr.tune.PollCold)*s.budget.stretch))
	}
	return hot, cold
}

// NotifyStats reports the change notifications (zero without notifications_url).
func (s *Syncer) NotifyStats() NotifyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nt == nil {
		return NotifyStats{}
	}
	return s.notifyStats(s.clk.Now())
}

// notifyStats are the figures with the live subscriptions counted (under s.mu, s.nt set).
func (s *Syncer) notifyStats(now time.Time) NotifyStats {
	st := s.nt.stats
	st.Rooms = len(s.list)
	for _, r := range s.list {
		if s.subscribed(r, now) {
			st.Live++
		}
	}
	return st
}

// notifyBusy reports whether subscription work is running or due (under s.mu; Quiet).
func (s *Syncer) notifyBusy(now time.Time) bool {
	if s.nt == nil {
		return false
	}
	if s.nt.busy {
		return true
	}
	for _, st := range s.nt.subs {
		if !st.due.After(now) {
			return true
		}
	}
	return false
}

func (s *Syncer) kickNotify() {
	select {
	case s.nt.kick <- struct{}{}:
	default:
	}
}

// notifyLoop keeps every room's subscription live until ctx ends (Run). Calls go one at a
// time: at a thousand rooms the first creation takes minutes, while polling covers the rooms.
func (s *Syncer) notifyLoop(ctx context.Context) {
	s.loadSubscriptions(ctx)
	t := s.clk.NewTimer(time.Hour)
	defer t.Stop()
	for ctx.Err() == nil {
		now := s.clk.Now()
		s.mu.Lock()
		var todo []*subState
		next := now.Add(time.Hour)
		for _, m := range s.order {
			st := s.nt.subs[m]
			if !st.due.After(now) {
				todo = append(todo, st)
			} else if st.due.Before(next) {
				next = st.due
			}
		}
		s.nt.busy = len(todo) > 0
		s.mu.Unlock()
		for _, st := range todo {
			if ctx.Err() != nil {
				return
			}
			s.subscribeStep(ctx, st)
		}
		if len(todo) > 0 {
			s.mu.Lock()
			s.nt.busy = false
			s.mu.Unlock()
			s.signalProgress()
			continue
		}
		s.arm(t, next)
		select {
		case <-ctx.Done():
		case <-t.C():
		case <-s.nt.kick:
		}
	}
}

func (s *Syncer) signalProgress() {
	select {
	case s.progress <- struct{}{}:
	default:
	}
}

// loadSubscriptions takes over the subscriptions an earlier run created: those for the
// configured URL are kept (and renewed when due), the others deleted.
func (s *Syncer) loadSubscriptions(ctx context.Context) {
	now := s.clk.Now()
	for _, m := range s.order {
		v, ok, err := s.st.Get(ctx, subKey(s.name, m))
		if err != nil || !ok || v == "" {
			continue
		}
		var ss storedSub
		if json.Unmarshal([]byte(v), &ss) != nil || ss.ID == "" {
			continue
		}
		if ss.URL != s.nt.url {
			if ss.Expires.After(now) {
				s.deleteSubscription(ctx, m, ss.ID)
			}
			continue
		}
		if !ss.Expires.After(now) {
			continue
		}
		s.mu.Lock()
		st := s.nt.subs[m]
		st.id, st.clientState, st.url, st.expires = ss.ID, ss.ClientState, ss.URL, ss.Expires
		st.due = ss.Expires.Add(-s.nt.tune.RenewBefore)
		s.nt.byID[ss.ID] = st
		s.mu.Unlock()
	}
}

// dropSubscriptions deletes what an earlier run subscribed when notifications_url is no
// longer set, so Graph stops calling a URL nobody answers (Run, without a notifier).
func (s *Syncer) dropSubscriptions(ctx context.Context) {
	now := s.clk.Now()
	for _, m := range s.order {
		v, ok, err := s.st.Get(ctx, subKey(s.name, m))
		if err != nil || !ok || v == "" {
			continue
		}
		var ss storedSub
		if json.Unmarshal([]byte(v), &ss) == nil && ss.ID != "" && ss.Expires.After(now) {
			s.deleteSubscription(ctx, m, ss.ID)
		}
	}
}

// deleteSubscription deletes a subscription at Graph and forgets it; one that is already gone
// is forgotten too.
func (s *Syncer) deleteSubscription(ctx context.Context, mailbox, id string) {
	res := s.subCall(ctx, abstractions.DELETE, id, nil)
	if res.ok() || res.status == http.StatusNotFound {
		s.saveSub(ctx, mailbox, nil)
		if res.ok() && s.nt != nil {
			s.mu.Lock()
			s.nt.stats.Deletes++
			s.mu.Unlock()
		}
		return
	}
	s.log.Warn("cannot delete a change-notification subscription; it lapses by itself within days", "room", mailbox, "err", describe(res))
}

// subCall sends a subscription request within the budget and counts it. A token Graph
// rejects is replaced once (as a room's step does, failed.go) and the request sent again.
func (s *Syncer) subCall(ctx context.Context, method abstractions.HttpMethod, id string, body []byte) result {
	res := s.subCallOnce(ctx, method, id, body)
	if f := classify(res, "", s.in.ClientID); f.badToken {
		s.mu.Lock()
		refresh := f.gen >= s.api.generation() && f.gen > s.refreshedFrom
		if refresh {
			s.lastRefresh, s.refreshedFrom = s.clk.Now(), f.gen
		}
		s.mu.Unlock()
		if refresh {
			if err := s.api.refresh(); err != nil {
				s.log.Error("cannot rebuild the Graph client", "err", err)
			}
		}
		res = s.subCallOnce(ctx, method, id, body)
	}
	return res
}

func (s *Syncer) subCallOnce(ctx context.Context, method abstractions.HttpMethod, id string, body []byte) result {
	if err := s.admit(1); err != nil {
		return result{err: err, retryAfter: -1}
	}
	res := s.api.subscriptionRequest(ctx, method, id, body)
	if !res.sent {
		// Not sent after all (no token): give the request back to the budget's count.
		s.mu.Lock()
		s.budget.used--
		s.mu.Unlock()
	} else {
		s.mu.Lock()
		s.unsaved[counterKey(s.name, s.clk.Now())]++
		s.mu.Unlock()
	}
	s.tokenOutcome(res)
	return res
}

// subscribeStep creates or renews one room's subscription.
func (s *Syncer) subscribeStep(ctx context.Context, st *subState) {
	s.mu.Lock()
	id, mailbox := st.id, st.mailbox
	s.mu.Unlock()
	now := s.clk.Now()
	exp := now.Add(s.nt.tune.Lifetime).UTC().Truncate(time.Second)
	if id != "" {
		body, _ := json.Marshal(map[string]string{"expirationDateTime": exp.Format(time.RFC3339)})
		res := s.subCall(ctx, abstractions.PATCH, id, body)
		switch {
		case res.ok():
			s.mu.Lock()
			st.expires, st.due, st.failures = exp, exp.Add(-s.nt.tune.RenewBefore), 0
			s.nt.stats.Renewals++
			ss := storedSub{ID: st.id, ClientState: st.clientState, URL: st.url, Expires: exp}
			s.mu.Unlock()
			s.saveSub(ctx, mailbox, &ss)
		case res.err == nil && res.status == http.StatusNotFound:
			s.log.Info("the room's change-notification subscription is gone; subscribing again", "room", mailbox)
			s.lostSubscription(st)
		default:
			s.subFailed(st, res, "renew")
		}
		return
	}
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	clientState := base64.RawURLEncoding.EncodeToString(buf)
	body, _ := json.Marshal(map[string]string{
		"changeType": "created,updated,deleted", "notificationUrl": s.nt.url, "lifecycleNotificationUrl": s.nt.url,
		"resource": "users/" + mailbox + "/events", "expirationDateTime": exp.Format(time.RFC3339), "clientState": clientState,
	})
	res := s.subCall(ctx, abstractions.POST, "", body)
	var out struct {
		ID                 string    `json:"id"`
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	if res.ok() && (json.Unmarshal(res.body, &out) != nil || out.ID == "") {
		res = result{err: errors.New("Graph answered the subscription without an id"), retryAfter: -1, sent: true}
	}
	if !res.ok() {
		s.subFailed(st, res, "create")
		return
	}
	if out.ExpirationDateTime.IsZero() {
		out.ExpirationDateTime = exp
	}
	s.mu.Lock()
	st.id, st.clientState, st.url, st.expires, st.failures = out.ID, clientState, s.nt.url, out.ExpirationDateTime, 0
	st.due = st.expires.Add(-s.nt.tune.RenewBefore)
	s.nt.byID[out.ID] = st
	s.nt.stats.Creates++
	// Changes between the room's last read (or the loss of its old subscription) and now
	// were never notified, and the room polls at the slow safety net from now on: one poll
	// reads them. A room whose first step has not begun reads after this.
	resync := st.recreate
	if r := s.rooms[mailbox]; r != nil && r.stepped {
		resync = true
	}
	st.recreate = false
	ss := storedSub{ID: st.id, ClientState: clientState, URL: st.url, Expires: st.expires}
	s.mu.Unlock()
	s.saveSub(ctx, mailbox, &ss)
	if resync {
		_ = s.SyncNow(mailbox, false)
	}
}

// lostSubscription forgets a room's subscription and subscribes again at once; until then the
// room polls at the usual intervals.
func (s *Syncer) lostSubscription(st *subState) {
	s.mu.Lock()
	now := s.clk.Now()
	delete(s.nt.byID, st.id)
	st.id, st.clientState, st.expires, st.due, st.recreate = "", "", time.Time{}, now, true
	if r := s.rooms[st.mailbox]; r != nil && r.hidx >= 0 {
		_, cold := s.pollIntervals(r, now)
		if due := now.Add(cold); due.Before(r.due) {
			r.due = due
			s.queue(r)
		}
	}
	s.mu.Unlock()
	s.kickNotify()
	s.signal()
}

// subFailed schedules the next attempt after a failed subscription call: 1 min doubling to
// 1 h (a budget spent: tomorrow), and never past a live subscription's expiry.
func (s *Syncer) subFailed(st *subState, res result, op string) {
	now := s.clk.Now()
	msg := describe(res)
	s.mu.Lock()
	st.failures++
	wait := min(time.Minute<<min(st.failures-1, 6), time.Hour)
	if errors.Is(res.err, errBudget) {
		wait = dayStart(now).AddDate(0, 0, 1).Sub(now)
	}
	st.due = now.Add(s.jitter(wait))
	if st.id != "" && st.expires.After(now) && st.due.After(st.expires) {
		st.due = st.expires.Add(-time.Minute)
	}
	s.nt.stats.Failures++
	s.nt.stats.LastError = op + " subscription for " + st.mailbox + ": " + msg
	first := st.failures == 1
	s.mu.Unlock()
	if first {
		s.log.Warn("cannot "+op+" the room's change-notification subscription; polling covers the room meanwhile",
			"room", st.mailbox, "err", msg)
	}
}

// describe is a failed result in one line: Graph's code and message, or the error.
func describe(res result) string {
	if res.err != nil {
		return oneLine(res.err.Error())
	}
	msg := http.StatusText(res.status)
	if res.code != "" {
		msg = res.code + ": " + res.message
	}
	if res.code == "ValidationError" {
		msg += " (Graph could not reach notifications_url through the reverse proxy, or the listener did not answer)"
	}
	return oneLine(msg)
}

// saveSub stores (nil: forgets) a room's subscription.
func (s *Syncer) saveSub(ctx context.Context, mailbox string, ss *storedSub) {
	v := ""
	if ss != nil {
		b, _ := json.Marshal(ss)
		v = string(b)
	}
	if err := s.write(ctx, func(tx *store.Tx) error { return tx.Set(subKey(s.name, mailbox), v) }); err != nil && ctx.Err() == nil {
		s.log.Warn("cannot save the room's change-notification subscription", "room", mailbox, "err", err)
	}
}

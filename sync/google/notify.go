package google

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"time"

	gcal "google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
)

// Push notifications (README "Calendar sync (Google Workspace)" › Push): with
// notifications_url set, every room gets an events.watch channel to that URL (the site's
// reverse proxy, which forwards to the agent's listener, agent/google_notify.go). Google then
// POSTs an empty message with X-Goog-* headers whenever the room's events change; the message
// names the channel and carries the channel's secret token, and the room syncs at once (its
// syncToken increment: the message itself says nothing about what changed). The poll stays as
// a safety net at a lower rate (SafetyHot / SafetyCold) for rooms with a live channel, since
// Google warns that messages can be lost. A channel is created after the room's first good
// sync, re-created ChannelRenew before it expires (Google's channels do not renew: a new one
// is made, then the old stopped), and stopped with channels.stop when the source stops (a
// room removed from the config, a config change, shutdown): a restart creates new ones, so no
// channel outlives the source that would have to recognise its token.

// channel is a room's live push channel.
type channel struct {
	id, resourceID, token string
	expires               time.Time
}

// watchRetry is how long a room waits after a failed events.watch before trying again (it
// polls at its usual intervals meanwhile).
const watchRetry = 10 * time.Minute

// NotifyStats count push messages (tests, status).
type NotifyStats struct {
	Channels int   // live channels
	Received int64 // messages naming one of our channels with its token
	Ignored  int64 // unknown channel or wrong token
	Failures int64 // events.watch / channels.stop calls that failed
}

type notifyCounters struct{ received, ignored, failures atomic.Int64 }

// pushing reports whether the integration uses push channels.
func (s *Syncer) pushing() bool { return s.in.NotificationsURL != "" }

// live reports whether a room has a channel that has not expired (under s.mu).
func (r *room) live(now time.Time) bool { return r.ch != nil && now.Before(r.ch.expires) }

// ensureChannel creates the room's channel when it has none or it expires within ChannelRenew
// (after a good sync, so the channel's first "sync" message finds the room readable).
func (s *Syncer) ensureChannel(ctx context.Context, r *room) {
	if !s.pushing() {
		return
	}
	now := s.clk.Now()
	s.mu.Lock()
	old := r.ch
	due := (old == nil || !now.Before(old.expires.Add(-s.tune.ChannelRenew))) && !now.Before(r.watchRetry)
	s.mu.Unlock()
	if !due {
		return
	}
	ch := &channel{id: randomHex(16), token: randomToken()}
	exp := now.Add(s.tune.ChannelTTL)
	s.mu.Lock()
	if s.opening == nil {
		s.opening = map[string]openingChannel{}
	}
	s.opening[ch.id] = openingChannel{room: r, token: ch.token}
	s.mu.Unlock()
	res, err := s.cli.watch(ctx, r.spec.Mailbox, &gcal.Channel{Id: ch.id, Type: "web_hook", Address: s.in.NotificationsURL,
		Token: ch.token, Expiration: exp.UnixMilli()})
	s.mu.Lock()
	delete(s.opening, ch.id)
	s.mu.Unlock()
	if err != nil {
		s.nstats.failures.Add(1)
		s.mu.Lock()
		r.watchRetry = now.Add(watchRetry)
		s.mu.Unlock()
		s.log.Warn("cannot open a push channel for the room; polling it meanwhile", "room", r.spec.Mailbox, "err", err)
		return
	}
	ch.resourceID = res.ResourceId
	ch.expires = exp
	if res.Expiration > 0 {
		ch.expires = time.UnixMilli(res.Expiration) // Google may shorten it
	}
	s.mu.Lock()
	r.ch = ch
	s.channels[ch.id] = r
	if old != nil {
		delete(s.channels, old.id)
	}
	r.due = s.nextPoll(r, s.clk.Now())
	s.mu.Unlock()
	if old != nil {
		s.stopChannel(ctx, r.spec.Mailbox, old)
	}
}

// stopChannel asks Google to stop a channel (a failure only costs Google's messages until it
// expires: they are ignored).
func (s *Syncer) stopChannel(ctx context.Context, calendarID string, ch *channel) {
	if err := s.cli.stop(ctx, calendarID, ch.id, ch.resourceID); err != nil {
		s.nstats.failures.Add(1)
		s.log.Info("cannot stop a push channel; it lapses on its own", "room", calendarID, "channel", ch.id, "err", err)
	}
}

// stopChannels stops every room's channel (the source is stopping).
func (s *Syncer) stopChannels(ctx context.Context) {
	s.mu.Lock()
	var stops []*room
	for _, r := range s.rooms {
		if r.ch != nil {
			stops = append(stops, r)
		}
	}
	s.mu.Unlock()
	for _, r := range stops {
		s.stopChannel(ctx, r.spec.Mailbox, r.ch)
		s.mu.Lock()
		delete(s.channels, r.ch.id)
		r.ch = nil
		s.mu.Unlock()
	}
}

// HandleNotification takes one push message (the agent's listener hands it over). It must
// name a channel of ours and carry that channel's token (compared in constant time, never
// logged); then its room syncs at once. Google retries on non-2xx answers, so everything
// recognised or not gets 200 except a message with no channel id at all.
func (s *Syncer) HandleNotification(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get("X-Goog-Channel-ID")
	if req.Method != http.MethodPost || id == "" {
		http.Error(w, "not a Google push notification", http.StatusBadRequest)
		return
	}
	token := req.Header.Get("X-Goog-Channel-Token")
	state := req.Header.Get("X-Goog-Resource-State")
	s.mu.Lock()
	r, want := s.channels[id], ""
	if r != nil && r.ch != nil {
		want = r.ch.token
	} else if o, opening := s.opening[id]; opening {
		r, want = o.room, o.token
	}
	ok := r != nil && want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	if !ok {
		if n := s.nstats.ignored.Add(1); n == 1 || n%100 == 0 {
			s.log.Warn("ignoring push messages that name no channel of ours or carry a wrong token", "count", n)
		}
		return
	}
	s.nstats.received.Add(1)
	if state == "sync" { // the channel opened; nothing changed
		return
	}
	_ = s.SyncNow(r.spec.Mailbox, false)
}

// openingChannel is a channel whose events.watch has not answered yet: its messages are
// taken on its token.
type openingChannel struct {
	room  *room
	token string
}

// NotifyStats reports the push counters.
func (s *Syncer) NotifyStats() NotifyStats {
	s.mu.Lock()
	n := len(s.channels)
	s.mu.Unlock()
	return NotifyStats{Channels: n, Received: s.nstats.received.Load(), Ignored: s.nstats.ignored.Load(), Failures: s.nstats.failures.Load()}
}

// watch opens a channel on a room's events.
func (c *client) watch(ctx context.Context, calendarID string, ch *gcal.Channel) (*gcal.Channel, error) {
	var res *gcal.Channel
	err := c.call(ctx, func() error {
		var err error
		res, err = c.svc.Events.Watch(calendarID, ch).Context(ctx).Do(googleapi.QuotaUser(QuotaUser(calendarID)))
		return err
	})
	if err != nil {
		return nil, wrapOp("events.watch", calendarID, err)
	}
	return res, nil
}

// stop ends a channel.
func (c *client) stop(ctx context.Context, calendarID, id, resourceID string) error {
	err := c.call(ctx, func() error {
		return c.svc.Channels.Stop(&gcal.Channel{Id: id, ResourceId: resourceID}).Context(ctx).Do(googleapi.QuotaUser(QuotaUser(calendarID)))
	})
	return wrapOp("channels.stop", calendarID, err)
}

func wrapOp(op, calendarID string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op + " " + calendarID, err: err}
}

type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

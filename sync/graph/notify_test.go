package graph

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// notifyProxy is the site's reverse proxy: HTTPS with a certificate graphsim trusts (its CA),
// forwarding to the syncer's handler once it is running.
type notifyProxy struct {
	url   string
	s     atomic.Pointer[Syncer]
	ready chan struct{}
}

func (h *harness) notifyProxy(handler http.HandlerFunc) *notifyProxy {
	h.t.Helper()
	p := &notifyProxy{ready: make(chan struct{})}
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-p.ready:
				p.s.Load().HandleNotification(w, r)
			case <-r.Context().Done():
			}
		}
	}
	srv := httptest.NewUnstartedServer(handler)
	cert, err := h.sim.CA().Issue("127.0.0.1")
	require.NoError(h.t, err)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	h.t.Cleanup(srv.Close)
	p.url = srv.URL + "/graph/notify"
	return p
}

// startNotified runs a syncer with notifications through a proxy and waits until its first
// rounds and subscriptions are done.
func (h *harness) startNotified(tune Tuning) (*Syncer, *notifyProxy) {
	h.t.Helper()
	p := h.notifyProxy(nil)
	h.in.NotificationURL = p.url
	s, _ := h.start(tune)
	p.s.Store(s)
	close(p.ready)
	h.waitFor("the first sync", h.synced(roomsOf(h.rooms)...))
	h.settle(s)
	return s, p
}

func roomsOf(specs []RoomSpec) []string {
	var out []string
	for _, r := range specs {
		out = append(out, r.Mailbox)
	}
	return out
}

const notifyRoom = "room-1@contoso.example"

func newNotifyHarness(t *testing.T) *harness {
	h := newHarness(t, graphsim.Options{}, notifyRoom)
	h.addRoom(notifyRoom, graphsim.Recommended())
	h.post(notifyRoom, invite("Tomorrow", t0.Add(26*time.Hour), time.Hour))
	return h
}

// TestNotificationSyncsTheRoomAtOnce: each room gets a subscription to its events (all three
// change types, lifecycle URL, expiry within Graph's limit); a change in Exchange reaches the
// store through the notification alone, with no time passing on the injected clock (well
// within a second of the change), by one incremental delta request.
func TestNotificationSyncsTheRoomAtOnce(t *testing.T) {
	h := newNotifyHarness(t)
	s, p := h.startNotified(Tuning{})

	subs := h.sim.Subscriptions()
	require.Len(t, subs, 1)
	assert.Equal(t, "users/"+notifyRoom+"/events", subs[0].Resource)
	assert.Equal(t, "created,updated,deleted", subs[0].ChangeType)
	assert.Equal(t, p.url, subs[0].NotificationURL)
	assert.Equal(t, p.url, subs[0].LifecycleNotificationURL)
	assert.Equal(t, t0.Add(4200*time.Minute), subs[0].ExpirationDateTime.UTC())
	assert.Equal(t, 1, s.NotifyStats().Live)

	changedAt := h.clk.Now()
	polls := h.stats(notifyRoom).DeltaPolls
	id := h.post(notifyRoom, invite("Just booked", t0.Add(3*time.Hour), time.Hour))
	h.waitFor("the new meeting in the store", func() bool { _, ok := h.events(notifyRoom)[id]; return ok })
	assert.Less(t, h.clk.Now().Sub(changedAt), time.Second, "synced within a second of the change")
	assert.Equal(t, polls+1, h.stats(notifyRoom).DeltaPolls, "one incremental request")
	assert.Zero(t, h.stats(notifyRoom).FullSyncs-1, "no full round")
	assert.EqualValues(t, 1, s.NotifyStats().Received)

	// Deletions come the same way.
	require.NoError(t, h.sim.DeleteEvent(notifyRoom, id))
	h.waitFor("the meeting gone from the store", func() bool { _, ok := h.events(notifyRoom)[id]; return !ok })
	assert.Less(t, h.clk.Now().Sub(changedAt), time.Second)
}

// TestLostNotificationIsCaughtBySafetyNetPoll: a notification Graph never delivers is made up
// for by the low-rate poll of a subscribed room (30 min), which polls far less than an
// unsubscribed one (4 min).
func TestLostNotificationIsCaughtBySafetyNetPoll(t *testing.T) {
	h := newNotifyHarness(t)
	s, _ := h.startNotified(Tuning{})
	_, err := h.sim.AddNotifyFault(graphsim.NotifyFault{Kind: graphsim.NotifyLost, Count: 1})
	require.NoError(t, err)
	id := h.post(notifyRoom, invite("Lost in transit", t0.Add(27*time.Hour), time.Hour))
	require.Equal(t, 1, h.sim.NotifyStats().Lost)
	h.settle(s)
	_, ok := h.events(notifyRoom)[id]
	require.False(t, ok, "nothing told the syncer yet")

	polls := h.stats(notifyRoom).DeltaPolls
	h.advance(s, 32*time.Minute, time.Minute)
	_, ok = h.events(notifyRoom)[id]
	assert.True(t, ok, "the safety-net poll found the meeting")
	h.advance(s, 2*time.Hour, 5*time.Minute)
	assert.LessOrEqual(t, h.stats(notifyRoom).DeltaPolls-polls, 6, "a subscribed cold room polls about every 30 min, not every 4")
}

// TestSubscriptionsAreRenewedBeforeExpiry: the subscription is renewed (PATCH) a day before it
// would expire, keeps its id, and still delivers after its first expiry time; a subscription
// Graph no longer knows is created again.
func TestSubscriptionsAreRenewedBeforeExpiry(t *testing.T) {
	h := newNotifyHarness(t)
	s, _ := h.startNotified(Tuning{})
	first := h.sim.Subscriptions()[0]
	h.advance(s, first.ExpirationDateTime.Sub(h.clk.Now())-23*time.Hour, time.Hour)
	require.Equal(t, 1, h.sim.NotifyStats().Renewals, "renewed before the last day")
	now := h.sim.Subscriptions()
	require.Len(t, now, 1)
	assert.Equal(t, first.ID, now[0].ID)
	assert.True(t, now[0].ExpirationDateTime.After(first.ExpirationDateTime))

	h.advance(s, 24*time.Hour, time.Hour) // past the first expiry
	require.Len(t, h.sim.Subscriptions(), 1)
	id := h.post(notifyRoom, invite("After renewal", h.clk.Now().Add(26*time.Hour), time.Hour))
	h.waitFor("the notified meeting", func() bool { _, ok := h.events(notifyRoom)[id]; return ok })

	// Deleted behind our back with no lifecycle notice: the next renewal's 404 re-creates it,
	// and the room syncs (its changes since were never notified).
	renewed := h.sim.Subscriptions()[0]
	require.NoError(t, h.sim.DeleteSubscription(renewed.ID))
	polls := h.stats(notifyRoom).DeltaPolls
	h.advance(s, renewed.ExpirationDateTime.Sub(h.clk.Now())-23*time.Hour, time.Hour)
	subs := h.sim.Subscriptions()
	require.Len(t, subs, 1)
	assert.NotEqual(t, renewed.ID, subs[0].ID, "a new subscription")
	assert.Equal(t, 2, h.sim.NotifyStats().Creates)
	assert.Equal(t, 1, s.NotifyStats().Live)
	assert.Greater(t, h.stats(notifyRoom).DeltaPolls, polls)
}

// TestClientStateMismatchIsIgnored: a POST that names our subscription with another
// clientState (a forgery, or a stale subscription) is answered but does nothing: no request
// to Graph, and it is counted.
func TestClientStateMismatchIsIgnored(t *testing.T) {
	h := newNotifyHarness(t)
	s, p := h.startNotified(Tuning{})
	sub := h.sim.Subscriptions()[0]
	before := h.sim.Stats().Requests
	body := `{"value":[{"subscriptionId":"` + sub.ID + `","clientState":"guess","changeType":"created","resource":"Users/x/Events/y"}]}`
	resp, err := h.sim.HTTPClient().Post(p.url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	h.settle(s)
	assert.Equal(t, before, h.sim.Stats().Requests, "nothing sent to Graph")
	assert.EqualValues(t, 1, s.NotifyStats().Ignored)
	assert.Zero(t, s.NotifyStats().Received)
}

// TestLifecycleNotifications: reauthorizationRequired renews the subscription, missed syncs the
// room, subscriptionRemoved subscribes again and syncs the room (changes in between were never
// notified).
func TestLifecycleNotifications(t *testing.T) {
	h := newNotifyHarness(t)
	s, _ := h.startNotified(Tuning{})
	sub := h.sim.Subscriptions()[0]

	require.NoError(t, h.sim.Lifecycle(sub.ID, graphsim.LifecycleReauthorizationRequired))
	h.sim.WaitNotifications()
	h.settle(s)
	assert.Equal(t, 1, h.sim.NotifyStats().Renewals)

	polls := h.stats(notifyRoom).DeltaPolls
	require.NoError(t, h.sim.Lifecycle(sub.ID, graphsim.LifecycleMissed))
	h.sim.WaitNotifications()
	h.settle(s)
	assert.Equal(t, polls+1, h.stats(notifyRoom).DeltaPolls, "missed: the room synced")

	require.NoError(t, h.sim.Lifecycle(sub.ID, graphsim.LifecycleSubscriptionRemoved))
	h.sim.WaitNotifications()
	h.settle(s)
	subs := h.sim.Subscriptions()
	require.Len(t, subs, 1)
	assert.NotEqual(t, sub.ID, subs[0].ID, "subscribed again")
	assert.Equal(t, 2, h.sim.NotifyStats().Creates)
	assert.Equal(t, polls+2, h.stats(notifyRoom).DeltaPolls, "removed: the room synced once subscribed again")
	assert.EqualValues(t, 3, s.NotifyStats().Lifecycle)
}

// TestValidationHandshake: the listener echoes Graph's validationToken as text/plain; an
// endpoint that does not (a proxy forwarding elsewhere) fails the subscription with a message
// naming the reverse proxy, and the room keeps polling at the usual rate.
func TestValidationHandshake(t *testing.T) {
	h := newNotifyHarness(t)
	s, p := h.startNotified(Tuning{})
	resp, err := h.sim.HTTPClient().Post(p.url+"?validationToken=Validation%3A+abc+123", "text/plain", nil)
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, _ := resp.Body.Read(buf)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "Validation: abc 123", string(buf[:n]))
	assert.Equal(t, 1, h.sim.NotifyStats().Validations)
	assert.Zero(t, h.sim.NotifyStats().ValidationBad)
	_ = s

	// A proxy that answers 404.
	h2 := newNotifyHarness(t)
	bad := h2.notifyProxy(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	h2.in.NotificationURL = bad.url
	s2, _ := h2.start(Tuning{})
	h2.waitFor("the first sync", h2.synced(notifyRoom))
	h2.settle(s2)
	st := s2.NotifyStats()
	assert.Zero(t, st.Live)
	assert.Contains(t, st.LastError, "ValidationError")
	assert.Contains(t, st.LastError, "reverse proxy")
	polls := h2.stats(notifyRoom).DeltaPolls
	h2.advance(s2, 20*time.Minute, time.Minute)
	assert.GreaterOrEqual(t, h2.stats(notifyRoom).DeltaPolls-polls, 4, "unsubscribed: polled every 4 min")
}

// TestFirstSubscriptionAfterTheReadPollsOnce: a change made between a room's first sync and
// its subscription going live is never notified, and the room polls at the slow safety net
// from then on; the room polls once when the subscription is created, so the change is stored
// then, not at the next poll.
func TestFirstSubscriptionAfterTheReadPollsOnce(t *testing.T) {
	h := newNotifyHarness(t)
	id := h.post(notifyRoom, invite("Quarterly review", t0.Add(30*time.Hour), time.Hour))
	var open atomic.Bool // the site's proxy is not up yet: Graph's validation fails
	var p *notifyProxy
	p = h.notifyProxy(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			http.Error(w, "proxy starting", http.StatusServiceUnavailable)
			return
		}
		p.s.Load().HandleNotification(w, r)
	})
	h.in.NotificationURL = p.url
	s, _ := h.start(Tuning{})
	p.s.Store(s)
	h.waitFor("the first sync", h.synced(notifyRoom))
	h.settle(s)
	require.Zero(t, s.NotifyStats().Live, "the first subscription attempt failed")

	const renamed = "Quarterly review (moved to the big screen)"
	_, err := h.sim.PatchEvent(notifyRoom, id, map[string]any{"subject": renamed})
	require.NoError(t, err)
	open.Store(true)
	polls := h.stats(notifyRoom).DeltaPolls
	took := untilStored(t, h, s, 3*time.Minute, func() bool { return storedSubject(h, notifyRoom, id) == renamed })
	assert.LessOrEqual(t, took, 75*time.Second, "the subscription's retry a minute on, then one poll (not the plain 4 minutes)")
	assert.Equal(t, 1, s.NotifyStats().Live)
	assert.Zero(t, s.NotifyStats().Received, "no notification told of it")
	assert.Equal(t, polls+1, h.stats(notifyRoom).DeltaPolls, "one poll")
}

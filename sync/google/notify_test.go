package google

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/googlesim"
)

// pushProxy is the site's reverse proxy: HTTPS on loopback with a certificate googlesim
// trusts, handing every request to the running syncer (as the agent's listener does).
func pushProxy(t *testing.T, e *simEnv, s *atomic.Pointer[Syncer]) string {
	t.Helper()
	cert, err := e.g.CA().Issue("127.0.0.1")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sy := s.Load(); sy != nil {
			sy.HandleNotification(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/google/notify"
}

// TestPushChannelSyncsTheRoomAtOnceAndPollsOnlyAsASafetyNet: with notifications_url each
// room gets an events.watch channel after its first sync; a change made at Google reaches the
// store without the clock moving (the push message, not a poll); the room then polls at the
// safety net's 30 minutes, not every 4; a message with a wrong token does nothing; a channel
// is replaced before it expires (the old one stopped); stopping the source stops its channels.
func TestPushChannelSyncsTheRoomAtOnceAndPollsOnlyAsASafetyNet(t *testing.T) {
	e := newSimEnv(t, func(o *googlesim.Options) { o.WatchInterval, o.AssertionClock = 20*time.Millisecond, time.Now })
	var cur atomic.Pointer[Syncer]
	url := pushProxy(t, e, &cur)
	mb, id := e.mbx[0], e.rooms[0]
	start := e.clk.Now().Truncate(time.Hour).Add(3 * time.Hour)
	e.post(mb, "Planning", "", start, nil)
	in := e.integration()
	in.NotificationsURL = url
	s, stop := e.start(in)
	cur.Store(s)
	e.synced(s, id, e.clk.Now())
	e.waitFor(s, "a channel per room", func() bool { return len(e.g.Channels()) == 2 && s.NotifyStats().Channels == 2 })
	first := map[string]string{}
	for _, c := range e.g.Channels() {
		assert.Equal(t, url, c.Address)
		first[c.Calendar] = c.ID
	}

	// A change at Google: pushed, synced, with no time passing.
	lists := e.g.CalendarStats(id).ByMethod["events.list"]
	e.post(mb, "Pushed", "", start.Add(time.Hour), nil)
	e.waitFor(s, "the pushed change", func() bool { _, ok := e.events(id)["Pushed"]; return ok })
	assert.Positive(t, s.NotifyStats().Received)
	if n := s.Stats().Notifications; assert.NotNil(t, n, "the status carries the push channels") {
		assert.Equal(t, 2, n.Rooms)
		assert.Equal(t, 2, n.Live)
		assert.Equal(t, s.NotifyStats().Received, n.Received)
	}
	// The channel's "sync" message went before the change on the same channel (Google sends it
	// as it creates the channel, often before events.watch answers): it is ours, not a forgery.
	assert.Zero(t, s.NotifyStats().Ignored, "a channel's own sync message is not a forgery")
	assert.Equal(t, lists+1, e.g.CalendarStats(id).ByMethod["events.list"], "one incremental list, on the push")

	// The safety net: 20 minutes of a quiet cold room cost no poll.
	lists = e.g.CalendarStats(id).ByMethod["events.list"]
	for range 4 {
		e.clk.Advance(5 * time.Minute)
		s.signal()
	}
	e.waitFor(s, "quiet", s.Quiet)
	assert.Equal(t, lists, e.g.CalendarStats(id).ByMethod["events.list"], "no poll within the safety net's 30 minutes")
	e.clk.Advance(11 * time.Minute)
	s.signal()
	e.waitFor(s, "the safety-net poll", func() bool { return e.g.CalendarStats(id).ByMethod["events.list"] > lists })

	e.waitFor(s, "quiet", s.Quiet)

	// A forged message (right channel id, wrong token) is ignored.
	var chID string
	for _, c := range e.g.Channels() {
		if c.Calendar == mb {
			chID = c.ID
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("X-Goog-Channel-ID", chID)
	req.Header.Set("X-Goog-Channel-Token", "forged")
	req.Header.Set("X-Goog-Resource-State", "exists")
	rec := httptest.NewRecorder()
	s.HandleNotification(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, int64(1), s.NotifyStats().Ignored)
	assert.True(t, s.Quiet(), "a forged message queues no sync")

	// Six and a half days on: within a day of expiry the channels are replaced.
	e.clk.Advance(6*24*time.Hour + 12*time.Hour)
	s.signal()
	e.waitFor(s, "new channels", func() bool {
		chs := e.g.Channels()
		if len(chs) != 2 {
			return false
		}
		for _, c := range chs {
			if first[c.Calendar] == c.ID {
				return false
			}
		}
		return true
	})

	stop()
	assert.Empty(t, e.g.Channels(), "stopping the source stops its channels (channels.stop)")
}

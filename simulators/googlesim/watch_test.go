package googlesim

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/calendar/v3"
)

type note struct{ header http.Header }

// receiver is an HTTPS webhook with a certificate from the simulators' CA.
func receiver(t *testing.T, e *env) (string, chan note) {
	t.Helper()
	cert, err := e.g.CA().Issue("127.0.0.1")
	require.NoError(t, err)
	got := make(chan note, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- note{header: r.Header.Clone()}
		w.WriteHeader(http.StatusOK)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/google/notify", got
}

func next(t *testing.T, ch chan note) note {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return note{}
	}
}

// TestWatchNotifications: a channel gets the sync message, then "exists" with Google's headers
// when the room's events change; lost notifications are lost; stopped and expired channels
// stay silent; http addresses and unknown channels are refused.
func TestWatchNotifications(t *testing.T) {
	e := newEnv(t, nil)
	addr, got := receiver(t, e)
	svc := e.admin()
	cal := ResourceEmail(room1)
	exp := e.clk.Now().Add(time.Hour)
	ch, err := svc.Events.Watch(cal, &calendar.Channel{Id: "chan-1", Type: "web_hook", Address: addr, Token: "room=01",
		Expiration: exp.UnixMilli()}).Do()
	require.NoError(t, err)
	assert.Equal(t, "api#channel", ch.Kind)
	assert.NotEmpty(t, ch.ResourceId)
	assert.Equal(t, exp.UnixMilli(), ch.Expiration)

	sync := next(t, got)
	assert.Equal(t, "sync", sync.header.Get("X-Goog-Resource-State"))
	assert.Equal(t, "1", sync.header.Get("X-Goog-Message-Number"))
	assert.Equal(t, "chan-1", sync.header.Get("X-Goog-Channel-ID"))
	assert.Equal(t, "room=01", sync.header.Get("X-Goog-Channel-Token"))
	assert.Equal(t, ch.ResourceId, sync.header.Get("X-Goog-Resource-ID"))
	assert.Contains(t, sync.header.Get("X-Goog-Resource-URI"), "/calendar/v3/calendars/")
	assert.NotEmpty(t, sync.header.Get("X-Goog-Channel-Expiration"))

	e.post(room1, "New", "", e.clk.Now().Add(time.Hour), time.Hour, nil)
	n := next(t, got)
	assert.Equal(t, "exists", n.header.Get("X-Goog-Resource-State"))
	n1, _ := strconv.Atoi(n.header.Get("X-Goog-Message-Number"))
	assert.Greater(t, n1, 1)

	// The admin fault loses the next notification; the one after arrives.
	e.g.LoseNotifications(1)
	e.post(room1, "Lost", "", e.clk.Now().Add(3*time.Hour), time.Hour, nil)
	require.Eventually(t, func() bool { return e.g.Stats().NotificationsLost == 1 }, 10*time.Second, 5*time.Millisecond)
	e.post(room1, "Seen", "", e.clk.Now().Add(5*time.Hour), time.Hour, nil)
	n = next(t, got)
	n2, _ := strconv.Atoi(n.header.Get("X-Goog-Message-Number"))
	assert.Greater(t, n2, n1)

	// Stop: 204, then nothing; stopping again is 404.
	require.NoError(t, svc.Channels.Stop(&calendar.Channel{Id: "chan-1", ResourceId: ch.ResourceId}).Do())
	err = svc.Channels.Stop(&calendar.Channel{Id: "chan-1", ResourceId: ch.ResourceId}).Do()
	assert.Equal(t, http.StatusNotFound, apiErr(t, err).Code)
	assert.Empty(t, e.g.Channels())

	// Plain HTTP addresses are refused.
	_, err = svc.Events.Watch(cal, &calendar.Channel{Id: "chan-3", Type: "web_hook", Address: "http://127.0.0.1:1/x"}).Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusBadRequest, ge.Code)
	assert.Contains(t, ge.Message, "WebHook callback must be HTTPS")

	// Expiry on the simulator's clock.
	_, err = svc.Events.Watch(cal, &calendar.Channel{Id: "chan-2", Type: "web_hook", Address: addr}).Do()
	require.NoError(t, err)
	assert.Equal(t, "sync", next(t, got).header.Get("X-Goog-Resource-State"))
	e.clk.Advance(DefaultChannelTTL + time.Minute)
	require.Eventually(t, func() bool { return len(e.g.Channels()) == 0 }, 10*time.Second, 5*time.Millisecond)
	before := e.g.Stats().Notifications
	e.post(room1, "After expiry", "", e.clk.Now().Add(time.Hour), time.Hour, nil)
	e.g.checkChannels() // what the watcher does: with no live channel nothing is queued
	select {
	case n := <-got:
		t.Fatalf("notification after expiry: %v", n.header)
	default:
	}
	assert.Equal(t, before, e.g.Stats().Notifications)

}

package graph

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// checkSite is a graphsim with a readable room, and the Integration `otj-edge check` reads for
// it with notifications_url on a reverse proxy (handler) and notifications_listen free.
func checkSite(t *testing.T, proxy func(listen string) http.Handler, trusted bool) (*harness, Integration) {
	t.Helper()
	h := newHarnessAt(t, time.Now(), graphsim.Options{}, notifyRoom)
	h.addRoom(notifyRoom, graphsim.Recommended())
	listen := freeAddr(t)
	srv := httptest.NewUnstartedServer(proxy(listen))
	if trusted { // else httptest's own certificate, which graphsim does not trust
		cert, err := h.sim.CA().Issue("127.0.0.1")
		require.NoError(t, err)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	in := h.in
	in.NotificationURL, in.NotificationListen = srv.URL+"/graph/notify", listen
	return h, in
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// forwarding is a reverse proxy that forwards to the listener, as the site's should.
func forwarding(listen string) http.Handler {
	return httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: listen})
}

func notifyLine(t *testing.T, rep CheckReport) (string, int) {
	t.Helper()
	lines, failed := rep.Lines()
	require.Len(t, lines, 3, lines) // token, the room, notifications
	return lines[2], failed
}

// TestCheckNotificationsRoundTrip: with notifications_url, `otj-edge check` creates a test
// subscription for the first readable room through the public URL (Graph's validation comes
// through the reverse proxy to the check's own listener when the agent is not running, to the
// agent's when it is) and deletes it: nothing is left subscribed.
func TestCheckNotificationsRoundTrip(t *testing.T) {
	h, in := checkSite(t, forwarding, true)
	line, failed := notifyLine(t, Check(t.Context(), in, []string{notifyRoom}, nil))
	assert.Zero(t, failed, line)
	assert.Equal(t, "graph/m365: notifications: ok, Graph validated "+in.NotificationURL+" (through the reverse proxy to notifications_listen "+
		in.NotificationListen+"): a test subscription for "+notifyRoom+" created and deleted", line)
	st := h.sim.NotifyStats()
	assert.Equal(t, 1, st.Creates)
	assert.Equal(t, 1, st.Deletes)
	assert.Empty(t, h.sim.Subscriptions(), "the test subscription is gone")

	// The agent running: its listener holds the port and answers.
	ln, err := net.Listen("tcp", in.NotificationListen)
	require.NoError(t, err)
	agent := &http.Server{Handler: http.HandlerFunc(echoValidation)}
	go func() { _ = agent.Serve(ln) }()
	defer agent.Close()
	line, failed = notifyLine(t, Check(t.Context(), in, []string{notifyRoom}, nil))
	assert.Zero(t, failed, line)
	assert.Contains(t, line, "(through the reverse proxy to the running agent's listener)")
	assert.Empty(t, h.sim.Subscriptions())
}

// TestCheckNotificationsSaysWhatIsWrong: a failed validation is a failed check line that names
// the broken part, found by asking the public URL from the site: a proxy that does not
// forward, a certificate Graph does not trust, a proxy that does not answer in time.
func TestCheckNotificationsSaysWhatIsWrong(t *testing.T) {
	t.Run("proxy not forwarding", func(t *testing.T) {
		h, in := checkSite(t, func(string) http.Handler { return http.NotFoundHandler() }, true)
		line, failed := notifyLine(t, Check(t.Context(), in, []string{notifyRoom}, nil))
		assert.Equal(t, 1, failed)
		assert.Equal(t, "graph/m365: notifications FAILED: Graph could not validate "+in.NotificationURL+
			": the reverse proxy does not forward it: 127.0.0.1 answers HTTP 404 instead of the agent's validation answer; forward /graph/notify to notifications_listen "+
			in.NotificationListen, line)
		assert.Empty(t, h.sim.Subscriptions())
	})
	t.Run("TLS", func(t *testing.T) {
		_, in := checkSite(t, forwarding, false)
		line, failed := notifyLine(t, Check(t.Context(), in, []string{notifyRoom}, nil))
		assert.Equal(t, 1, failed)
		assert.True(t, strings.HasPrefix(line, "graph/m365: notifications FAILED: Graph could not validate "+in.NotificationURL+
			": TLS: the reverse proxy's certificate for 127.0.0.1 is not accepted ("), line)
		assert.Contains(t, line, "Graph needs a certificate valid for 127.0.0.1 from a public CA")
		t.Log(line)
	})
	t.Run("validation timeout", func(t *testing.T) {
		// Graph (graphsim) waits its 10 s; the check's own probe waits less here.
		defer func(d time.Duration) { validationWait = d }(validationWait)
		validationWait = 200 * time.Millisecond
		hang := func(string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		}
		_, in := checkSite(t, hang, true)
		line, failed := notifyLine(t, Check(t.Context(), in, []string{notifyRoom}, nil))
		assert.Equal(t, 1, failed)
		assert.Contains(t, line, "notifications FAILED: Graph could not validate "+in.NotificationURL+
			": validation timeout: the reverse proxy at 127.0.0.1 did not answer within 200ms")
	})
	t.Run("no readable room", func(t *testing.T) {
		h, in := checkSite(t, forwarding, true)
		no := false
		const denied = "room-2@contoso.example"
		require.NoError(t, h.sim.AddRoom(graphsim.Room{Mailbox: denied, InPolicy: &no}))
		rep := Check(t.Context(), in, []string{denied}, nil)
		lines, failed := rep.Lines()
		assert.Equal(t, 2, failed)
		assert.Equal(t, "graph/m365: notifications FAILED: not tried: no room is readable (Graph subscribes to a room's events)", lines[len(lines)-1])
	})
}

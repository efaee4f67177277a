package agent

import (
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestAgentTakesGraphNotificationsThroughAReverseProxy: with notifications_url set, the agent
// listens on notifications_listen; graphsim's validation request and change notifications come
// through an HTTPS reverse proxy (as on a site), and a meeting booked after the subscription
// reaches the store through the notification, long before the room's next poll (30 min for a
// subscribed room).
func TestAgentTakesGraphNotificationsThroughAReverseProxy(t *testing.T) {
	const room = "room-1@example.com"
	sim, err := graphsim.New(graphsim.Options{ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: testGraphSecret})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	require.NoError(t, sim.AddRoom(graphsim.Room{Mailbox: room}))
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, sim.CA().WriteFile(caFile))

	// The site's reverse proxy: TLS (a certificate graphsim trusts) in front of the listener.
	listen := freePort(t)
	target, err := url.Parse("http://" + listen)
	require.NoError(t, err)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	cert, err := sim.CA().Issue("127.0.0.1")
	require.NoError(t, err)
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	proxy.StartTLS()
	t.Cleanup(proxy.Close)

	yaml := testSiteHead(freePort(t), sim.TokenURL(), "\n    graph_url: "+sim.GraphURL()+"\n    ca_file: "+caFile+
		"\n    notifications_url: "+proxy.URL+"/graph/notify\n    notifications_listen: "+listen) +
		"  - name: default\nendpoints:\n  - name: codec-1\n    type: cisco\n    room: " + room +
		"\n    address: 127.0.0.1:1\n    username: admin\n    password: " + testCodecSecret + "\n"
	cfg, err := loadConfig(writeTestConfig(t, dir, yaml), IO{Env: os.LookupEnv})
	require.NoError(t, err)
	a, logs := runTestAgent(t, cfg)

	// Graph lists the subscription before its answer reaches the agent: wait until the agent
	// has it too, or the notification below could come before it knows the subscription.
	eventually(t, "a subscription for the room, live in the agent", []string{"users/" + room + "/events", "live in the agent: 1"}, func() []string {
		var out []string
		for _, s := range sim.Subscriptions() {
			out = append(out, s.Resource)
		}
		live := 0
		for _, st := range a.sourceStats() {
			if st.Notifications != nil {
				live += st.Notifications.Live
			}
		}
		return append(out, fmt.Sprintf("live in the agent: %d", live))
	})
	roomSynced := func() bool {
		r, ok, err := a.store.Room(t.Context(), room)
		return err == nil && ok && r.Status == store.RoomOK
	}
	waitStore(t, a.store, "the first sync", roomSynced)
	polls := sim.MailboxStats(room).DeltaPolls

	start := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Minute)
	_, err = sim.PostEvent(room, map[string]any{
		"subject":   "Booked just now",
		"start":     map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada Berg", "address": "ada@example.com"}},
		"body":      map[string]any{"contentType": "html", "content": "<p>Join: sip:4455@vmr.example.com</p>"},
	})
	require.NoError(t, err)
	changed := time.Now()
	waitStore(t, a.store, "the meeting in the store", func() bool {
		ms, err := a.store.Meetings(t.Context(), room, start.Add(-time.Minute), start.Add(time.Minute))
		return err == nil && len(ms) == 1
	})
	assert.Less(t, time.Since(changed), 20*time.Second, "through the notification, not the 30-minute poll")
	assert.Equal(t, polls+1, sim.MailboxStats(room).DeltaPolls, "one incremental request")
	// The agent answers 202 and syncs the room beside it: graphsim counts the delivery only
	// once the answer is back through the proxy, which may be after the meeting is stored.
	sim.WaitNotifications()
	assert.Equal(t, 1, sim.NotifyStats().Delivered)
	assert.NotContains(t, logs.String(), testGraphSecret)
}

// waitStore waits until cond holds, woken by the store's change notices.
func waitStore(t *testing.T, st *store.Store, what string, cond func() bool) {
	t.Helper()
	rooms, meetings := st.Subscribe(store.TopicRooms), st.Subscribe(store.TopicMeetings)
	defer rooms.Close()
	defer meetings.Close()
	deadline := time.NewTimer(45 * time.Second) // a failure guard, not a wait
	defer deadline.Stop()
	for !cond() {
		select {
		case <-rooms.C:
		case <-meetings.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

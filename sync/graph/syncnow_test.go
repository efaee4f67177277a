package graph

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

// TestSyncNowWaitsForRetryAfter: an operator asking for a sync (status page, CLI, MQTT
// command) while Graph's Retry-After for the mailbox runs must not send a request before it
// expires; the sync happens once it has. (Found by make soak's graph_storm.)
func TestSyncNowWaitsForRetryAfter(t *testing.T) {
	const room = "room-1@contoso.example"
	h := newHarness(t, graphsim.Options{}, room)
	h.addRoom(room, graphsim.Recommended())
	h.post(room, invite("Planning", t0.Add(2*time.Hour), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(room))
	h.settle(s)

	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultStatus, Status: 429, RetryAfter: 120, Mailbox: room, Count: 1})
	require.NoError(t, err)
	require.NoError(t, s.SyncNow(room, false))
	h.settle(s)
	require.Equal(t, 1, h.stats(room).Throttled, "the sync request met the 429")
	throttledAt := h.stats(room).Requests

	// Asked again and again during the next minute: nothing is sent.
	for range 6 {
		require.NoError(t, s.SyncNow(room, false))
		h.advance(s, 10*time.Second, 10*time.Second)
	}
	assert.Equal(t, throttledAt, h.stats(room).Requests, "no request while Retry-After runs")
	assert.Zero(t, h.stats(room).EarlyRetries)

	// Once it has expired the room syncs again.
	require.NoError(t, s.SyncNow(room, false))
	h.advance(s, 70*time.Second, 10*time.Second)
	assert.Greater(t, h.stats(room).Requests, throttledAt)
	assert.Zero(t, h.stats(room).EarlyRetries)
	assert.Equal(t, store.RoomOK, h.status(room)())
}

// TestLinksFromAnotherGraphURLResyncInFull: delta links stored under a former graph_url (the
// config moved to another cloud or proxy, or the store to another site) are not followed: the
// room resyncs in full from the configured graph_url instead of failing forever. (Found by
// make soak: a store reused with new simulators kept answering 400 "Batch request urls must be
// relative".)
func TestLinksFromAnotherGraphURLResyncInFull(t *testing.T) {
	const room = "room-1@contoso.example"
	h := newHarness(t, graphsim.Options{}, room)
	h.addRoom(room, graphsim.Recommended())
	h.post(room, invite("Planning", t0.Add(2*time.Hour), time.Hour))
	s, stop := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(room))
	h.settle(s)
	stop()
	require.Equal(t, 1, h.stats(room).FullSyncs)

	cur := h.cursor(room)
	require.Contains(t, cur.deltaLink, h.sim.GraphURL())
	cur.deltaLink = strings.Replace(cur.deltaLink, h.sim.GraphURL(), "https://graph.microsoft.us/v1.0", 1)
	h.putCursor(room, cur)

	s, _ = h.start(Tuning{})
	h.waitFor("a full sync from graph_url", func() bool { return h.stats(room).FullSyncs == 2 && h.status(room)() == store.RoomOK })
	h.settle(s)
	assert.Contains(t, h.cursor(room).deltaLink, h.sim.GraphURL(), "the new delta link comes from graph_url")
	assert.Equal(t, store.RoomOK, h.status(room)())
}

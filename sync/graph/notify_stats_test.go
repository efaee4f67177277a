package graph

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatsCarryTheNotifications: with notifications_url the source's stats (status page,
// MQTT metrics) carry the notification figures, live subscriptions of rooms included; a
// source that only polls has no such block, so its JSON keeps the keys it had.
func TestStatsCarryTheNotifications(t *testing.T) {
	h := newNotifyHarness(t)
	s, _ := h.startNotified(Tuning{})
	h.post(notifyRoom, invite("Just booked", t0.Add(3*time.Hour), time.Hour))
	h.sim.WaitNotifications()
	h.settle(s)
	st := s.Stats()
	require.NotNil(t, st.Notifications)
	assert.Equal(t, 1, st.Notifications.Rooms)
	assert.Equal(t, 1, st.Notifications.Live)
	assert.EqualValues(t, 1, st.Notifications.Creates)
	assert.EqualValues(t, 1, st.Notifications.Received)
	assert.Empty(t, st.Notifications.LastError)

	plain := newNotifyHarness(t)
	ps, _ := plain.start(Tuning{})
	plain.waitFor("the first sync", plain.synced(notifyRoom))
	assert.Nil(t, ps.Stats().Notifications)
	b, err := json.Marshal(ps.Stats())
	require.NoError(t, err)
	assert.NotContains(t, string(b), "notifications")
}

package google

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/googlesim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

// TestColdSyncOfAThousandRoomsStaysUnderGooglesPerUserLimit: one impersonated subject reads
// 1,000 resource calendars at once (the clock does not move: every request falls in one
// minute) against googlesim's default limits (600 requests per user per minute). Each room's
// requests carry their own quotaUser, so none is rate-limited and every room syncs at once.
func TestColdSyncOfAThousandRoomsStaysUnderGooglesPerUserLimit(t *testing.T) {
	const n = 1000
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	gs, err := graphsim.New(graphsim.Options{Now: clk.Now})
	require.NoError(t, err)
	var rooms []source.Room
	start := clk.Now().Truncate(time.Hour).Add(2 * time.Hour)
	for i := range n {
		mb := fmt.Sprintf("room-%04d@%s", i, gs.TenantDomain())
		p := graphsim.Recommended()
		require.NoError(t, gs.AddRoom(graphsim.Room{Mailbox: mb, Processing: &p}))
		_, err := gs.PostEvent(mb, map[string]any{"subject": "Meeting",
			"organizer": map[string]any{"emailAddress": map[string]any{"name": "Ada", "address": "ada@" + gs.TenantDomain()}},
			"start":     map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":       map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
		require.NoError(t, err)
		rooms = append(rooms, source.Room{Mailbox: googlesim.ResourceEmail(mb), UpcomingDays: 7})
	}
	g, err := googlesim.New(googlesim.Options{Calendar: gs, Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Close)
	key, err := g.KeyFile("")
	require.NoError(t, err)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db"), store.Options{Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	s, err := New(Options{Integration: Integration{Name: "workspace", ServiceAccountKey: key, Subject: g.AdminUser(),
		Endpoint: g.CalendarEndpoint()}, Rooms: rooms, Store: st, Clock: clk, Health: health.New(clk.Now),
		HTTPClient: g.HTTPClient(), Tuning: Tuning{Seed: 1}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	for !s.Quiet() {
		select {
		case <-s.Progress():
		case <-deadline.C:
			t.Fatal("timed out waiting for the cold sync")
		}
	}
	stats := g.Stats()
	assert.Zero(t, stats.RateLimited, "no rate-limited answer in the cold sync")
	assert.GreaterOrEqual(t, stats.Requests, n, "more requests in one minute than one user may send (600)")
	for u, us := range stats.Users {
		assert.LessOrEqual(t, us.PeakPerMinute, googlesim.DefaultUserRateLimit, u)
	}
	assert.Len(t, stats.Users, n, "one quotaUser per room")
	assert.NotContains(t, stats.Users, g.AdminUser(), "nothing is counted against the subject itself")
	all, err := st.Rooms(context.Background())
	require.NoError(t, err)
	ok := 0
	for _, r := range all {
		if r.Status == store.RoomOK {
			ok++
		}
	}
	assert.Equal(t, n, ok, "every room synced, none waits for a back-off")
}

package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGoogleSmoke runs the google scenario's run through the real processes (otj-sim --source
// google, otj-edge on a google integration through google.golang.org/api) at 10 rooms with a
// short window and checks its figures and targets are in the report with sane values: every
// codec right (Meet-only meetings included), the edits made and seen, googlesim's request
// counts, no rate-limited answer. It checks no timing target.
func TestGoogleSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := buildAll(ctx, t.TempDir())
	require.NoError(t, err)

	const rooms = 10
	o := scaleOptions{source: "google", rooms: rooms, meetings: 40, latency: 100 * time.Millisecond, window: 16 * time.Second,
		settle: time.Second, changes: 2, changeLimit: 25 * time.Second, coldLimit: 2 * time.Minute}
	r, err := scaleRun(ctx, bins, o, "otj-edge", rooms)
	require.NoError(t, err)
	assert.Equal(t, "google", r.Source)
	require.NotNil(t, r.ColdSyncSeconds, "every codec shows its right bookings, read from Google")
	assert.Equal(t, rooms, r.CodecsRight)
	assert.Equal(t, rooms, r.RoomsSynced)
	assert.Zero(t, r.ColdGraphReqs, "the agent reads no room through Graph")
	assert.Nil(t, r.EWS)
	require.NotNil(t, r.Google)
	g := r.Google
	assert.GreaterOrEqual(t, g.ColdRequests, rooms, "at least one events.list per room")
	assert.GreaterOrEqual(t, g.FullSyncs, rooms)
	assert.Positive(t, g.Incremental, "the polls after the cold sync use syncTokens")
	assert.Positive(t, g.SteadyRequests)
	assert.Positive(t, g.ProjectedPerDay)
	assert.Positive(t, g.TokenRequests)
	assert.Zero(t, g.RateLimited, "10 rooms stay far under Google's limits")
	assert.Equal(t, 4, g.Changes, "two hot and two cold edits")
	assert.Equal(t, 2, r.HotChanges.Seen, "hot rooms poll every 15 s: both hot edits arrive within the limit")
	require.NotNil(t, g.P95Change)
	assert.LessOrEqual(t, *g.P95Change, o.changeLimit.Seconds())

	rep := Report{Figures: map[string]any{}}
	t.Cleanup(func() { googleRun, edgeAtRooms = nil, nil })
	recordGoogle(&rep, r)
	targets(&rep)
	googleTargets(&rep)
	for _, k := range []string{"google_rooms", "google_cold_sync_seconds", "google_p95_change_seconds", "google_cold_sync_requests",
		"google_projected_requests_per_day", "google_rate_limited_responses", "google_early_retries"} {
		assert.Contains(t, rep.Figures, k)
	}
	for _, k := range []string{"google_cold_sync_seconds", "google_rate_limited_responses"} {
		if assert.Contains(t, rep.Targets, k) {
			assert.NotNil(t, rep.Targets[k].Met, k)
			assert.Contains(t, rep.Targets[k].Note, "measured at 10 rooms")
		}
	}
	assert.True(t, *rep.Targets["google_rate_limited_responses"].Met)
	assert.NotContains(t, rep.Figures, "cold_sync_seconds", "the Graph headline keys keep their meaning")
	assert.NotContains(t, rep.Figures, "ews_cold_sync_seconds")
}

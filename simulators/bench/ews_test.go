package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEWSSmoke runs the ews scenario's run through the real processes (otj-sim --source ews,
// otj-edge on an ews integration with streaming) at 10 rooms with a short window and checks
// its figures and targets are in the report with sane values: every codec right, the edits
// made and accounted for, ewssim's request counts. It checks no timing target.
func TestEWSSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := buildAll(ctx, t.TempDir())
	require.NoError(t, err)

	const rooms = 10
	o := scaleOptions{source: "ews", rooms: rooms, meetings: 40, latency: 100 * time.Millisecond, window: 16 * time.Second,
		settle: time.Second, changes: 2, changeLimit: 25 * time.Second, coldLimit: 2 * time.Minute}
	r, err := scaleRun(ctx, bins, o, "otj-edge", rooms)
	require.NoError(t, err)
	assert.Equal(t, "ews", r.Source)
	require.NotNil(t, r.ColdSyncSeconds, "every codec shows its right bookings, read over EWS")
	assert.Equal(t, rooms, r.CodecsRight)
	assert.Equal(t, rooms, r.RoomsSynced)
	assert.Zero(t, r.ColdGraphReqs, "the agent reads no room through Graph")
	require.NotNil(t, r.EWS)
	assert.Positive(t, r.EWS.ColdRequests)
	assert.Positive(t, r.EWS.SteadyRequests)
	assert.Positive(t, r.EWS.ProjectedPerDay)
	assert.Equal(t, 4, r.EWS.Changes, "two hot and two cold edits")
	require.NotNil(t, r.EWS.P95Change)
	assert.LessOrEqual(t, *r.EWS.P95Change, o.changeLimit.Seconds())

	rep := Report{Figures: map[string]any{}}
	t.Cleanup(func() { ewsRun, edgeAtRooms = nil, nil })
	recordEWS(&rep, r)
	targets(&rep)
	ewsTargets(&rep)
	for _, k := range []string{"ews_cold_sync_seconds", "ews_p95_change_seconds", "ews_cold_sync_requests", "ews_projected_requests_per_day"} {
		assert.Contains(t, rep.Figures, k)
	}
	for _, k := range []string{"ews_cold_sync_seconds", "ews_p95_change_seconds"} {
		if assert.Contains(t, rep.Targets, k) {
			assert.NotNil(t, rep.Targets[k].Met, k)
			assert.Contains(t, rep.Targets[k].Note, "measured at 10 rooms")
		}
	}
	assert.NotContains(t, rep.Figures, "cold_sync_seconds", "the Graph headline keys keep their meaning")
}

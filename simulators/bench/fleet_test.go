package main

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/harness"
)

// TestFleetSmoke runs the fleet scenario small (20 sites × 20 rooms for 20 s, at faster rates so
// every kind of message and status change happens) against the real Mosquitto and the real
// `otj-edge fleet --serve` process, and checks the report: the view matches what was
// published (sites, online/offline with the will's and the shutdown's reasons, rooms, events),
// every status change reached it, and the costs are measured. It checks no timing target.
func TestFleetSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := harness.Root()
	require.NoError(t, err)
	bin, err := buildEdge(ctx, root, t.TempDir())
	require.NoError(t, err)

	o := fleetOptions{sites: 20, rooms: 20, window: 20 * time.Second, offlinePercent: 10,
		rates: fleetRates{roomRefresh: 10 * time.Second, metrics: 5 * time.Second, eventsPerHour: 180,
			healthChange: 5 * time.Second, statusMin: time.Second}}
	r, err := fleetRun(ctx, bin, o)
	require.NoError(t, err)

	assert.Equal(t, 2, r.Outages, "10 %% of 20 sites drop off and come back")
	assert.Equal(t, 1, r.StayedOffline)
	assert.Zero(t, r.Accuracy.Mismatches, "%v", r.Accuracy.Examples)
	assert.Equal(t, FleetCounts{Sites: 20, Online: 19, Offline: 1, Rooms: 400, Events: r.Accuracy.Expected.Events}, r.Accuracy.Expected)
	assert.Equal(t, r.Accuracy.Expected, r.Accuracy.Viewed)
	assert.Positive(t, r.Accuracy.Expected.Events)

	l := r.StatusLatency
	assert.Zero(t, l.Missed, "every status change reached the view")
	require.NotNil(t, l.P95Ms)
	for _, k := range []string{"connect", "health", "will", "shutdown"} {
		assert.Positive(t, l.ByKind[k].Count, "status changes of kind %s measured", k)
	}
	assert.Positive(t, r.MessagesPerSecond)
	for _, k := range topicNames {
		assert.Positive(t, r.PublishedByTopic[k], k)
	}
	assert.Zero(t, r.PublishFailures)
	assert.Equal(t, "mosquitto", r.Broker.Kind)
	assert.Positive(t, r.Broker.RSSMB)
	assert.Positive(t, r.View.PeakRSSMB)
	require.NotNil(t, r.View.GrowthPerSiteKB)

	rep := Report{Figures: map[string]any{}}
	hooks := len(afterScenarios)
	t.Cleanup(func() { afterScenarios = afterScenarios[:hooks] })
	recordFleet(&rep, r)
	for _, f := range afterScenarios[hooks:] {
		f(&rep)
	}
	assert.Same(t, r, rep.Fleet)
	for _, k := range []string{"fleet_messages_per_second", "fleet_broker_cpu_percent", "fleet_view_peak_rss_mb", "fleet_mismatches", "fleet_status_p95_ms"} {
		assert.Contains(t, rep.Figures, k)
	}
	if assert.Contains(t, rep.Targets, "fleet_mismatches") {
		assert.True(t, *rep.Targets["fleet_mismatches"].Met)
	}
}

// TestFleetPlans: the outage plan drops the asked share of sites mid-run (after the ramp, back
// before the end) and keeps 1 % away at the end, two in three by a cut connection.
func TestFleetPlans(t *testing.T) {
	o := fleetOptions{sites: 1000, rooms: 20, window: 5 * time.Minute, offlinePercent: 5}
	ramp := 20 * time.Second
	plans := fleetPlans(o, ramp, rand.New(rand.NewPCG(1, 2)))
	var back, stay, abrupt int
	for _, p := range plans {
		require.Less(t, p.connectAt, ramp)
		if p.downAt == 0 {
			continue
		}
		assert.GreaterOrEqual(t, p.downAt, ramp)
		if p.abrupt {
			abrupt++
		}
		if p.upAt > 0 {
			back++
			assert.Less(t, p.upAt, o.window)
			assert.GreaterOrEqual(t, p.upAt-p.downAt, 20*time.Second)
		} else {
			stay++
		}
	}
	assert.Equal(t, 50, back)
	assert.Equal(t, 10, stay)
	assert.Equal(t, 40, abrupt)
}

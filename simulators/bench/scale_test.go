package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScaleSmoke runs the scale scenario and the naive baseline through the real processes
// (otj-sim, otj-edge, naive) at 10 rooms with a short window and checks that the report has
// every figure, with sane values: both strategies bring every codec to its right bookings,
// the edits are made and accounted for, and ratios and targets are filled in. It checks no
// timing target (make bench measures those).
func TestScaleSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := buildAll(ctx, t.TempDir())
	require.NoError(t, err)
	fi, err := os.Stat(bins.Agent)
	require.NoError(t, err)

	const rooms = 10
	o := scaleOptions{rooms: rooms, meetings: 40, latency: 100 * time.Millisecond, window: 16 * time.Second,
		settle: time.Second, changes: 2, changeLimit: 25 * time.Second, coldLimit: 2 * time.Minute, naiveEvery: 4 * time.Second,
		localTime: benchLocalTime, pinned: true}
	edge, err := scaleRun(ctx, bins, o, "otj-edge", rooms)
	require.NoError(t, err)
	naive, err := scaleRun(ctx, bins, o, "naive", rooms)
	require.NoError(t, err)

	for _, r := range []*Run{edge, naive} {
		t.Run(r.Strategy, func(t *testing.T) {
			assert.Equal(t, rooms, r.Codecs)
			assert.Equal(t, 1, r.PolyEndpoints, "min(100, rooms/10) Poly endpoints")
			// The calendars' zone and shift put the steady window near 10:28 of their working
			// day, whatever the wall clock (the lead before the window is an estimate, and this
			// short run's differs from a full-size one's).
			assert.NotEmpty(t, r.SimZone)
			assert.Regexp(t, `^10:[0-3][0-9]:[0-5][0-9]$`, r.SteadyLocalTime)
			// The machine's steal over each span says whether a slow run ran on a slowed machine.
			for _, p := range []*float64{r.MachineStealColdPercent, r.MachineStealSteadyPercent} {
				if assert.NotNil(t, p, "/proc/stat is read on Linux") {
					assert.True(t, *p >= 0 && *p <= 100, "a share of the CPUs' time: %v", *p)
				}
			}
			// The codecs' window is today and tomorrow: on a weekend the scenario's rooms hold
			// few meetings there (179 for 10 rooms on a Sunday), so no weekday-sized count.
			assert.Greater(t, r.Meetings, o.changes, "the rooms have their calendars, not just the hot sample's meetings")
			require.NotNil(t, r.ColdSyncSeconds, "every codec shows its right bookings")
			assert.Greater(t, *r.ColdSyncSeconds, 0.0)
			assert.Equal(t, rooms, r.CodecsRight)
			assert.Greater(t, r.ColdGraphReqs, 0)
			for _, c := range []ChangeStats{r.HotChanges, r.ColdChanges} {
				assert.Equal(t, 2, c.Count, "two edits of each kind are made")
				assert.Equal(t, c.Count, c.Seen+c.Missed, "every edit is seen or missed")
				require.NotNil(t, c.P95)
				assert.GreaterOrEqual(t, *c.Max, *c.P95)
				assert.GreaterOrEqual(t, *c.P95, *c.P50)
				assert.LessOrEqual(t, *c.Max, o.changeLimit.Seconds())
			}
			assert.GreaterOrEqual(t, r.WindowSeconds, o.window.Seconds())
			assert.Greater(t, r.SteadyGraphRequests, 0, "both strategies keep polling Graph")
			assert.Greater(t, r.ProjectedGraphRequestsPerDay, int64(0))
			assert.Greater(t, r.PeakRSSMB, 1.0)
			assert.GreaterOrEqual(t, r.PeakRSSMB, r.SteadyRSSMaxMB)
			assert.Greater(t, r.SteadyRSSMB, 1.0)
			// The split is a mean of the same samples: its parts add up to the mean, to rounding.
			assert.InDelta(t, r.SteadyRSSMB, r.SteadyRSSAnonMB+r.SteadyRSSFileMB, 0.05, "steady RSS = anonymous + file pages")
			assert.Greater(t, r.SteadyRSSFileMB, 1.0, "the program file's pages are resident")
			// The working set: what the program touched in the window, within what is resident.
			if assert.NotNil(t, r.SteadyTouchedAnonMB) && assert.NotNil(t, r.SteadyTouchedFileMB) {
				assert.Positive(t, *r.SteadyTouchedAnonMB)
				assert.Positive(t, *r.SteadyTouchedFileMB, "the program's code ran")
				assert.LessOrEqual(t, *r.SteadyTouchedAnonMB+*r.SteadyTouchedFileMB, r.PeakRSSMB)
			}
			assert.GreaterOrEqual(t, r.SteadyCPUPercent, 0.0)
			assert.Zero(t, r.GraphEarlyRetries, "no request before a Retry-After expired")
			assert.LessOrEqual(t, r.GraphMaxInFlightPerMailbox, 4)
		})
	}
	assert.Equal(t, rooms, edge.RoomsSynced, "the agent reports every room synced")
	assert.Positive(t, edge.AgentProjectedPerDay, "the agent's own plan, read from the sources of its /api/status")
	// The naive strategy polls every room every 4 s here: every edit reaches its codec.
	assert.Equal(t, 2, naive.HotChanges.Seen)
	assert.Equal(t, 2, naive.ColdChanges.Seen)

	rep := Report{Figures: map[string]any{"rules_invites_per_sec": 25000.0}, BinaryBytes: fi.Size()}
	t.Cleanup(func() { edgeAtRooms = nil })
	edgeAtRooms = edge
	rep.Scale = []*Run{edge}
	headline(&rep, edge)
	rep.Baseline = naive
	ratios(&rep)
	targets(&rep)

	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, k := range []string{"figures", "targets", "run", "scale", "baseline", "ratios", "binary_bytes"} {
		assert.Contains(t, doc, k)
	}
	figures := doc["figures"].(map[string]any)
	for _, k := range headlineKeys {
		assert.Contains(t, figures, k)
		if assert.Contains(t, rep.Ratios, k) {
			r := rep.Ratios[k]
			if r.OTJEdge > 0 && assert.NotNil(t, r.Ratio, k) {
				assert.InDelta(t, r.Naive/r.OTJEdge, *r.Ratio, 0.01*(*r.Ratio)+0.01, k)
			}
		}
		if assert.Contains(t, rep.Targets, k) {
			assert.NotNil(t, rep.Targets[k].Value, k)
			assert.NotNil(t, rep.Targets[k].Met, k)
			assert.Contains(t, rep.Targets[k].Note, "measured at 10 rooms", "a run off 1,000 rooms says so")
		}
	}
	// The steady RSS target's note splits both programs' figures (the program file's pages are
	// part of RSS, and otj-edge's binary is many times the naive poller's).
	assert.Contains(t, rep.Targets["steady_rss_mb"].Note, fmt.Sprintf("otj-edge's steady RSS is %.1f MB anonymous and %.1f MB file pages",
		edge.SteadyRSSAnonMB, edge.SteadyRSSFileMB))
	assert.Contains(t, rep.Targets["steady_rss_mb"].Note, fmt.Sprintf("the naive poller's %.1f MB: %.1f anonymous and %.1f file pages",
		naive.SteadyRSSMB, naive.SteadyRSSAnonMB, naive.SteadyRSSFileMB))
	if assert.Contains(t, rep.Targets, "rules_invites_per_sec") && assert.NotNil(t, rep.Targets["rules_invites_per_sec"].Met) {
		assert.True(t, *rep.Targets["rules_invites_per_sec"].Met)
	}
	// The binary's size is a target the report judges (make bench), not a gate of make test:
	// with google.golang.org/api (issue 19's required library, which links grpc) it is over
	// 25 MB, and the report must say so rather than this test hide or fail on it.
	if assert.Contains(t, rep.Targets, "binary_bytes") && assert.NotNil(t, rep.Targets["binary_bytes"].Met) {
		assert.Equal(t, fi.Size() <= 25e6, *rep.Targets["binary_bytes"].Met, "met exactly when the stripped binary is ≤ 25,000,000 bytes")
		if v := rep.Targets["binary_bytes"].Value; assert.NotNil(t, v) {
			assert.Equal(t, float64(fi.Size()), *v)
		}
	}
}

// TestSimPlaceStandsAtTheTime: for every minute of the wall clock's day and times asked for,
// the zone handed to otj-sim exists in the zone database, the shift stays within half an hour,
// and the calendars' time of day (the zone's clock less the shift of their grid) is the one
// asked for, so the steady window falls at the same place of the simulated working day.
func TestSimPlaceStandsAtTheTime(t *testing.T) {
	day := time.Date(2026, 12, 7, 0, 0, 42, 0, time.UTC)
	for m := 0; m < 1440; m += 7 {
		at := day.Add(time.Duration(m) * time.Minute)
		for _, want := range []int{0, benchLocalTime, 10*60 + 59, 14*60 + 30, 23*60 + 45} {
			zone, shift := simPlace(at, want)
			loc, err := time.LoadLocation(zone)
			if !assert.NoError(t, err, "%s at %s UTC", zone, at.Format("15:04")) {
				continue
			}
			assert.LessOrEqual(t, shift.Abs(), 30*time.Minute, "%s at %s UTC", zone, at.Format("15:04"))
			got := at.In(loc).Add(-shift)
			assert.Equal(t, want, got.Hour()*60+got.Minute(), "%s %s at %s UTC", zone, shift, at.Format("15:04"))
		}
	}
}

// TestLocalTimeFromEnv: BENCH_LOCAL_TIME pins the time (10:28 by default), "machine" unpins it,
// and anything else is refused naming the variable.
func TestLocalTimeFromEnv(t *testing.T) {
	for _, tc := range []struct {
		in      string
		minutes int
		pinned  bool
	}{{"", benchLocalTime, true}, {"00:00", 0, true}, {"14:05", 14*60 + 5, true}, {"23:59", 23*60 + 59, true}, {"machine", 0, false}} {
		m, pinned, err := localTimeFromEnv(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.minutes, m, tc.in)
		assert.Equal(t, tc.pinned, pinned, tc.in)
	}
	for _, bad := range []string{"24:00", "10", "-1:00", "10:28:00", "noon"} {
		_, _, err := localTimeFromEnv(bad)
		assert.ErrorContains(t, err, "BENCH_LOCAL_TIME=", bad)
	}
}

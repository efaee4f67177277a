package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWebexScaleSmoke runs the scale scenario with Webex devices beside the LAN codecs through
// the real processes (otj-sim --webex, otj-edge) at 20 rooms, with webexsim's rate limit
// lowered so that the cold start meets 429s: the Webex devices' hot edits are all timed from
// the edit to the accepted webexsim Put, the device lags the LAN codec of its room by little,
// otj-edge never sends a request inside a Retry-After, and the report carries the figures and
// targets. It checks no timing target (make bench measures those).
func TestWebexScaleSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := buildAll(ctx, t.TempDir())
	require.NoError(t, err)
	t.Setenv("BENCH_WEBEX", "4")
	t.Setenv("BENCH_WEBEX_RATE_LIMIT", "4")
	t.Setenv("BENCH_WEBEX_RATE_WINDOW", "5s")

	const rooms = 20
	o := scaleOptions{source: "graph", rooms: rooms, meetings: 20, latency: 100 * time.Millisecond, window: 16 * time.Second,
		settle: time.Second, changes: 2, coldLimit: 2 * time.Minute,
		// As make bench runs: rooms share subjects, so the change probe finds the subject edit
		// too. The limit is generous because the settle is short: an edit made before the
		// probe's first look at its room waits for the room's own poll (20 s while probed),
		// which -race on a loaded 2-core CI machine can stretch past 40 s (it did once).
		freeBusy: graphsim.FreeBusyLimitedDetails, changeLimit: 2 * time.Minute,
		keep: true} // the agent's log, for its Webex lines when the test fails
	r, err := scaleRun(ctx, bins, o, "otj-edge", rooms)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			webexLog(t, filepath.Join(r.dir, "agent.log"))
		}
		if os.Getenv("BENCH_KEEP") == "" {
			os.RemoveAll(r.dir)
		}
	})
	require.NotNil(t, r.Webex, "otj-sim ran Webex devices")
	w := r.Webex
	assert.Equal(t, 4, w.Devices)
	assert.Equal(t, 2, w.HotChanges.Count, "one hot edit in each of two Webex devices' rooms")
	assert.Equal(t, 2, w.HotChanges.Seen, "every edit reached its Webex device")
	require.NotNil(t, w.HotChanges.P95)
	assert.LessOrEqual(t, *w.HotChanges.P95, o.changeLimit.Seconds())
	require.NotNil(t, w.P95BehindLAN, "the rooms' LAN codecs took the same edits")
	// The lowered rate limit makes webexsim answer 429s with a Retry-After the device waits out,
	// so it may lag its room's LAN codec by that wait (7.7 s seen under -race), not by a poll.
	assert.Less(t, *w.P95BehindLAN, 30.0, "the Webex device follows the LAN codec of its room, within a Retry-After")
	assert.Positive(t, w.RateLimited, "the lowered limit answered 429s")
	assert.Zero(t, w.Violations, "no request inside a Retry-After")
	assert.Zero(t, w.StaleRefreshes)
	assert.Positive(t, w.Requests)

	rep := Report{Figures: map[string]any{}}
	t.Cleanup(func() { edgeAtRooms = nil })
	edgeAtRooms = r
	headline(&rep, r)
	targets(&rep)
	webexTargets(&rep)
	assert.Equal(t, 4, rep.Figures["webex_devices"])
	assert.Contains(t, rep.Figures, "webex_p95_hot_change_seconds")
	assert.Contains(t, rep.Figures, "webex_retry_after_violations")
	if v := rep.Targets["webex_retry_after_violations"]; assert.NotNil(t, v.Met) {
		assert.True(t, *v.Met)
	}
	tg := rep.Targets["webex_p95_hot_change_seconds"]
	assert.NotNil(t, tg.Value)
	assert.NotNil(t, tg.Met)
	assert.Contains(t, tg.Note, "measured at 20 rooms with 4 Webex devices")
	assert.Contains(t, tg.Note, "behind the LAN codec of its room")
}

// webexLog prints the agent's Webex lines (the last 80): what a failed run did with the
// devices, its 429s and its pushes.
func webexLog(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("no agent log: %v", err)
		return
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "part=webex") {
			lines = append(lines, l)
		}
	}
	t.Logf("the agent's Webex lines (%d, the last 80):\n%s", len(lines), strings.Join(lines[max(0, len(lines)-80):], "\n"))
}

package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotifyWebexSmoke runs graph_notify's run with notifications through the real processes
// (otj-sim --notify --webex, otj-edge) at 12 rooms: every room subscribes, the Webex devices'
// hot edits are timed to the accepted webexsim Put, and the report carries issue 20's target
// for that run. It checks no timing target (make bench measures those at 1,000 rooms).
func TestNotifyWebexSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := buildAll(ctx, t.TempDir())
	require.NoError(t, err)
	t.Setenv("BENCH_WEBEX", "3")

	const rooms = 12
	o := scaleOptions{source: "graph", rooms: rooms, meetings: 20, latency: 50 * time.Millisecond, window: 12 * time.Second,
		settle: time.Second, changes: 2, changeLimit: 40 * time.Second, coldLimit: 2 * time.Minute}
	r, err := notifyRunAt(ctx, bins, o, rooms, true)
	require.NoError(t, err)
	require.NotNil(t, r.Notifications)
	assert.Equal(t, rooms, r.Notifications.Live, "every room subscribed")
	require.NotNil(t, r.Webex, "the run with notifications starts Webex devices")
	w := r.Webex
	assert.Equal(t, 3, w.Devices)
	assert.Equal(t, 2, w.HotChanges.Count, "one hot edit in each of two Webex devices' rooms")
	assert.Equal(t, 2, w.HotChanges.Seen, "every edit reached its Webex device")
	assert.Zero(t, w.Violations)

	rep := Report{Figures: map[string]any{}, Targets: map[string]Target{}}
	notifyTargets(&rep, rooms, r, nil)
	tg, ok := rep.Targets["graph_notify_webex_p95_hot_change_seconds"]
	require.True(t, ok, "the Webex target is in the report")
	require.NotNil(t, tg.Value)
	require.NotNil(t, tg.Met)
	assert.Equal(t, *tg.Value <= 10, *tg.Met)
	assert.Contains(t, tg.Note, "measured at 12 rooms")
}

// TestWebexNotifyTarget: the target is met only when the p95 is within 10 s, every edit arrived
// and Webex's Retry-After was always honoured; a run with no edit has no value.
func TestWebexNotifyTarget(t *testing.T) {
	with := &notifyRun{HotChanges: ChangeStats{P95: ptr(3.0)}}
	cases := []struct {
		name   string
		w      WebexFigures
		met    bool
		inNote string
	}{
		{"fast", WebexFigures{Devices: 100, HotChanges: ChangeStats{P95: ptr(4.2), Count: 20, Seen: 20}}, true, "hot p95 in the same run was 3.0 s"},
		{"slow", WebexFigures{Devices: 100, HotChanges: ChangeStats{P95: ptr(16.3), Count: 20, Seen: 20}}, false, ""},
		{"missed", WebexFigures{Devices: 100, HotChanges: ChangeStats{P95: ptr(4.2), Count: 20, Seen: 19, Missed: 1}}, false, "1 of 20 edits did not arrive"},
		{"violations", WebexFigures{Devices: 100, HotChanges: ChangeStats{P95: ptr(4.2), Count: 20, Seen: 20}, Violations: 2}, false, "2 requests inside a Retry-After"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := webexNotifyTarget(&c.w, with, "")
			require.NotNil(t, tg.Met)
			assert.Equal(t, c.met, *tg.Met)
			assert.Equal(t, *c.w.HotChanges.P95, *tg.Value)
			assert.Contains(t, tg.Note, c.inNote)
		})
	}
	none := webexNotifyTarget(&WebexFigures{Devices: 3}, with, "")
	assert.Nil(t, none.Value)
	assert.Nil(t, none.Met)
	assert.Contains(t, none.Note, "no edit measured")
}

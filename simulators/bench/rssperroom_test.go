package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The line goes through the two largest room counts of otj-edge's runs, whatever order they
// ran in; the naive poller's runs and missing runs do not count. Figures as measured in
// December 2026: 53.3 MB at 100 rooms and 88.7 MB at 1,000.
func TestSteadyRSSPerRoomIsTheLineThroughTheTwoLargestRuns(t *testing.T) {
	runs := []*Run{
		{Strategy: "otj-edge", Rooms: 1000, SteadyRSSMB: 88.7},
		{Strategy: "otj-edge", Rooms: 10, SteadyRSSMB: 49.0},
		{Strategy: "naive", Rooms: 5000, SteadyRSSMB: 70},
		{Strategy: "otj-edge", Rooms: 100, SteadyRSSMB: 53.3},
		nil,
	}
	l, ok := steadyRSSPerRoom(runs)
	require.True(t, ok)
	assert.Equal(t, 100, l.From)
	assert.Equal(t, 1000, l.To)
	assert.InDelta(t, 40.28, l.PerRoomKB, 0.01, "(88.7 − 53.3) MiB ÷ 900 rooms, in KiB")
	assert.InDelta(t, 49.37, l.BaseMB, 0.01, "53.3 MiB less 100 rooms' worth")

	rep := &Report{Figures: map[string]any{}}
	reportRSSPerRoom(rep, runs)
	assert.Equal(t, l.PerRoomKB, rep.Figures["steady_rss_per_room_kb"])
	assert.Equal(t, l.BaseMB, rep.Figures["steady_rss_base_mb"])
	assert.Equal(t, []int{100, 1000}, rep.Figures["steady_rss_per_room_between"])
}

func TestSteadyRSSPerRoomNeedsTwoRoomCounts(t *testing.T) {
	_, ok := steadyRSSPerRoom([]*Run{{Strategy: "otj-edge", Rooms: 1000, SteadyRSSMB: 88.7}, {Strategy: "otj-edge", Rooms: 1000, SteadyRSSMB: 90}})
	assert.False(t, ok, "one room count")
	rep := &Report{Figures: map[string]any{}}
	reportRSSPerRoom(rep, nil)
	assert.NotContains(t, rep.Figures, "steady_rss_per_room_kb")
}

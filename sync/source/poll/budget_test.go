package poll

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

func TestCounterKeyIsTheDailyReportsKeyPerSourceAndLocalDay(t *testing.T) {
	oslo := time.FixedZone("CET", 3600)
	// 23:30 UTC is already the next day in Oslo: the count belongs to the local day.
	at := time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC).In(oslo)
	assert.Equal(t, "ews.requests.onprem.2026-11-24", CounterKey("ews", "onprem", at))
	assert.Equal(t, "google.requests.workspace.2026-11-24", CounterKey("google", "workspace", at))
	assert.Equal(t, time.Date(2026, 11, 25, 0, 0, 0, 0, oslo), NextMidnight(at))
}

// perHour is a cost of so many polls an hour, hot or lean.
func perHour(full, lean float64) Cost {
	return func(from, to time.Time, runningHot bool) float64 {
		if runningHot {
			return full * to.Sub(from).Hours()
		}
		return lean * to.Sub(from).Hours()
	}
}

func TestPlanDayRunsHotWhenEverythingFits(t *testing.T) {
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p := PlanDay(noon, 10_000, 0, 10, 6, perHour(100, 50))
	assert.True(t, p.RunningHot)
	assert.Equal(t, 1.0, p.Stretch)
	// 12 h of hot polls (1,200) and half a day of 10 rooms' overhead of 6 (30).
	assert.Equal(t, int64(1230), p.ProjectedToday)
	assert.Equal(t, int64(2400+60), p.Projected24h)
}

func TestPlanDayStretchesSoTheRestOfTheDayStaysWithinTheBudget(t *testing.T) {
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	// Half the budget is spent by noon: 950 − 500 − 30 leaves 420 for 600 lean polls.
	p := PlanDay(noon, 1000, 500, 10, 6, perHour(100, 50))
	assert.False(t, p.RunningHot, "running meetings are not kept hot on a tight budget")
	assert.InDelta(t, 600.0/420, p.Stretch, 1e-9)
	assert.InDelta(t, 950, p.ProjectedToday, 1, "the projection lands at the headroom, not over it")
	assert.LessOrEqual(t, p.ProjectedToday, int64(BudgetHeadroom*1000))
	assert.InDelta(t, 900, p.Projected24h, 1)
}

func TestPollCostCountsRoomsToFixAtTheirRetryOnly(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	pace := Pace{Hot: time.Minute, Cold: 10 * time.Minute, Lead: 30 * time.Minute, Fix: 30 * time.Minute}
	meeting := []store.Span{{Start: t0.Add(90 * time.Minute), End: t0.Add(2 * time.Hour)}}
	rooms := map[string][]store.Span{
		store.RoomOK:           meeting, // hot 9:00–9:30 on the lean plan (30 polls) + 2.5 h cold (15)
		store.RoomPolicyDenied: meeting, // every 30 min whatever its meetings: 6
	}
	cost := PollCost(maps.All(rooms), t0, t0.Add(3*time.Hour), pace, false)
	assert.InDelta(t, 30+15+6, cost, 1e-9)
	assert.InDelta(t, 60+12+6, PollCost(maps.All(rooms), t0, t0.Add(3*time.Hour), pace, true), 1e-9,
		"running meetings keep the room hot to their end")
}

func TestHotAndNextHotFollowTheLeadBeforeAMeeting(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	spans := []store.Span{{Start: t0, End: t0.Add(time.Hour)}, {Start: t0.Add(3 * time.Hour), End: t0.Add(4 * time.Hour)}}
	lead := 30 * time.Minute
	assert.False(t, Hot(spans, t0.Add(-31*time.Minute), lead, false))
	assert.True(t, Hot(spans, t0.Add(-30*time.Minute), lead, false))
	assert.False(t, Hot(spans, t0.Add(10*time.Minute), lead, false), "a running meeting is cold on the lean plan")
	assert.True(t, Hot(spans, t0.Add(10*time.Minute), lead, true))
	assert.Equal(t, t0.Add(150*time.Minute), NextHot(spans, t0, lead, false))
	assert.True(t, NextHot(spans, t0.Add(3*time.Hour), lead, false).IsZero(), "no meeting ahead")
}

func TestRollOffsetSpreadsRoomsAndIsStable(t *testing.T) {
	assert.Zero(t, RollOffset("a@example.com", 0))
	spread := time.Hour
	seen := map[time.Duration]bool{}
	for _, mb := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		off := RollOffset(mb, spread)
		require.Equal(t, off, RollOffset(mb, spread), "a room keeps its turn")
		require.GreaterOrEqual(t, off, time.Duration(0))
		require.Less(t, off, spread)
		seen[off] = true
	}
	assert.Greater(t, len(seen), 1, "rooms roll at different times")
}

func TestRolledWaitsForTheRoomsTurnPastMidnight(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 10, 0, 0, time.UTC)
	ws, we := Window(7, now)
	assert.False(t, Rolled(ws, we, 7, now, time.Hour), "today's window")
	yws, ywe := ws.AddDate(0, 0, -1), we.AddDate(0, 0, -1)
	assert.False(t, Rolled(yws, ywe, 7, now, time.Hour), "yesterday's window before the room's turn")
	assert.True(t, Rolled(yws, ywe, 7, now, 10*time.Minute), "yesterday's window at the room's turn")
	assert.True(t, Rolled(ws.AddDate(0, 0, -2), we.AddDate(0, 0, -2), 7, now, time.Hour), "an older window at once")
	assert.True(t, Rolled(ws, we, 14, now, time.Hour), "a longer window asked for")
}

func TestEarliestBringsAPollForwardButNeverToZero(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	assert.Equal(t, t0, Earliest(t0, time.Time{}, t0.Add(time.Minute)))
	assert.Equal(t, t0.Add(-time.Minute), Earliest(t0, t0.Add(-time.Minute), time.Time{}))
	assert.Equal(t, t0.Add(30*time.Second), Replan(t0, t0.Add(time.Minute)))
	assert.Equal(t, t0.Add(time.Second), Replan(t0, t0.Add(time.Second)), "a sooner plan stays")
}

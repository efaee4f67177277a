package poll

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
)

func TestWindowIsStartOfYesterdayToEndOfTodayPlusUpcomingDays(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	ws, we := Window(7, now)
	require.Equal(t, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), ws)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), we)
}

func TestFitPlanStretchesOnlyWhenTheLeanPlanOverspends(t *testing.T) {
	hot, s := FitPlan(100, 50, 200, 1000)
	require.True(t, hot)
	require.Equal(t, 1.0, s)
	hot, s = FitPlan(100, 50, 60, 1000)
	require.False(t, hot)
	require.Equal(t, 1.0, s)
	_, s = FitPlan(100, 50, 25, 1000)
	require.Equal(t, 2.0, s)
}

func TestHotSecondsMergesOverlappingPeriods(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	spans := []store.Span{{Start: t0, End: t0.Add(time.Hour)}, {Start: t0.Add(10 * time.Minute), End: t0.Add(30 * time.Minute)}}
	// Lead 30 min, running counts: [8:30, 10:00) = 90 min.
	require.Equal(t, 90*60.0, HotSeconds(spans, t0.Add(-2*time.Hour), t0.Add(2*time.Hour), 30*time.Minute, true))
	// Lead only: [8:30, 9:00) ∪ [8:40, 9:10) = 40 min.
	require.Equal(t, 40*60.0, HotSeconds(spans, t0.Add(-2*time.Hour), t0.Add(2*time.Hour), 30*time.Minute, false))
}

func TestBackoffDoublesToFiveMinutesAndJitterStaysInBounds(t *testing.T) {
	require.Equal(t, 5*time.Second, Backoff(1))
	require.Equal(t, 10*time.Second, Backoff(2))
	require.Equal(t, 5*time.Minute, Backoff(20))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		d := Jitter(rng, 0.1, time.Minute)
		require.True(t, d >= 54*time.Second && d <= 66*time.Second, d)
	}
}

type item struct {
	due time.Time
	idx int
}

func (i *item) DueAt() time.Time { return i.due }
func (i *item) HeapIndex() *int  { return &i.idx }

func TestHeapPopsSoonestFirstAndQueueMovesAnItem(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var h Heap[*item]
	a, b, c := &item{due: t0.Add(3 * time.Minute), idx: -1}, &item{due: t0.Add(time.Minute), idx: -1}, &item{due: t0.Add(2 * time.Minute), idx: -1}
	for _, it := range []*item{a, b, c} {
		h.Queue(it)
	}
	a.due = t0
	h.Queue(a)
	require.Same(t, a, heap.Pop(&h).(*item))
	require.Equal(t, -1, a.idx)
	require.Same(t, b, heap.Pop(&h).(*item))
	require.Same(t, c, heap.Pop(&h).(*item))
}

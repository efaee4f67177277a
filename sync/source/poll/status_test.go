package poll

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source"
)

var kinds = Kinds{Error: "sync.error", Recovered: "sync.recovered"}

func TestTransitionWarnsOfPassingTroubleOnlyWhenItLasts(t *testing.T) {
	o := Outcome{Status: store.RoomTransient, Code: "503", Detail: "Exchange failed the request (503); retrying"}
	for n := 1; n <= 2; n++ {
		ev, out := Transition(kinds, "onprem", "r@x", History{Failures: n}, o)
		require.Nil(t, ev, "failure %d", n)
		require.False(t, out)
	}
	ev, out := Transition(kinds, "onprem", "r@x", History{Failures: 3}, o)
	require.NotNil(t, ev)
	assert.True(t, out)
	assert.Equal(t, store.Event{Kind: "sync.error", Level: "warn", Room: "r@x", Message: "r@x: " + o.Detail,
		Data: map[string]any{"status": store.RoomTransient, "code": "503", "integration": "onprem"}}, *ev)
	ev, out = Transition(kinds, "onprem", "r@x", History{Emitted: true, Failures: 4, Status: store.RoomTransient, LastCode: "503"}, o)
	assert.Nil(t, ev, "said once")
	assert.True(t, out)

	ev, out = Transition(kinds, "onprem", "r@x", History{Emitted: true}, Outcome{Status: store.RoomOK})
	require.NotNil(t, ev)
	assert.False(t, out)
	assert.Equal(t, store.Event{Kind: "sync.recovered", Level: "info", Room: "r@x", Message: "r@x: calendar sync works again",
		Data: map[string]any{"integration": "onprem"}}, *ev)
	ev, out = Transition(kinds, "onprem", "r@x", History{}, Outcome{Status: store.RoomOK})
	assert.Nil(t, ev, "no recovery without an error out")
	assert.False(t, out)
}

func TestTransitionTellsAtOnceWhatAPersonMustFixAndAgainWhenItChanges(t *testing.T) {
	denied := Outcome{Status: store.RoomPolicyDenied, Code: "403 forbidden", Detail: "share the calendar"}
	ev, _ := Transition(kinds, "ws", "r@x", History{Failures: 1}, denied)
	require.NotNil(t, ev)
	assert.Equal(t, "error", ev.Level)
	h := History{Emitted: true, Failures: 2, Status: store.RoomPolicyDenied, LastCode: "403 forbidden"}
	ev, out := Transition(kinds, "ws", "r@x", h, denied)
	assert.Nil(t, ev)
	assert.True(t, out)
	ev, _ = Transition(kinds, "ws", "r@x", h, Outcome{Status: store.RoomPolicyDenied, Code: "403 other", Detail: "x"})
	assert.NotNil(t, ev, "a new code is news")
	ev, _ = Transition(kinds, "ws", "r@x", h, Outcome{Status: store.RoomNotFound, Code: "404", Detail: "x"})
	assert.NotNil(t, ev, "a new status is news")
}

func TestFailedShowsTheRetryOnlyOfAThrottledRoom(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	due := now.Add(time.Minute)
	prev := store.RoomState{Status: store.RoomOK, RetryAfter: now.Add(-time.Hour)}
	st, changed := Failed(prev, Outcome{Status: store.RoomThrottled, Detail: "slow down"}, "onprem", now, due)
	assert.True(t, changed)
	assert.Equal(t, store.RoomState{Status: store.RoomThrottled, StatusDetail: "slow down", LastAttempt: now, Integration: "onprem", RetryAfter: due}, st)
	st, changed = Failed(st, Outcome{Status: store.RoomThrottled, Detail: "slow down"}, "onprem", now, due)
	assert.False(t, changed, "the same words again are no news")
	st, _ = Failed(st, Outcome{Status: store.RoomTransient, Detail: "retrying"}, "onprem", now, due)
	assert.True(t, st.RetryAfter.IsZero())
}

func TestTallyReportsTheSameHealthLinesForEverySource(t *testing.T) {
	report := func(rooms map[string]string, order []string, exhausted, note string) health.Item {
		h := health.New(nil)
		var tl Tally
		for _, n := range order {
			tl.Add(n, rooms[n])
		}
		tl.Report(h, "ews/onprem", exhausted, note)
		return h.Snapshot()[0]
	}
	order := []string{"d@x", "c@x", "b@x", "a@x"}
	all := map[string]string{"a@x": store.RoomOK, "b@x": store.RoomOK, "c@x": store.RoomOK, "d@x": store.RoomOK}
	assert.Equal(t, "4 rooms in sync", report(all, order, "", "").Message)
	assert.Equal(t, "4 rooms in sync; streaming", report(all, order, "", "streaming").Message)
	it := report(all, order, "the daily quota is used up", "")
	assert.Equal(t, health.Warning, it.Level)
	assert.Equal(t, "the daily quota is used up", it.Message)

	mixed := map[string]string{"a@x": store.RoomNotFound, "b@x": store.RoomAuthFailed, "c@x": store.RoomNotFound, "d@x": ""}
	it = report(mixed, order, "", "")
	assert.Equal(t, health.Warning, it.Level)
	assert.Equal(t, "3 of 4 rooms not syncing (1 auth_failed, 2 not_found): a@x not_found, b@x auth_failed, c@x not_found", it.Message)
	mixed["d@x"] = store.RoomNotFound
	it = report(mixed, order, "the daily quota is used up", "")
	assert.Equal(t, health.Error, it.Level, "nothing syncing outranks the budget")
	assert.Equal(t, "no room syncs: 1 auth_failed, 3 not_found", it.Message)
	first := map[string]string{"a@x": store.RoomOK, "b@x": "", "c@x": store.RoomPending, "d@x": store.RoomOK}
	assert.Equal(t, "first sync: 2 of 4 rooms done", report(first, order, "", "").Message)
}

func TestCountRoomCountsAnUnreadRoomAsPending(t *testing.T) {
	var st source.Stats
	CountRoom(&st, "", false, false)
	CountRoom(&st, store.RoomOK, true, true)
	assert.Equal(t, source.Stats{Rooms: map[string]int{store.RoomPending: 1, store.RoomOK: 1}, HotRooms: 1, Synced: 1}, st)
}

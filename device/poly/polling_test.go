package poly

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
)

// TestNotPollingAlarmFiresAndClears runs in virtual time: an endpoint polls every minute, the
// service learns that interval, the endpoint stops, and once it has been silent for longer than
// not_polling_factor × its interval the alarm is raised (state not_polling, health warning,
// event); when it polls again the alarm clears.
func TestNotPollingAlarmFiresAndClears(t *testing.T) {
	f := newFixture(t)
	f.opts.NotPollingFactor = 3
	svc := f.start()
	fl := f.fleet(svc, nil)
	ep := fl.Endpoint("poly-a")
	changes := f.st.Subscribe(store.TopicEndpoints)
	defer changes.Close()

	// Three polls a minute apart (each a GetFolder/FindItem/GetItem burst).
	for i := range 3 {
		if i > 0 {
			waitTimer(t, f.clk, 1)
			f.clk.Advance(time.Minute)
		}
		require.NoError(t, ep.PollNow(t.Context()))
	}
	row, _, err := f.st.Endpoint(t.Context(), "poly-a")
	require.NoError(t, err)
	assert.Equal(t, time.Minute, row.PollEvery, "the usual interval is learnt")
	assert.Equal(t, store.EndpointUp, row.State)
	assert.Equal(t, t0.Add(2*time.Minute), row.LastPoll)
	assert.Equal(t, health.OK, healthOf(f.health, "poly/poly-a").Level)
	assert.Contains(t, healthOf(f.health, "poly/poly-a").Message, "about every 1m0s")

	ep.SetFaults(polysim.Faults{StopPolling: true})
	require.ErrorIs(t, ep.PollNow(t.Context()), polysim.ErrStopped)

	// 2m50s of silence is within 3 × 1m: no alarm.
	changes.Take()
	waitTimer(t, f.clk, 1)
	f.clk.Advance(2*time.Minute + 50*time.Second)
	waitTimer(t, f.clk, 1) // the monitor has looked and gone back to sleep
	row, _, _ = f.st.Endpoint(t.Context(), "poly-a")
	assert.Equal(t, store.EndpointUp, row.State)
	assert.NotContains(t, kinds(events(t, f.st, "poly-a")), "endpoint.not_polling")

	// Past 3 minutes: the alarm.
	f.clk.Advance(30 * time.Second)
	waitChange(t, changes, "poly-a")
	row, _, _ = f.st.Endpoint(t.Context(), "poly-a")
	assert.Equal(t, store.EndpointNotPolling, row.State)
	assert.Contains(t, row.Detail, "usually every 1m0s")
	h := healthOf(f.health, "poly/poly-a")
	assert.Equal(t, health.Warning, h.Level)
	assert.Contains(t, h.Message, "no poll for 3m")
	evs := events(t, f.st, "poly-a")
	last := evs[len(evs)-1]
	assert.Equal(t, "endpoint.not_polling", last.Kind)
	assert.Equal(t, "warn", last.Level)
	assert.Equal(t, roomA, last.Room)

	// poly-b never polled: no alarm for it (it only gets a health note after a grace time).
	rowB, _, _ := f.st.Endpoint(t.Context(), "poly-b")
	assert.Equal(t, store.EndpointUnknown, rowB.State)

	// The alarm is raised once, not at every check.
	waitTimer(t, f.clk, 1)
	f.clk.Advance(10 * time.Minute)
	waitTimer(t, f.clk, 1)
	assert.Len(t, events(t, f.st, "poly-a"), len(evs))

	// Polls resume: cleared.
	ep.SetFaults(polysim.Faults{})
	require.NoError(t, ep.PollNow(t.Context()))
	row, _, _ = f.st.Endpoint(t.Context(), "poly-a")
	assert.Equal(t, store.EndpointUp, row.State)
	assert.Equal(t, health.OK, healthOf(f.health, "poly/poly-a").Level)
	evs = events(t, f.st, "poly-a")
	assert.Equal(t, "endpoint.polling", evs[len(evs)-1].Kind)
	assert.Equal(t, time.Minute, row.PollEvery, "the outage does not count as an interval")

	// An endpoint that never polls gets a health warning after the grace time, but no alarm.
	waitTimer(t, f.clk, 1)
	f.clk.Advance(firstPollGrace)
	waitTimer(t, f.clk, 1)
	assert.Equal(t, health.Warning, healthOf(f.health, "poly/poly-b").Level)
	assert.Contains(t, healthOf(f.health, "poly/poly-b").Message, "has not polled the calendar service yet")
	assert.Empty(t, events(t, f.st, "poly-b"))
}

// TestRestartDoesNotRaiseFalseAlarms: after the agent was down for an hour, endpoints get their
// usual grace from the restart before being called silent, and the remembered interval is used.
func TestRestartDoesNotRaiseFalseAlarms(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.st.UpdateEndpoint(t.Context(), "poly-a", func(e *store.EndpointState) error {
		e.State, e.LastPoll, e.PollEvery = store.EndpointUp, t0.Add(-time.Hour), 2*time.Minute
		return nil
	}))
	changes := f.st.Subscribe(store.TopicEndpoints)
	defer changes.Close()
	f.start()
	waitTimer(t, f.clk, 1)
	f.clk.Advance(5 * time.Minute) // < 3 × 2m since the restart
	waitTimer(t, f.clk, 1)
	row, _, _ := f.st.Endpoint(t.Context(), "poly-a")
	assert.Equal(t, store.EndpointUp, row.State)

	f.clk.Advance(2 * time.Minute) // now past 6m since the restart
	waitChange(t, changes, "poly-a")
	row, _, _ = f.st.Endpoint(t.Context(), "poly-a")
	assert.Equal(t, store.EndpointNotPolling, row.State)
	assert.Contains(t, row.Detail, "usually every 2m0s")
}

// waitChange waits for a change notice for key.
func waitChange(t *testing.T, sub *store.Sub, key string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, k := range sub.Take() {
			if k == key {
				return
			}
		}
		select {
		case <-sub.C:
		case <-deadline:
			t.Fatalf("no change to %s", key)
		}
	}
}

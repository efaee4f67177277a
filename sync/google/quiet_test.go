package google

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/sync/source"
)

// A day's plan due at the clock's time is work the scheduler has yet to do: Quiet says so
// until the plan is made (as sync/graph's and sync/ews's Quiet).
func TestQuietWaitsForADuePlan(t *testing.T) {
	e := newSimEnv(t, nil)
	s, err := New(Options{Integration: e.integration(), Rooms: []source.Room{{Mailbox: e.rooms[0], UpcomingDays: 7}},
		Store: e.st, Clock: e.clk, Health: health.New(e.clk.Now), HTTPClient: e.g.HTTPClient(), Tuning: Tuning{Seed: 1}})
	require.NoError(t, err)
	now := e.clk.Now()
	s.mu.Lock()
	require.NotEmpty(t, s.rooms)
	for _, r := range s.rooms {
		r.due = now.Add(time.Hour)
	}
	s.budget.nextPlan = now
	s.mu.Unlock()
	assert.False(t, s.Quiet(), "the plan is due")
	s.mu.Lock()
	s.budget.nextPlan = now.Add(time.Minute)
	s.mu.Unlock()
	assert.True(t, s.Quiet(), "nothing due")
}

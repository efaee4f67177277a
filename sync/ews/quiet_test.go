package ews

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
)

// A day's plan due at the clock's time is work the scheduler has yet to do: Quiet says so
// until the plan is made, so a fake-clock test that moved the clock past it never reads a
// projection the plan has not redone yet (as sync/graph's Quiet).
func TestQuietWaitsForADuePlan(t *testing.T) {
	h := newSimHarness(t, ewssim.Options{}, simRoom(1))
	s, err := New(Options{Integration: h.in, Rooms: h.rooms, Store: h.st, Clock: h.clk, Health: h.health, Tuning: Tuning{Seed: 1}})
	require.NoError(t, err)
	now := h.clk.Now()
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

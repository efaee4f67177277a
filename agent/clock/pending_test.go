package clock

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPendingReleasesWaitersWhenTheLastWorkIsDone: a waiter is told once the count is back to
// zero, not before.
func TestPendingReleasesWaitersWhenTheLastWorkIsDone(t *testing.T) {
	var p Pending
	idle, _ := p.Idle()
	assert.True(t, idle)
	p.Add(2)
	idle, done := p.Idle()
	require.False(t, idle)
	p.Add(-1)
	select {
	case <-done:
		t.Fatal("released with work still pending")
	default:
	}
	p.Add(-1)
	<-done // closed now
	idle, _ = p.Idle()
	assert.True(t, idle)
}

package goroutines

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
)

func parkedHere(stop <-chan struct{}) { <-stop }

func parkedElsewhere(stop <-chan struct{}) { parkedHere(stop) }

// TestParkedFindsTheGoroutinesWaitingInAFrame: three goroutines wait in parkedHere, one of
// them called through parkedElsewhere; the count sees all three, the exception drops the one,
// and the bubble's own goroutine, running, is not counted. synctest.Wait returns once all
// three are blocked: a "ready" send before the receive (as this test had) let a goroutine
// still be runnable on its way to the receive, and a loaded CI machine caught it there.
func TestParkedFindsTheGoroutinesWaitingInAFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		go parkedHere(stop)
		go parkedHere(stop)
		go parkedElsewhere(stop)
		synctest.Wait()
		assert.Equal(t, 3, Parked("goroutines.parkedHere("))
		assert.Equal(t, 2, Parked("goroutines.parkedHere(", "goroutines.parkedElsewhere("))
		assert.Zero(t, Parked("goroutines.nowhere("))
		const running = "goroutines.TestParkedFindsTheGoroutinesWaitingInAFrame.func1("
		assert.Zero(t, Parked(running), "the running test")
		assert.Equal(t, 1, All(running), "All counts it")
	})
}

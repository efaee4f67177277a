package goroutines

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func parkedHere(ready chan<- struct{}, stop <-chan struct{}) {
	ready <- struct{}{}
	<-stop
}

func parkedElsewhere(ready chan<- struct{}, stop <-chan struct{}) { parkedHere(ready, stop) }

// TestParkedFindsTheGoroutinesWaitingInAFrame: three goroutines wait in parkedHere, one of
// them called through parkedElsewhere; the count sees all three, the exception drops the one,
// and the test's own goroutine, running, is not counted.
func TestParkedFindsTheGoroutinesWaitingInAFrame(t *testing.T) {
	ready, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	go parkedHere(ready, stop)
	go parkedHere(ready, stop)
	go parkedElsewhere(ready, stop)
	for range 3 {
		<-ready
	}
	assert.Equal(t, 3, Parked("goroutines.parkedHere("))
	assert.Equal(t, 2, Parked("goroutines.parkedHere(", "goroutines.parkedElsewhere("))
	assert.Zero(t, Parked("goroutines.nowhere("))
	assert.Zero(t, Parked("goroutines.TestParkedFindsTheGoroutinesWaitingInAFrame("), "the running test")
	assert.Equal(t, 1, All("goroutines.TestParkedFindsTheGoroutinesWaitingInAFrame("), "All counts it")
}

package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFakeFiresTimersInOrderOnAdvance(t *testing.T) {
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	f := NewFake(start)
	late := f.NewTimer(10 * time.Minute)
	early := f.NewTimer(time.Minute)
	stopped := f.NewTimer(2 * time.Minute)
	assert.True(t, stopped.Stop())

	f.Advance(5 * time.Minute)
	assert.Equal(t, start.Add(time.Minute), <-early.C())
	select {
	case <-late.C():
		t.Fatal("the 10 minute timer fired after 5 minutes")
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	assert.Equal(t, start.Add(5*time.Minute), f.Now())

	late.Reset(time.Minute)
	f.Advance(time.Minute)
	assert.Equal(t, start.Add(6*time.Minute), <-late.C())
	assert.Zero(t, f.Timers())
}

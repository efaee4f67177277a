package clock

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestSpreadOffsetIsStableAndFillsTheSpread: a key keeps its offset, offsets stay inside the
// spread in whole seconds and fill it evenly; no spread (or under a second) is no offset.
func TestSpreadOffsetIsStableAndFillsTheSpread(t *testing.T) {
	assert.Zero(t, SpreadOffset("room-1", 0))
	assert.Zero(t, SpreadOffset("room-1", 999*time.Millisecond))
	assert.Zero(t, SpreadOffset("room-1", -time.Minute))
	const spread = 10 * time.Minute
	perMinute := map[time.Duration]int{}
	for i := range 1000 {
		key := fmt.Sprintf("room-%04d", i)
		off := SpreadOffset(key, spread)
		assert.Equal(t, off, SpreadOffset(key, spread), "%s keeps its turn", key)
		assert.True(t, off >= 0 && off < spread && off%time.Second == 0, "%s at %s", key, off)
		perMinute[off/time.Minute]++
	}
	assert.Len(t, perMinute, 10)
	for m, n := range perMinute {
		assert.InDelta(t, 100, n, 40, "minute %d holds about a tenth", m)
	}
}

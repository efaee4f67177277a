package bookings

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestMidnightPushesAreSpread: each endpoint's push for the day's roll comes at its own time
// after the skew, the same every day, and a site's endpoints are spread over the whole spread
// rather than arriving together.
func TestMidnightPushesAreSpread(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2026, 3, 4, 21, 0, 0, 0, loc)
	midnight := time.Date(2026, 3, 5, 0, 0, 0, 0, loc)
	perMinute := map[int]int{}
	for i := range 1000 {
		name := fmt.Sprintf("room-%04d-codec", i+1)
		at := MidnightPush(now, loc, 30*time.Second, DefaultMidnightSpread, name)
		off := at.Sub(midnight)
		assert.True(t, off >= 30*time.Second && off < 30*time.Second+DefaultMidnightSpread, "%s at %s", name, off)
		assert.Equal(t, at.Add(24*time.Hour), MidnightPush(at, loc, 30*time.Second, DefaultMidnightSpread, name), "the next day at the same time")
		perMinute[int((off-30*time.Second)/time.Minute)]++
	}
	assert.Len(t, perMinute, 10, "every minute of the spread has pushes")
	for m, n := range perMinute {
		assert.InDelta(t, 100, n, 40, "minute %d of 10 holds about a tenth of 1,000 endpoints", m)
	}
	assert.Equal(t, midnight.Add(30*time.Second), MidnightPush(now, loc, 30*time.Second, -1, "room-0001-codec"), "a negative spread: all at the skew")
	assert.Equal(t, midnight.Add(30*time.Second), MidnightPush(now, loc, 30*time.Second, 999*time.Millisecond, "room-0001-codec"), "under a second: all at the skew")
}

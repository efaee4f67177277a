package health

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTrackerOrdersWorstFirstAndKeepsSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	tr := New(func() time.Time { return now })
	changed, stop := tr.Subscribe()
	other, stopOther := tr.Subscribe()
	defer stopOther()
	tr.OK("store", "")
	tr.Warn("graph/m365", "throttled")
	tr.Fail("cisco/codec-1", "wrong username or password")
	<-changed
	<-other // every subscriber hears it
	stop()

	snap := tr.Snapshot()
	assert.Equal(t, []string{"cisco/codec-1", "graph/m365", "store"}, []string{snap[0].Component, snap[1].Component, snap[2].Component})
	assert.Equal(t, Error, tr.Overall())
	assert.Len(t, tr.Problems(), 2)

	now = now.Add(time.Minute)
	tr.Warn("graph/m365", "still throttled")
	assert.Equal(t, now.Add(-time.Minute), tr.Snapshot()[1].Since, "since moves only when the level changes")

	tr.Remove("cisco/codec-1")
	tr.OK("graph/m365", "")
	assert.Equal(t, OK, tr.Overall())
}

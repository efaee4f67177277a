package poll

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otj-edge/otj-edge/store"
)

// TestPendingKeepsTheNewestPoll: a failed write's polls come back without taking a room's
// newer poll back, and a room's full write drops its unsaved poll.
func TestPendingKeepsTheNewestPoll(t *testing.T) {
	t1 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var p Pending
	p.Poll("a", store.RoomPoll{Cursor: "a1", At: t1})
	p.Poll("b", store.RoomPoll{Cursor: "b1", At: t1})
	taken := p.Take()
	assert.Len(t, taken, 2)
	p.Poll("a", store.RoomPoll{Cursor: "a2", At: t1.Add(time.Minute)}) // polled again while the write failed
	p.Return(taken)
	again := p.Take()
	assert.Equal(t, "a2", again["a"].Cursor, "the newer poll wins")
	assert.Equal(t, "b1", again["b"].Cursor, "the failed write's poll is kept")
	p.Return(again)
	p.Drop("a")
	assert.NotContains(t, p.Take(), "a")
	assert.Empty(t, p.Take())
}

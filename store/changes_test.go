package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTakeSeesATransactionsTopicsTogether: a transaction that changes a room under two topics
// (a sync round: its events and its sync state) is seen by Take under both topics at once or
// not at all, however the taker's reads and the writer's commits interleave. A subscriber that
// saw only one of them acted on the room twice (the processor resolved it twice).
func TestTakeSeesATransactionsTopicsTogether(t *testing.T) {
	s, _ := openTemp(t, Options{})
	events, rooms := s.Subscribe(TopicEvents), s.Subscribe(TopicRooms)
	defer events.Close()
	defer rooms.Close()
	const writes = 300
	done := make(chan error, 1)
	go func() {
		for i := range writes {
			err := s.Write(t.Context(), func(tx *Tx) error {
				room := fmt.Sprintf("room-%03d", i)
				tx.Changed(TopicEvents, room)
				tx.Changed(TopicRooms, room)
				return nil
			})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var seen []string
	for finished := false; !finished; {
		select {
		case err := <-done:
			require.NoError(t, err)
			finished = true
		default:
		}
		taken := Take(events, rooms)
		require.Equal(t, taken[0], taken[1], "a transaction's notices taken apart")
		seen = append(seen, taken[0]...)
	}
	assert.Len(t, seen, writes, "every room's notice taken once")
	assert.True(t, slices.IsSorted(seen))
}

// TestTakeRefusesSubscriptionsOfTwoStores: one moment exists only within one store.
func TestTakeRefusesSubscriptionsOfTwoStores(t *testing.T) {
	a, _ := openTemp(t, Options{})
	b, _ := openTemp(t, Options{})
	sa, sb := a.Subscribe(TopicEvents), b.Subscribe(TopicRooms)
	defer sa.Close()
	defer sb.Close()
	assert.Panics(t, func() { Take(sa, sb) })
	assert.Equal(t, [][]string{}, Take())
}

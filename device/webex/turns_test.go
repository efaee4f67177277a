package webex

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/webexsim"
)

// TestTurnsGoByPriorityThenArrival: the connection's slot goes to the waiting change before
// the full push before the reads, and to the first come within one priority.
func TestTurnsGoByPriorityThenArrival(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr turns
		require.NoError(t, tr.acquire(t.Context(), prioRead))
		order := make(chan string, 8)
		queue := func(name string, p priority) {
			go func() {
				if tr.acquire(t.Context(), p) == nil {
					order <- name
					tr.release()
				}
			}()
			synctest.Wait() // it waits in the queue before the next one comes
		}
		queue("read 1", prioRead)
		queue("push", prioPush)
		queue("read 2", prioRead)
		queue("change 1", prioChange)
		queue("change 2", prioChange)
		tr.release()
		var got []string
		for range 5 {
			got = append(got, <-order)
		}
		assert.Equal(t, []string{"change 1", "change 2", "push", "read 1", "read 2"}, got)
		require.NoError(t, tr.acquire(t.Context(), prioRead), "the slot is free again")
		tr.release()
	})
}

// TestTurnsWaiterThatGivesUpLeavesTheQueue: a request whose context ends while it waits
// leaves no hole: the slot goes on to the next one.
func TestTurnsWaiterThatGivesUpLeavesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr turns
		require.NoError(t, tr.acquire(t.Context(), prioRead))
		ctx, cancel := context.WithCancel(t.Context())
		gave := make(chan error, 1)
		go func() { gave <- tr.acquire(ctx, prioChange) }()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-gave, context.Canceled)
		got := make(chan struct{})
		go func() {
			if tr.acquire(t.Context(), prioRead) == nil {
				close(got)
			}
		}()
		synctest.Wait()
		tr.release()
		<-got // the slot went to the read, not to the request that gave up
		tr.release()
		require.NoError(t, tr.acquire(t.Context(), prioRead), "the slot is free again")
	})
}

// TestEditIsPushedBeforeOtherDevicesFullPushes: with the token's rate limit spent by a cold
// start (every device owes a full push: a List for foreign bookings, the Put, a List to
// verify), a meeting edited in one room reaches its device in the first window that opens,
// ahead of the other devices' owed pushes; and those all land afterwards.
func TestEditIsPushedBeforeOtherDevicesFullPushes(t *testing.T) {
	const window = 10 * time.Second
	h := newHarness(t, webexsim.Options{RateLimit: 3, RateWindow: window})
	var eps []Endpoint
	var ids []string
	for i := 1; i <= 6; i++ {
		room := fmt.Sprintf("room-%d@contoso.example", i)
		id, ep := h.device(fmt.Sprintf("wx-%d", i), room, webexsim.DeviceConfig{})
		eps, ids = append(eps, ep), append(ids, id)
	}
	h.rooms(eps)
	for _, ep := range eps {
		h.meetings(ep.Room, meetingsAt(ep.Room, testStart.Add(time.Hour), 2)...)
	}
	h.start(eps, nil)
	edited := -1 // a device still owed its first push: the cold start spent the window first
	for i, id := range ids {
		if h.puts(id) == 0 {
			edited = i
		}
	}
	require.NotEqual(t, -1, edited, "the rate limit holds some devices' first pushes back")

	room := eps[edited].Room
	h.meetings(room, meetingsAt(room, testStart.Add(time.Hour), 3)...)
	h.advance(window) // past the debounce and the Retry-After: the next window opens
	held, err := h.sim.Bookings(ids[edited])
	require.NoError(t, err)
	assert.Len(t, held, 3, "the edit landed in the first window that opened")
	waiting := 0
	for _, id := range ids {
		if h.puts(id) == 0 {
			waiting++
		}
	}
	assert.Positive(t, waiting, "other devices' full pushes still wait: the edit went ahead of them")

	for range 12 {
		h.advance(window)
	}
	for i, id := range ids {
		assert.Positive(t, h.puts(id), "device %s was pushed in the end", eps[i].Name)
	}
	assert.Zero(t, h.sim.Stats().Violations, "no request inside a Retry-After")
}

package graph

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestSendersWaitForTheNextRequest: in steady state the dispatcher's senders wait for the next
// request instead of ending with each one (a goroutine per request grew its stack through the
// SDK's middleware every time); after senderIdle with nothing to send they end, and requests
// made after that, several at once, are all sent.
func TestSendersWaitForTheNextRequest(t *testing.T) {
	var rooms []string
	for i := 1; i <= 6; i++ {
		rooms = append(rooms, roomName(i))
	}
	h := newHarness(t, graphsim.Options{}, rooms...)
	h.in.MaxInFlight = 2
	for _, m := range rooms {
		h.addRoom(m, graphsim.Recommended())
	}
	s, _ := h.start(Tuning{})
	h.waitFor("every room", h.synced(rooms...))
	h.settle(s)
	d := s.disp
	senders := func() (running, idle int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.senders, d.idle
	}
	polls := func(m string) int { return h.stats(m).Requests }

	// One poll at a time: the same waiting sender takes each.
	eventually(t, "a sender waiting", func() bool { n, idle := senders(); return n >= 1 && n == idle })
	for i := range 4 {
		before := polls(rooms[0])
		require.NoError(t, s.SyncNow(rooms[0], false))
		h.settle(s)
		require.Greater(t, polls(rooms[0]), before, "poll %d was sent", i)
		eventually(t, "the sender waiting again", func() bool { n, idle := senders(); return n >= 1 && n == idle })
		n, _ := senders()
		require.LessOrEqual(t, n, 2, "poll %d: never more senders than max_in_flight", i)
	}

	// Idle for senderIdle: they end. (The rooms hold no meetings, so none is due to poll again
	// within it: cold rooms poll every few minutes.)
	h.clk.Advance(senderIdle)
	eventually(t, "the idle senders ending", func() bool { n, _ := senders(); return n == 0 })

	// Every room at once: new senders send them all.
	before := map[string]int{}
	for _, m := range rooms {
		before[m] = polls(m)
	}
	require.NoError(t, s.SyncNow("", false))
	h.settle(s)
	for _, m := range rooms {
		require.Greater(t, polls(m), before[m], "%s was polled", m)
	}
	n, _ := senders()
	require.LessOrEqual(t, n, 2)
}

// eventually waits (yielding, not sleeping) until cond holds: for goroutines that signal
// nothing when they reach the state a test waits for.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a failure guard, not a wait
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

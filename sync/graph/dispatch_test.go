package graph

import (
	"context"
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

// TestRoutineRequestsWaitToShareABatch: a request marked linger waits up to the linger for
// others and goes with them in one $batch; a request that is not marked goes at once and takes
// the waiting ones along; and as many waiting as a batch holds go at once.
func TestRoutineRequestsWaitToShareABatch(t *testing.T) {
	var rooms []string
	for i := 1; i <= maxBatch; i++ {
		rooms = append(rooms, roomName(i))
	}
	h, s := startSynced(t, rooms, 0, Tuning{Linger: time.Second})
	d := s.disp
	batches := func() (int, int) { st := h.sim.Stats(); return st.Batches, st.BatchParts }
	// Each phase starts with every sender waiting: while one is on its way back from delivering
	// answers, every sender may be busy, and then routine requests do not wait.
	quiet := func() {
		eventually(t, "the senders waiting", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.senders == d.idle
		})
	}
	send := func(rooms []string, linger bool) chan result {
		out := make(chan result, len(rooms))
		for _, m := range rooms {
			go func() {
				out <- d.do(context.Background(), missingMaster(m, linger))
			}()
		}
		return out
	}
	answered := func(out chan result, n int) {
		t.Helper()
		for range n {
			r := <-out
			require.NoError(t, r.err)
			require.Equal(t, 404, r.status, "Graph answered the request")
		}
	}

	// Three wait; nothing goes until the linger ends, then one batch.
	quiet()
	b0, p0 := batches()
	out := send(rooms[:3], true)
	eventually(t, "three requests waiting", func() bool { return lingeringOf(d) == 3 })
	b, p := batches()
	require.Equal(t, [2]int{b0, p0}, [2]int{b, p}, "nothing sent while they wait")
	h.clk.Advance(time.Second)
	answered(out, 3)
	b, p = batches()
	require.Equal(t, [2]int{b0 + 1, p0 + 3}, [2]int{b, p}, "one batch of three when the linger ended")

	// Two wait; a request that is not routine goes at once and takes them along.
	quiet()
	out = send(rooms[:2], true)
	eventually(t, "two requests waiting", func() bool { return lingeringOf(d) == 2 })
	answered(send(rooms[2:3], false), 1)
	answered(out, 2)
	b, p = batches()
	require.Equal(t, [2]int{b0 + 2, p0 + 6}, [2]int{b, p}, "the three in one batch, without waiting")

	// A full batch's worth goes at once.
	quiet()
	answered(send(rooms, true), maxBatch)
	b, p = batches()
	require.Equal(t, [2]int{b0 + 3, p0 + 6 + maxBatch}, [2]int{b, p}, "twenty waiting made one full batch at once")
	require.Zero(t, lingeringOf(d))
}

// TestARoomsPlainPollsGoTogetherAndAskedForPollsAtOnce: rooms whose next polls fall due at
// their plain interval wait (Tuning.Linger) and go in one $batch; a poll that SyncNow brings
// forward goes at once, alone.
func TestARoomsPlainPollsGoTogetherAndAskedForPollsAtOnce(t *testing.T) {
	rooms := []string{roomName(1), roomName(2)}
	// The rooms hold no meetings: cold, polled every ColdInterval; the jitter too small to part them.
	h, s := startSynced(t, rooms, 0, Tuning{ColdInterval: time.Minute, Jitter: 1e-9, Linger: time.Second})
	polls := func() [2]int { return [2]int{h.stats(rooms[0]).Requests, h.stats(rooms[1]).Requests} }
	batches := func() int { return h.sim.Stats().Batches }
	before, b0 := polls(), batches()

	h.clk.Advance(time.Minute + time.Millisecond) // past both rooms' due times, a few ns apart
	eventually(t, "both polls waiting", func() bool { return lingeringOf(s.disp) == 2 })
	require.Equal(t, before, polls(), "nothing sent while they wait")
	h.clk.Advance(time.Second)
	h.settle(s)
	require.Equal(t, [2]int{before[0] + 1, before[1] + 1}, polls(), "each room polled once")
	require.Equal(t, b0+1, batches(), "in one batch")

	require.NoError(t, s.SyncNow(rooms[0], false))
	h.settle(s) // no clock moved: the asked-for poll did not wait
	require.Equal(t, [2]int{before[0] + 2, before[1] + 1}, polls())
	require.Equal(t, b0+1, batches(), "sent alone")
}

// TestRoutineRequestsDoNotWaitWhileEverySenderIsBusy: with every sender busy a routine
// request queues as any request does and goes with the first sender to finish: waiting on
// would hold its room's answer slot through a backlog (a cold start's tail) for nothing.
func TestRoutineRequestsDoNotWaitWhileEverySenderIsBusy(t *testing.T) {
	rooms := []string{roomName(1), roomName(2)}
	h, s := startSynced(t, rooms, 1, Tuning{Linger: time.Hour})
	d := s.disp
	// The one sender busy with room 1's request for a while.
	slowOnce(t, h, rooms[0])
	busy := make(chan result, 1)
	go func() { busy <- d.do(context.Background(), missingMaster(rooms[0], false)) }()
	eventually(t, "the sender busy", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.senders == 1 && d.idle == 0 })
	routine := make(chan result, 1)
	go func() { routine <- d.do(context.Background(), missingMaster(rooms[1], true)) }()
	eventually(t, "the routine request queued", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.queue) == 1 })
	d.mu.Lock()
	waiting, timer := d.lingering, d.lingerTimer
	d.mu.Unlock()
	require.Zero(t, waiting, "not waiting for company")
	require.False(t, timer, "no linger running")
	// No clock moves: both are answered once the sender is free.
	require.Equal(t, 404, (<-busy).status)
	require.Equal(t, 404, (<-routine).status)
}

// TestASenderThatFinishesLeavesWaitingRequestsToTheirLinger: routine requests that wait while
// another request is in flight stay waiting when its sender comes back free, so that more can
// join them; they go in one batch when their wait ends. (Taken by the first sender to finish,
// steady-state batches held about 4 parts.)
func TestASenderThatFinishesLeavesWaitingRequestsToTheirLinger(t *testing.T) {
	rooms := []string{roomName(1), roomName(2), roomName(3)}
	h, s := startSynced(t, rooms, 2, Tuning{Linger: time.Second})
	d := s.disp
	slowOnce(t, h, rooms[0])
	state := func() (senders, idle, waiting int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.senders, d.idle, d.lingering
	}
	eventually(t, "the senders waiting", func() bool { n, idle, _ := state(); return n == idle })
	busy := make(chan result, 1)
	go func() { busy <- d.do(context.Background(), missingMaster(rooms[0], false)) }()
	eventually(t, "a sender busy", func() bool { n, idle, _ := state(); return n > idle })
	b0, p0 := h.sim.Stats().Batches, h.sim.Stats().BatchParts

	out := make(chan result, 2)
	for _, m := range rooms[1:] {
		go func() { out <- d.do(context.Background(), missingMaster(m, true)) }()
	}
	eventually(t, "two requests waiting", func() bool { _, _, w := state(); return w == 2 })
	require.Equal(t, 404, (<-busy).status)
	eventually(t, "every sender free", func() bool { n, idle, _ := state(); return n == idle })
	_, _, waiting := state()
	require.Equal(t, 2, waiting, "still waiting after the busy sender came back")
	require.Equal(t, b0, h.sim.Stats().Batches, "nothing sent before the linger ends")

	h.clk.Advance(time.Second)
	for range 2 {
		require.Equal(t, 404, (<-out).status)
	}
	st := h.sim.Stats()
	require.Equal(t, [2]int{b0 + 1, p0 + 2}, [2]int{st.Batches, st.BatchParts}, "one batch of two when the linger ended")
}

// TestRoutineRequestsGoWhenStepsWaitForAnswerSlots: requests waiting for company hold their
// steps' answer slots, so when every slot is taken and a step waits for one they go at once,
// and a routine request that comes while it waits does not wait either (in a cold start the
// slots belong to the rooms' first syncs).
func TestRoutineRequestsGoWhenStepsWaitForAnswerSlots(t *testing.T) {
	rooms := []string{roomName(1), roomName(2), roomName(3)}
	_, s := startSynced(t, rooms, 0, Tuning{Linger: time.Hour})
	d := s.disp
	routine := func(m string) chan result {
		out := make(chan result, 1)
		go func() {
			out <- d.do(context.Background(), missingMaster(m, true))
		}()
		return out
	}
	first, second := routine(rooms[0]), routine(rooms[1])
	eventually(t, "two requests waiting", func() bool { return lingeringOf(d) == 2 })

	// Every answer slot taken (the test holds those the waiting requests' steps would); a step waits.
	held := cap(s.answers) - len(s.answers)
	for range held {
		s.answers <- struct{}{}
	}
	stepped := make(chan bool, 1)
	go func() { stepped <- s.takeAnswerSlot(context.Background()) }()
	// No clock moves.
	require.Equal(t, 404, answeredSoon(t, first).status)
	require.Equal(t, 404, answeredSoon(t, second).status)
	eventually(t, "the step waiting", func() bool { return s.slotWaiters.Load() == 1 })
	require.Equal(t, 404, answeredSoon(t, routine(rooms[2])).status, "no wait while a step waits for a slot")
	require.Zero(t, lingeringOf(d))

	<-s.answers
	require.True(t, <-stepped, "the step got the slot freed")
	s.freeAnswerSlot()
	for range held - 1 {
		<-s.answers
	}
}

// answeredSoon returns the answer on out, failing the test if none comes while no clock moves.
func answeredSoon(t *testing.T, out chan result) result {
	t.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(10 * time.Second): // a failure guard, not a wait
		t.Fatal("no answer without the clock moving")
		return result{}
	}
}

// startSynced runs a syncer over rooms (maxInFlight 0: the harness's) and waits until every
// room has synced and the syncer is quiet.
func startSynced(t *testing.T, rooms []string, maxInFlight int, tune Tuning) (*harness, *Syncer) {
	t.Helper()
	h := newHarness(t, graphsim.Options{}, rooms...)
	if maxInFlight > 0 {
		h.in.MaxInFlight = maxInFlight
	}
	for _, m := range rooms {
		h.addRoom(m, graphsim.Recommended())
	}
	s, _ := h.start(tune)
	h.waitFor("every room", h.synced(rooms...))
	h.settle(s)
	return h, s
}

// missingMaster asks for a series master that is not there: any request does, and Graph
// answers each with a 404.
func missingMaster(mailbox string, linger bool) reqSpec {
	return reqSpec{kind: kindMaster, mailbox: mailbox, eventID: "AAMkAGNvbmU=", linger: linger}
}

// slowOnce makes graphsim hold mailbox's next request for 300 ms (real time).
func slowOnce(t *testing.T, h *harness, mailbox string) {
	t.Helper()
	_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultLatency, Mailbox: mailbox, Latency: graphsim.Duration(300 * time.Millisecond), Count: 1})
	require.NoError(t, err)
}

// lingeringOf is how many of d's queued calls wait for company.
func lingeringOf(d *dispatcher) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lingering
}

package ews

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
)

// streamOn reports whether the health line says the notification stream is open.
func (h *simHarness) streamOn() bool {
	return strings.Contains(h.healthItem().Message, "streaming notifications on")
}

// waitNotified waits (in real time, woken by the syncer's progress signal) until a
// notification has marked the room for a read.
func (h *simHarness) waitNotified(s *Syncer, m string) {
	h.t.Helper()
	deadline := time.NewTimer(30 * time.Second) // a failure guard, not a wait
	defer deadline.Stop()
	for {
		s.mu.Lock()
		dirty := s.rooms[m].dirty
		s.mu.Unlock()
		if dirty {
			return
		}
		select {
		case <-s.Progress():
		case <-deadline.C:
			h.t.Fatalf("no notification for %s", m)
		}
	}
}

// edit changes a meeting's subject and makes ewssim look for changes now.
func (h *simHarness) edit(m, id, subject string) {
	_, err := h.gs.PatchEvent(m, id, map[string]any{"subject": subject})
	require.NoError(h.t, err)
	h.es.Poke()
}

// arrivesWithin advances the fake clock a second at a time until the meeting shows the
// subject, and returns how long that took; it fails past limit.
func (h *simHarness) arrivesWithin(s *Syncer, m, id, subject string, limit time.Duration) time.Duration {
	h.t.Helper()
	start := h.clk.Now()
	for h.events(m)[id].Subject != subject {
		require.Less(h.t, h.clk.Now().Sub(start), limit, "the edit of %s arrived within %s", m, limit)
		h.advance(s, time.Second, time.Second)
	}
	return h.clk.Now().Sub(start)
}

// TestNotificationBringsAnEditBeforeThePoll: with streaming, an edit reaches the store within
// the debounce (seconds), not the room's poll interval, and while the stream is open the
// room's polls are a safety net (a cold room every ~16 minutes, not ~4).
func TestNotificationBringsAnEditBeforeThePoll(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	h.in.Streaming = true
	id := h.post(r, invite("Before", t0.Add(5*time.Hour), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync and the stream", func() bool { return h.synced(r)() && h.streamOn() })
	h.settle(s)
	h.advance(s, 3*time.Second, time.Second) // the read a subscription made after the first sync brings
	assert.Equal(t, 1, h.es.Subscriptions()[r])

	h.edit(r, id, "After")
	h.waitNotified(s, r)
	took := h.arrivesWithin(s, r, id, "After", 10*time.Second)
	assert.LessOrEqual(t, took, 3*time.Second, "the notification woke the room (debounce 2 s); the cold poll is 4 minutes away")

	probes := h.ops(r)["SyncFolderItems"]
	h.advance(s, time.Hour, 10*time.Second)
	assert.InDelta(t, 4, h.ops(r)["SyncFolderItems"]-probes, 1, "a streamed cold room polls every ~16 minutes as a safety net")
	assert.Zero(t, h.es.Stats().Accounts[ewssim.DefaultUser].ServerBusy)
}

// TestDroppedStreamFallsBackToPolling: when the stream drops and cannot be subscribed again,
// the room polls at its usual interval (an edit arrives within ~4 minutes) and health says
// so; once Exchange takes the subscription again the stream is back, the room is read once,
// and edits arrive within seconds again.
func TestDroppedStreamFallsBackToPolling(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	h.in.Streaming = true
	id := h.post(r, invite("Before", t0.Add(5*time.Hour), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync and the stream", func() bool { return h.synced(r)() && h.streamOn() })
	h.settle(s)
	h.advance(s, 3*time.Second, time.Second) // the read a subscription made after the first sync brings

	refuse, err := h.es.AddFault(ewssim.Fault{Mailbox: r, Operation: "Subscribe", BackOffMilliseconds: 1000})
	require.NoError(t, err)
	require.Equal(t, 1, h.es.DropStreams(r))
	h.waitFor("the health line", func() bool {
		return strings.Contains(h.healthItem().Message, "notification stream down; polling")
	})
	h.edit(r, id, "Edited while the stream is down")
	took := h.arrivesWithin(s, r, id, "Edited while the stream is down", 5*time.Minute)
	assert.Greater(t, took, 3*time.Second, "no notification: the poll brought it")

	require.NoError(t, h.es.RemoveFault(refuse))
	for start := h.clk.Now(); h.es.Subscriptions()[r] != 1; {
		require.Less(t, h.clk.Now().Sub(start), 10*time.Minute, "subscribed again: %v %q", h.es.Subscriptions(), h.healthItem().Message)
		h.advance(s, 5*time.Second, 5*time.Second)
	}
	h.waitFor("the stream open again", h.streamOn)
	h.settle(s)
	h.edit(r, id, "Edited with the stream back")
	h.waitNotified(s, r)
	took = h.arrivesWithin(s, r, id, "Edited with the stream back", 10*time.Second)
	assert.LessOrEqual(t, took, 3*time.Second)
}

// TestDelegatesPoll: Exchange gives delegates no notifications, so a delegate integration
// asked to stream does not try (no Subscribe), polls, and its health line says why.
func TestDelegatesPoll(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	h.in.Streaming, h.in.Access = true, AccessDelegate
	require.NoError(t, h.es.SetImpersonation(ewssim.DefaultUser, ewssim.ImpersonateNone, nil))
	require.NoError(t, h.es.GrantDelegate(ewssim.DefaultUser, r, ewssim.RightReviewer))
	id := h.post(r, invite("Before", t0.Add(5*time.Hour), time.Hour))
	s, _ := h.start(Tuning{})
	h.waitFor("the first sync", h.synced(r))
	h.settle(s)
	assert.Contains(t, h.healthItem().Message, "no streaming notifications for delegate access")
	assert.Contains(t, h.healthItem().Message, "ErrorSubscriptionDelegateAccessNotSupported")
	h.edit(r, id, "After")
	h.arrivesWithin(s, r, id, "After", 5*time.Minute)
	assert.Zero(t, h.ops(r)["Subscribe"])
}

// TestFirstSubscriptionAfterTheReadReadsOnce: an edit made between a room's first sync and
// its first subscription is never notified; the room reads once when the subscription is
// made, so the edit arrives then, not at the room's next poll (an hour here).
func TestFirstSubscriptionAfterTheReadReadsOnce(t *testing.T) {
	r := simRoom(1)
	h := newSimHarness(t, ewssim.Options{}, r)
	h.in.Streaming = true
	id := h.post(r, invite("Before", t0.Add(5*time.Hour), time.Hour))
	_, err := h.es.AddFault(ewssim.Fault{Mailbox: r, Operation: "Subscribe", BackOffMilliseconds: 1000, Count: 1})
	require.NoError(t, err)
	s, _ := h.start(Tuning{ColdInterval: time.Hour})
	h.waitFor("the first sync", h.synced(r))
	h.settle(s)
	require.Zero(t, h.es.Subscriptions()[r], "the first Subscribe was refused")

	const edited = "Edited before the subscription"
	h.edit(r, id, edited)
	for start := h.clk.Now(); h.es.Subscriptions()[r] != 1; { // the retry's back-off
		require.Less(t, h.clk.Now().Sub(start), 30*time.Minute, "subscribed again")
		h.advance(s, time.Second, time.Second)
	}
	require.NotEqual(t, edited, h.events(r)[id].Subject, "no poll read it before the subscription")
	took := h.arrivesWithin(s, r, id, edited, 3*time.Minute)
	assert.LessOrEqual(t, took, 3*time.Second, "read once the subscription is made (debounce 2 s)")
}

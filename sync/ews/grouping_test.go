package ews

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// expectedGroups is how many subscription groups of at most size the rooms make when grouped
// by ewssim's servers.
func expectedGroups(es *ewssim.Server, rooms []string, size int) int {
	per := map[string]int{}
	for _, m := range rooms {
		per[es.Backend(m)]++
	}
	n := 0
	for _, c := range per {
		n += (c + size - 1) / size
	}
	return n
}

// TestSubscriptionGroupsFollowGroupingInformation: on a site whose rooms live on three
// mailbox servers and which refuses streams that mix servers (require_affinity), the source
// groups its subscriptions by autodiscover's GroupingInformation (here at most 3 rooms a
// group), every group's stream stays open, no stream is refused, and an edit in a room of
// each server arrives by notification within seconds.
func TestSubscriptionGroupsFollowGroupingInformation(t *testing.T) {
	var rooms []string
	for i := 1; i <= 12; i++ {
		rooms = append(rooms, simRoom(i))
	}
	h := newSimHarness(t, ewssim.Options{Backends: 3, RequireAffinity: true, HangingConnectionLimit: 20}, rooms...)
	h.in.Streaming = true
	ids := map[string]string{}
	first := map[string]string{} // server → a room on it
	for _, r := range rooms {
		ids[r] = h.post(r, invite("Before", t0.Add(5*time.Hour), time.Hour))
		if first[h.es.Backend(r)] == "" {
			first[h.es.Backend(r)] = r
		}
	}
	require.Len(t, first, 3, "the rooms are spread over three servers")
	want := expectedGroups(h.es, rooms, 3)
	s, _ := h.start(Tuning{StreamGroup: 3})
	line := fmt.Sprintf("streaming notifications on, %d of %d subscription groups open (by mailbox server)", want, want)
	h.waitFor("the first sync and every group's stream", func() bool {
		return h.synced(rooms...)() && strings.Contains(h.healthItem().Message, line)
	})
	h.settle(s)
	for _, r := range rooms {
		assert.Equal(t, 1, h.es.Subscriptions()[r], "%s subscribed once", r)
	}
	assert.Zero(t, h.es.Stats().AffinityRefusals, "no stream named another server's subscription")

	for _, r := range first {
		h.edit(r, ids[r], "After "+r)
		h.waitNotified(s, r)
		took := h.arrivesWithin(s, r, ids[r], "After "+r, 10*time.Second)
		assert.LessOrEqual(t, took, 3*time.Second, "%s (on %s) woken by its stream", r, h.es.Backend(r))
	}
	assert.Zero(t, h.es.Stats().AffinityRefusals)
}

// TestGroupsAtAThousandRooms: 1,000 rooms on three servers are asked for in GetUserSettings
// batches Exchange accepts (90 users) and fall into groups of at most 200 rooms of one server
// each, every room exactly once.
func TestGroupsAtAThousandRooms(t *testing.T) {
	h := newSimHarness(t, ewssim.Options{Backends: 3})
	var rooms []string
	for i := 1; i <= 1000; i++ {
		m := fmt.Sprintf("room-%04d@contoso.example", i)
		require.NoError(t, h.gs.AddRoom(graphsim.Room{Mailbox: m}))
		rooms = append(rooms, m)
	}
	s, err := New(Options{Integration: h.in, Store: h.st, Clock: h.clk})
	require.NoError(t, err)
	plan := s.planGroups(context.Background(), h.es.EWSURL(), rooms)
	require.Empty(t, plan.fallback)
	assert.Len(t, plan.groups, expectedGroups(h.es, rooms, 200))
	seen := map[string]bool{}
	for _, g := range plan.groups {
		require.LessOrEqual(t, len(g), 200)
		for _, m := range g {
			assert.Equal(t, h.es.Backend(g[0]), h.es.Backend(m), "one server per group")
			assert.False(t, seen[m], "%s in one group only", m)
			seen[m] = true
		}
	}
	assert.Len(t, seen, 1000)
}

// TestSubscriptionGroupsWithoutAutodiscover: a site that configures the EWS URL and whose
// autodiscover does not answer still gets streaming notifications, its rooms grouped by name,
// and the health line says so and why.
func TestSubscriptionGroupsWithoutAutodiscover(t *testing.T) {
	rooms := []string{simRoom(1), simRoom(2), simRoom(3)}
	h := newSimHarness(t, ewssim.Options{Backends: 1, RequireAffinity: true}, rooms...)
	h.in.Streaming = true
	h.in.AutodiscoverURL = strings.TrimSuffix(h.es.EWSURL(), "/EWS/Exchange.asmx") + "/no-autodiscover/autodiscover.svc"
	id := h.post(rooms[1], invite("Before", t0.Add(5*time.Hour), time.Hour))
	s, _ := h.start(Tuning{StreamGroup: 2})
	h.waitFor("the first sync and the streams", func() bool {
		msg := h.healthItem().Message
		return h.synced(rooms...)() && strings.Contains(msg, "streaming notifications on, 2 of 2 subscription groups open")
	})
	h.settle(s)
	msg := h.healthItem().Message
	assert.Contains(t, msg, "grouped by room name")
	assert.Contains(t, msg, "gave no GroupingInformation")
	assert.Contains(t, msg, "404")

	h.edit(rooms[1], id, "After")
	h.waitNotified(s, rooms[1])
	took := h.arrivesWithin(s, rooms[1], id, "After", 10*time.Second)
	assert.LessOrEqual(t, took, 3*time.Second)
}

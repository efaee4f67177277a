package telemetry

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

// results collects the results of the given request ids, in any order.
func (w *watcher) results(ids ...string) map[string]Result {
	w.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[string]Result{}
	for len(got) < len(want) {
		w.next(fmt.Sprintf("results (%d of %d so far)", len(got), len(want)), func(m paho.Message) bool {
			var r Result
			if m.Topic() != SiteTopic("oslo-hq", TopicCmdResult) || json.Unmarshal(m.Payload(), &r) != nil || !want[r.ID] {
				return false
			}
			_, dup := got[r.ID]
			assert.False(w.t, dup, "one result per command: %s", r.ID)
			got[r.ID] = r
			return true
		})
	}
	return got
}

// TestOversizedCommandIsRefusedUnread: a command over 1 MiB is answered with a clear error
// without being queued or decoded (a 60 MB rules-test took the agent from 35 MB to 700 MB),
// and the agent goes on answering normal commands.
func TestOversizedCommandIsRefusedUnread(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{}
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds})
	central.anyStatus("oslo-hq", StateOnline)

	event := func(size int) string {
		return `{"subject":"Weekly","body":{"content":"` + strings.Repeat("A", size) + `"}}`
	}
	// The id comes first, as the CLI and fleet tools write it: the answer carries it.
	central.publish(SiteTopic("oslo-hq", "cmd/rules-test"), `{"id":"big-1","event":`+event(2<<20)+`}`)
	r := central.result("big-1")
	assert.False(t, r.OK)
	assert.Equal(t, "rules-test", r.Command)
	assert.Equal(t, "refused: the command is 2.0 MiB; commands are limited to 1.0 MiB", r.Error)

	// The id after the big value is not looked for: the answer has no id, but still says why.
	central.publish(SiteTopic("oslo-hq", "cmd/rules-test"), `{"event":`+event(2<<20)+`,"id":"big-2"}`)
	var anon Result
	central.next("the answer to a big command without a readable id", func(m paho.Message) bool {
		anon = Result{}
		return json.Unmarshal(m.Payload(), &anon) == nil && anon.ID == "" && strings.HasPrefix(anon.Error, "refused: the command is 2.0 MiB")
	})
	assert.Equal(t, "rules-test", anon.Command)

	// Just under the cap is read and run; the agent keeps working.
	small := `{"id":"fits","event":` + event(0) + `}`
	fits := strings.Replace(small, `"content":""`, `"content":"`+strings.Repeat("A", MaxCommandBytes-len(small))+`"`, 1)
	require.Len(t, fits, MaxCommandBytes)
	central.publish(SiteTopic("oslo-hq", "cmd/rules-test"), fits)
	r = central.result("fits")
	assert.True(t, r.OK, r.Error)
	central.publish(SiteTopic("oslo-hq", "cmd/status"), `{"id":"after"}`)
	assert.True(t, central.result("after").OK)
	assert.Equal(t, []string{`rules-test "Weekly" ""`, "status"}, cmds.Calls(), "the big commands never reached the agent")
	assert.True(t, tel.Connected())
	assert.Equal(t, int64(2), tel.stats.tooLarge.Load(), "counted in the metrics (commands_too_large)")
}

// TestBrokerPacketLimitKeepsHugeCommandsAway: with the max_packet_size the notes recommend for
// the central broker, a huge command never reaches the site (paho would read it whole before
// the agent could refuse it), the sender is disconnected, and the site's own traffic flows.
func TestBrokerPacketLimitKeepsHugeCommandsAway(t *testing.T) {
	b := startBroker(t, mosquitto.Options{RequireMosquitto: true, Extra: []string{"max_packet_size 1100000"}})
	cmds := &siteCommands{}
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds})
	central.anyStatus("oslo-hq", StateOnline)

	sender := watch(t, b.URL())
	tok := sender.c.Publish(SiteTopic("oslo-hq", "cmd/rules-test"), 1, false,
		`{"id":"huge","event":{"body":{"content":"`+strings.Repeat("A", 3<<20)+`"}}}`)
	require.True(t, tok.WaitTimeout(wait), "the broker answers the huge publish by disconnecting")
	require.Eventually(t, func() bool { return !sender.c.IsConnectionOpen() }, wait, 10*time.Millisecond)

	central.publish(SiteTopic("oslo-hq", "cmd/status"), `{"id":"after-huge"}`)
	assert.True(t, central.result("after-huge").OK)
	assert.Equal(t, []string{"status"}, cmds.Calls())
	assert.Zero(t, tel.stats.tooLarge.Load(), "the huge command never reached the site")
	assert.True(t, tel.Connected())
}

// TestCommandFloodIsCoalescedAndRateLimited: 200 full syncs of the site cost one sync, 200 full
// syncs of different rooms cost the bucket's few, 200 syncs of one room cost one; every
// command gets a result saying what happened to it.
func TestCommandFloodIsCoalescedAndRateLimited(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{}
	fake := clock.NewFake(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds, Clock: fake})
	central.anyStatus("oslo-hq", StateOnline)

	flood := func(prefix string, payload func(i int) string) map[string]Result {
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%d", prefix, i)
			central.publish(SiteTopic("oslo-hq", "cmd/sync"), fmt.Sprintf(`{"id":%q,%s}`, ids[i], payload(i)))
		}
		return central.results(ids...)
	}
	syncs := func(call string) int {
		n := 0
		for _, c := range cmds.Calls() {
			if c == call {
				n++
			}
		}
		return n
	}

	// 200 full syncs of every room: one runs, the others get its result.
	got := flood("all", func(int) string { return `"full":true` })
	assert.Equal(t, 1, syncs(`sync "" full=true`))
	var leader string
	for id, r := range got {
		if r.CoalescedWith == "" {
			require.Empty(t, leader, "one full sync ran: %s and %s", leader, id)
			leader = id
		}
	}
	require.NotEmpty(t, leader)
	for id, r := range got {
		assert.True(t, r.OK, id, r.Error)
		assert.JSONEq(t, `{"rooms":1,"full":true}`, string(r.Result), id)
		if id != leader {
			assert.Equal(t, leader, r.CoalescedWith, id)
		}
	}

	// 200 full syncs of 200 rooms: the site's bucket lets 3 full syncs run at once (one went
	// to the site above), the rest are refused with the time to retry.
	got = flood("room", func(i int) string { return fmt.Sprintf(`"room":"room-%d@example.com","full":true`, i) })
	ran, limited := 0, 0
	for id, r := range got {
		if r.OK {
			ran++
			assert.Empty(t, r.CoalescedWith, id)
			continue
		}
		limited++
		assert.Equal(t, "rate limited: full syncs and commands for every room or endpoint are limited to 3 at once, "+
			"then one every 5m0s on this site; retry after 2026-03-10T09:05:00Z", r.Error, id)
		require.NotNil(t, r.RetryAfter, id)
		assert.Equal(t, time.Date(2026, 3, 10, 9, 5, 0, 0, time.UTC), r.RetryAfter.UTC())
	}
	assert.Equal(t, 2, ran)
	assert.Equal(t, 198, limited)

	// 200 syncs of one room: one runs.
	got = flood("one", func(int) string { return `"room":"room-a@example.com"` })
	assert.Equal(t, 1, syncs(`sync "room-a@example.com" full=false`))
	for id, r := range got {
		assert.True(t, r.OK, id, r.Error)
	}

	// Later the room syncs again, and a full sync gets its token back.
	fake.Advance(5 * time.Minute)
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"later-1","room":"room-a@example.com"}`)
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"later-2","room":"room-late@example.com","full":true}`)
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"later-3","room":"room-later@example.com","full":true}`)
	later := central.results("later-1", "later-2", "later-3")
	assert.True(t, later["later-1"].OK)
	assert.Empty(t, later["later-1"].CoalescedWith)
	// One full sync's token came back: one of the two runs, the other is refused (commands are
	// handled concurrently, so which one is not fixed).
	ranFull, refused := later["later-2"], later["later-3"]
	if !ranFull.OK {
		ranFull, refused = refused, ranFull
	}
	assert.True(t, ranFull.OK, ranFull.Error)
	assert.False(t, refused.OK)
	assert.Contains(t, refused.Error, "rate limited:")

	assert.Len(t, cmds.Calls(), 1+2+1+2, "600 commands cost six syncs: %v", cmds.Calls())
	assert.Equal(t, int64(199+199), tel.stats.coalesced.Load())
	assert.Equal(t, int64(198+1), tel.stats.rateLimited.Load())
}

// TestCoalescedCommandsGetTheirOwnTargetsAnswer: only a command for the same room or endpoint
// is coalesced, so an unknown room still gets its error; one that waits while the first runs
// is answered when it finishes.
func TestCoalescedCommandsGetTheirOwnTargetsAnswer(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	cmds := &siteCommands{block: make(chan struct{}), started: make(chan string, 10)}
	fake := clock.NewFake(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	central := watch(t, b.URL(), SiteTopic("oslo-hq", TopicCmdResult), SiteTopic("oslo-hq", TopicStatus))
	runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Commands: cmds, Clock: fake})
	central.anyStatus("oslo-hq", StateOnline)

	central.publish(SiteTopic("oslo-hq", "cmd/push"), `{"id":"p1","endpoint":"codec-1"}`)
	require.Equal(t, `push "codec-1"`, <-cmds.started) // running, held
	central.publish(SiteTopic("oslo-hq", "cmd/push"), `{"id":"p2","endpoint":"codec-1"}`)
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"s1"}`)
	require.Equal(t, `sync "" full=false`, <-cmds.started)
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"s2","room":"missing@example.com"}`)
	close(cmds.block)
	got := central.results("p1", "p2", "s1", "s2")
	assert.True(t, got["p1"].OK)
	assert.Equal(t, "p1", got["p2"].CoalescedWith, "answered when p1 finished, with its result")
	assert.JSONEq(t, string(got["p1"].Result), string(got["p2"].Result))
	assert.True(t, got["s1"].OK)
	assert.False(t, got["s2"].OK, "a room's sync is not covered by the site's")
	assert.Equal(t, `room "missing@example.com" is not configured`, got["s2"].Error)
	assert.Equal(t, []string{`push "codec-1"`, `sync "" full=false`, `sync "missing@example.com" full=false`}, cmds.Calls())

	// The same unknown room again a moment later: coalesced, with the same error.
	central.publish(SiteTopic("oslo-hq", "cmd/sync"), `{"id":"s3","room":"missing@example.com"}`)
	r := central.result("s3")
	assert.Equal(t, "s2", r.CoalescedWith)
	assert.Equal(t, `room "missing@example.com" is not configured`, r.Error)
	assert.Len(t, cmds.Calls(), 3)
}

func TestAdmissionWindowsAndBuckets(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	a := newAdmission(CommandLimits{})
	sync := func(id, room string, full bool) *verdict {
		return a.admit(CmdSync, Request{ID: id, Room: room, Full: full}, now)
	}
	require.Nil(t, sync("f1", "r1", true))
	assert.Equal(t, "f1", sync("d1", "r1", false).coalescedWith, "a full sync covers a sync of the room")
	require.Nil(t, sync("d2", "r2", false))
	v := sync("f2", "r2", true)
	assert.Nil(t, v, "a sync does not cover a full sync")
	assert.Equal(t, "f2", sync("f3", "r2", true).coalescedWith)
	assert.Nil(t, sync("f1", "r1", true), "the same request again passes (serve answers it once)")

	now = now.Add(30 * time.Second)
	assert.Nil(t, sync("d3", "r1", false), "after SyncEvery a sync of the room runs again")
	assert.Equal(t, "f1", sync("f4", "r1", true).coalescedWith, "a full sync waits FullSyncEvery")

	// Light bucket: 20 at once, then one every 3 s.
	for i := range 19 { // d3 took one (d2's came back in the 30 s)
		require.Nil(t, sync(fmt.Sprintf("x%d", i), fmt.Sprintf("room-%d", i), false), i)
	}
	v = sync("x-over", "room-over", false)
	require.NotNil(t, v)
	assert.Equal(t, "syncs of a room and pushes to an endpoint are limited to 20 at once, then one every 3s on this site", v.limited)
	assert.Equal(t, now.Add(3*time.Second), v.retryAfter)
	now = now.Add(3 * time.Second)
	assert.Nil(t, sync("x-over", "room-over", false))

	// Pushes: per endpoint; every endpoint is heavy (f1, f2 took two of three).
	push := func(id, ep string) *verdict { return a.admit(CmdPush, Request{ID: id, Endpoint: ep}, now) }
	assert.Nil(t, push("p1", ""))
	assert.Equal(t, "p1", push("p2", "").coalescedWith)
	v = push("p3", "codec-1")
	require.NotNil(t, v, "the light bucket is empty")
	assert.NotEmpty(t, v.limited)
	now = now.Add(3 * time.Second)
	assert.Nil(t, push("p3", "codec-1"))
	assert.Equal(t, "p3", push("p4", "codec-1").coalescedWith)

	// Settling hands the result to the waiters, once.
	assert.Equal(t, []string{"p4"}, a.settle("p3", Result{ID: "p3", OK: true}))
	assert.Empty(t, a.settle("p3", Result{ID: "p3", OK: true}))
	v = push("p5", "codec-1")
	require.NotNil(t, v.result, "a finished job answers at once")
	assert.True(t, v.result.OK)
}

func TestPeekID(t *testing.T) {
	big := strings.Repeat("x", 10<<10)
	for payload, want := range map[string]string{
		`{"id":"a1","event":{}}`:                              "a1",
		`{"event":{"subject":"s","n":[1,{"x":2}]},"id":"a2"}`: "a2",
		`{"event":"` + big + `","id":"a3"}`:                   "",
		`{"id":7}`:                                            "",
		`not json`:                                            "",
		`["id","a4"]`:                                         "",
		`{"id":"` + strings.Repeat("a", maxRequestID+1) + `"}`: "",
	} {
		assert.Equal(t, want, peekID([]byte(payload)), payload[:min(len(payload), 60)])
	}
}

package telemetry

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/store"
)

// collectEvents reads events until want distinct numbers have arrived and returns the numbers
// in the order of their first arrival (consumers drop duplicates by id) and the duplicate count.
func collectEvents(t *testing.T, w *watcher, want int) (order []int, dups int) {
	t.Helper()
	seen := map[string]bool{}
	timer := time.NewTimer(2 * wait)
	defer timer.Stop()
	for len(order) < want {
		select {
		case m := <-w.msgs:
			if !strings.HasSuffix(m.Topic(), "/"+TopicEvents) {
				continue
			}
			n, id := eventNumber(t, m)
			if seen[id] {
				dups++
				continue
			}
			seen[id] = true
			order = append(order, n)
		case <-timer.C:
			t.Fatalf("only %d of %d events arrived", len(order), want)
		}
	}
	return order, dups
}

func sequence(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

func depth(t *testing.T, s *store.Store) int64 {
	t.Helper()
	st, err := s.OutboxStats(context.Background())
	require.NoError(t, err)
	return st.Depth
}

// TestTenThousandEventsWhileBrokerDownAllDeliveredInOrderAcrossAgentRestart: the broker goes
// away, the agent keeps producing events, restarts (a new telemetry on the same store file),
// keeps producing, and when the broker is back every event arrives, in order.
func TestTenThousandEventsWhileBrokerDownAllDeliveredInOrderAcrossAgentRestart(t *testing.T) {
	b := startBroker(t, mosquitto.Options{Persistence: true})
	events := SiteTopic("oslo-hq", TopicEvents)
	// The central consumer has a persistent session: the broker queues for it while it is away.
	central := watchWith(t, b.URL(), "central-consumer", false, nil, events)
	central.c.Disconnect(50)

	path := filepath.Join(t.TempDir(), "otj-edge.db")
	s1 := openStore(t, path, 100000)
	tel1 := runTelemetry(t, Options{Store: s1, MQTT: mqttConfig(b.URL())})
	require.Eventually(t, tel1.Connected, wait, 5*time.Millisecond)

	require.NoError(t, b.Stop())
	require.Eventually(t, func() bool { return !tel1.Connected() }, wait, 5*time.Millisecond)
	start := time.Now()
	emit(t, s1, 0, 5000)
	t.Logf("5000 events emitted in %s", time.Since(start))
	tel1.stop()
	require.NoError(t, s1.Close())
	assert.Contains(t, tel1.logs.String(), "connection lost")

	s2 := openStore(t, path, 100000) // the agent restarts
	assert.Equal(t, int64(5000), depth(t, s2), "the queue survived the restart")
	runTelemetry(t, Options{Store: s2, MQTT: mqttConfig(b.URL())})
	emit(t, s2, 5000, 5000)

	require.NoError(t, b.Start(t.Context()))
	start = time.Now()
	central = watchWith(t, b.URL(), "central-consumer", false, nil)
	order, dups := collectEvents(t, central, 10000)
	assert.Equal(t, sequence(0, 10000), order, "every event, in order")
	t.Logf("10000 events delivered in %s, %d duplicates dropped by id", time.Since(start), dups)
	require.Eventually(t, func() bool { return depth(t, s2) == 0 }, wait, 10*time.Millisecond,
		"delivered messages are deleted from the outbox")
}

// TestPastTheCapTheOldestAreDroppedAndMetricsCountThem: 1,500 events meet a cap of 1,000: the
// 1,000 newest arrive in order, and the metrics say 500 were dropped.
func TestPastTheCapTheOldestAreDroppedAndMetricsCountThem(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	s := openStore(t, "", 1000)
	emit(t, s, 0, 1500) // queued while there is no broker connection
	assert.Equal(t, int64(1000), depth(t, s))

	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicEvents), SiteTopic("oslo-hq", TopicMetrics))
	// Metrics run on a fake clock: a metrics message queued while the outbox is full would
	// itself push an event out.
	fake := clock.NewFake(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	cfg := mqttConfig(b.URL())
	every := time.Minute
	cfg.MetricsInterval = &every
	runTelemetry(t, Options{Store: s, MQTT: cfg, Clock: fake, Metrics: func() map[string]any {
		return map[string]any{"graph": map[string]any{"requests": 42, "quota_used": 0.01}, "outbox": "agent keys never replace telemetry's"}
	}})

	order, dups := collectEvents(t, w, 1000)
	assert.Equal(t, sequence(500, 1000), order, "the oldest 500 were dropped, the rest arrive in order")
	assert.Zero(t, dups)

	require.Eventually(t, func() bool { return fake.Timers() >= 3 }, wait, time.Millisecond, "the state loop's timers")
	require.Eventually(t, func() bool { return depth(t, s) == 0 }, wait, time.Millisecond)
	fake.Advance(every)
	var metrics map[string]json.RawMessage
	var mq MQTTMetrics
	w.next("metrics", func(m paho.Message) bool {
		metrics = nil
		return strings.HasSuffix(m.Topic(), "/"+TopicMetrics) && json.Unmarshal(m.Payload(), &metrics) == nil &&
			json.Unmarshal(metrics["mqtt"], &mq) == nil
	})
	assert.Equal(t, int64(1000), mq.Published)
	var outbox OutboxMetrics
	require.NoError(t, json.Unmarshal(metrics["outbox"], &outbox))
	assert.Equal(t, int64(500), outbox.Dropped, "the drop counter says how many")
	assert.JSONEq(t, `{"requests": 42, "quota_used": 0.01}`, string(metrics["graph"]), "the agent's figures are published too")
	var id string
	require.NoError(t, json.Unmarshal(metrics["id"], &id))
	assert.Len(t, id, 32, "metrics carry a unique id")
	assert.True(t, mq.Connected)
	assert.Equal(t, int64(1), mq.Connects)
}

// TestAMessageTheBrokerRefusesIsDiscardedAndTheRestFlows: mosquitto disconnects a client that
// sends a packet over max_packet_size. The outbox gives that message up after repeated
// attempts, counts it, and delivers what is behind it.
func TestAMessageTheBrokerRefusesIsDiscardedAndTheRestFlows(t *testing.T) {
	b := startBroker(t, mosquitto.Options{RequireMosquitto: true, Extra: []string{"max_packet_size 4096"}})
	s := openStore(t, "", 1000)
	emit(t, s, 0, 3)
	require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
		return tx.Emit(store.Event{Kind: "test.huge", Message: strings.Repeat("x", 10000)})
	}))
	emit(t, s, 3, 3)

	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicEvents))
	timing := fastTiming
	timing.PublishTimeout = time.Second // paho sometimes notices the reset only when a write times out
	tel := runTelemetry(t, Options{Store: s, MQTT: mqttConfig(b.URL()), Timing: timing})
	order, _ := collectEvents(t, w, 6)
	assert.Equal(t, sequence(0, 6), order)
	require.Eventually(t, func() bool { return depth(t, s) == 0 }, wait, 10*time.Millisecond)
	n, err := s.Counter(context.Background(), store.KeyOutboxDiscarded)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Contains(t, tel.logs.String(), "discarded an outbox message the broker never acknowledged")
}

package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/store"
)

// wait bounds every wait for something the broker or the agent will do.
const wait = 20 * time.Second

// fastTiming keeps the tests quick: everything that waits on the network or a rate limit is
// shortened through Options, never slept over.
var fastTiming = Timing{
	ReconnectMin:      20 * time.Millisecond,
	ReconnectMax:      100 * time.Millisecond,
	ConnectTimeout:    2 * time.Second,
	PublishTimeout:    5 * time.Second,
	StatusMinInterval: 20 * time.Millisecond,
	RoomMinInterval:   20 * time.Millisecond,
	RoomRefresh:       time.Hour,
	CommandTimeout:    5 * time.Second,
	ShutdownTimeout:   2 * time.Second,
}

func openStore(t *testing.T, path string, maxMessages int) *store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "otj-edge.db")
	}
	s, err := store.Open(context.Background(), path, store.Options{
		Outbox: store.OutboxLimits{MaxMessages: maxMessages, MaxBytes: 64 << 20},
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func mqttConfig(broker string) config.MQTT {
	keep := 5 * time.Second
	metrics := time.Hour
	return config.MQTT{Broker: broker, KeepAlive: &keep, MetricsInterval: &metrics}
}

// syncBuffer is a log sink tests can read while the code writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a telemetry instance under test.
type running struct {
	*Telemetry
	health *health.Tracker
	logs   *syncBuffer
	stop   func() // cancels Run and waits for it
}

// runTelemetry starts Run in the background; the test's cleanup stops it.
func runTelemetry(t *testing.T, opts Options) *running {
	t.Helper()
	if opts.Site == "" {
		opts.Site = "oslo-hq"
	}
	if opts.Version == "" {
		opts.Version = "1.2.3-test"
	}
	if opts.Health == nil {
		opts.Health = health.New(nil)
	}
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Timing == (Timing{}) {
		opts.Timing = fastTiming
	}
	tel, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tel.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(wait):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("telemetry log:\n%s", logs.String())
		}
	})
	return &running{Telemetry: tel, health: opts.Health, logs: logs, stop: stop}
}

var clientSeq atomic.Int64

// watcher is a central-side MQTT client that records what arrives.
type watcher struct {
	t    *testing.T
	c    paho.Client
	msgs chan paho.Message
}

// watch connects a fresh (clean session) client and subscribes to filters.
func watch(t *testing.T, broker string, filters ...string) *watcher {
	t.Helper()
	return watchWith(t, broker, fmt.Sprintf("watcher-%d", clientSeq.Add(1)), true, nil, filters...)
}

func watchWith(t *testing.T, broker, id string, clean bool, configure func(*paho.ClientOptions), filters ...string) *watcher {
	t.Helper()
	w := &watcher{t: t, msgs: make(chan paho.Message, 50000)}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(clean).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { w.msgs <- m })
	if configure != nil {
		configure(o)
	}
	w.c = paho.NewClient(o)
	tok := w.c.Connect()
	require.True(t, tok.WaitTimeout(wait), "connect watcher")
	require.NoError(t, tok.Error(), "connect watcher")
	for _, f := range filters {
		tok := w.c.Subscribe(f, 1, nil)
		require.True(t, tok.WaitTimeout(wait))
		require.NoError(t, tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(50) })
	return w
}

// next returns the next message that matches, skipping others.
func (w *watcher) next(what string, match func(paho.Message) bool) paho.Message {
	w.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m := <-w.msgs:
			if match(m) {
				return m
			}
		case <-timer.C:
			w.t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
}

// status waits for a status message in the given state.
func (w *watcher) status(site, state string, retained bool) Status {
	w.t.Helper()
	var st Status
	w.next(fmt.Sprintf("%s status of %s (retained %v)", state, site, retained), func(m paho.Message) bool {
		if m.Topic() != SiteTopic(site, TopicStatus) || m.Retained() != retained {
			return false
		}
		st = Status{}
		return json.Unmarshal(m.Payload(), &st) == nil && st.State == state
	})
	return st
}

// anyStatus waits for a status in the given state, retained or live.
func (w *watcher) anyStatus(site, state string) Status {
	w.t.Helper()
	var st Status
	w.next(fmt.Sprintf("%s status of %s", state, site), func(m paho.Message) bool {
		st = Status{}
		return m.Topic() == SiteTopic(site, TopicStatus) && json.Unmarshal(m.Payload(), &st) == nil && st.State == state
	})
	return st
}

// publish sends a message from the central side.
func (w *watcher) publish(topic string, payload string) {
	w.t.Helper()
	tok := w.c.Publish(topic, 1, false, payload)
	require.True(w.t, tok.WaitTimeout(wait))
	require.NoError(w.t, tok.Error())
}

// emit queues n events (in transactions of 1,000), numbered from first.
func emit(t *testing.T, s *store.Store, first, n int) {
	t.Helper()
	for i := first; i < first+n; {
		require.NoError(t, s.Write(context.Background(), func(tx *store.Tx) error {
			for end := min(i+1000, first+n); i < end; i++ {
				if err := tx.Emit(store.Event{Kind: "test.event", Message: "event", Data: map[string]any{"n": i}}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

// eventNumber reads the "n" of an event emitted by emit, and its id.
func eventNumber(t *testing.T, m paho.Message) (int, string) {
	t.Helper()
	var ev struct {
		ID   string `json:"id"`
		Data struct {
			N int `json:"n"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(m.Payload(), &ev), string(m.Payload()))
	require.NotEmpty(t, ev.ID, "every event carries its id")
	return ev.Data.N, ev.ID
}

func startBroker(t *testing.T, opts mosquitto.Options) *mosquitto.Broker {
	t.Helper()
	return mosquitto.ForTest(t, opts)
}

// mqttHealth is telemetry's own health item (zero before Run reports).
func mqttHealth(tr *health.Tracker) health.Item {
	for _, it := range tr.Snapshot() {
		if it.Component == HealthComponent {
			return it
		}
	}
	return health.Item{}
}

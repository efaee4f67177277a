package telemetry

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares a payload, indented, with testdata/<name>.golden (-update rewrites it).
func golden(t *testing.T, name string, payload []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, payload, "", "  "), string(payload))
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test ./agent/telemetry -run %s -update creates it", t.Name())
	assert.Equal(t, string(want), buf.String(), "the payload differs from %s: a contract change (README, \"Fleet telemetry\"); "+
		"go test ./agent/telemetry -run %s -update rewrites it", path, t.Name())
}

// sourceStats stands for what the Graph source reports about itself (sync/graph's Stats, with
// its JSON keys; telemetry does not import the Graph source).
type sourceStats struct {
	Integration     string         `json:"integration"`
	Budget          int64          `json:"budget"`
	UsedToday       int64          `json:"used_today"`
	ProjectedToday  int64          `json:"projected_today"`
	Projected24h    int64          `json:"projected_24h"`
	HotInterval     time.Duration  `json:"hot_interval"`
	ColdInterval    time.Duration  `json:"cold_interval"`
	Rooms           map[string]int `json:"rooms"`
	HotRooms        int            `json:"hot_rooms"`
	Synced          int            `json:"synced"`
	BudgetExhausted bool           `json:"budget_exhausted"`
	Notifications   *struct {
		Rooms     int    `json:"rooms"`
		Live      int    `json:"live"`
		Received  int64  `json:"received"`
		Ignored   int64  `json:"ignored"`
		Lifecycle int64  `json:"lifecycle"`
		Creates   int64  `json:"creates"`
		Renewals  int64  `json:"renewals"`
		Deletes   int64  `json:"deletes"`
		Failures  int64  `json:"failures"`
		LastError string `json:"last_error,omitempty"`
	} `json:"notifications,omitempty"`
}

var messageID = regexp.MustCompile(`"id":"[0-9a-f]{32}"`)

// TestPayloadsMatchGolden pins the status (online, and offline after a clean shutdown) and the
// metrics as the central broker receives them: the calendar sources are under "sources", each
// with its type and name (no "graph" key). The times come from a fake clock; the host name and
// the message id, which differ on every run, are replaced.
func TestPayloadsMatchGolden(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus), SiteTopic("oslo-hq", TopicMetrics))
	started := time.Date(2026, 11, 23, 6, 0, 2, 0, time.UTC)
	fake := clock.NewFake(started.Add(2 * time.Hour))
	tr := health.New(fake.Now)
	tr.OK("graph/m365", "42 rooms")
	tr.Fail("cisco/board-room", "wrong username or password")
	// A source with change notifications adds their block (sync/source.NotifyStats).
	notifications := &struct {
		Rooms     int    `json:"rooms"`
		Live      int    `json:"live"`
		Received  int64  `json:"received"`
		Ignored   int64  `json:"ignored"`
		Lifecycle int64  `json:"lifecycle"`
		Creates   int64  `json:"creates"`
		Renewals  int64  `json:"renewals"`
		Deletes   int64  `json:"deletes"`
		Failures  int64  `json:"failures"`
		LastError string `json:"last_error,omitempty"`
	}{Rooms: 42, Live: 42, Received: 310, Lifecycle: 1, Creates: 43, Renewals: 42, Failures: 1,
		LastError: "renew subscription for room-07@contoso.example: Service Unavailable"}
	cfg := mqttConfig(b.URL())
	cfg.ClientID = "otj-edge-oslo-hq-3f9a1c2b7d4e"
	every := time.Minute
	cfg.MetricsInterval = &every
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: cfg, Clock: fake, Health: tr,
		Version: "1.4.0", StartedAt: started,
		Counts:  func() (int, int) { return 42, 47 },
		Sources: func() []StatusSource { return []StatusSource{{Type: "graph", Name: "m365", Rooms: 42}} },
		Metrics: func() map[string]any {
			return map[string]any{
				"sources": []SourceMetrics{{Type: "graph", Name: "m365", Stats: sourceStats{
					Integration: "m365", Budget: 1000000, UsedToday: 18211, ProjectedToday: 60000, Projected24h: 99000,
					HotInterval: 30 * time.Second, ColdInterval: 5 * time.Minute, Rooms: map[string]int{"ok": 41, "policy_denied": 1},
					HotRooms: 6, Synced: 42, Notifications: notifications}}},
				"processor_passes": 96,
			}
		}})
	host, err := os.Hostname()
	require.NoError(t, err)
	hostKey, err := json.Marshal(host)
	require.NoError(t, err)
	fixed := func(p []byte) []byte {
		p = bytes.ReplaceAll(p, []byte(`"host":`+string(hostKey)), []byte(`"host":"otj-oslo-01"`))
		return messageID.ReplaceAll(p, []byte(`"id":"0c1d2e3f405162738495a6b7c8d9e0f1"`))
	}

	// online: once telemetry's own health item says connected (the status is republished then)
	var online []byte
	w.next("the online status with the link up", func(m paho.Message) bool {
		var st Status
		if m.Topic() != SiteTopic("oslo-hq", TopicStatus) || json.Unmarshal(m.Payload(), &st) != nil || st.State != StateOnline {
			return false
		}
		online = m.Payload()
		return st.Health != nil && st.Health.OK == 2
	})
	golden(t, "status-online", fixed(online))

	require.Eventually(t, func() bool { return fake.Timers() >= 3 }, wait, time.Millisecond, "the state loop's timers")
	fake.Advance(every)
	m := w.next("metrics", func(m paho.Message) bool { return strings.HasSuffix(m.Topic(), "/"+TopicMetrics) })
	golden(t, "metrics", fixed(m.Payload()))
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(m.Payload(), &doc))
	assert.NotContains(t, doc, "graph", "no Graph-only key: the sources list has every calendar source")

	tel.stop()
	off := w.next("the offline status after the shutdown", func(m paho.Message) bool {
		var st Status
		return m.Topic() == SiteTopic("oslo-hq", TopicStatus) && json.Unmarshal(m.Payload(), &st) == nil && st.State == StateOffline
	})
	golden(t, "status-offline", fixed(off.Payload()))
}

// TestSourceMetricsPutTypeAndNameFirst: a dashboard reads every source's entry the same way,
// whatever the source reports; a source cannot pass itself off as another type.
func TestSourceMetricsPutTypeAndNameFirst(t *testing.T) {
	b, err := json.Marshal(SourceMetrics{Type: "graph", Name: "m365", Stats: struct {
		Type      string `json:"type"`
		UsedToday int64  `json:"used_today"`
		Budget    int64  `json:"budget"`
	}{"something else", 18211, 1000000}})
	require.NoError(t, err)
	assert.Equal(t, `{"type":"graph","name":"m365","used_today":18211,"budget":1000000}`, string(b))

	b, err = json.Marshal(SourceMetrics{Type: "graph", Name: "m365"})
	require.NoError(t, err)
	assert.Equal(t, `{"type":"graph","name":"m365"}`, string(b), "a source with no figures")

	_, err = json.Marshal(SourceMetrics{Type: "graph", Name: "m365", Stats: 42})
	assert.ErrorContains(t, err, `graph source "m365": its figures are not a JSON object: 42`)
}

// TestStatusFollowsTheConfiguredSources: a reload that adds a calendar source reaches the
// retained status at the next recheck, without a health change.
func TestStatusFollowsTheConfiguredSources(t *testing.T) {
	b := startBroker(t, mosquitto.Options{})
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	fake := clock.NewFake(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	var sources atomic.Pointer[[]StatusSource]
	sources.Store(&[]StatusSource{{Type: "graph", Name: "m365", Rooms: 42}})
	runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: mqttConfig(b.URL()), Clock: fake,
		Health:  health.New(fake.Now),
		Sources: func() []StatusSource { return *sources.Load() }})
	st := w.status("oslo-hq", StateOnline, false)
	assert.Equal(t, []StatusSource{{Type: "graph", Name: "m365", Rooms: 42}}, st.Sources)

	sources.Store(&[]StatusSource{{Type: "graph", Name: "m365", Rooms: 40}, {Type: "graph", Name: "m365-annex", Rooms: 2}})
	require.Eventually(t, func() bool { return fake.Timers() >= 3 }, wait, time.Millisecond, "the state loop's timers")
	fake.Advance(statusRecheck)
	w.next("the status with both sources", func(m paho.Message) bool {
		var st Status
		return json.Unmarshal(m.Payload(), &st) == nil && len(st.Sources) == 2 && st.Sources[1].Name == "m365-annex"
	})

	sources.Store(&[]StatusSource{})
	fake.Advance(statusRecheck)
	w.next("the status with no source, as []", func(m paho.Message) bool {
		var doc map[string]json.RawMessage
		return json.Unmarshal(m.Payload(), &doc) == nil && string(doc["sources"]) == "[]"
	})
}

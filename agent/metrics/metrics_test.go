package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/telemetry"
)

var update = flag.Bool("update", false, "rewrite testdata/exposition.golden")

// fixedSnapshot is a site with everything a snapshot can hold: a Graph source with change
// notifications, an EWS one without, codecs with pushes, Poly endpoints, an outbox with drops
// and an MQTT link.
func fixedSnapshot() Snapshot {
	return Snapshot{
		Site: "oslo-hq", Version: "v1.4.0", GoVersion: "go1.26.0",
		StartedAt: time.Date(2026, 11, 23, 6, 0, 2, 0, time.UTC),
		Health:    map[string]int{"ok": 51, "error": 1},
		Sources: []Source{
			{Type: "ews", Integration: "exchange", Budget: 200000, UsedToday: 5120, ProjectedToday: 20000,
				Projected24h: 30000, HotInterval: 30 * time.Second, ColdInterval: 5 * time.Minute,
				Rooms: map[string]int{"ok": 9, "throttled": 1}, HotRooms: 2, Synced: 10},
			{Type: "graph", Integration: "m365", Budget: 1000000, UsedToday: 18211, ProjectedToday: 60000,
				Projected24h: 99000, HotInterval: 30 * time.Second, ColdInterval: 300 * time.Second,
				Rooms: map[string]int{"ok": 41, "policy_denied": 1}, HotRooms: 6, Synced: 42, BudgetExhausted: true,
				Notifications: &Notifications{Rooms: 42, Live: 40, Received: 812, Ignored: 3, Lifecycle: 7,
					Creates: 44, Renewals: 120, Deletes: 2, Failures: 4},
				Probe: &Probe{Rooms: 42, Live: 41, DetailsVisible: 30, Requests: 9120, Changes: 57, Failures: 2}},
		},
		Endpoints: []EndpointType{
			{Type: "cisco", States: map[string]int{"up": 39, "auth_failed": 1},
				Push: &PushStats{Connected: 3, Released: 36, Pushes: 311, PushFailures: 2, Unchanged: 57,
					LatencyP50: 180 * time.Millisecond, LatencyP95: 420 * time.Millisecond, LatencyMax: 1900 * time.Millisecond}},
			{Type: "poly", States: map[string]int{"up": 9, "not_polling": 1}},
		},
		Outbox: Outbox{Depth: 12, Bytes: 20480, Dropped: 500, Discarded: 1},
		MQTT: &telemetry.MQTTMetrics{Connected: true, Connects: 2, Published: 10531, PublishRetries: 1,
			RoomPublishes: 96, Commands: 3, CommandsRejected: 1, CommandsTooLarge: 2, CommandsCoalesced: 4,
			CommandsRateLimited: 5},
		ProcessorPasses: 96, ProcessorSkipped: 40,
	}
}

// expose is the text exposition of the otj_* collector alone (the go_* and process_* series
// change from run to run).
func expose(t *testing.T, read Reader) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry() // also checks that every series matches its Describe
	reg.MustRegister(NewCollector(read, nil))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var buf bytes.Buffer
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&buf, mf)
		require.NoError(t, err)
	}
	return buf.String()
}

// TestExpositionGolden is the contract of the names: a series renamed, retyped, relabelled or
// re-explained shows here as a diff. Update on purpose with -update, and then say in the
// README that a name changed (dashboards and alerts read them).
func TestExpositionGolden(t *testing.T) {
	got := expose(t, func(context.Context) (Snapshot, error) { return fixedSnapshot(), nil })
	golden := filepath.Join("testdata", "exposition.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "the /metrics names changed meaning; run with -update only if that is intended")
}

// A site without MQTT and without notifications has no otj_mqtt_* and no notification
// series, and still every room status and endpoint state at 0 so dashboards see no gaps.
func TestExpositionLeavesOutWhatTheSiteHasNot(t *testing.T) {
	s := fixedSnapshot()
	s.MQTT = nil
	s.Sources = s.Sources[:1] // ews: no notifications
	s.Endpoints = s.Endpoints[1:]
	got := expose(t, func(context.Context) (Snapshot, error) { return s, nil })
	assert.NotContains(t, got, "otj_mqtt_")
	assert.NotContains(t, got, "otj_source_notifications_total")
	assert.NotContains(t, got, "otj_endpoint_pushes_total")
	assert.Contains(t, got, `otj_source_rooms{integration="exchange",status="not_found",type="ews"} 0`)
	assert.Contains(t, got, `otj_endpoints{state="down",type="poly"} 0`)
	assert.Contains(t, got, "otj_outbox_dropped_total 500\n")
}

// An unreadable store still answers the scrape, saying so, and logs why.
func TestExpositionWhenTheFiguresCannotBeRead(t *testing.T) {
	var heard error
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(func(context.Context) (Snapshot, error) {
		return Snapshot{}, errors.New("outbox stats: database is locked")
	}, func(err error) { heard = err }))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	assert.Equal(t, "otj_scrape_error", mfs[0].GetName())
	assert.Equal(t, 1.0, mfs[0].GetMetric()[0].GetGauge().GetValue())
	assert.ErrorContains(t, heard, "database is locked")
}

// A state or status word the collector does not know yet (a newer driver's) is still shown.
func TestExpositionKeepsUnknownWords(t *testing.T) {
	s := fixedSnapshot()
	s.Endpoints[0].States["rebooting"] = 2
	s.Sources[0].Rooms["paused"] = 3
	got := expose(t, func(context.Context) (Snapshot, error) { return s, nil })
	assert.Contains(t, got, `otj_endpoints{state="rebooting",type="cisco"} 2`)
	assert.Contains(t, got, `otj_source_rooms{integration="exchange",status="paused",type="ews"} 3`)
}

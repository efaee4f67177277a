// Package metrics is otj-edge's Prometheus exposition: a Collector that turns the figures the
// agent already keeps (the ones its MQTT metrics carry) into otj_* series at scrape time. It
// keeps no counts of its own: each scrape asks the agent for a Snapshot and writes what it
// says, so the /metrics page and the MQTT metrics message never disagree.
//
// The names are a contract with the central team's dashboards and alerts (packaging/grafana):
// testdata/exposition.golden is the exposition of a fixed Snapshot, and a change to a name, a
// type, a label or a help text fails TestExpositionGolden until the golden is updated on
// purpose (go test ./agent/metrics -run Golden -update). A renamed series is a new name; an
// existing name never changes meaning.
package metrics

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/agent/telemetry"
)

// Snapshot is the agent's figures at one moment, as its MQTT metrics message has them.
type Snapshot struct {
	Site      string
	Version   string
	GoVersion string // runtime.Version()
	StartedAt time.Time
	// Sources are the running calendar sources' own reports, sorted by integration name.
	Sources []Source
	// Endpoints are the endpoint types in use, sorted by type.
	Endpoints []EndpointType
	Outbox    Outbox
	// MQTT is telemetry's own counts; nil when mqtt.broker is not set.
	MQTT *telemetry.MQTTMetrics
	// ProcessorPasses counts the meeting processor's room resolutions since start.
	ProcessorPasses int64
	// ProcessorSkipped counts the resolutions among them that found the room's events,
	// profile, sync mark and window unchanged, and so decoded and wrote nothing.
	ProcessorSkipped int64
	// Health counts the health tracker's components by level (ok, warning, error).
	Health map[string]int
}

// Source is one calendar source's report about itself. The JSON names are those of
// sync/source.Stats, which is also what the source's entry in the MQTT metrics' "sources"
// list carries: the agent fills a Source from that very JSON, so a figure a source adds (such
// as notifications) reaches /metrics by being named here, and a figure a source leaves out
// stays at zero or absent.
type Source struct {
	Type            string         `json:"type"`
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
	// Notifications is present for a source that takes change notifications.
	Notifications *Notifications `json:"notifications"`
	// Probe is present for a source whose change probe is on.
	Probe *Probe `json:"probe"`
}

// Probe is a source's change-probe figures (sync/source.ProbeStats).
type Probe struct {
	Rooms          int   `json:"rooms"`
	Live           int   `json:"live"`
	DetailsVisible int   `json:"details_visible"`
	Requests       int64 `json:"requests"`
	Changes        int64 `json:"changes"`
	Failures       int64 `json:"failures"`
}

// Notifications are a source's change-notification figures (sync/source.NotifyStats).
type Notifications struct {
	Rooms     int   `json:"rooms"`     // rooms that should have a subscription
	Live      int   `json:"live"`      // rooms with a live subscription
	Received  int64 `json:"received"`  // accepted (change and lifecycle)
	Ignored   int64 `json:"ignored"`   // unknown subscription or wrong clientState
	Lifecycle int64 `json:"lifecycle"` // lifecycle notifications accepted
	Creates   int64 `json:"creates"`
	Renewals  int64 `json:"renewals"`
	Deletes   int64 `json:"deletes"`
	Failures  int64 `json:"failures"` // subscription calls that failed
}

// EndpointType is one endpoint type's figures.
type EndpointType struct {
	Type string // cisco, poly
	// States counts the type's endpoints by state, as the store (and the status page) has them.
	States map[string]int
	// Push is the driver's push figures; nil for a type whose endpoints fetch their calendar
	// themselves (Poly) or whose driver is not running.
	Push *PushStats
}

// PushStats are a pushing driver's figures. The JSON names are those of the driver's part of
// the MQTT metrics message (the "cisco" object), so the agent reads them from the very value
// it publishes, whatever the driver.
type PushStats struct {
	Connected    int   `json:"connected"`
	Released     int   `json:"released"`      // up, not connected now (Cisco on_demand)
	Pushes       int64 `json:"pushes"`        // accepted by the endpoints, since start
	PushFailures int64 `json:"push_failures"` // refused or lost
	Unchanged    int64 `json:"unchanged"`     // skipped: the same bookings as last time
	// Push latency (request to answer) over the driver's recent window (Cisco: 512 pushes).
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP95 time.Duration `json:"latency_p95"`
	LatencyMax time.Duration `json:"latency_max"`
}

// Outbox is the durable MQTT queue in the store.
type Outbox struct {
	Depth     int64 // messages waiting
	Bytes     int64 // their payload bytes
	Dropped   int64 // dropped over the caps, since the store was created
	Discarded int64 // given up after the broker refused them, since the store was created
}

// Reader builds the Snapshot for one scrape.
type Reader func(ctx context.Context) (Snapshot, error)

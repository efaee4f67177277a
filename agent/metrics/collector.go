package metrics

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otj-edge/otj-edge/store"
)

// ScrapeTimeout bounds how long one scrape may spend reading the store.
const ScrapeTimeout = 10 * time.Second

// RoomStatuses are the sync status words every source reports on (source.Status*). Each
// appears in otj_source_rooms even at 0, so a dashboard's series do not come and go.
var RoomStatuses = []string{store.RoomPending, store.RoomOK, store.RoomThrottled, store.RoomPolicyDenied,
	store.RoomNotFound, store.RoomNotRESTEnabled, store.RoomAuthFailed, store.RoomTransient}

// EndpointStates are the endpoint states; each appears in otj_endpoints at 0 for every type in use.
var EndpointStates = []string{store.EndpointUnknown, store.EndpointUp, store.EndpointDown, store.EndpointAuthFailed,
	store.EndpointCertChanged, store.EndpointUnsupported, store.EndpointNotPolling, store.EndpointDegraded,
	store.EndpointWaiting}

var src = []string{"type", "integration"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The series. Their names, types, labels and help are the contract (testdata/exposition.golden).
var (
	descBuild   = desc("otj_build_info", "The agent's version and the Go version it was built with (always 1).", "version", "go_version")
	descSite    = desc("otj_site_info", "The site this agent serves (always 1): join on instance to name a target.", "site")
	descStarted = desc("otj_start_time_seconds", "When the agent started, in seconds since the Unix epoch.")
	descHealth  = desc("otj_health_components", "Health tracker components by level (ok, warning, error).", "level")

	descReqToday   = desc("otj_source_requests_today", "Requests the calendar source sent since local midnight (resets daily).", src...)
	descBudget     = desc("otj_source_requests_budget_per_day", "The source's daily request budget (max_requests_per_day).", src...)
	descProjToday  = desc("otj_source_requests_projected_today", "Requests today plus what the poll intervals in force will send until midnight.", src...)
	descProj24h    = desc("otj_source_requests_projected_24h", "Requests the poll intervals in force send over a day from now.", src...)
	descInterval   = desc("otj_source_poll_interval_seconds", "Poll interval in force (after stretching to the budget) for hot rooms (a meeting soon or running) and cold ones.", append(slices.Clone(src), "pace")...)
	descRooms      = desc("otj_source_rooms", "The source's rooms by sync status.", append(slices.Clone(src), "status")...)
	descHotRooms   = desc("otj_source_hot_rooms", "Rooms polled at the hot interval.", src...)
	descSynced     = desc("otj_source_synced_rooms", "Rooms whose last full read completed.", src...)
	descExhausted  = desc("otj_source_budget_exhausted", "1 while the source has spent its daily budget and syncs only what is most urgent.", src...)
	descNotifRooms = desc("otj_source_notification_rooms", "Rooms that should have a change-notification subscription (sources with notifications only).", src...)
	descNotifLive  = desc("otj_source_notification_live_rooms", "Rooms with a live change-notification subscription.", src...)
	descNotifIn    = desc("otj_source_notifications_total", "Change notifications since start: accepted (change and lifecycle) or ignored (unknown subscription or wrong clientState).", append(slices.Clone(src), "result")...)
	descLifecycle  = desc("otj_source_lifecycle_notifications_total", "Lifecycle notifications accepted since start (also counted as accepted in otj_source_notifications_total).", src...)
	descSubCalls   = desc("otj_source_subscription_calls_total", "Subscriptions created, renewed and deleted since start.", append(slices.Clone(src), "call")...)
	descSubFailed  = desc("otj_source_subscription_failures_total", "Subscription calls that failed since start.", src...)
	descProbeRooms = desc("otj_source_probe_rooms", "Rooms the change probe covers (sources with a probe on only).", src...)
	descProbeLive  = desc("otj_source_probe_live_rooms", "Rooms whose last change probe succeeded (their polls slow to the safety net's intervals).", src...)
	descProbeSubj  = desc("otj_source_probe_details_visible_rooms", "Live probed rooms whose free/busy shows subjects (LimitedDetails).", src...)
	descProbeReqs  = desc("otj_source_probe_requests_total", "Change-probe requests sent since start (also counted in otj_source_requests_today).", src...)
	descProbeChg   = desc("otj_source_probe_changes_total", "Rooms the change probe found changed since start (each then polled at once).", src...)
	descProbeFail  = desc("otj_source_probe_failures_total", "Change-probe requests that failed since start.", src...)

	descEndpoints = desc("otj_endpoints", "Endpoints by type and state.", "type", "state")
	descConnected = desc("otj_endpoints_connected", "Endpoints of a pushing type with a live connection.", "type")
	descReleased  = desc("otj_endpoints_released", "Endpoints of a pushing type that are up without a connection now (Cisco on_demand: dialled for pushes, checks and meetings).", "type")
	descPushes    = desc("otj_endpoint_pushes_total", "Pushes since start by result: accepted, failed (refused or lost), unchanged (skipped, same bookings).", "type", "result")
	descLatency   = desc("otj_endpoint_push_latency_seconds", "Push latency (request to answer) over the driver's recent pushes (Cisco: the last 512): quantile 0.5, 0.95 and 1 (the maximum).", "type", "quantile")

	descOutboxDepth     = desc("otj_outbox_messages", "Messages waiting in the MQTT outbox.")
	descOutboxBytes     = desc("otj_outbox_bytes", "Payload bytes waiting in the MQTT outbox.")
	descOutboxDropped   = desc("otj_outbox_dropped_total", "Outbox messages dropped over the caps (oldest first), since the store was created.")
	descOutboxDiscarded = desc("otj_outbox_discarded_total", "Outbox messages given up after the broker refused them, since the store was created.")

	descMQTTConnected   = desc("otj_mqtt_connected", "1 while connected to the MQTT broker (present only with mqtt.broker set).")
	descMQTTConnects    = desc("otj_mqtt_connects_total", "Connections made to the broker since start.")
	descMQTTPublished   = desc("otj_mqtt_published_total", "Outbox messages the broker acknowledged since start.")
	descMQTTRetries     = desc("otj_mqtt_publish_retries_total", "Outbox batches not (fully) acknowledged and sent again, since start.")
	descMQTTRooms       = desc("otj_mqtt_room_publishes_total", "Retained room states published since start.")
	descMQTTCommands    = desc("otj_mqtt_commands_total", "Commands received since start.")
	descMQTTRejected    = desc("otj_mqtt_commands_rejected_total", "Commands answered busy or dropped (queue full) since start.")
	descMQTTTooLarge    = desc("otj_mqtt_commands_too_large_total", "Commands refused unread (too large) since start.")
	descMQTTCoalesced   = desc("otj_mqtt_commands_coalesced_total", "Commands answered with the result of the same command accepted a moment before, since start.")
	descMQTTRateLimited = desc("otj_mqtt_commands_rate_limited_total", "Commands refused by the site's sync and push rate limits, since start.")

	descPasses  = desc("otj_processor_passes_total", "Room resolutions the meeting processor has run since start.")
	descSkipped = desc("otj_processor_skipped_total", "Room resolutions since start that found nothing changed (events, profile, sync mark, window) and wrote nothing.")
	descScrape  = desc("otj_scrape_error", "1 when this scrape could not read the agent's figures (the otj_ series are then missing); see the agent's log.")
)

var allDescs = []*prometheus.Desc{descBuild, descSite, descStarted, descHealth,
	descReqToday, descBudget, descProjToday, descProj24h, descInterval, descRooms, descHotRooms, descSynced, descExhausted,
	descNotifRooms, descNotifLive, descNotifIn, descLifecycle, descSubCalls, descSubFailed,
	descProbeRooms, descProbeLive, descProbeSubj, descProbeReqs, descProbeChg, descProbeFail,
	descEndpoints, descConnected, descReleased, descPushes, descLatency,
	descOutboxDepth, descOutboxBytes, descOutboxDropped, descOutboxDiscarded,
	descMQTTConnected, descMQTTConnects, descMQTTPublished, descMQTTRetries, descMQTTRooms, descMQTTCommands,
	descMQTTRejected, descMQTTTooLarge, descMQTTCoalesced, descMQTTRateLimited,
	descPasses, descSkipped, descScrape}

// Collector writes a Snapshot as otj_* series at each scrape.
type Collector struct {
	read Reader
	// onError hears why a scrape could not read the figures (the agent logs it).
	onError func(error)
}

// NewCollector returns a collector reading its figures from read at each scrape.
func NewCollector(read Reader, onError func(error)) *Collector {
	if onError == nil {
		onError = func(error) {}
	}
	return &Collector{read: read, onError: onError}
}

// Describe sends every series' description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect reads a Snapshot and sends its series. When the figures cannot be read, the scrape
// still answers, with otj_scrape_error 1, so Prometheus tells "agent up, store unreadable" from
// "agent down".
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	s, err := c.read(ctx)
	if err != nil {
		c.onError(err)
		ch <- gauge(descScrape, 1)
		return
	}
	ch <- gauge(descScrape, 0)
	write(ch, s)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func write(ch chan<- prometheus.Metric, s Snapshot) {
	ch <- gauge(descBuild, 1, s.Version, s.GoVersion)
	ch <- gauge(descSite, 1, s.Site)
	if !s.StartedAt.IsZero() {
		ch <- gauge(descStarted, float64(s.StartedAt.UnixNano())/1e9)
	}
	for _, level := range []string{"ok", "warning", "error"} {
		ch <- gauge(descHealth, float64(s.Health[level]), level)
	}
	for _, st := range s.Sources {
		writeSource(ch, st)
	}
	for _, e := range s.Endpoints {
		for _, state := range withExtra(EndpointStates, e.States) {
			ch <- gauge(descEndpoints, float64(e.States[state]), e.Type, state)
		}
		if p := e.Push; p != nil {
			ch <- gauge(descConnected, float64(p.Connected), e.Type)
			ch <- gauge(descReleased, float64(p.Released), e.Type)
			ch <- counter(descPushes, float64(p.Pushes), e.Type, "accepted")
			ch <- counter(descPushes, float64(p.PushFailures), e.Type, "failed")
			ch <- counter(descPushes, float64(p.Unchanged), e.Type, "unchanged")
			ch <- gauge(descLatency, p.LatencyP50.Seconds(), e.Type, "0.5")
			ch <- gauge(descLatency, p.LatencyP95.Seconds(), e.Type, "0.95")
			ch <- gauge(descLatency, p.LatencyMax.Seconds(), e.Type, "1")
		}
	}
	ch <- gauge(descOutboxDepth, float64(s.Outbox.Depth))
	ch <- gauge(descOutboxBytes, float64(s.Outbox.Bytes))
	ch <- counter(descOutboxDropped, float64(s.Outbox.Dropped))
	ch <- counter(descOutboxDiscarded, float64(s.Outbox.Discarded))
	if m := s.MQTT; m != nil {
		ch <- gauge(descMQTTConnected, bit(m.Connected))
		ch <- counter(descMQTTConnects, float64(m.Connects))
		ch <- counter(descMQTTPublished, float64(m.Published))
		ch <- counter(descMQTTRetries, float64(m.PublishRetries))
		ch <- counter(descMQTTRooms, float64(m.RoomPublishes))
		ch <- counter(descMQTTCommands, float64(m.Commands))
		ch <- counter(descMQTTRejected, float64(m.CommandsRejected))
		ch <- counter(descMQTTTooLarge, float64(m.CommandsTooLarge))
		ch <- counter(descMQTTCoalesced, float64(m.CommandsCoalesced))
		ch <- counter(descMQTTRateLimited, float64(m.CommandsRateLimited))
	}
	ch <- counter(descPasses, float64(s.ProcessorPasses))
	ch <- counter(descSkipped, float64(s.ProcessorSkipped))
}

// withExtra is the known words followed by any others counts has (a state a newer driver
// reports), sorted, so nothing counted is left out.
func withExtra(known []string, counts map[string]int) []string {
	out := slices.Clone(known)
	var extra []string
	for k := range counts {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

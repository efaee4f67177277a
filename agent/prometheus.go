package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/metrics"
	"github.com/otj-edge/otj-edge/store"
)

// metricsHandler serves the Prometheus exposition (the status page's /metrics): the figures of
// the MQTT metrics message, read at each scrape by metricsSnapshot.
func (a *Agent) metricsHandler() http.Handler {
	log := a.log.With("part", "status page")
	return metrics.Handler(metrics.NewRegistry(a.metricsSnapshot, log), log)
}

// metricsSnapshot reads the agent's figures now, from the same places the MQTT metrics
// message reads them (sources' and drivers' reports through the JSON they publish, the store's
// outbox, telemetry's counts): /metrics keeps no bookkeeping of its own.
func (a *Agent) metricsSnapshot(ctx context.Context) (metrics.Snapshot, error) {
	cfg := a.cfg.Load()
	s := metrics.Snapshot{Site: cfg.Site, Version: Version, GoVersion: runtime.Version(), StartedAt: a.started,
		Health: map[string]int{}}
	for _, st := range a.sourceStats() {
		var src metrics.Source
		if err := viaJSON(st, &src); err != nil {
			return s, fmt.Errorf("metrics: %s source %q: %w", st.Type, st.Integration, err)
		}
		s.Sources = append(s.Sources, src)
	}
	eps, err := a.endpointTypes(ctx, cfg)
	if err != nil {
		return s, err
	}
	s.Endpoints = eps
	ob, err := a.store.OutboxStats(ctx)
	if err != nil {
		return s, fmt.Errorf("metrics: %w", err)
	}
	discarded, err := a.store.Counter(ctx, store.KeyOutboxDiscarded)
	if err != nil {
		return s, fmt.Errorf("metrics: outbox discarded: %w", err)
	}
	s.Outbox = metrics.Outbox{Depth: ob.Depth, Bytes: ob.Bytes, Dropped: ob.Dropped, Discarded: discarded}
	a.mu.Lock()
	tel := a.tel
	a.mu.Unlock()
	if tel != nil {
		m := tel.MQTTMetrics()
		s.MQTT = &m
	}
	if a.proc != nil {
		s.ProcessorPasses = a.proc.Passes()
		s.ProcessorSkipped = a.proc.Skipped()
	}
	for _, it := range a.health.Snapshot() {
		s.Health[it.Level]++
	}
	return s, nil
}

// endpointTypes counts the endpoints by type and state as the store has them (what the status
// page counts), for every type configured or stored, with the push figures of each running
// driver that reports them.
func (a *Agent) endpointTypes(ctx context.Context, cfg *config.Config) ([]metrics.EndpointType, error) {
	states, err := a.store.Endpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: endpoint states: %w", err)
	}
	byType := map[string]map[string]int{}
	for _, e := range cfg.Endpoints {
		if byType[e.Type] == nil {
			byType[e.Type] = map[string]int{}
		}
	}
	for _, e := range states {
		if byType[e.Type] == nil {
			byType[e.Type] = map[string]int{}
		}
		byType[e.Type][e.State]++
	}
	drivers := a.driverStats()
	out := make([]metrics.EndpointType, 0, len(byType))
	for typ, counts := range byType {
		et := metrics.EndpointType{Type: typ, States: counts}
		if st, ok := drivers[typ]; ok {
			et.Push = &metrics.PushStats{}
			if err := viaJSON(st, et.Push); err != nil {
				return nil, fmt.Errorf("metrics: %s driver: %w", typ, err)
			}
		}
		out = append(out, et)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out, nil
}

// viaJSON reads a report into dst through its JSON, the form the MQTT metrics carry it in.
func viaJSON(v, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

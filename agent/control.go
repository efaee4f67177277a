package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// What the running agent does on request, for the status page's actions, the CLI (through
// the API) and MQTT commands. Both front doors share these methods.

// Config is the running configuration.
func (a *Agent) Config() *config.Config { return a.cfg.Load() }

// Sync asks for a calendar sync of one room ("" = every room), a full resync when full is
// set. It returns once the sync is queued.
func (a *Agent) Sync(_ context.Context, room string, full bool) error {
	cfg := a.cfg.Load()
	syncers := a.runningSources()
	a.shadow.syncNow(cfg, room, full) // shadow.go: the shadow check follows a room's sync
	if room == "" {
		var errs []error
		for _, s := range syncers {
			errs = append(errs, s.SyncNow("", full))
		}
		return errors.Join(errs...)
	}
	for _, r := range cfg.Rooms() {
		if r.Mailbox == room {
			s, ok := syncers[r.Integration]
			if !ok {
				return fmt.Errorf("sync %s: integration %q is not running", room, r.Integration)
			}
			return s.SyncNow(room, full)
		}
	}
	return fmt.Errorf("sync: room %q is not configured: %w", room, web.ErrNotFound)
}

// How long a push is awaited: one codec may need a connection (10 s) and a few requests; every
// codec of a site connects 32 at a time. Pushes still going then are reported as not finished
// (they go on).
const (
	pushWait    = 45 * time.Second
	pushAllWait = 100 * time.Second
)

// Push pushes bookings now to one endpoint, or to every endpoint that takes pushes (""),
// waits for the drivers' answers and returns what happened to each. Endpoints that fetch
// their calendar themselves (Poly) are refused by name and left out of "every".
func (a *Agent) Push(ctx context.Context, endpoint string) ([]device.Result, error) {
	targets, err := a.pushTargets("push", endpoint)
	if err != nil {
		return nil, err
	}
	wait := pushWait
	if endpoint == "" {
		wait = pushAllWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var rs []device.Result
	if endpoint == "" {
		rs, err = pushAll(ctx, targets)
	} else {
		rs, err = targets[0].driver.Push(ctx, endpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	return rs, nil
}

// Retry makes one connection attempt to an endpoint now (after the operator fixed its
// password, say), pushes when it connects, and returns how it went.
func (a *Agent) Retry(ctx context.Context, endpoint string) (device.Result, error) {
	if endpoint == "" {
		return device.Result{}, errors.New("retry: name the endpoint to try")
	}
	targets, err := a.pushTargets("retry", endpoint)
	if err != nil {
		return device.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, pushWait)
	defer cancel()
	r, err := targets[0].driver.Retry(ctx, endpoint)
	if err != nil {
		return device.Result{}, fmt.Errorf("retry: %w", err)
	}
	return r, nil
}

// webResults are push results as the API shows them.
func webResults(rs []device.Result) []web.EndpointResult {
	out := make([]web.EndpointResult, len(rs))
	for i, r := range rs {
		out[i] = web.EndpointResult(r)
	}
	return out
}

// rulesTest resolves one event with a profile ("" = the only, or the first, profile).
func (a *Agent) rulesTest(profile string, ev calendar.Event) (rules.Report, error) {
	cfg := a.cfg.Load()
	if profile == "" && len(cfg.Profiles) > 0 {
		profile = cfg.Profiles[0].Name
	}
	p := cfg.Profile(profile)
	if p == nil {
		return rules.Report{}, fmt.Errorf("rules test: profile %q is not configured: %w", profile, web.ErrNotFound)
	}
	compiled, err := p.Compile()
	if err != nil {
		return rules.Report{}, fmt.Errorf("rules test: profile %q: %w", profile, err)
	}
	m, d := compiled.Explain("", ev, a.clock.Now())
	return rules.NewReport(m, d), nil
}

// webSourceStats lists each calendar source's request budget use, whatever its type.
func (a *Agent) webSourceStats() []web.SourceStats {
	var out []web.SourceStats
	for _, st := range a.sourceStats() {
		ws := web.SourceStats{Type: st.Type, Name: st.Integration, RequestsToday: st.UsedToday, Budget: st.Budget, Projected24h: st.Projected24h}
		if n := st.Notifications; n != nil {
			ws.Notifications = &web.SourceNotifications{Rooms: n.Rooms, Live: n.Live, Received: n.Received, Ignored: n.Ignored,
				Lifecycle: n.Lifecycle, Failures: n.Failures, LastError: n.LastError}
		}
		if p := st.Probe; p != nil {
			ws.Probe = &web.SourceProbe{Enabled: p.Enabled, Rooms: p.Rooms, Live: p.Live, DetailsVisible: p.DetailsVisible,
				Unavailable: p.Unavailable, Requests: p.Requests, Changes: p.Changes, Failures: p.Failures, LastError: p.LastError}
		}
		out = append(out, ws)
	}
	return out
}

// mqttState describes the telemetry link, never with credentials.
func (a *Agent) mqttState() web.MQTTState {
	cfg := a.cfg.Load()
	st := web.MQTTState{Enabled: cfg.MQTT.Enabled()}
	if !st.Enabled {
		return st
	}
	if u, err := url.Parse(cfg.MQTT.Broker); err == nil {
		u.User = nil
		st.Broker = u.String()
	}
	a.mu.Lock()
	tel := a.tel
	a.mu.Unlock()
	if tel != nil {
		st.Connected = tel.Connected()
	}
	for _, it := range a.health.Snapshot() {
		if it.Component == "mqtt" {
			st.Since = it.Since
			if it.Level != health.OK {
				st.LastError = it.Message
			}
		}
	}
	return st
}

// metrics are the figures telemetry publishes besides its own.
func (a *Agent) metrics() map[string]any {
	out := a.driverStats() // by endpoint type: "cisco"
	sources := []telemetry.SourceMetrics{}
	for _, st := range a.sourceStats() { // sorted by name
		sources = append(sources, telemetry.SourceMetrics{Type: st.Type, Name: st.Integration, Stats: st})
	}
	out["sources"] = sources
	if a.proc != nil {
		out["processor_passes"] = a.proc.Passes()
		out["processor_skipped"] = a.proc.Skipped()
	}
	return out
}

func (a *Agent) counts() (int, int) {
	cfg := a.cfg.Load()
	return len(cfg.Rooms()), len(cfg.Endpoints)
}

// statusSources lists the configured calendar sources and their rooms for the MQTT status.
func (a *Agent) statusSources() []telemetry.StatusSource {
	cfg := a.cfg.Load()
	rooms := map[string]int{}
	for _, r := range cfg.Rooms() {
		rooms[r.Integration]++
	}
	out := make([]telemetry.StatusSource, 0, len(cfg.Integrations))
	for _, in := range cfg.Integrations {
		out = append(out, telemetry.StatusSource{Type: in.Type, Name: in.Name, Rooms: rooms[in.Name]})
	}
	return out
}

// webAgent is what the status page needs from the agent.
type webAgent struct{ a *Agent }

var _ web.Agent = webAgent{}

func (w webAgent) Config() *config.Config         { return w.a.cfg.Load() }
func (w webAgent) Started() time.Time             { return w.a.started }
func (w webAgent) Version() string                { return Version }
func (w webAgent) SourceStats() []web.SourceStats { return w.a.webSourceStats() }
func (w webAgent) MQTT() web.MQTTState            { return w.a.mqttState() }
func (w webAgent) Sync(ctx context.Context, room string, full bool) error {
	return w.a.Sync(ctx, room, full)
}
func (w webAgent) Push(ctx context.Context, endpoint string) ([]web.EndpointResult, error) {
	rs, err := w.a.Push(ctx, endpoint)
	return webResults(rs), err
}
func (w webAgent) Retry(ctx context.Context, endpoint string) (web.EndpointResult, error) {
	r, err := w.a.Retry(ctx, endpoint)
	return web.EndpointResult(r), err
}
func (w webAgent) Pulled(endpoint string) string    { return PulledEndpoint(w.a.cfg.Load(), endpoint) }
func (w webAgent) Reload(ctx context.Context) error { return w.a.Reload(ctx) }
func (w webAgent) RulesTest(_ context.Context, profile string, ev calendar.Event) (web.RulesResult, error) {
	r, err := w.a.rulesTest(profile, ev)
	if err != nil {
		return web.RulesResult{}, err
	}
	return web.RulesResult{Rule: r.Rule, Platform: r.Platform, Protocol: r.Protocol, Number: r.Number, Join: r.Join,
		Subject: r.Subject, Reason: r.Reason, Hidden: !r.Shown}, nil
}

// commands carries out MQTT commands. Errors go to the central broker as they are: they never
// contain secrets (config errors name keys and lines, not values).
type mqttCommands struct{ a *Agent }

func (c mqttCommands) Sync(ctx context.Context, room string, full bool) (any, error) {
	if err := c.a.Sync(ctx, room, full); err != nil {
		return nil, err
	}
	return map[string]any{"queued": true, "room": room, "full": full}, nil
}

// Push answers with every endpoint's result; when any failed, the command fails with each
// failure named (the result of an MQTT command is either its data or its error).
func (c mqttCommands) Push(ctx context.Context, endpoint string) (any, error) {
	rs, err := c.a.Push(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	results := webResults(rs)
	var failed []string
	for _, r := range results {
		if !r.OK() {
			failed = append(failed, r.Endpoint+": "+r.Sentence())
		}
	}
	if len(failed) > 0 {
		return nil, fmt.Errorf("push failed for %d of %d Cisco endpoints: %s", len(failed), len(results), strings.Join(failed, "; "))
	}
	return map[string]any{"endpoints": results, "summary": web.Summary(results)}, nil
}

func (c mqttCommands) Reload(ctx context.Context) (any, error) {
	if err := c.a.Reload(ctx); err != nil {
		return nil, err
	}
	cfg := c.a.cfg.Load()
	return map[string]any{"reloaded": true, "rooms": len(cfg.Rooms()), "endpoints": len(cfg.Endpoints)}, nil
}

func (c mqttCommands) RulesTest(_ context.Context, event json.RawMessage, profile string) (any, error) {
	var ev calendar.Event
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("rules-test: the event is not Graph event JSON: %w", err)
	}
	if ev.Start == nil || ev.End == nil {
		return nil, errors.New("rules-test: the event needs start and end")
	}
	return c.a.rulesTest(profile, ev)
}

func (c mqttCommands) Status(ctx context.Context) (any, error) {
	c.a.mu.Lock()
	srv := c.a.web
	c.a.mu.Unlock()
	if srv == nil {
		return nil, errors.New("status: the status page is not running")
	}
	return srv.Status(ctx)
}

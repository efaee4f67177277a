package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/sync/rules"
)

type rulesProfile = rules.Profile

// compileProfiles compiles each room's profile (config validation has already checked every
// rule, so an error here is a bug worth refusing the config for).
func compileProfiles(cfg *config.Config) (map[string]*rules.Profile, error) {
	byProfile := map[string]*rules.Profile{}
	for i := range cfg.Profiles {
		p := &cfg.Profiles[i]
		compiled, err := p.Compile()
		if err != nil {
			return nil, &config.Error{Problems: []config.Problem{{File: cfg.File, Line: p.Pos.Line(""), Msg: fmt.Sprintf("profile %q: %s", p.Name, err)}}}
		}
		byProfile[p.Name] = compiled
	}
	rooms := map[string]*rules.Profile{}
	for _, r := range cfg.Rooms() {
		rooms[r.Mailbox] = byProfile[r.Profile]
	}
	return rooms, nil
}

// partSpec describes one long-running part: its name, a key that changes exactly when the
// settings it was built from change (a reload restarts it then, and only then, unless it
// failed on its config: see Permanent), and how to build it. Specs are listed in start order:
// consumers before producers (Telegraf), so nothing produced at start-up has nowhere to go;
// they stop in reverse.
type partSpec struct {
	name string
	key  string
	// build translates the config and reads the files it names, and nothing more (no
	// network): its error is a config problem, not retried until a reload (Permanent).
	build func() (run func(ctx context.Context) error, err error)
}

// partSpecs lists the parts for cfg: telemetry → status page → endpoint drivers and the Poly
// calendar service → meeting processor → calendar sync.
func (a *Agent) partSpecs(cfg *config.Config) []partSpec {
	var specs []partSpec
	if cfg.MQTT.Enabled() {
		specs = append(specs, partSpec{name: "mqtt", key: keyOf(cfg.Site, cfg.MQTT), build: func() (func(context.Context) error, error) {
			tel, err := telemetry.New(telemetry.Options{
				Site: cfg.Site, Version: Version, StartedAt: a.started, MQTT: cfg.MQTT,
				Store: a.store, Logger: a.log.With("part", "mqtt"), Clock: a.clock, Health: a.health,
				Metrics: a.metrics, Commands: mqttCommands{a}, Counts: a.counts, Sources: a.statusSources,
				Migration: a.Migration,
			})
			if err != nil {
				return nil, err
			}
			a.mu.Lock()
			a.tel = tel
			a.mu.Unlock()
			return tel.Run, nil
		}})
	} else {
		a.mu.Lock()
		a.tel = nil
		a.mu.Unlock()
	}
	specs = append(specs, partSpec{name: "status page", key: keyOf(cfg.Status), build: func() (func(context.Context) error, error) {
		srv, err := web.New(web.Options{
			Listen: cfg.Status.Listen, Username: cfg.Status.Username, Password: cfg.Status.Password,
			Store: a.store, Health: a.health, Agent: webAgent{a}, Logger: a.log.With("part", "status page"),
			Clock: a.clock, TokenFile: web.TokenPath(cfg.StateDir), Metrics: a.metricsHandler(),
		})
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		a.web = srv
		a.mu.Unlock()
		return srv.Run, nil
	}})
	if spec, ok := a.reportSpec(cfg); ok { // report_part.go: counts the drivers' events, so before them
		specs = append(specs, spec)
	}
	specs = append(specs, a.endpointSpecs(cfg)...) // endpoints.go: a part per endpoint type in use
	// The processor is built once; a reload hands it the new profiles (SetRooms).
	specs = append(specs, partSpec{name: "processor", key: "", build: func() (func(context.Context) error, error) {
		return a.proc.Run, nil
	}})
	// Shadow integrations (shadow.go): their own store and processor, no endpoint.
	specs = append(specs, a.shadowSpecs(cfg)...)
	// Calendar sync: one part per integration, built by its type's row of the source table
	// (agent/sources.go). A source whose integration is gone stops counting at once.
	configured := map[string]bool{}
	for i := range cfg.Integrations {
		in := &cfg.Integrations[i]
		configured[in.Name] = true
		if spec, ok := a.notifySpec(in); ok { // notify.go: listening before its source subscribes
			specs = append(specs, spec)
		}
		if spec, ok := a.googleNotifySpec(in); ok { // google_notify.go: the same for Google's channels
			specs = append(specs, spec)
		}
		if spec, ok := a.sourceSpec(cfg, in); ok {
			specs = append(specs, spec)
		}
	}
	a.mu.Lock()
	for name := range a.sources {
		if !configured[name] {
			delete(a.sources, name)
		}
	}
	a.mu.Unlock()
	return specs
}

// keyOf fingerprints the settings a part is built from, their secrets included: a Secret
// marshals as "[redacted]", so keyOf adds the secrets secret.Find finds inside v (with their
// paths). A part's key thus covers exactly the secrets of the sections it is given (an MQTT
// password change restarts mqtt, not the Poly service), and a secret added to a section later
// is covered without a change here.
func keyOf(v ...any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("agent: part key: %v", err)) // plain config data always marshals
	}
	var secrets [][2]string
	for _, f := range secret.Find(v) {
		secrets = append(secrets, [2]string{f.Path, f.Secret.Value()})
	}
	s, err := json.Marshal(secrets)
	if err != nil {
		panic(fmt.Sprintf("agent: part key: %v", err)) // strings always marshal
	}
	h := sha256.New()
	h.Write(b)
	h.Write(s)
	return hex.EncodeToString(h.Sum(nil))
}

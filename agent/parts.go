package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/device/poly"
	"github.com/otj-edge/otj-edge/sync/graph"
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
// settings it was built from change (a reload restarts it then, and only then), and how to
// build it. Specs are listed in start order: consumers before producers (Telegraf), so
// nothing produced at start-up has nowhere to go; they stop in reverse.
type partSpec struct {
	name  string
	key   string
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
				Metrics: a.metrics, Commands: mqttCommands{a}, Counts: a.counts,
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
			Clock: a.clock, TokenFile: web.TokenPath(cfg.StateDir),
		})
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		a.web = srv
		a.mu.Unlock()
		return srv.Run, nil
	}})
	if cfg.HasPoly() {
		var polys []config.Endpoint
		for _, e := range cfg.Endpoints {
			if e.Type == config.EndpointPoly {
				polys = append(polys, e)
			}
		}
		specs = append(specs, partSpec{name: "ews", key: keyOf(cfg.EWS, cfg.StateDir, polys), build: func() (func(context.Context) error, error) {
			opts := polyOptions(cfg)
			opts.Store, opts.Logger, opts.Clock, opts.Health = a.store, a.log.With("part", "ews"), a.clock, a.health
			svc, err := poly.NewService(opts)
			if err != nil {
				a.health.Fail("ews", err.Error())
				return nil, err
			}
			a.mu.Lock()
			a.poly = svc
			a.mu.Unlock()
			return svc.Run, nil
		}})
	}
	var codecs []cisco.Endpoint
	for _, e := range cfg.Endpoints {
		if e.Type == config.EndpointCisco {
			codecs = append(codecs, ciscoEndpoint(e))
		}
	}
	if len(codecs) > 0 {
		specs = append(specs, partSpec{name: "cisco", key: keyOf(codecs, cfg.Cisco), build: func() (func(context.Context) error, error) {
			mgr, err := cisco.New(cisco.Options{
				Endpoints: codecs, Store: a.store, Logger: a.log.With("part", "cisco"), Clock: a.clock, Health: a.health,
				WindowPast: *cfg.Cisco.WindowPast, WindowDays: *cfg.Cisco.WindowDays, SafetyInterval: *cfg.Cisco.SafetyInterval,
			})
			if err != nil {
				return nil, err
			}
			a.mu.Lock()
			a.cisco = mgr
			a.mu.Unlock()
			return mgr.Run, nil
		}})
	} else {
		a.mu.Lock()
		a.cisco = nil
		a.mu.Unlock()
	}
	// The processor is built once; a reload hands it the new profiles (SetRooms).
	specs = append(specs, partSpec{name: "processor", key: "", build: func() (func(context.Context) error, error) {
		return a.proc.Run, nil
	}})
	for _, in := range cfg.Integrations {
		if in.Type != config.IntegrationGraph {
			continue
		}
		rooms := graphRooms(cfg, in.Name)
		specs = append(specs, partSpec{name: "graph/" + in.Name, key: keyOf(in, in.CertificateThumbprint(), rooms), build: func() (func(context.Context) error, error) {
			s, err := graph.New(graph.Options{Integration: graphIntegration(in), Rooms: rooms, Store: a.store,
				Logger: a.log.With("part", "graph/"+in.Name), Clock: a.clock, Health: a.health})
			if err != nil {
				a.health.Fail("graph/"+in.Name, err.Error())
				return nil, err
			}
			a.mu.Lock()
			a.syncers[in.Name] = s
			a.mu.Unlock()
			return s.Run, nil
		}})
	}
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

// supervisor runs the parts, restarts failed ones with backoff, and reconciles the running
// set with a new list of specs on reload.
type supervisor struct {
	a       *Agent
	root    context.Context
	running []*runningPart
}

type runningPart struct {
	spec   partSpec
	cancel context.CancelFunc
	done   chan struct{}
}

func newSupervisor(ctx context.Context, a *Agent) *supervisor {
	// Parts outlive the root context's cancellation until stopAll stops them in order.
	return &supervisor{a: a, root: context.WithoutCancel(ctx)}
}

// reconcile stops the parts that are gone or changed (newest first), then starts the new and
// changed ones in order. Unchanged parts keep running untouched.
func (s *supervisor) reconcile(specs []partSpec) {
	want := map[string]string{}
	for _, sp := range specs {
		want[sp.name] = sp.key
	}
	var keep []*runningPart
	for i := len(s.running) - 1; i >= 0; i-- {
		r := s.running[i]
		if key, ok := want[r.spec.name]; ok && key == r.spec.key {
			keep = append([]*runningPart{r}, keep...)
			continue
		}
		s.stop(r, s.a.opts.StopTimeout)
		s.a.log.Info("part stopped for the new config", "part", r.spec.name)
	}
	have := map[string]*runningPart{}
	for _, r := range keep {
		have[r.spec.name] = r
	}
	var next []*runningPart
	for _, sp := range specs {
		if r, ok := have[sp.name]; ok {
			next = append(next, r)
			continue
		}
		next = append(next, s.start(sp))
	}
	s.running = next
}

func (s *supervisor) start(sp partSpec) *runningPart {
	ctx, cancel := context.WithCancel(s.root)
	r := &runningPart{spec: sp, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		s.a.supervise(ctx, sp)
	}()
	return r
}

func (s *supervisor) stop(r *runningPart, limit time.Duration) {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(limit):
		s.a.log.Warn("part did not stop in time", "part", r.spec.name)
	}
}

// stopAll stops every part, newest first, within limit in all.
func (s *supervisor) stopAll(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for i := len(s.running) - 1; i >= 0; i-- {
		s.stop(s.running[i], max(time.Until(deadline), 100*time.Millisecond))
	}
	s.running = nil
}

// supervise builds and runs a part until ctx ends, rebuilding and restarting it after a
// failure with growing delays; a failing part is marked in health (component "part/<name>";
// the part's own components say more) and never stops the rest.
func (a *Agent) supervise(ctx context.Context, sp partSpec) {
	backoff := time.Second
	component := "part/" + sp.name
	failed := false
	for {
		start := a.clock.Now()
		err := runGuarded(ctx, sp, func() {
			if failed {
				a.health.OK(component, "running again")
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		failed = true
		a.health.Fail(component, err.Error())
		a.log.Error("part failed; restarting", "part", sp.name, "err", err, "in", backoff)
		if a.clock.Now().Sub(start) > 5*time.Minute {
			backoff = time.Second
		}
		if !clock.Sleep(a.clock, backoff, ctx.Done()) {
			return
		}
		backoff = min(backoff*2, 2*time.Minute)
	}
}

// runGuarded builds and runs one part (calling built in between), turning a panic into an
// error so one bug cannot take the site down.
func runGuarded(ctx context.Context, sp partSpec, built func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	run, err := sp.build()
	if err != nil {
		return err
	}
	built()
	return run(ctx)
}

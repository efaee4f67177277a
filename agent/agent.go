// Package agent is otj-edge's composition root: the only package that knows every other one.
// It builds and owns the store, the calendar sync, the meeting processor, the endpoint
// drivers, telemetry and the status page; starts them downstream first and stops them
// upstream first; swaps the config atomically on reload; and keeps the process alive when a
// part fails, with a health warning. It also holds the checks behind `otj-edge check` (each
// source's and endpoint type's own, from their table rows). The command line, the foreground
// and service process around the agent included, is package agent/cli.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/process"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Agent runs one site.
type Agent struct {
	cfg    atomic.Pointer[config.Config]
	log    *slog.Logger
	clock  clock.Clock
	health *health.Tracker
	store  *store.Store
	opts   Options

	started time.Time
	ready   chan struct{}

	// reloadMu serialises reloads (SIGHUP, MQTT, the API) with each other and with start-up.
	reloadMu sync.Mutex
	sup      *supervisor
	proc     *process.Processor

	// The running parts' objects, for commands, the status page and metrics. They change
	// when a reload rebuilds a part, so they are read under mu.
	mu      sync.Mutex
	sources map[string]source.Source // by integration name
	drivers map[string]device.Driver // by endpoint type (endpoints.go)
	tel     *telemetry.Telemetry
	web     *web.Server
	// shadow holds the stores of the running shadow integrations (shadow.go).
	shadow shadowSet
	// signIn is the status page's delegated sign-in flows (signin.go).
	signIn signIns
}

// Options are the agent's injected dependencies (tests replace them).
type Options struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// ConfigPath is the file Reload reads again; LookupEnv resolves its ${ENV} secrets.
	ConfigPath string
	LookupEnv  func(string) (string, bool)
	// StopTimeout bounds how long stopping all parts may take; default 12 s (inside the
	// 15 s the service manager is promised).
	StopTimeout time.Duration
}

// New prepares an agent for cfg; nothing starts until Run.
func New(cfg *config.Config, opts Options) *Agent {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.ConfigPath == "" {
		opts.ConfigPath = cfg.File
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 12 * time.Second
	}
	a := &Agent{log: opts.Logger, clock: opts.Clock, health: health.New(opts.Clock.Now), opts: opts,
		ready: make(chan struct{}), sources: map[string]source.Source{}}
	a.cfg.Store(cfg)
	return a
}

// Health is the agent's health tracker.
func (a *Agent) Health() *health.Tracker { return a.health }

// Ready is closed once every part has started.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run starts every part and blocks until ctx ends, then stops them in reverse order. Start-up
// never needs the network: everything a room needs comes from the store, and parts that talk
// to the network retry in the background.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg.Load()
	a.started = a.clock.Now()
	st, err := store.Open(ctx, cfg.DBPath(), store.Options{
		Logger:     a.log,
		AppVersion: Version,
		Now:        a.clock.Now,
		Outbox:     outboxLimits(cfg),
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	a.store = st
	defer st.Close()
	a.health.OK("store", "")
	a.checkClock(ctx)

	if err := a.applyConfig(ctx, cfg); err != nil {
		return err
	}
	profiles, err := compileProfiles(cfg)
	if err != nil {
		return err
	}
	a.proc = process.New(process.Options{Store: st, Logger: a.log.With("part", "processor"), Clock: a.clock,
		Health: a.health, Rooms: profiles, Observe: a.diagnoseRoom})

	a.reloadMu.Lock()
	a.sup = newSupervisor(ctx, a)
	a.sup.reconcile(a.partSpecs(cfg))
	a.reloadMu.Unlock()
	a.log.Info("otj-edge started", "version", Version, "site", cfg.Site,
		"rooms", len(cfg.Rooms()), "endpoints", len(cfg.Endpoints), "store", st.Path())
	close(a.ready)

	<-ctx.Done()
	a.log.Info("otj-edge stopping")
	a.reloadMu.Lock()
	a.sup.stopAll(a.opts.StopTimeout)
	a.reloadMu.Unlock()
	if err := st.Maintain(context.Background()); err != nil {
		a.log.Warn("store maintenance at shutdown failed", "err", err)
	}
	return nil
}

// Reload re-reads the config file and swaps it in atomically: the store's rooms and
// endpoints follow it, the processor re-resolves every room with the new profiles, and the
// parts whose settings changed are restarted. On any error the running config stays and the
// error lists the problems (FILE:LINE: message).
func (a *Agent) Reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.sup == nil {
		return errors.New("the agent is not running")
	}
	lookup := a.opts.LookupEnv
	cfg, err := config.LoadWith(a.opts.ConfigPath, config.Options{LookupEnv: lookup})
	if err == nil {
		err = a.checkReloadable(cfg)
	}
	var profiles map[string]*rulesProfile
	if err == nil {
		profiles, err = compileProfiles(cfg)
	}
	if err != nil {
		a.log.Warn("config reload refused; the running config stays", "err", err)
		a.emit(ctx, store.Event{Kind: "config.reload_failed", Level: "warn", Message: "config reload refused: " + firstLine(err)})
		return err
	}
	if err := a.applyConfig(ctx, cfg); err != nil {
		return err
	}
	a.cfg.Store(cfg)
	a.proc.SetRooms(profiles)
	a.sup.reconcile(a.partSpecs(cfg))
	a.forgetRemoved(cfg)
	for _, w := range cfg.Warnings {
		a.log.Warn("config: " + w.String())
	}
	a.log.Info("config reloaded", "rooms", len(cfg.Rooms()), "endpoints", len(cfg.Endpoints))
	a.emit(ctx, store.Event{Kind: "config.reloaded", Message: fmt.Sprintf("config reloaded: %d rooms, %d endpoints", len(cfg.Rooms()), len(cfg.Endpoints))})
	return nil
}

// checkReloadable refuses changes a running agent cannot take without a restart.
func (a *Agent) checkReloadable(cfg *config.Config) error {
	old := a.cfg.Load()
	var problems []string
	if cfg.StateDir != old.StateDir {
		problems = append(problems, fmt.Sprintf("state_dir changed (%s → %s): restart otj-edge to move the store", old.StateDir, cfg.StateDir))
	}
	if cfg.Site != old.Site {
		problems = append(problems, fmt.Sprintf("site changed (%s → %s): restart otj-edge so telemetry moves to the new topics", old.Site, cfg.Site))
	}
	if len(problems) == 0 {
		return nil
	}
	pr := make([]config.Problem, len(problems))
	for i, p := range problems {
		pr[i] = config.Problem{File: cfg.File, Msg: p}
	}
	return &config.Error{Problems: pr}
}

// forgetRemoved drops health items of endpoints and integrations no longer configured.
func (a *Agent) forgetRemoved(cfg *config.Config) {
	keep := map[string]bool{}
	for _, e := range cfg.Endpoints {
		keep[e.Type+"/"+e.Name] = true
	}
	for _, in := range cfg.Integrations {
		keep[source.Component(in.Type, in.Name)] = true
	}
	prefixes := []string{"cisco/", "poly/"}
	for typ := range sourceTypes {
		prefixes = append(prefixes, source.Component(typ, ""))
	}
	for _, it := range a.health.Snapshot() {
		for _, prefix := range prefixes {
			if len(it.Component) > len(prefix) && it.Component[:len(prefix)] == prefix && !keep[it.Component] {
				a.health.Remove(it.Component)
			}
		}
	}
}

// applyConfig makes the store's rooms and endpoints match the config.
func (a *Agent) applyConfig(ctx context.Context, cfg *config.Config) error {
	var rooms []store.RoomRef
	for _, r := range cfg.Rooms() {
		rooms = append(rooms, store.RoomRef{Mailbox: r.Mailbox, Integration: r.Integration})
	}
	var eps []store.EndpointRef
	for _, e := range cfg.Endpoints {
		eps = append(eps, store.EndpointRef{Name: e.Name, Type: e.Type, Room: e.Room})
	}
	err := a.store.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		return tx.SyncEndpoints(eps)
	})
	if err != nil {
		return fmt.Errorf("apply config to store: %w", err)
	}
	a.store.SetOutboxLimits(outboxLimits(cfg))
	return nil
}

func outboxLimits(cfg *config.Config) store.OutboxLimits {
	if !cfg.MQTT.Enabled() {
		return store.OutboxLimits{}
	}
	return store.OutboxLimits{MaxMessages: cfg.MQTT.OutboxMaxMessages, MaxBytes: cfg.MQTT.OutboxMaxBytes}
}

// emit records an agent-level event; a failure to record it is only logged.
func (a *Agent) emit(ctx context.Context, e store.Event) {
	if err := a.store.Write(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.Emit(e) }); err != nil {
		a.log.Warn("record event", "kind", e.Kind, "err", err)
	}
}

// checkClock warns when the clock looks wrong: calendar windows and tokens depend on it.
func (a *Agent) checkClock(ctx context.Context) {
	last, err := a.store.LastWrite(ctx)
	if err != nil {
		a.log.Warn("read the store's newest time", "err", err)
	}
	for _, f := range offlineClockFindings(a.clock.Now(), buildTime(), last) {
		if msg, bad := strings.CutPrefix(f, "warning: clock: "); bad {
			a.health.Warn("clock", msg)
			a.log.Warn("the clock looks wrong", "finding", msg)
			return
		}
	}
	a.health.OK("clock", "")
}

func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i] + " (and more)"
		}
	}
	return s
}

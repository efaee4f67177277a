// Package agent is otj-edge's composition root: the only package that knows every other one.
// It builds and owns the store, the calendar sync, the meeting processor, the endpoint
// drivers, telemetry and the status page; starts them downstream first and stops them
// upstream first; and keeps the process alive when a part fails, with a health warning.
// It also holds the command line (cli.go and cmd_*.go) and the service program.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// Agent runs one site.
type Agent struct {
	cfg    *config.Config
	log    *slog.Logger
	clock  clock.Clock
	health *health.Tracker
	store  *store.Store

	started time.Time
	ready   chan struct{}
}

// Options are the agent's injected dependencies (tests replace them).
type Options struct {
	Logger *slog.Logger
	Clock  clock.Clock
}

// New prepares an agent for cfg; nothing starts until Run.
func New(cfg *config.Config, opts Options) *Agent {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Agent{cfg: cfg, log: opts.Logger, clock: opts.Clock, health: health.New(opts.Clock.Now), ready: make(chan struct{})}
}

// Ready is closed once every part has started.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Health is the agent's health tracker.
func (a *Agent) Health() *health.Tracker { return a.health }

// Run starts every part and blocks until ctx ends, then stops them in reverse order. Start-up
// never needs the network: everything a room needs comes from the store.
func (a *Agent) Run(ctx context.Context) error {
	a.started = a.clock.Now()
	st, err := store.Open(ctx, a.cfg.DBPath(), store.Options{
		Logger:     a.log,
		AppVersion: Version,
		Now:        a.clock.Now,
		Outbox:     outboxLimits(a.cfg),
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	a.store = st
	defer st.Close()
	a.health.OK("store", "")

	if err := a.applyConfig(ctx, a.cfg); err != nil {
		return err
	}
	a.log.Info("otj-edge started", "version", Version, "site", a.cfg.Site,
		"rooms", len(a.cfg.Rooms()), "endpoints", len(a.cfg.Endpoints), "store", st.Path())

	parts := a.parts()
	stop := a.startParts(ctx, parts)
	close(a.ready)
	<-ctx.Done()
	a.log.Info("otj-edge stopping")
	stop(15 * time.Second)
	if err := st.Maintain(context.Background()); err != nil {
		a.log.Warn("store maintenance at shutdown failed", "err", err)
	}
	return nil
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

// part is one long-running piece of the agent. run returns when ctx ends; an error return
// before that is a failure: the part is marked unhealthy and restarted with backoff, while
// the rest of the agent carries on.
type part struct {
	name string
	run  func(ctx context.Context) error
}

// parts lists the agent's parts in start order: consumers before producers (Telegraf), so
// nothing produced at start-up has nowhere to go.
func (a *Agent) parts() []part {
	return nil
}

// startParts starts each part in order and returns a function that stops them in reverse
// order, waiting at most the given time in all.
func (a *Agent) startParts(ctx context.Context, parts []part) func(time.Duration) {
	type running struct {
		name   string
		cancel context.CancelFunc
		done   chan struct{}
	}
	var all []running
	for _, p := range parts {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		all = append(all, running{p.name, cancel, done})
		go func() {
			defer close(done)
			a.supervise(pctx, p)
		}()
	}
	return func(limit time.Duration) {
		deadline := time.Now().Add(limit)
		for i := len(all) - 1; i >= 0; i-- {
			r := all[i]
			r.cancel()
			select {
			case <-r.done:
			case <-time.After(time.Until(deadline)):
				a.log.Warn("part did not stop in time", "part", r.name)
			}
		}
	}
}

// supervise runs p until ctx ends, restarting it after failures with growing delays.
func (a *Agent) supervise(ctx context.Context, p part) {
	backoff := time.Second
	for {
		start := a.clock.Now()
		err := runGuarded(ctx, p)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		a.health.Fail(p.name, err.Error())
		a.log.Error("part failed; restarting", "part", p.name, "err", err, "in", backoff)
		if a.clock.Now().Sub(start) > 5*time.Minute {
			backoff = time.Second
		}
		if !clock.Sleep(a.clock, backoff, ctx.Done()) {
			return
		}
		backoff = min(backoff*2, 2*time.Minute)
	}
}

// runGuarded turns a panic in a part into an error, so one bug cannot take the site down.
func runGuarded(ctx context.Context, p part) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.run(ctx)
}

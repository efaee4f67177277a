package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/migrate"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/process"
	"github.com/otj-edge/otj-edge/sync/rules"
	"github.com/otj-edge/otj-edge/sync/source"
)

// Shadow integrations (config.Shadow): an integration that reads some rooms in shadow runs a
// second instance of its source for them, built by the same row of the source table, but into
// a store of its own (migrate.StorePath) with a meeting processor of its own over it (package
// process, the rooms' own compiled profiles). Nothing of it reaches the live store, the
// endpoints or the site's health: a shadow that cannot read a room is the migration report's
// news (agent/migration.go), not an outage of the rooms.

// shadowSet holds the running shadows' stores (for the report) and sources (for `sync`), by
// integration name.
type shadowSet struct {
	mu      sync.Mutex
	stores  map[string]*store.Store
	sources map[string]source.Source
}

// set records a running shadow; a nil store forgets it.
func (s *shadowSet) set(name string, st *store.Store, src source.Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stores == nil {
		s.stores, s.sources = map[string]*store.Store{}, map[string]source.Source{}
	}
	if st == nil {
		delete(s.stores, name)
		delete(s.sources, name)
		return
	}
	s.stores[name], s.sources[name] = st, src
}

// syncNow asks every shadow that reads room ("" = all its rooms) to read it now, as `sync`
// asks the live source: an operator who fixed a room wants its shadow check at once too.
// A shadow that does not read the room is no error.
func (s *shadowSet) syncNow(cfg *config.Config, room string, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, src := range s.sources {
		for _, r := range cfg.ShadowRooms(name) {
			if room == "" || r.Mailbox == room {
				_ = src.SyncNow(r.Mailbox, full) // queued, or not (yet) one of its rooms
			}
		}
	}
}

func (s *shadowSet) get(name string) *store.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stores[name]
}

// shadowPart names the part of integration in's shadow: "graph/m365 (shadow)".
func shadowPart(in *config.Integration) string {
	return source.Component(in.Type, in.Name) + " (shadow)"
}

// roomsOf is rooms as sources take them, with their profiles' upcoming_days.
func roomsOf(cfg *config.Config, rooms []config.Room) []source.Room {
	out := make([]source.Room, 0, len(rooms))
	for _, r := range rooms {
		days := rules.DefaultUpcomingDays
		if p := cfg.Profile(r.Profile); p != nil {
			days = *p.Settings.WithDefaults().UpcomingDays
		}
		out = append(out, source.Room{Mailbox: r.Mailbox, UpcomingDays: days})
	}
	return out
}

// shadowSpecs are the parts of cfg's shadows, one per shadow integration. A shadow restarts
// when its settings, its rooms or their profiles change.
func (a *Agent) shadowSpecs(cfg *config.Config) []partSpec {
	var specs []partSpec
	for _, in := range cfg.Shadows() {
		t, ok := sourceTypeOf(in)
		if !ok {
			continue
		}
		rooms := cfg.ShadowRooms(in.Name)
		srcRooms := roomsOf(cfg, rooms)
		profiles := map[string]*config.Profile{}
		for _, r := range rooms {
			profiles[r.Mailbox] = cfg.Profile(r.Profile)
		}
		var extra any
		if t.key != nil {
			extra = t.key(in)
		}
		path := migrate.StorePath(cfg.StateDir, in.Name)
		name := shadowPart(in)
		specs = append(specs, partSpec{name: name, key: keyOf(in, extra, srcRooms, profiles, path),
			build: func() (func(context.Context) error, error) {
				compiled := map[string]*rules.Profile{}
				for room, p := range profiles {
					c, err := p.Compile()
					if err != nil {
						return nil, fmt.Errorf("%s: profile %q: %w", name, p.Name, err)
					}
					compiled[room] = c
				}
				return func(ctx context.Context) error {
					return a.runShadow(ctx, t, in, srcRooms, compiled, path, name)
				}, nil
			}})
	}
	return specs
}

// runShadow opens the shadow's store (made with the same migrations as the live one), keeps
// its rooms table to the shadowed rooms, and runs the source and a processor over it until
// ctx ends or either fails.
func (a *Agent) runShadow(ctx context.Context, t sourceType, in *config.Integration, rooms []source.Room,
	profiles map[string]*rules.Profile, path, name string) error {
	log := a.log.With("part", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("%s: make %s: %w", name, filepath.Dir(path), err)
	}
	st, err := store.Open(ctx, path, store.Options{Logger: log, AppVersion: Version, Now: a.clock.Now})
	if err != nil {
		return fmt.Errorf("%s: open its store: %w", name, err)
	}
	defer st.Close()
	refs := make([]store.RoomRef, len(rooms))
	for i, r := range rooms {
		refs[i] = store.RoomRef{Mailbox: r.Mailbox, Integration: in.Name}
	}
	if err := st.Write(ctx, func(tx *store.Tx) error { return tx.SyncRooms(refs) }); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	// The shadow's own health: its failures show in the migration report, per room, and never
	// turn the site's health (what the rooms rely on) red.
	quiet := health.New(a.clock.Now)
	src, err := t.build(in, rooms, source.Deps{Store: st, Logger: log, Clock: a.clock, Health: quiet})
	if err != nil {
		return Permanent(fmt.Errorf("%s: %w", name, err))
	}
	proc := process.New(process.Options{Store: st, Logger: log.With("stage", "processor"), Clock: a.clock, Health: quiet, Rooms: profiles})
	a.shadow.set(in.Name, st, src)
	defer a.shadow.set(in.Name, nil, nil)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	for _, run := range []func(context.Context) error{proc.Run, src.Run} {
		go func() {
			err := run(ctx)
			cancel()
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// Package process is the meeting processor stage: it reads a room's raw events from the store,
// resolves them with the room's profile (sync/rules) and writes the room's resolved meetings
// back, so the endpoint drivers, the status page and telemetry all read one answer. It runs
// again when a room's events change, when the config changes the profiles, and every hour,
// because the shown window moves with the clock.
package process

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// Component is the processor's health component name.
const Component = "processor"

// Options are the processor's dependencies.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	Clock  clock.Clock
	Health *health.Tracker
	// Rooms maps each room mailbox to its compiled profile.
	Rooms map[string]*rules.Profile
	// Every is the periodic re-resolve interval; default 1 h.
	Every time.Duration
}

// Processor resolves rooms' meetings.
type Processor struct {
	st     *store.Store
	log    *slog.Logger
	clock  clock.Clock
	health *health.Tracker
	every  time.Duration

	mu      sync.Mutex
	rooms   map[string]*rules.Profile
	reapply chan struct{}
	// resolved counts resolve passes, for tests and metrics.
	resolved int64
	// synced holds the rooms whose meetings were resolved from a completed sync (the store's
	// room_resolved mark), so a room's later sync-state changes do not resolve it again.
	synced map[string]bool
}

// New makes a processor; Run starts it.
func New(o Options) *Processor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Health == nil {
		o.Health = health.New(o.Clock.Now)
	}
	if o.Every <= 0 {
		o.Every = time.Hour
	}
	return &Processor{st: o.Store, log: o.Logger, clock: o.Clock, health: o.Health, every: o.Every,
		rooms: maps.Clone(o.Rooms), reapply: make(chan struct{}, 1), synced: map[string]bool{}}
}

// SetRooms swaps the room → profile map (config reload) and re-resolves every room.
func (p *Processor) SetRooms(rooms map[string]*rules.Profile) {
	p.mu.Lock()
	p.rooms = maps.Clone(rooms)
	for r := range p.synced { // a room removed from the config loses its data and its mark
		if rooms[r] == nil {
			delete(p.synced, r)
		}
	}
	p.mu.Unlock()
	select {
	case p.reapply <- struct{}{}:
	default:
	}
}

// Run resolves every room, then follows event changes until ctx ends.
func (p *Processor) Run(ctx context.Context) error {
	sub := p.st.Subscribe(store.TopicEvents)
	defer sub.Close()
	// A room's first completed sync may change no event (an empty calendar, or a last page
	// with only the deltaLink): its sync state is what tells the processor to resolve it, so
	// that its endpoints learn the room is known now (store.MarkResolved).
	roomsSub := p.st.Subscribe(store.TopicRooms)
	defer roomsSub.Close()
	tick := p.clock.NewTimer(p.every)
	defer func() { tick.Stop() }()
	p.resolveAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.C:
			p.resolve(ctx, p.changed(sub, roomsSub))
		case <-roomsSub.C:
			p.resolve(ctx, p.changed(sub, roomsSub))
		case <-p.reapply:
			p.resolveAll(ctx)
		case <-tick.C():
			p.resolveAll(ctx)
			// A new timer rather than Reset: tests in virtual time wait for it to be made.
			tick = p.clock.NewTimer(p.every)
		}
	}
}

func (p *Processor) resolveAll(ctx context.Context) {
	p.mu.Lock()
	rooms := slices.Sorted(maps.Keys(p.rooms))
	p.mu.Unlock()
	p.resolve(ctx, rooms)
}

// workers is how many rooms a pass resolves at once. A cold start hands the processor hundreds
// of rooms at a time while the syncer and the codec drivers keep both cores busy: as one
// goroutine it got one goroutine's share of the CPU and fell 4-10 s behind the sync (measured
// at 1,000 rooms), which the last codecs waited for. Reads and decoding run in parallel (the
// store has 4 readers), the writes queue for the store's one writer.
const workers = 4

func (p *Processor) resolve(ctx context.Context, rooms []string) {
	errs := make([]error, len(rooms))
	if len(rooms) == 1 { // the steady state: one room changed, no goroutine to start
		errs[0] = p.ResolveRoom(ctx, rooms[0])
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, len(rooms)) {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(rooms) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
					errs[i] = p.ResolveRoom(ctx, rooms[i])
				}
			})
		}
		wg.Wait()
	}
	if ctx.Err() != nil {
		return
	}
	failed := 0
	var last error
	for i, err := range errs {
		if err != nil {
			failed++
			last = err
			p.log.Error("resolve meetings", "room", rooms[i], "err", err)
		}
	}
	switch {
	case failed > 0:
		p.health.Warn(Component, fmt.Sprintf("%d room(s) could not be resolved: %v", failed, last))
	case len(rooms) > 0:
		p.health.OK(Component, "")
	}
}

// changed takes what both subscriptions hold: the rooms whose events changed and those not yet
// resolved from a completed sync whose sync state changed, each once. A sync round writes a
// room's events and its sync state in one transaction, so both notices arrive together; taken
// one channel at a time they resolved the room twice (measured: 2.1 passes per room over a
// cold start instead of 1, each re-reading and decoding all of the room's events).
func (p *Processor) changed(events, rooms *store.Sub) []string {
	ev := events.Take() // sorted
	out := ev
	for _, r := range p.notSynced(rooms.Take()) {
		if _, found := slices.BinarySearch(ev, r); !found {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// notSynced keeps the rooms not yet resolved from a completed sync.
func (p *Processor) notSynced(rooms []string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.DeleteFunc(rooms, func(r string) bool { return p.synced[r] })
}

// ResolveRoom resolves one room now. A room that is not configured has no profile: its
// meetings are left as they are (the store removes unconfigured rooms' data).
func (p *Processor) ResolveRoom(ctx context.Context, room string) error {
	p.mu.Lock()
	prof := p.rooms[room]
	p.resolved++
	p.mu.Unlock()
	if prof == nil {
		return nil
	}
	// The sync state is read before the events: the events read next hold at least that
	// sync's, so the mark written with the meetings never claims more than they show.
	rs, _, err := p.st.Room(ctx, room)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", room, err)
	}
	events, err := stored.Events(ctx, p.st, room)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", room, err)
	}
	meetings := prof.ResolveRoom(room, events, p.clock.Now())
	err = p.st.Write(ctx, func(tx *store.Tx) error {
		if _, err := stored.ReplaceMeetings(tx, room, meetings); err != nil {
			return err
		}
		return tx.MarkResolved(room, rs.LastSuccess)
	})
	if err == nil && !rs.LastSuccess.IsZero() {
		p.mu.Lock()
		p.synced[room] = true
		p.mu.Unlock()
	}
	return err
}

// Passes is how many room resolutions have run (metrics).
func (p *Processor) Passes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resolved
}

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
	"github.com/otj-edge/otj-edge/sync/calendar"
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
	// Observe, when set, is given each resolved room's state (as read before its events) and
	// its events, once its meetings are written: the agent diagnoses the room's calendar
	// processing from them (sync/exchange.Save), so no one decodes the events again.
	Observe func(ctx context.Context, state store.RoomState, events []calendar.Event)
}

// Processor resolves rooms' meetings.
type Processor struct {
	st      *store.Store
	log     *slog.Logger
	clock   clock.Clock
	health  *health.Tracker
	every   time.Duration
	observe func(ctx context.Context, state store.RoomState, events []calendar.Event)

	mu      sync.Mutex
	rooms   map[string]*rules.Profile
	reapply chan struct{}
	// resolved counts resolve passes, for tests and metrics.
	resolved int64
	// synced holds the rooms whose meetings were resolved from a completed sync (the store's
	// room_resolved mark), so a room's later sync-state changes do not resolve it again.
	synced map[string]bool
	// last is what each room's last written resolve was made of (see ResolveRoom).
	last map[string]basis
	// skipped counts resolves that found their room's basis unchanged (tests, metrics).
	skipped int64
	// written counts the resolves that wrote (tests).
	written int64
	// decoded counts the resolves that were not skipped, at the moment that is decided: before
	// their write announces the meetings, so a test that saw the announcement sees the count.
	// Passes − Skipped is not that: a pass is counted when it starts, and a skip when it ends.
	decoded int64
}

// basis is what a room's resolve depends on: its profile, whether it has completed a sync
// (the room_resolved mark), its events (their fingerprint) and the time, which decides only
// which events lie inside the upcoming_days window.
type basis struct {
	prof   *rules.Profile
	synced bool
	sum    uint64
	at     time.Time
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
	return &Processor{st: o.Store, log: o.Logger, clock: o.Clock, health: o.Health, every: o.Every, observe: o.Observe,
		rooms: maps.Clone(o.Rooms), reapply: make(chan struct{}, 1), synced: map[string]bool{}, last: map[string]basis{}}
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
	for r := range p.last { // and its meetings: a room added again is resolved afresh
		if rooms[r] == nil {
			delete(p.last, r)
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
// cold start instead of 1, each re-reading and decoding all of the room's events). store.Take
// takes both as of one moment: taken one after the other, the sync state's notice could be
// published between the two (CI saw it).
func (p *Processor) changed(events, rooms *store.Sub) []string {
	taken := store.Take(events, rooms)
	ev := taken[0] // sorted
	out := ev
	for _, r := range p.notSynced(taken[1]) {
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
//
// A resolve is a pure function of the room's profile, its events, whether it has completed a
// sync and the time, which only decides whether an event starts inside the upcoming_days
// window. When none of these changed since the room's last written resolve (same profile,
// same sync mark, events with the same fingerprint, and no event start crossed the window's
// edge meanwhile), the meetings written then are still the answer: the events are read but
// not decoded, and nothing is written. Most notices are such: a sync-state change of a room
// not yet marked, a round that rewrote nothing the processor reads, the hourly tick.
func (p *Processor) ResolveRoom(ctx context.Context, room string) error {
	p.mu.Lock()
	prof := p.rooms[room]
	last, had := p.last[room]
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
	snap, err := stored.Read(ctx, p.st, room)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", room, err)
	}
	defer snap.Release()
	now := p.clock.Now()
	b := basis{prof: prof, synced: !rs.LastSuccess.IsZero(), sum: snap.Sum, at: now}
	if had && last.prof == b.prof && last.synced == b.synced && last.sum == b.sum && !crossed(snap, prof, last.at, now) {
		p.mu.Lock()
		p.skipped++
		p.mu.Unlock()
		return nil
	}
	p.mu.Lock()
	p.decoded++
	p.mu.Unlock()
	events, err := snap.Events(room)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", room, err)
	}
	meetings := prof.ResolveRoom(room, events, now)
	rows, err := stored.MeetingRows(room, meetings)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", room, err)
	}
	write := true
	if len(rows) == 0 && !b.synced {
		// Nothing to show and no sync to mark: the write would change something only if
		// meetings are stored (events of a round cut short, since removed). A start's first
		// pass finds every room this way until its first sync, and writing each anyway put
		// 1,000 empty transactions on the store's one writer at every start.
		has, err := p.st.HasMeetings(ctx, room)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", room, err)
		}
		write = has
	}
	if write {
		err = p.st.Write(ctx, func(tx *store.Tx) error {
			if _, err := tx.ReplaceMeetings(room, rows, nil); err != nil {
				return err
			}
			return tx.MarkResolved(room, rs.LastSuccess)
		})
	}
	if err == nil && p.observe != nil && rs.Mailbox == room { // a room the store holds
		p.observe(ctx, rs, events)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if write && err == nil {
		p.written++
	}
	if err != nil {
		// The write did not happen, but a failed transaction need not mean nothing changed
		// (a commit error): the next notice resolves the room in full.
		delete(p.last, room)
		return err
	}
	if p.rooms[room] == prof { // not removed or swapped meanwhile (SetRooms)
		p.last[room] = b
	}
	if b.synced {
		p.synced[room] = true
	}
	return nil
}

// crossed reports whether an event of the snapshot moved into or out of prof's upcoming_days
// window between two resolves at from and to: only then does the time change a resolve.
func crossed(snap *stored.Snapshot, prof *rules.Profile, from, to time.Time) bool {
	if from.Equal(to) {
		return false
	}
	days := rules.DefaultUpcomingDays
	if d := prof.Settings().UpcomingDays; d != nil {
		days = *d
	}
	w := time.Duration(days) * 24 * time.Hour
	if to.Before(from) {
		from, to = to, from
	}
	// The store keeps starts in whole milliseconds: a millisecond more on each side.
	return snap.StartsIn(from.Add(w-time.Millisecond), to.Add(w+time.Millisecond))
}

// Skipped is how many of the Passes found the room's profile, sync mark, events and window
// unchanged since its last resolve, so decoded and wrote nothing.
func (p *Processor) Skipped() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.skipped
}

// Decoded is how many of the Passes were not skipped: they decoded the room's events and
// resolved them. Unlike Passes − Skipped it never counts a pass still deciding.
func (p *Processor) Decoded() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.decoded
}

// Writes is how many resolves wrote the room's meetings (a transaction on the store's one
// writer each).
func (p *Processor) Writes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written
}

// Passes is how many room resolutions have run (metrics).
func (p *Processor) Passes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resolved
}

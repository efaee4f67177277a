package google

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/rules"
	"github.com/otj-edge/otj-edge/sync/source"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// Syncer syncs the rooms of one Google integration (see the package doc).
type Syncer struct {
	name      string
	component string
	in        Integration
	st        *store.Store
	log       *slog.Logger
	clk       clock.Clock
	health    *health.Tracker
	tune      Tuning
	cli       *client

	running  atomic.Bool
	wake     chan struct{}
	progress chan struct{}

	mu       sync.Mutex
	rooms    map[string]*room
	order    []string
	due      poll.Heap[*room]
	rng      *rand.Rand
	budget   budget
	steps    int
	unsaved  int64 // requests counted but not yet in the store
	unsavedK string
	channels map[string]*room // push channel id → room (notify.go)
	// opening are channels asked for and not yet answered: Google sends a channel's "sync"
	// message as it creates it, often before events.watch returns (notify.go).
	opening map[string]openingChannel
	nstats  notifyCounters
}

// room is the scheduler's view of one room.
type room struct {
	spec       source.Room
	state      store.RoomState
	cur        cursor
	due        time.Time
	running    bool
	forceFull  bool
	notBefore  time.Time // a rate limit's back-off runs until then
	failures   int
	limited    int // consecutive rate-limit answers: the exponent of the back-off
	emitted    bool
	lastCode   string
	spans      []store.Span
	hidx       int
	ch         *channel  // the live push channel (notify.go)
	watchRetry time.Time // a failed events.watch is retried then
}

func (r *room) DueAt() time.Time { return r.due }
func (r *room) HeapIndex() *int  { return &r.hidx }

// New makes a Syncer; it reads nothing from the network (tokens are asked for at the first
// request).
func New(opts Options) (*Syncer, error) {
	if opts.Store == nil {
		return nil, errors.New("google syncer: a store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Health == nil {
		opts.Health = health.New(opts.Clock.Now)
	}
	in, err := normalize(opts.Integration)
	if err != nil {
		return nil, err
	}
	base := opts.HTTPClient
	if base == nil {
		if base, err = newHTTPClient(in.CAFile); err != nil {
			return nil, fmt.Errorf("google integration %q: %w", in.Name, err)
		}
	}
	opts.Tuning.defaults()
	seed := opts.Tuning.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Syncer{name: in.Name, component: source.Component(Type, in.Name), in: in, st: opts.Store, clk: opts.Clock,
		health: opts.Health, log: opts.Logger.With("integration", in.Name), tune: opts.Tuning,
		wake: make(chan struct{}, 1), progress: make(chan struct{}, 1),
		rooms: map[string]*room{}, channels: map[string]*room{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		budget: budget{limit: in.MaxRequestsPerDay, stretch: 1}}
	if s.cli, err = newClient(in, base, s.admit, make(chan struct{}, opts.Tuning.MaxInFlight)); err != nil {
		return nil, fmt.Errorf("google integration %q: %w", in.Name, err)
	}
	for _, spec := range opts.Rooms {
		spec.Mailbox = strings.ToLower(strings.TrimSpace(spec.Mailbox))
		if spec.Mailbox == "" {
			continue
		}
		if spec.UpcomingDays <= 0 {
			spec.UpcomingDays = rules.DefaultUpcomingDays
		}
		if _, dup := s.rooms[spec.Mailbox]; dup {
			continue
		}
		s.rooms[spec.Mailbox] = &room{spec: spec, hidx: -1}
		s.order = append(s.order, spec.Mailbox)
	}
	sort.Strings(s.order)
	for _, n := range s.order {
		heap.Push(&s.due, s.rooms[n])
	}
	return s, nil
}

// normalize checks an integration and fills in its defaults.
func normalize(in Integration) (Integration, error) {
	if in.Name == "" {
		return in, errors.New("google syncer: the integration has no name")
	}
	if len(in.ServiceAccountKey) == 0 {
		return in, fmt.Errorf("google integration %q: no service account key", in.Name)
	}
	if len(in.Scopes) == 0 {
		in.Scopes = []string{ScopeReadOnly}
	}
	in.Subject = strings.TrimSpace(in.Subject)
	ep, err := NormalizeEndpoint(in.Endpoint)
	if err != nil {
		return in, fmt.Errorf("google integration %q: %w", in.Name, err)
	}
	in.Endpoint = ep
	if in.MaxRequestsPerDay <= 0 {
		in.MaxRequestsPerDay = DefaultMaxRequestsPerDay
	}
	return in, nil
}

// Run syncs until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("google syncer: already running")
	}
	defer s.running.Store(false)
	if err := s.load(ctx); err != nil {
		return err
	}
	s.updateHealth()
	s.log.Info("calendar sync started", "rooms", len(s.order), "budget", s.in.MaxRequestsPerDay,
		"service_account", s.cli.key.email, "subject", s.in.Subject, "endpoint", s.in.Endpoint)
	var bg sync.WaitGroup
	var steps sync.WaitGroup
	timer := s.clk.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.clk.Now()
		s.mu.Lock()
		planned := !now.Before(s.budget.nextPlan)
		if planned {
			s.plan(now)
		}
		start, next := s.pickDue(now)
		s.mu.Unlock()
		if planned {
			s.updateHealth()
			s.flushCount(ctx)
			s.progressed() // Quiet waits for the plan
		}
		for _, r := range start {
			steps.Go(func() { s.step(ctx, r) })
		}
		s.arm(timer, next)
		select {
		case <-ctx.Done():
			steps.Wait()
			bg.Wait()
			if s.pushing() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				s.stopChannels(sctx)
				cancel()
			}
			s.flushCount(context.WithoutCancel(ctx))
			return nil
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// SyncNow queues a sync of room ("" = all): in full when full is set, never before an
// rate limit's back-off has run out (source.Source).
func (s *Syncer) SyncNow(mailbox string, full bool) error {
	mailbox = strings.ToLower(strings.TrimSpace(mailbox))
	s.mu.Lock()
	defer s.mu.Unlock()
	var targets []*room
	if mailbox == "" {
		for _, n := range s.order {
			targets = append(targets, s.rooms[n])
		}
	} else if r, ok := s.rooms[mailbox]; ok {
		targets = append(targets, r)
	} else {
		return fmt.Errorf("room %s is not synced by integration %q", mailbox, s.name)
	}
	now := s.clk.Now()
	for _, r := range targets {
		r.due = now
		if r.notBefore.After(now) {
			r.due = r.notBefore
		}
		r.forceFull = r.forceFull || full
		if r.hidx >= 0 {
			s.due.Queue(r)
		}
	}
	s.signal()
	return nil
}

// load reads the rooms' state, this integration's cursors, today's request count and the
// rooms' meeting times from the store.
func (s *Syncer) load(ctx context.Context) error {
	now := s.clk.Now()
	ld, err := poll.LoadRooms(ctx, s.st, "google syncer", s.name, s.order, counterKey(s.name, now))
	if err != nil {
		return err
	}
	have, cursors, used := ld.Rooms, ld.Cursors, ld.Used
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budget.day, s.budget.used = dayKey(now), used
	for _, n := range s.order {
		r := s.rooms[n]
		r.state = have[n]
		if r.cur, err = decodeCursor(cursors[n]); err != nil {
			s.log.Warn("the room's sync position is unreadable; syncing it in full", "room", n, "err", err)
		}
		r.due = now
		if r.state.RetryAfter.After(now) {
			r.due, r.notBefore = r.state.RetryAfter, r.state.RetryAfter
		}
		s.due.Queue(r)
		if r.spans, err = s.st.EventSpans(ctx, n, now.Add(-24*time.Hour), now.Add(48*time.Hour)); err != nil {
			return fmt.Errorf("google syncer: %w", err)
		}
	}
	s.plan(now)
	return nil
}

// signal wakes the scheduler loop.
func (s *Syncer) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// arm sets the timer to fire at the given time (again, if a fake clock jumped meanwhile).
func (s *Syncer) arm(t clock.Timer, at time.Time) {
	for {
		before := s.clk.Now()
		t.Stop()
		t.Reset(max(0, at.Sub(before)))
		if s.clk.Now().Sub(before) < time.Millisecond {
			return
		}
	}
}

// pickDue takes the due rooms off the heap (under s.mu). Every due room starts a step: the
// in-flight limit is on requests (client slots), so a room waiting for a slot holds no other
// room back beyond its turn in the queue.
func (s *Syncer) pickDue(now time.Time) ([]*room, time.Time) {
	var due []*room
	for len(s.due) > 0 && !s.due[0].due.After(now) {
		r := heap.Pop(&s.due).(*room)
		r.running = true
		s.steps++
		due = append(due, r)
	}
	next := s.budget.nextPlan
	if len(s.due) > 0 && s.due[0].due.Before(next) {
		next = s.due[0].due
	}
	return due, next
}

// Progress is signalled (coalesced) whenever a room's step finishes or a day's plan is made.
func (s *Syncer) Progress() <-chan struct{} { return s.progress }

func (s *Syncer) progressed() {
	select {
	case s.progress <- struct{}{}:
	default:
	}
}

// Quiet reports whether no room is mid-step, none is due at the clock's current time and no
// day's plan is due.
func (s *Syncer) Quiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	// A day's plan due at the clock's time is work the scheduler loop has yet to do (a fake
	// clock moved past it): not quiet until it has run.
	if s.steps > 0 || !now.Before(s.budget.nextPlan) {
		return false
	}
	for _, r := range s.rooms {
		if !r.due.After(now) {
			return false
		}
	}
	return true
}

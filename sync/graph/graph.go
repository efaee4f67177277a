// Package graph keeps the calendars of a site's room mailboxes in the store, from Microsoft 365
// through Microsoft Graph with app-only credentials (README "Calendar sync (Microsoft Graph)").
//
// Each room is synced in calendarView/delta rounds over [start of yesterday, end of today +
// upcoming_days]: a full round when the room has no delta state, once a day when the window
// rolls, after a 410, and on request; otherwise the stored deltaLink is polled. Occurrence
// stubs are filled from their series master (fetched once per change), @removed entries are
// deleted, partial updates are merged, and every page is written in one transaction.
//
// A scheduler spends the daily request budget where it matters: rooms with a meeting starting
// within 30 minutes or running are polled often, the others rarely, with intervals stretched
// when the day's projection would exceed the budget, and jitter. At most 4 requests are in
// flight per mailbox and max_in_flight in all; Retry-After is honoured per mailbox, and one
// room's trouble never holds up another. Every room has a status the operator can act on, and
// a diagnosis of its calendar processing settings, read from the data alone.
//
// The msgraph-sdk-go specifics live in client.go.
package graph

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
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
)

// Type is the integration type of this source (integrations[].type in the config).
const Type = "graph"

// RoomSpec is a room mailbox to sync and how far ahead (its profile's upcoming_days).
type RoomSpec = source.Room

// A Syncer is the Graph source behind the agent's source seam.
var _ source.Source = (*Syncer)(nil)

// Tuning adjusts the scheduler; zero values take the defaults. Tests and benchmarks use it;
// the agent does not need to.
type Tuning struct {
	// HotInterval is the shortest poll interval of a room with a meeting starting within
	// HotLead or running (default 15 s); ColdInterval that of the others (default 4 min). Both
	// stretch by the same factor when the day's projection would exceed the budget.
	HotInterval  time.Duration
	ColdInterval time.Duration
	HotLead      time.Duration // default 30 min
	// Jitter spreads each interval by ± this fraction (default 0.05: enough to keep rooms from
	// falling into step, small enough to keep the freshness targets).
	Jitter float64
	// RollSpread spreads the rooms' daily full rounds over this time after midnight (default
	// 20 min), so they do not all start at once.
	RollSpread time.Duration
	// NoBatch sends every request alone, even with a backlog.
	NoBatch bool
	// Linger is how long a routine poll (a room's next poll at its plain interval, which
	// nothing brought forward) may wait for others to go with it in one $batch (default
	// DefaultLinger; negative: it does not wait). Polls a probe, a notification, SyncNow or a
	// retry brought forward never wait (dispatch.go).
	Linger time.Duration
	// Seed makes the jitter reproducible (0: random).
	Seed uint64
	// Notify tunes change notifications (notify.go).
	Notify NotifyTuning
	// Probe tunes the change probe (probe.go).
	Probe ProbeTuning
}

func (t *Tuning) defaults() {
	if t.HotInterval <= 0 {
		t.HotInterval = 15 * time.Second
	}
	if t.ColdInterval <= 0 {
		t.ColdInterval = 4 * time.Minute
	}
	if t.HotLead <= 0 {
		t.HotLead = 30 * time.Minute
	}
	if t.Jitter <= 0 {
		t.Jitter = 0.05
	}
	if t.RollSpread <= 0 {
		t.RollSpread = 20 * time.Minute
	}
	if t.Linger == 0 {
		t.Linger = DefaultLinger
	}
}

// DefaultLinger is Tuning.Linger's default: long enough for the tens of routine polls a
// second of a large site's busy hours to fill batches, short beside the 20 s of a hot room's
// safety-net poll.
const DefaultLinger = 500 * time.Millisecond

// Options are a Syncer's dependencies and configuration.
type Options struct {
	// Integration is the Graph integration's settings (the agent translates its config).
	Integration Integration
	// Rooms are the mailboxes this integration syncs.
	Rooms  []RoomSpec
	Store  *store.Store
	Logger *slog.Logger
	Clock  clock.Clock
	Health *health.Tracker // component source.Component(Type, integration name): "graph/<name>"
	// HTTPClient is the transport to Entra and Graph; default: the system roots plus ca_file.
	HTTPClient *http.Client
	Tuning     Tuning
}

// Syncer syncs the rooms of one Graph integration.
type Syncer struct {
	name      string
	component string
	in        Integration
	st        *store.Store
	log       *slog.Logger
	clk       clock.Clock
	health    *health.Tracker
	api       *api
	disp      *dispatcher
	tune      Tuning
	nt        *notifier // change notifications; nil without a notification URL (notify.go)
	pr        *prober   // the change probe; nil when it is off (probe.go)

	running  atomic.Bool
	wake     chan struct{}
	work     chan func()   // store calls of the steps, run by one long-lived worker (see db)
	progress chan struct{} // a step finished (coalesced)
	answers  chan struct{} // slots for steps holding Graph's answer until it is written (pagebound.go)
	// slotWaiters counts the steps waiting for an answer slot.
	slotWaiters atomic.Int32

	mu          sync.Mutex
	rooms       map[string]*room
	order       []string
	list        []*room // the rooms in order
	due         dueHeap // the rooms with no step running, soonest due first
	rng         *rand.Rand
	budget      budget
	gate        tokenGate
	gateEvents  []*store.Event // integration-level events waiting for the next write
	lastRefresh time.Time
	// refreshedFrom is the client generation the last token refresh replaced: a rejection of
	// a token of that generation (or older) is already being dealt with, even while the refresh
	// has not finished and the generation not moved on yet (parts of one batch fail together).
	refreshedFrom int
	steps         int // rooms with a step running
	// Polls that found nothing new are not written one by one (that transaction per poll was a
	// fifth of the agent's steady CPU): their deltaLinks and times and the request counts
	// wait here for flushPolls, every pollFlush and at stop.
	polls   map[string]store.RoomPoll // mailbox → its last unchanged poll
	unsaved map[string]int64          // counter key → requests not counted in the store yet
}

// room is the scheduler's view of one room.
type room struct {
	spec      RoomSpec
	state     store.RoomState // what the store holds
	cur       cursor          // where its sync is, as the store holds it (cursor.go)
	due       time.Time
	running   bool
	stepped   bool // a step of this process has started: the store may hold a read older than a probe's baseline
	forceFull bool
	again     bool      // SyncNow came while a step ran: due again when it ends
	notBefore time.Time // Graph's Retry-After for this mailbox runs until then
	failures  int       // consecutive
	emitted   bool      // an error event was sent for the current trouble
	lastCode  string    // code of the last failure
	spans     []store.Span
	round     *round
	hidx      int // index in Syncer.due; -1 while a step runs
	// routineDue is the plain next poll the room's last round ended with. A step that
	// starts while due still equals it is a routine poll: nothing (a probe's recheck, a
	// probe-found change, a notification, SyncNow, a retry) brought it forward, so it may wait
	// a little to share a batch (Tuning.Linger).
	routineDue time.Time
}

// round is a delta round in progress.
type round struct {
	full      bool
	next      string // the link to follow; "" = the first request of a full round
	ws, we    time.Time
	seen      map[string]bool // full rounds: every id listed so far
	refetched map[string]bool // series masters fetched in this round
	changed   int
	views     []viewSpan // delegated rounds: the parts of the window still to read (delegated_view.go)
}

// New prepares a syncer; nothing is sent until Run.
func New(opts Options) (*Syncer, error) {
	if opts.Store == nil {
		return nil, errors.New("graph syncer: a store is required")
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
	in := opts.Integration
	if in.Name == "" {
		return nil, errors.New("graph syncer: the integration has no name")
	}
	if in.MaxRequestsPerDay <= 0 {
		in.MaxRequestsPerDay = DefaultMaxRequestsPerDay
	}
	if in.MaxInFlight <= 0 {
		in.MaxInFlight = DefaultMaxInFlight
	}
	base := opts.HTTPClient
	if base == nil {
		var err error
		if base, err = baseClient(in.CAFile); err != nil {
			return nil, fmt.Errorf("graph integration %q: %w", in.Name, err)
		}
	}
	a, err := newAPI(in, base)
	if err != nil {
		return nil, fmt.Errorf("graph integration %q: %w", in.Name, err)
	}
	opts.Tuning.defaults()
	seed := opts.Tuning.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Syncer{
		name: in.Name, component: source.Component(Type, in.Name), in: in, st: opts.Store, clk: opts.Clock, health: opts.Health,
		log: opts.Logger.With("integration", in.Name), api: a, tune: opts.Tuning,
		wake: make(chan struct{}, 1), progress: make(chan struct{}, 1), rooms: map[string]*room{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		budget: budget{limit: int64(in.MaxRequestsPerDay), stretch: 1},
		polls:  map[string]store.RoomPoll{}, unsaved: map[string]int64{},
		answers: make(chan struct{}, answerSlots(in.MaxInFlight)),
	}
	s.disp = newDispatcher(a, in.MaxInFlight, !opts.Tuning.NoBatch, s.admit, s.clk)
	s.disp.pressed = func() bool { return s.slotWaiters.Load() > 0 }
	s.disp.lingerFor = max(opts.Tuning.Linger, 0)
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
	if in.NotificationURL != "" {
		s.nt = newNotifier(in.NotificationURL, opts.Tuning.Notify, s.order)
	}
	if probeEnabled(in) {
		s.pr = newProber(opts.Tuning.Probe, in.Probe, s.order)
	}
	for _, name := range s.order {
		r := s.rooms[name]
		s.list = append(s.list, r)
		heap.Push(&s.due, r)
	}
	return s, nil
}

// Run syncs until ctx ends. It needs no network to start: rooms keep what the store has, and
// failures are reported per room and in health, never returned.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("graph syncer: already running")
	}
	defer s.running.Store(false)
	if err := s.load(ctx); err != nil {
		return err
	}
	s.disp.ctx = ctx
	s.work = make(chan func())
	var worker sync.WaitGroup
	worker.Go(func() {
		for fn := range s.work {
			fn()
		}
	})
	defer func() {
		close(s.work)
		worker.Wait()
		s.work = nil
	}()
	flushCtx, stopFlush := context.WithCancel(ctx)
	var flusher sync.WaitGroup
	flusher.Go(func() { s.flushLoop(flushCtx) })
	defer func() {
		stopFlush()
		flusher.Wait()
		// Whatever the last steps left (they have all ended): a clean stop loses nothing.
		s.flushPolls(context.WithoutCancel(ctx))
	}()
	var notifying sync.WaitGroup // stops before the store worker (deferred later, runs earlier)
	defer notifying.Wait()
	if s.nt != nil {
		notifying.Go(func() { s.notifyLoop(ctx) })
	} else {
		notifying.Go(func() { s.dropSubscriptions(ctx) })
	}
	if s.pr != nil {
		notifying.Go(func() { s.probeLoop(ctx) })
	}
	s.updateHealth()
	s.log.Info("calendar sync started", "rooms", len(s.order), "budget", s.in.MaxRequestsPerDay, "max_in_flight", s.in.MaxInFlight)
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
		if planned { // a new day, or anything a step did not see change
			s.updateHealth()
			s.signalProgress() // Quiet waits for the plan
		}
		for _, r := range start {
			steps.Add(1)
			go func() {
				defer steps.Done()
				s.step(ctx, r)
			}()
		}
		s.arm(timer, next)
		select {
		case <-ctx.Done():
			steps.Wait()
			s.disp.wait()
			return nil
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// SyncNow makes a room ("" = every room) sync at once, in full when full is set (the `sync`
// command), but not before a Retry-After Graph sent for its mailbox has run out. Rooms waiting
// out a failure try again too (source.Source).
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
		// Sooner, but never before a Retry-After Graph sent for the mailbox has expired.
		r.due = now
		if r.notBefore.After(now) {
			r.due = r.notBefore
		}
		r.forceFull = r.forceFull || full
		if r.hidx >= 0 {
			s.queue(r)
		} else {
			// Mid-step: the step's end schedules the room's next poll, which would replace
			// this due time (a change notified during a round would wait for that poll).
			r.again = true
		}
	}
	if s.gate.fail != nil { // an operator asking means: try the token again now
		s.gate.until = now
	}
	s.signal()
	return nil
}

// load reads the rooms' state and this integration's cursors from the store (adding rooms it
// does not know yet), the budget used today and each room's meeting times.
func (s *Syncer) load(ctx context.Context) error {
	now := s.clk.Now()
	stored, err := s.st.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("graph syncer: %w", err)
	}
	have := map[string]store.RoomState{}
	for _, r := range stored {
		have[r.Mailbox] = r
	}
	cursors, err := s.st.Cursors(ctx, s.name)
	if err != nil {
		return fmt.Errorf("graph syncer: %w", err)
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		for _, name := range s.order {
			if _, ok := have[name]; !ok {
				st := store.RoomState{Mailbox: name, Integration: s.name, Status: store.RoomPending}
				if err := tx.PutSyncState(st); err != nil {
					return err
				}
				have[name] = st
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("graph syncer: add rooms: %w", err)
	}
	used, err := s.st.Counter(ctx, counterKey(s.name, now))
	if err != nil {
		return fmt.Errorf("graph syncer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budget.day, s.budget.used = dayKey(now), used
	for _, name := range s.order {
		r := s.rooms[name]
		r.state = have[name]
		if r.cur, err = decodeCursor(cursors[name]); err != nil {
			s.log.Warn("the room's sync position is unreadable; syncing it in full", "room", name, "err", err)
		}
		// Every room is due at once (the dispatcher batches the backlog); a stored
		// Retry-After is honoured across restarts.
		r.due = now
		if r.state.RetryAfter.After(r.due) {
			r.due = r.state.RetryAfter
		}
		if r.hidx >= 0 {
			s.queue(r)
		}
		if r.spans, err = s.st.EventSpans(ctx, name, now.Add(-24*time.Hour), now.Add(48*time.Hour)); err != nil {
			return fmt.Errorf("graph syncer: %w", err)
		}
	}
	s.plan(now)
	return nil
}

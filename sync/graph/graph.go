// Package graph keeps the calendars of a site's room mailboxes in the store, from Microsoft 365
// through Microsoft Graph with app-only credentials (research/graph.md).
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
	"hash/fnv"
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
)

// RoomSpec is a room mailbox to sync and how far ahead (its profile's upcoming_days).
type RoomSpec struct {
	Mailbox      string
	UpcomingDays int
}

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
	// Seed makes the jitter reproducible (0: random).
	Seed uint64
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
}

// Options are a Syncer's dependencies and configuration.
type Options struct {
	// Integration is the Graph integration's settings (the agent translates its config).
	Integration Integration
	// Rooms are the mailboxes this integration syncs.
	Rooms  []RoomSpec
	Store  *store.Store
	Logger *slog.Logger
	Clock  clock.Clock
	Health *health.Tracker // component "graph/<integration name>"
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

	running  atomic.Bool
	wake     chan struct{}
	work     chan func()   // store calls of the steps, run by one long-lived worker (see db)
	progress chan struct{} // a step finished (coalesced)

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

// pollFlush is how often the progress of unchanged polls is written. A kill -9 loses at most
// this much of it: the rooms' last_success and last_attempt times go back by up to this
// much, each room then polls from the deltaLink it had up to this long before (the newer
// polls found nothing, so polling again from there finds the same: nothing, or changes
// that came since, applied the same way), and up to this long of those polls' requests is
// missing from the day's count in the store (the budget can be overspent by that much).
const pollFlush = 10 * time.Second

// room is the scheduler's view of one room.
type room struct {
	spec      RoomSpec
	state     store.RoomState // what the store holds
	due       time.Time
	running   bool
	forceFull bool
	notBefore time.Time // Graph's Retry-After for this mailbox runs until then
	failures  int       // consecutive
	emitted   bool      // an error event was sent for the current trouble
	lastCode  string    // code of the last failure
	spans     []store.Span
	round     *round
	hidx      int // index in Syncer.due; -1 while a step runs
}

// round is a delta round in progress.
type round struct {
	full      bool
	next      string // the link to follow; "" = the first request of a full round
	ws, we    time.Time
	seen      map[string]bool // full rounds: every id listed so far
	refetched map[string]bool // series masters fetched in this round
	changed   int
}

// tokenGate stops every room from asking for a token while the token endpoint refuses.
type tokenGate struct {
	fail    *failure
	until   time.Time
	backoff time.Duration
	probing bool
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
		name: in.Name, component: "graph/" + in.Name, in: in, st: opts.Store, clk: opts.Clock, health: opts.Health,
		log: opts.Logger.With("integration", in.Name), api: a, tune: opts.Tuning,
		wake: make(chan struct{}, 1), progress: make(chan struct{}, 1), rooms: map[string]*room{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		budget: budget{limit: int64(in.MaxRequestsPerDay), stretch: 1},
		polls:  map[string]store.RoomPoll{}, unsaved: map[string]int64{},
	}
	s.disp = &dispatcher{api: a, maxInFlight: in.MaxInFlight, batching: !opts.Tuning.NoBatch, admit: s.admit}
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

// flushLoop writes the unchanged polls' progress every pollFlush until ctx ends.
//
// The flushes keep a fixed cadence (each deadline pollFlush after the one before, not after
// the flush finished): a slow flush or a late wake-up does not push the next one back, so an
// unchanged poll waits at most pollFlush (plus one flush) to be saved. Behind by more than a
// period (a clock jump), it flushes at once and goes on from there.
func (s *Syncer) flushLoop(ctx context.Context) {
	next := s.clk.Now().Add(pollFlush)
	t := s.clk.NewTimer(pollFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.flushPolls(ctx)
			next = next.Add(pollFlush)
			if now := s.clk.Now(); next.After(now) {
				t.Reset(next.Sub(now))
			} else {
				next = now
				t.Reset(0)
			}
		}
	}
}

// flushPolls writes the unchanged polls' deltaLinks and times and the pending request counts
// in one transaction. It runs on the store worker, so what it takes is never older than a
// room's full write queued after it; on failure everything is kept for the next flush.
func (s *Syncer) flushPolls(ctx context.Context) {
	s.db(ctx, func() {
		s.mu.Lock()
		polls, unsaved := s.polls, s.unsaved
		if len(polls) == 0 && len(unsaved) == 0 {
			s.mu.Unlock()
			return
		}
		s.polls, s.unsaved = map[string]store.RoomPoll{}, map[string]int64{}
		s.mu.Unlock()
		err := s.st.Write(ctx, func(tx *store.Tx) error {
			if err := tx.TouchRooms(polls); err != nil {
				return err
			}
			for key, n := range unsaved {
				if _, err := tx.Add(key, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
		if ctx.Err() == nil {
			s.log.Warn("cannot save the progress of calendar polls; retrying", "err", err)
		}
		s.mu.Lock()
		for m, p := range polls {
			if _, newer := s.polls[m]; !newer {
				s.polls[m] = p
			}
		}
		for k, n := range unsaved {
			s.unsaved[k] += n
		}
		s.mu.Unlock()
	})
}

// arm sets the timer to fire at the given time. If the clock jumped while the timer was being
// set (a fake clock advanced by a test or a tool), the deadline would come out late: set it
// again.
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

// db runs fn (a store call) on the store worker and waits for it. Each step runs on a
// goroutine of its own, and SQLite (modernc) runs deep stacks: on a fresh goroutine every
// transaction grew its stack by copying, ~6 % of the agent's steady CPU at tens of steps a
// second. The worker keeps its grown stack; the store has one writer anyway. Called only
// while Run runs.
func (s *Syncer) db(ctx context.Context, fn func()) {
	if s.work == nil { // not running (tests driving a step directly)
		fn()
		return
	}
	done := make(chan struct{})
	select {
	case s.work <- func() { defer close(done); fn() }:
		<-done
	case <-ctx.Done():
		fn() // shutting down: run it here (it fails fast on the ended context)
	}
}

// write is Store.Write on the store worker.
func (s *Syncer) write(ctx context.Context, fn func(*store.Tx) error) error {
	var err error
	s.db(ctx, func() { err = s.st.Write(ctx, fn) })
	return err
}

// signal wakes the scheduler loop.
func (s *Syncer) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maxActive is how many rooms may be mid-step at once: enough to fill every in-flight slot
// with a full batch.
func (s *Syncer) maxActive() int { return s.in.MaxInFlight * maxBatch }

// pickDue marks the rooms to step now (hot rooms first, then by due time) and returns when to
// look again (under s.mu).
func (s *Syncer) pickDue(now time.Time) ([]*room, time.Time) {
	var due []*room
	for len(s.due) > 0 && !s.due[0].due.After(now) {
		due = append(due, heap.Pop(&s.due).(*room))
	}
	free := s.maxActive() - s.steps
	if len(due) > free {
		sort.SliceStable(due, func(i, j int) bool {
			hi, hj := s.hot(due[i], now), s.hot(due[j], now)
			if hi != hj {
				return hi
			}
			return due[i].due.Before(due[j].due)
		})
		for _, r := range due[max(0, free):] {
			heap.Push(&s.due, r) // still due: picked when a step ends
		}
		due = due[:max(0, free)]
	}
	for _, r := range due {
		r.running = true
		s.steps++
	}
	next := s.budget.nextPlan
	if len(s.due) > 0 && s.due[0].due.Before(next) {
		next = s.due[0].due
	}
	return due, next
}

// SyncNow makes a room ("" = every room) sync at once, in full when full is set (the `sync`
// command). Rooms waiting out a failure try again too.
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
		}
	}
	if s.gate.fail != nil { // an operator asking means: try the token again now
		s.gate.until = now
	}
	s.signal()
	return nil
}

// Stats is what the syncer reports about itself (status page, MQTT metrics, bench).
type Stats struct {
	Integration string `json:"integration"`
	// Budget is max_requests_per_day; UsedToday counts Graph requests since local midnight.
	Budget    int64 `json:"budget"`
	UsedToday int64 `json:"used_today"`
	// ProjectedToday is UsedToday plus what the current intervals will spend until midnight;
	// Projected24h is what they spend over a full day from now (never above Budget: the
	// intervals stretch first).
	ProjectedToday int64 `json:"projected_today"`
	Projected24h   int64 `json:"projected_24h"`
	// HotInterval and ColdInterval are the poll intervals in force (after stretching).
	HotInterval  time.Duration  `json:"hot_interval"`
	ColdInterval time.Duration  `json:"cold_interval"`
	Rooms        map[string]int `json:"rooms"` // rooms by status
	HotRooms     int            `json:"hot_rooms"`
	// Synced counts rooms whose last round completed (they have a deltaLink).
	Synced          int  `json:"synced"`
	BudgetExhausted bool `json:"budget_exhausted"`
}

// Stats returns a snapshot.
func (s *Syncer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	st := Stats{Integration: s.name, Budget: s.budget.limit, UsedToday: s.budget.used, ProjectedToday: s.budget.projectedToday,
		Projected24h: s.budget.projected24h, HotInterval: s.hotInterval(), ColdInterval: s.coldInterval(),
		Rooms: map[string]int{}, BudgetExhausted: s.budget.exhausted}
	for _, n := range s.order {
		r := s.rooms[n]
		status := r.state.Status
		if status == "" {
			status = store.RoomPending
		}
		st.Rooms[status]++
		if s.hot(r, now) {
			st.HotRooms++
		}
		if r.state.DeltaLink != "" {
			st.Synced++
		}
	}
	return st
}

// Progress is signalled (coalesced) whenever a room's sync step finishes; with Quiet it lets
// tools that drive a fake clock wait until the syncer has caught up.
func (s *Syncer) Progress() <-chan struct{} { return s.progress }

// Quiet reports whether no room is mid-step and none is due at the clock's current time.
func (s *Syncer) Quiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	if s.steps > 0 {
		return false
	}
	for _, r := range s.rooms {
		if !r.due.After(now) {
			return false
		}
	}
	return true
}

// load reads the rooms' state from the store (adding rooms it does not know yet), the budget
// used today and each room's meeting times.
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
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		for _, name := range s.order {
			if _, ok := have[name]; !ok {
				st := store.RoomState{Mailbox: name, Integration: s.name, Status: store.RoomPending}
				if err := tx.PutRoom(st); err != nil {
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

// rollOffset is when after midnight a room's daily full round starts (spread by mailbox).
func (s *Syncer) rollOffset(r *room) time.Duration {
	spread := uint32(s.tune.RollSpread / time.Second)
	if spread == 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(r.spec.Mailbox))
	return time.Duration(h.Sum32()%spread) * time.Second
}

func dayStart(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// window is the calendarView window of a round starting now: the start of yesterday to the
// end of today + upcoming_days.
func window(r *room, now time.Time) (time.Time, time.Time) {
	day := dayStart(now)
	return day.AddDate(0, 0, -1), day.AddDate(0, 0, r.spec.UpcomingDays+1)
}

// needsFull reports whether the room's next round must start over (under s.mu).
func (s *Syncer) needsFull(r *room, now time.Time) bool {
	if r.forceFull || r.state.DeltaLink == "" {
		return true
	}
	// Links stored under another graph_url lead nowhere (or to the wrong tenant's cloud).
	if !s.api.fromGraphURL(r.state.DeltaLink) || (r.state.NextLink != "" && !s.api.fromGraphURL(r.state.NextLink)) {
		return true
	}
	ws, we := window(r, now)
	if r.state.WindowStart.Equal(ws) && r.state.WindowEnd.Equal(we) {
		return false
	}
	// Yesterday's window still covers what matters until this room's turn after midnight.
	yesterday := r.state.WindowStart.Equal(ws.AddDate(0, 0, -1)) && r.state.WindowEnd.Equal(we.AddDate(0, 0, -1))
	return !yesterday || !now.Before(dayStart(now).Add(s.rollOffset(r)))
}

// hot reports whether a room is hot now: a meeting starts within HotLead, has just started,
// or runs while the budget allows running meetings to count (under s.mu).
func (s *Syncer) hot(r *room, now time.Time) bool {
	for _, sp := range r.spans {
		st, en := hotPeriod(sp, s.tune.HotLead, s.budget.runningHot)
		if !now.Before(st) && now.Before(en) {
			return true
		}
	}
	return false
}

// nextHot is when the room next becomes hot (zero: not within its known meetings).
func (s *Syncer) nextHot(r *room, now time.Time) time.Time {
	var at time.Time
	for _, sp := range r.spans {
		t, _ := hotPeriod(sp, s.tune.HotLead, s.budget.runningHot)
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	return at
}

// jitter spreads d by ± the tuning's fraction (under s.mu).
func (s *Syncer) jitter(d time.Duration) time.Duration {
	f := 1 + s.tune.Jitter*(2*s.rng.Float64()-1)
	return time.Duration(float64(d) * f)
}

// nextPoll is when a room that just finished a round polls again (under s.mu).
func (s *Syncer) nextPoll(r *room, now time.Time) time.Time {
	if s.budget.exhausted {
		return dayStart(now).AddDate(0, 0, 1)
	}
	if s.hot(r, now) {
		return now.Add(s.jitter(s.hotInterval()))
	}
	due := now.Add(s.jitter(s.coldInterval()))
	if h := s.nextHot(r, now); !h.IsZero() && h.Before(due) {
		due = h
	}
	if roll := dayStart(now).AddDate(0, 0, 1).Add(s.rollOffset(r)); roll.Before(due) {
		due = roll
	}
	return due
}

// backoff is the wait after n consecutive transient failures: 5 s doubling to 5 min, jittered.
func (s *Syncer) backoff(n int) time.Duration {
	d := 5 * time.Second << min(n-1, 6)
	return s.jitter(min(d, 5*time.Minute))
}

// healthInputs is what of a step's doing can change the health line: its room's status, the
// token gate and the budget (under s.mu).
type healthInputs struct {
	status    string
	gate      *failure
	exhausted bool
}

func (s *Syncer) healthInputs(r *room) healthInputs {
	return healthInputs{status: r.state.Status, gate: s.gate.fail, exhausted: s.budget.exhausted}
}

func (s *Syncer) updateHealth() {
	s.mu.Lock()
	var bad []string
	counts := map[string]int{}
	pending := 0
	for _, r := range s.list {
		n := r.spec.Mailbox
		switch r.state.Status {
		case store.RoomOK:
		case store.RoomPending, "":
			pending++
		default:
			counts[r.state.Status]++
			bad = append(bad, n+" "+r.state.Status)
		}
	}
	total := len(s.order)
	gate := s.gate.fail
	exhausted := s.budget.exhausted
	s.mu.Unlock()
	expiring := s.certificateExpiring()
	switch {
	case gate != nil:
		s.health.Fail(s.component, gate.detail)
	case total > 0 && len(bad) == total:
		s.health.Fail(s.component, fmt.Sprintf("no room syncs: %s", summarize(counts)))
	case exhausted:
		s.health.Warn(s.component, fmt.Sprintf("the daily budget of %d Graph requests is used up; rooms show what they have until midnight", s.budget.limit))
	case len(bad) > 0:
		sort.Strings(bad)
		s.health.Warn(s.component, fmt.Sprintf("%d of %d rooms not syncing (%s): %s", len(bad), total, summarize(counts), strings.Join(bad[:min(3, len(bad))], ", ")))
	case expiring != "":
		s.health.Warn(s.component, expiring)
	case pending > 0:
		s.health.OK(s.component, fmt.Sprintf("first sync: %d of %d rooms done", total-pending, total))
	default:
		s.health.OK(s.component, fmt.Sprintf("%d rooms in sync", total))
	}
}

// certificateExpiring says what to do when the client certificate expires soon; "" otherwise.
func (s *Syncer) certificateExpiring() string {
	certs := s.in.ClientCertificates
	if len(certs) == 0 {
		return ""
	}
	end := certs[0].NotAfter
	if left := end.Sub(s.clk.Now()); left > CertificateWarnAhead {
		return ""
	}
	return fmt.Sprintf("the client certificate (thumbprint %s) expires on %s: upload its successor to the app registration, "+
		"put it in client_certificate_file and run otj-edge reload", s.in.CertificateThumbprint(), end.UTC().Format(time.DateOnly))
}

func slogLevel(status string) slog.Level {
	switch status {
	case store.RoomThrottled, store.RoomTransient, store.RoomOK, store.RoomPending:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func summarize(counts map[string]int) string {
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

package ews

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
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// Syncer syncs the rooms of one EWS integration.
//
// Each room is read over [start of yesterday, end of today + upcoming_days], the Graph
// source's window: SyncFolderItems on its calendar is the cheap change probe (its SyncState is
// the room's stored cursor, so a restart goes on where it was); on a change, the first sync,
// the daily window roll or a streaming notification, FindItem with a CalendarView lists the
// window's instances, GetItem reads those whose ChangeKey the store does not have, and
// instances gone from the view are deleted, all in one write.
type Syncer struct {
	name      string
	component string
	in        Integration
	st        *store.Store
	log       *slog.Logger
	clk       clock.Clock
	health    *health.Tracker
	tune      Tuning
	base      *http.Client
	slots     chan struct{} // MaxInFlight requests across rooms
	reads     chan struct{} // rooms mid-read, holding answers until written (readbound.go)

	running     atomic.Bool
	subscribing atomic.Int32 // stream goroutines making requests (setSubscribing)
	wake        chan struct{}
	progress    chan struct{}

	urlMu  sync.Mutex
	cli    *client // nil until the EWS URL is known (autodiscover)
	urlErr *failure

	mu       sync.Mutex
	rooms    map[string]*room
	order    []string
	due      poll.Heap[*room]
	rng      *rand.Rand
	budget   budget
	steps    int
	stream   streamState
	unsaved  int64 // requests counted but not yet in the store
	unsavedK string

	pending poll.Pending // unchanged polls not yet written (flush)
	writeMu sync.RWMutex // rooms' full writes (shared) against a flush (exclusive)
}

// room is the scheduler's view of one room.
type room struct {
	spec      source.Room
	state     store.RoomState
	cur       cursor
	due       time.Time
	running   bool
	forceFull bool
	dirty     bool      // a notification said something changed: read the view
	woken     bool      // notified while its step ran: step again after the debounce
	notBefore time.Time // ErrorServerBusy's back-off runs until then
	failures  int
	emitted   bool
	lastCode  string
	spans     []store.Span
	hidx      int
}

func (r *room) DueAt() time.Time { return r.due }
func (r *room) HeapIndex() *int  { return &r.hidx }

// New makes a Syncer; it reads nothing from the network.
func New(opts Options) (*Syncer, error) {
	if opts.Store == nil {
		return nil, errors.New("ews syncer: a store is required")
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
		if base, err = newHTTPClient(in); err != nil {
			return nil, fmt.Errorf("ews integration %q: %w", in.Name, err)
		}
	}
	opts.Tuning.defaults()
	seed := opts.Tuning.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Syncer{name: in.Name, component: source.Component(Type, in.Name), in: in, st: opts.Store, clk: opts.Clock,
		health: opts.Health, log: opts.Logger.With("integration", in.Name), tune: opts.Tuning, base: base,
		slots: make(chan struct{}, in.MaxInFlight), reads: make(chan struct{}, readSlots(in.MaxInFlight)), wake: make(chan struct{}, 1), progress: make(chan struct{}, 1),
		rooms: map[string]*room{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		budget: budget{limit: in.MaxRequestsPerDay, stretch: 1}}
	if in.Streaming && in.Access == AccessDelegate {
		s.stream.note, s.stream.disabled = delegateNote, true
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
		return in, errors.New("ews syncer: the integration has no name")
	}
	in.Auth = strings.ToLower(strings.TrimSpace(in.Auth))
	switch in.Auth {
	case "":
		in.Auth = AuthNTLM
	case AuthNTLM, AuthBasic:
	default:
		return in, fmt.Errorf("ews integration %q: auth %q: want ntlm or basic (Kerberos/negotiate is not supported)", in.Name, in.Auth)
	}
	in.Access = strings.ToLower(strings.TrimSpace(in.Access))
	switch in.Access {
	case "":
		in.Access = AccessImpersonation
	case AccessImpersonation, AccessDelegate:
	default:
		return in, fmt.Errorf("ews integration %q: access %q: want impersonation or delegate", in.Name, in.Access)
	}
	if in.Auth == AuthBasic && in.URL != "" && !strings.HasPrefix(strings.ToLower(in.URL), "https://") {
		return in, fmt.Errorf("ews integration %q: auth basic sends the password in clear: the EWS URL must be https://", in.Name)
	}
	if in.RequestServerVersion == "" {
		in.RequestServerVersion = DefaultServerVersion
	}
	if strings.EqualFold(in.RequestServerVersion, "Exchange2019") {
		// Exchange 2019 answers ErrorInvalidRequest to its own name (research §A5).
		return in, fmt.Errorf("ews integration %q: request_server_version Exchange2019 is refused by Exchange 2019 itself: use Exchange2016 or Exchange2013_SP1", in.Name)
	}
	if in.MaxRequestsPerDay <= 0 {
		in.MaxRequestsPerDay = DefaultMaxRequestsPerDay
	}
	if in.MaxInFlight <= 0 {
		in.MaxInFlight = DefaultMaxInFlight
	}
	if in.URL == "" && in.AutodiscoverEmail == "" && !strings.Contains(in.Username, "@") {
		return in, fmt.Errorf("ews integration %q: no url, and no address to autodiscover it for: set url, or autodiscover_email", in.Name)
	}
	return in, nil
}

// newClient is the EWS client for url, counting requests against the budget.
func (s *Syncer) newClient(url string) *client {
	hc := &http.Client{Transport: authTransport(s.in.Auth, s.base.Transport), Timeout: s.base.Timeout}
	return &client{url: url, user: s.in.Username, password: s.in.Password.Value, auth: s.in.Auth, access: s.in.Access,
		version: s.in.RequestServerVersion, http: hc, admit: s.admit, slots: s.slots, subSlots: make(chan struct{}, subscribeInFlight)}
}

// client returns the EWS client, discovering the URL first when the config has none.
func (s *Syncer) client(ctx context.Context) (*client, *failure) {
	s.urlMu.Lock()
	defer s.urlMu.Unlock()
	if s.cli != nil {
		return s.cli, nil
	}
	if s.in.URL != "" {
		s.cli = s.newClient(s.in.URL)
		return s.cli, nil
	}
	hc := &http.Client{Transport: authTransport(s.in.Auth, s.base.Transport), Timeout: 30 * time.Second}
	res, err := autodiscover(ctx, hc, s.in)
	if err != nil {
		f := classify(err, "", s.in)
		f.detail = "autodiscover found no EWS URL: " + f.detail
		return nil, &f
	}
	s.log.Info("autodiscover found the EWS endpoint", "url", res.url, "via", res.via)
	s.cli = s.newClient(res.url)
	return s.cli, nil
}

// Run syncs until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ews syncer: already running")
	}
	defer s.running.Store(false)
	if err := s.load(ctx); err != nil {
		return err
	}
	s.updateHealth()
	s.log.Info("calendar sync started", "rooms", len(s.order), "budget", s.in.MaxRequestsPerDay, "max_in_flight", s.in.MaxInFlight,
		"access", s.in.Access, "streaming", s.streaming())
	var bg sync.WaitGroup
	bg.Go(func() { poll.Every(ctx, s.clk, pollFlush, func() { s.flush(ctx) }) })
	if s.streaming() {
		bg.Go(func() { s.runStreams(ctx) })
	}
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
			s.flush(context.WithoutCancel(ctx))
			return nil
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// SyncNow queues a sync of room ("" = all): in full when full is set, never before an
// ErrorServerBusy back-off has run out (source.Source).
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
		r.dirty = true // an operator asking means: read the view, even if the probe sees nothing
		if r.hidx >= 0 {
			s.due.Queue(r)
		} else if r.running {
			r.woken = true // the running step plans its next poll when it ends: go again soon
		}
	}
	s.signal()
	return nil
}

// load reads the rooms' state, this integration's cursors, today's request count and the
// rooms' meeting times from the store.
func (s *Syncer) load(ctx context.Context) error {
	now := s.clk.Now()
	ld, err := poll.LoadRooms(ctx, s.st, "ews syncer", s.name, s.order, counterKey(s.name, now))
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
			return fmt.Errorf("ews syncer: %w", err)
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

// stepsPerRequestSlot is how many rooms may be mid-step per request in flight.
const stepsPerRequestSlot = 20

// maxSteps is how many rooms may be mid-step at once: enough to keep every request slot
// and every read slot (readbound.go) busy. A cold start once started a step for each of its
// 1,000 due rooms, each a goroutine waiting for a request slot: their stacks were 36 MB of
// the cold sync's peak. A due room beyond the bound waits in the heap, in due order, holding
// nothing.
func (s *Syncer) maxSteps() int { return max(1, s.in.MaxInFlight) * stepsPerRequestSlot }

// pickDue takes the due rooms off the heap, up to maxSteps mid-step (under s.mu). The
// in-flight limit is on requests (client slots), so a room waiting for a slot holds no other
// room back beyond its turn in the queue.
func (s *Syncer) pickDue(now time.Time) ([]*room, time.Time) {
	var due []*room
	for len(s.due) > 0 && !s.due[0].due.After(now) && s.steps < s.maxSteps() {
		r := heap.Pop(&s.due).(*room)
		r.running = true
		s.steps++
		due = append(due, r)
	}
	// With every step taken, a room still due cannot start before a step ends, and a step's
	// end wakes the loop (step signals): waking for it too would arm the timer in the past
	// and spin the loop until then.
	next := s.budget.nextPlan
	if len(s.due) > 0 && s.due[0].due.Before(next) && s.steps < s.maxSteps() {
		next = s.due[0].due
	}
	return due, next
}

// Progress is signalled (coalesced) whenever a room's step finishes or a notification
// moves a room's next sync.
func (s *Syncer) Progress() <-chan struct{} { return s.progress }

func (s *Syncer) progressed() {
	select {
	case s.progress <- struct{}{}:
	default:
	}
}

// Quiet reports whether no room is mid-step, none is due at the clock's current time, no
// day's plan is due and no subscription is being made.
func (s *Syncer) Quiet() bool {
	if s.subscribing.Load() > 0 {
		return false
	}
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

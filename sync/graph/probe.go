package graph

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The change probe (README "Calendar sync (Microsoft Graph)", change probe): calendar
// getSchedule answers the free/busy items (start, end, status; subject and location too when
// the room calendar shares LimitedDetails) of up to 20 mailboxes in one request, outbound
// only. Rooms with a meeting soon or running are probed every few seconds over the hours
// around now, the others every minute or so over their sync window. A room whose items
// differ from its previous probe's, compared over the part both probes covered (a window that
// slides is no change), is polled at once, as a change notification would have it; the first
// probe of a room records, and polls the room once if its last read may be older
// (probeAnswered). While a room's probe is live its own polls slow down to the safety net's
// intervals (ProbeTuning.PollHot/PollCold): they still find what free/busy cannot
// show (a body-only edit such as an added Teams link; subjects when the room shares only
// AvailabilityOnly). A probe that fails never fails a room: the probe pauses (Retry-After,
// backoff) and the rooms poll at the plain intervals until it is live again. Probe requests
// count against the budget, and the budget's projection includes them (schedule.go).

// ProbeTuning adjusts the change probe; zero values take the defaults.
type ProbeTuning struct {
	// HotInterval and ColdInterval are how often a hot room and another room are probed
	// (defaults: the integration's probe keys, else graphconf's 7 s and 60 s). Both stretch
	// with the budget.
	HotInterval  time.Duration
	ColdInterval time.Duration
	// PollHot and PollCold are the poll intervals of a room whose probe is live (defaults 20 s
	// and 5 min; never shorter than the plain ones).
	PollHot  time.Duration
	PollCold time.Duration
	// Before and Ahead bound the hot rooms' probe window around now (defaults 1 h and 3 h).
	// Cold rooms are probed from now - Before to the end of their sync window.
	Before time.Duration
	Ahead  time.Duration
	// Recheck is when a room polls again after a probe-triggered poll found nothing (default
	// 5 s; once): the two reads need not see a change at the same instant.
	Recheck time.Duration
	// InFlight is how many hot and how many cold probe requests go at once (default 2 each),
	// on top of max_in_flight.
	InFlight int
}

func (t *ProbeTuning) defaults(p ProbeSettings) {
	if t.HotInterval <= 0 {
		t.HotInterval = cmp(p.HotInterval, graphconf.DefaultProbeHotInterval)
	}
	if t.ColdInterval <= 0 {
		t.ColdInterval = cmp(p.ColdInterval, graphconf.DefaultProbeColdInterval)
	}
	if t.PollHot <= 0 {
		t.PollHot = 20 * time.Second
	}
	if t.PollCold <= 0 {
		t.PollCold = 5 * time.Minute
	}
	if t.Before <= 0 {
		t.Before = time.Hour
	}
	if t.Ahead <= 0 {
		t.Ahead = 3 * time.Hour
	}
	if t.Recheck <= 0 {
		t.Recheck = 5 * time.Second
	}
	if t.InFlight <= 0 {
		t.InFlight = 2
	}
}

// cmp is v, or def when v is not set.
func cmp(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// ProbeStats are the change probe's figures (status JSON, MQTT metrics); Stats carries them.
type ProbeStats = source.ProbeStats

// Probe timings that are not tuned.
const (
	probeUnavailable = time.Hour       // a room getSchedule named an error for is tried again after this
	probeStale       = 3               // a room's probe is live while its last success is this many cold intervals old
	probeChanges     = 4               // probe-triggered polls a room is assumed to make a day (budget projection; a start's baseline poll is one)
	probeMaxBackoff  = 5 * time.Minute // the longest pause after failures without Retry-After
	// probeFailingWarn is how long the probe fails before the integration's health line says
	// so: a Retry-After or two is the probe doing its job, a quarter of an hour without
	// getSchedule means changes are slow everywhere.
	probeFailingWarn = 15 * time.Minute
)

// prober is the change probe of one integration (fields under Syncer.mu).
type prober struct {
	tune       ProbeTuning
	rooms      map[string]*probeRoom
	pauseUntil time.Time // Retry-After, backoff or a spent budget: no probe before
	failures   int       // consecutive failed requests
	failingAt  time.Time // the first of them (zero: the last request was answered)
	nextHot    time.Time
	nextCold   time.Time
	wakeAt     time.Time   // when the loop looks again (Quiet)
	inflight   int         // jobs sent or waiting for a slot
	rot        int         // which room of a chunk names the request (spreads per-mailbox limits)
	scratch    [2][]fpWide // fingerprints compared (probeAnswered)
	stats      ProbeStats
}

// probeRoom is what the probe knows of one room.
type probeRoom struct {
	fp          *fingerprint // the last successful probe's items
	okAt        time.Time    // when it succeeded
	attempt     time.Time    // the last time the room was in a request (cold rotation)
	failing     bool         // the probe fails: the room polls at the plain intervals
	unavailable time.Time    // getSchedule named an error for the room: not probed before
	details     bool         // the last answer showed subjects
	recheck     bool         // a probe-found change made it poll: poll once more if that found nothing
	pending     bool         // in a job not answered yet
}

func newProber(tune ProbeTuning, p ProbeSettings, rooms []string) *prober {
	tune.defaults(p)
	pr := &prober{tune: tune, rooms: map[string]*probeRoom{}}
	for _, m := range rooms {
		pr.rooms[m] = &probeRoom{}
	}
	pr.stats.Enabled = true
	return pr
}

// probeEnabled reports whether the integration's probe runs (mode and auth).
func probeEnabled(in Integration) bool {
	return graphconf.ProbeEnabled(in.Probe.Mode, in.Delegated(), delegatedScopes(in))
}

func delegatedScopes(in Integration) []string {
	if len(in.Scopes) > 0 {
		return in.Scopes
	}
	return DefaultDelegatedScopes
}

func (s *Syncer) probeHotInterval() time.Duration {
	return time.Duration(float64(s.pr.tune.HotInterval) * s.budget.stretch)
}

func (s *Syncer) probeColdInterval() time.Duration {
	return time.Duration(float64(s.pr.tune.ColdInterval) * s.budget.stretch)
}

// probeLive reports whether the room's probe watches it now, so its polls may be slower
// (under s.mu).
func (s *Syncer) probeLive(r *room, now time.Time) bool {
	if s.pr == nil {
		return false
	}
	p := s.pr.rooms[r.spec.Mailbox]
	return p != nil && p.fp != nil && !p.failing && !now.Before(p.unavailable) &&
		now.Sub(p.okAt) < probeStale*s.probeColdInterval() && !s.subscribed(r, now)
}

// probeEligible reports whether the probe should cover the room (under s.mu): not while a
// live subscription does, nor while Graph said it cannot read the room or getSchedule named
// an error for it.
func (s *Syncer) probeEligible(r *room, now time.Time) bool {
	switch r.state.Status {
	case store.RoomPolicyDenied, store.RoomNotFound, store.RoomNotRESTEnabled:
		return false
	}
	p := s.pr.rooms[r.spec.Mailbox]
	return p != nil && !now.Before(p.unavailable) && !s.subscribed(r, now)
}

// probeBusy reports whether probe work is running or due (under s.mu; Quiet).
func (s *Syncer) probeBusy(now time.Time) bool {
	if s.pr == nil {
		return false
	}
	// Due exactly when the loop's timer is: a test's fake clock waits for nothing else.
	return s.pr.inflight > 0 || !s.pr.wakeAt.After(now)
}

// ProbeStats reports the change probe (zero when it does not run).
func (s *Syncer) ProbeStats() ProbeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pr == nil {
		return ProbeStats{}
	}
	return s.probeStats(s.clk.Now())
}

// probeStats are the figures with the rooms counted (under s.mu, s.pr set).
func (s *Syncer) probeStats(now time.Time) ProbeStats {
	st := s.pr.stats
	st.HotInterval, st.ColdInterval = s.probeHotInterval(), s.probeColdInterval()
	for _, r := range s.list {
		p := s.pr.rooms[r.spec.Mailbox]
		if s.probeEligible(r, now) {
			st.Rooms++
		}
		if s.probeLive(r, now) {
			st.Live++
			if p.details {
				st.DetailsVisible++
			}
		}
		if now.Before(p.unavailable) {
			st.Unavailable++
		}
	}
	return st
}

// probeLoop probes until ctx ends (Run). It never waits for a request: jobs run on their
// own, InFlight hot and InFlight cold ones at a time, so a slow answer for the cold rooms
// never delays the next hot probe (a room is in one job at a time).
func (s *Syncer) probeLoop(ctx context.Context) {
	t := s.clk.NewTimer(time.Hour)
	defer t.Stop()
	hotSlots, coldSlots := make(chan struct{}, s.pr.tune.InFlight), make(chan struct{}, s.pr.tune.InFlight)
	var jobs sync.WaitGroup
	defer jobs.Wait()
	for ctx.Err() == nil {
		now := s.clk.Now()
		s.mu.Lock()
		due, next := s.probePlan(now)
		s.pr.inflight += len(due)
		s.pr.wakeAt = next
		s.mu.Unlock()
		for _, j := range due {
			slots := coldSlots
			if j.hot {
				slots = hotSlots
			}
			jobs.Go(func() {
				select {
				case slots <- struct{}{}:
					s.probe(ctx, j)
					<-slots
				case <-ctx.Done():
				}
				s.mu.Lock()
				s.pr.inflight--
				for _, m := range j.rooms {
					s.pr.rooms[m].pending = false
				}
				s.mu.Unlock()
				s.signalProgress()
			})
		}
		// What Quiet reports has changed (tools driving a fake clock wait on this), even
		// when nothing was due after all (no hot room when the hot probe fell due).
		s.signalProgress()
		s.arm(t, next)
		select {
		case <-ctx.Done():
		case <-t.C():
		}
	}
}

// probe sends one job (a request per segment of its window) and acts on the answer.
func (s *Syncer) probe(ctx context.Context, j probeJob) {
	rd := newProbeRead(j)
	defer rd.done()
	sc := schedPool.Get().(*schedScan)
	defer func() {
		sc.b = nil // the answer is not kept alive by the pool
		schedPool.Put(sc)
	}()
	for _, seg := range segments(j.ws, j.we) {
		s.mu.Lock()
		url := s.probeURL(j.rooms)
		s.mu.Unlock()
		if url == "" {
			return // every room waits out a Retry-After: not probed this time
		}
		res := s.probeCall(ctx, url, j.rooms, seg[0], seg[1])
		if ctx.Err() != nil {
			return
		}
		if res.ok() {
			if err := scanSchedule(sc, res.body); err != nil {
				res = result{err: err, retryAfter: -1, sent: true}
			}
		}
		if !res.ok() {
			s.probeFailed(res, url)
			return
		}
		rd.add(sc)
	}
	rd.finish()
	s.probeAnswered(j, rd)
}

// probeURL picks the mailbox the request is sent as (it counts against that mailbox's
// limits): the rooms of a chunk take turns, a room mid-step is passed over when another can
// go, and a room under Retry-After never goes; "" when every room is (under s.mu).
func (s *Syncer) probeURL(rooms []string) string {
	s.pr.rot++
	now := s.clk.Now()
	busy := ""
	for i := range rooms {
		m := rooms[(s.pr.rot+i)%len(rooms)]
		r := s.rooms[m]
		switch {
		case r == nil || r.notBefore.After(now):
		case !r.running:
			return m
		case busy == "":
			busy = m
		}
	}
	return busy
}

// probeCall sends one getSchedule within the budget and counts it. A token Graph rejects is
// replaced once (as a room's step does) and the request sent again.
func (s *Syncer) probeCall(ctx context.Context, url string, schedules []string, start, end time.Time) result {
	res := s.probeCallOnce(ctx, url, schedules, start, end)
	if f := classify(res, "", s.in.ClientID); f.badToken {
		s.mu.Lock()
		refresh := f.gen >= s.api.generation() && f.gen > s.refreshedFrom
		if refresh {
			s.lastRefresh, s.refreshedFrom = s.clk.Now(), f.gen
		}
		s.mu.Unlock()
		if refresh {
			if err := s.api.refresh(); err != nil {
				s.log.Error("cannot rebuild the Graph client", "err", err)
			}
		}
		res = s.probeCallOnce(ctx, url, schedules, start, end)
	}
	return res
}

func (s *Syncer) probeCallOnce(ctx context.Context, url string, schedules []string, start, end time.Time) result {
	if err := s.admit(1); err != nil {
		return result{err: err, retryAfter: -1}
	}
	res := s.api.getSchedule(ctx, url, schedules, start, end)
	s.mu.Lock()
	if !res.sent { // not sent after all (no token): give the request back to the budget
		s.budget.used--
	} else {
		s.unsaved[counterKey(s.name, s.clk.Now())]++
		s.pr.stats.Requests++
	}
	s.mu.Unlock()
	return res
}

// probeFailed pauses the probe after a failed request: until Retry-After, a day's budget,
// an auth failure's retry time, or a backoff. Every room goes back to its plain poll
// intervals meanwhile, except that the mailbox the request was sent as honours Retry-After.
func (s *Syncer) probeFailed(res result, url string) {
	now := s.clk.Now()
	f := classify(res, "", s.in.ClientID)
	s.mu.Lock()
	pr := s.pr
	if r := s.rooms[url]; r != nil && res.err == nil && res.retryAfter >= 0 {
		// The request counted against the URL's mailbox: its polls wait for Retry-After too.
		r.notBefore = laterOf(r.notBefore, now.Add(res.retryAfter+100*time.Millisecond))
		if r.hidx >= 0 && r.due.Before(r.notBefore) {
			r.due = r.notBefore
			s.queue(r)
		}
	}
	pr.failures++
	if pr.failingAt.IsZero() {
		pr.failingAt = now
	}
	wait := min(5*time.Second<<min(pr.failures-1, 6), probeMaxBackoff)
	switch {
	case errors.Is(res.err, errBudget):
		wait = dayStart(now).AddDate(0, 0, 1).Sub(now)
	case res.retryAfter >= 0:
		wait = res.retryAfter + 100*time.Millisecond // never at the very instant it ends
	case f.badToken:
		// A token rejected while a room's step was replacing it: the backoff, not the
		// quarter of an hour a lasting auth failure waits.
	case f.status == store.RoomNotFound || f.status == store.RoomNotRESTEnabled || f.status == store.RoomPolicyDenied:
		// About the mailbox the request was sent as: another room of the chunk names the
		// next one.
		if p := pr.rooms[url]; p != nil {
			p.unavailable = now.Add(probeUnavailable)
		}
	case f.retryIn > 0:
		wait = f.retryIn
	}
	pr.pauseUntil = laterOf(pr.pauseUntil, now.Add(wait))
	pr.stats.Failures++
	pr.stats.LastError = clipLine("getSchedule: "+describe(res), 300)
	first := pr.failures == 1
	var lost []*room
	for _, r := range s.list {
		p := pr.rooms[r.spec.Mailbox]
		if s.probeLive(r, now) {
			lost = append(lost, r)
		}
		p.failing = true
	}
	for _, r := range lost {
		s.probeLost(r, now)
	}
	s.mu.Unlock()
	if first {
		s.log.Warn("the change probe (getSchedule) failed; rooms poll at their usual intervals meanwhile",
			"err", describe(res), "retry_in", wait.Round(time.Second))
	}
	s.updateHealth() // after probeFailingWarn of failures, the health line says so
	s.signal()
}

// probeLost brings a room's next poll forward to its plain interval when its probe stops
// watching it (under s.mu).
func (s *Syncer) probeLost(r *room, now time.Time) {
	if r.hidx < 0 {
		return // mid-step: its end schedules the next poll at the plain interval
	}
	hot, cold := s.pollIntervals(r, now)
	d := cold
	if s.hot(r, now) {
		d = hot
	}
	if due := laterOf(now.Add(s.jitter(d)), r.notBefore); due.Before(r.due) {
		r.due = due
		s.queue(r)
	}
}

// probeAnswered compares each room's items with its previous probe's and makes the rooms
// that changed poll now.
func (s *Syncer) probeAnswered(j probeJob, rd *probeRead) {
	now := s.clk.Now()
	var changed, baseline []string
	s.mu.Lock()
	pr := s.pr
	pr.failures = 0
	recovered := !pr.failingAt.IsZero()
	pr.failingAt = time.Time{}
	for k, m := range j.rooms {
		p, r, g := pr.rooms[m], s.rooms[m], &rd.got[k]
		if g.bad || !g.present {
			wasLive := s.probeLive(r, now)
			msg := g.msg
			if !g.bad {
				msg = "getSchedule's answer left the room out"
			}
			p.unavailable, p.fp = now.Add(probeUnavailable), nil
			pr.stats.LastError = "getSchedule for " + m + ": " + oneLine(msg)
			if wasLive {
				s.probeLost(r, now)
			}
			continue
		}
		fp := g.fp
		switch {
		case p.fp == nil && r.stepped && !j.hot:
			// The room's first fingerprint (since start, or since getSchedule named an error
			// for it) is the baseline later probes are compared with. Its read may be older
			// than this answer: a change made in between is in the baseline, so no probe
			// will ever see it, and the room, live now, polls at the slow safety net. One
			// poll closes that gap (up to 5 minutes for an edit made in the first minute
			// after a start). A room whose first step has not begun reads after this answer;
			// a hot room polls within 20 s anyway (and a poll here would go before the rooms
			// a cold start has not read yet: hot rooms are taken first).
			baseline = append(baseline, m)
		case p.fp != nil && p.fp.differsWith(fp, &pr.scratch):
			changed = append(changed, m)
			p.recheck = true
			pr.stats.Changes++
		case !j.hot && r.stepped && p.fp.we < readEnd(r, fp):
			// The same gap over the days a cold probe adds to a hot room's few hours (a room
			// hot since the start has no baseline for them). Hot probes slide a few seconds
			// at a time, and hot rooms poll every 20 s: they never count.
			baseline = append(baseline, m)
		}
		p.fp, p.okAt, p.failing, p.details = fp.extended(p.fp), now, false, fp.details
	}
	s.mu.Unlock()
	if recovered {
		s.updateHealth()
	}
	for _, m := range changed {
		s.log.Debug("the change probe saw the room's calendar change; polling it now", "room", m)
		_ = s.SyncNow(m, false)
	}
	for _, m := range baseline {
		s.log.Debug("the change probe's answer is the room's first baseline for part of its window, and its last read may be older; polling it once", "room", m)
		_ = s.SyncNow(m, false)
	}
}

// readEnd is where the room's reads end within fp's window, in unix seconds: the end of its
// cursor's window (a probe's window that has rolled past midnight before the room's own
// roll covers a day the room has not read yet: no poll would read it).
func readEnd(r *room, fp *fingerprint) int64 {
	if r.cur.we.IsZero() { // delegated rooms read calendar views, no delta cursor
		return fp.we
	}
	return min(fp.we, r.cur.we.Unix())
}

// probeRecheck is when a room that finished a round polls next: once more soon when a
// probe-found change made it poll and the round found nothing (under s.mu).
func (s *Syncer) probeRecheck(r *room, changed int, now, due time.Time) time.Time {
	if s.pr == nil {
		return due
	}
	p := s.pr.rooms[r.spec.Mailbox]
	if p == nil || !p.recheck {
		return due
	}
	p.recheck = false
	if changed == 0 {
		return earlierOf(due, now.Add(s.pr.tune.Recheck))
	}
	return due
}

// probeExpected reports whether the budget's projection may count on the probe watching the
// room (under s.mu): it covers the room and has not failed since its last success.
func (s *Syncer) probeExpected(r *room, now time.Time) bool {
	return s.pr != nil && s.probeEligible(r, now) && !s.pr.rooms[r.spec.Mailbox].failing
}

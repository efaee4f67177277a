package graph

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Event kinds the syncer emits (store.Event → recent events and MQTT).
const (
	EventSyncError     = "sync.error"     // a room (or, with no room, the integration) stopped syncing
	EventSyncRecovered = "sync.recovered" // it syncs again
	EventDiagnosis     = "sync.diagnosis" // a room's calendar processing findings changed
)

// step sends the next request of a room's round (and the series masters its page needs),
// writes what came back in one transaction, and schedules the room.
func (s *Syncer) step(ctx context.Context, r *room) {
	s.mu.Lock()
	before := s.healthInputs(r)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		r.running = false
		s.queue(r)
		s.steps--
		changed := s.healthInputs(r) != before
		s.mu.Unlock()
		// The health line is rebuilt from every room; at tens of steps a second that scan was
		// a noticeable part of the steady CPU, so it runs when this step changed what the
		// line says (the scheduler loop also rebuilds it every minute).
		if changed {
			s.updateHealth()
		}
		s.signal()
		select {
		case s.progress <- struct{}{}:
		default:
		}
	}()
	if f := s.gateCheck(s.clk.Now()); f != nil {
		s.failed(ctx, r, *f, 0)
		return
	}
	s.mu.Lock()
	if r.round == nil {
		r.round = s.newRound(r, s.clk.Now())
	}
	rd := r.round
	s.mu.Unlock()

	spec := reqSpec{mailbox: r.spec.Mailbox, kind: kindLink, link: rd.next}
	if rd.next == "" {
		spec.kind, spec.start, spec.end = kindDeltaStart, rd.ws, rd.we
	}
	res := s.disp.do(ctx, spec)
	if ctx.Err() != nil {
		return
	}
	sent := 0
	if res.sent {
		sent = 1
	}
	s.tokenOutcome(res)
	if !res.ok() {
		s.failed(ctx, r, classify(res, r.spec.Mailbox, s.in.ClientID), sent)
		return
	}
	pg, err := parsePage(res.body)
	if err != nil {
		s.failed(ctx, r, failure{status: store.RoomTransient, code: "garbage", retryAfter: -1,
			detail: "Graph sent an unreadable delta page (" + oneLine(err.Error()) + "); retrying"}, sent)
		return
	}
	masters, n, f := s.fetchMasters(ctx, r, rd, pg)
	sent += n
	if ctx.Err() != nil {
		return
	}
	if f != nil {
		s.failed(ctx, r, *f, sent)
		return
	}
	if err := s.apply(ctx, r, rd, pg, masters, sent); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Error("cannot write calendar sync results", "room", r.spec.Mailbox, "err", err)
		s.failed(ctx, r, failure{status: store.RoomTransient, code: "store", retryAfter: -1,
			detail: "cannot write to the store: " + oneLine(err.Error())}, sent)
	}
}

// newRound starts the room's next round: full (no delta state, the window rolled, a 410, or
// asked for) or incremental from the stored link (under s.mu).
func (s *Syncer) newRound(r *room, now time.Time) *round {
	if s.needsFull(r, now) {
		ws, we := window(r, now)
		r.forceFull = false
		return &round{full: true, ws: ws, we: we, seen: map[string]bool{}, refetched: map[string]bool{}}
	}
	link := r.state.DeltaLink
	if r.state.NextLink != "" { // a round interrupted by a restart goes on where it was
		link = r.state.NextLink
	}
	return &round{next: link, ws: r.state.WindowStart, we: r.state.WindowEnd, refetched: map[string]bool{}}
}

// fetchMasters gets the series masters a page's occurrence stubs need: those not stored yet,
// and those whose occurrences changed (a series edit shows as changed stubs), once per round.
// At most 4 go at once, so the room never has more than 4 requests in flight.
func (s *Syncer) fetchMasters(ctx context.Context, r *room, rd *round, pg page) (map[string]doc, int, *failure) {
	mailbox := r.spec.Mailbox
	stubs := map[string][]item{}
	var ids []string
	for _, it := range pg.items {
		if it.stub() && !it.removed && it.masterID != "" {
			stubs[it.masterID] = append(stubs[it.masterID], it)
			ids = append(ids, it.id)
		}
	}
	if len(stubs) == 0 {
		return nil, 0, nil
	}
	storeFailure := func(err error) *failure {
		return &failure{status: store.RoomTransient, code: "store", retryAfter: -1, detail: "cannot read the store: " + oneLine(err.Error())}
	}
	etags, err := s.st.EventETags(ctx, mailbox, ids)
	if err != nil {
		return nil, 0, storeFailure(err)
	}
	var need []string
	for mid, its := range stubs {
		if rd.refetched[mid] {
			continue
		}
		changed := false
		for _, it := range its {
			if tag, ok := etags[it.id]; !ok || tag != it.etag {
				changed = true
				break
			}
		}
		if !changed {
			_, ok, err := s.st.Master(ctx, mailbox, mid)
			if err != nil {
				return nil, 0, storeFailure(err)
			}
			if ok {
				continue
			}
		}
		need = append(need, mid)
	}
	sort.Strings(need)
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		out       = map[string]doc{}
		sent      int
		firstFail *failure
	)
	slots := make(chan struct{}, 4) // with the page answered, the room has nothing else in flight
	for _, mid := range need {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			res := s.disp.do(ctx, reqSpec{kind: kindMaster, mailbox: mailbox, eventID: mid})
			s.tokenOutcome(res)
			mu.Lock()
			defer mu.Unlock()
			if res.sent {
				sent++
			}
			var f *failure
			switch {
			case res.ok():
				d, err := parseDoc(res.body)
				if err != nil {
					f = &failure{status: store.RoomTransient, code: "garbage", retryAfter: -1, detail: "Graph sent an unreadable series master; retrying"}
				} else {
					out[mid] = d
				}
			case res.err == nil && res.status == 404 && res.code == "ErrorItemNotFound":
				out[mid] = nil // the series is gone; its occurrences go with the next round
			default:
				c := classify(res, mailbox, s.in.ClientID)
				f = &c
			}
			if f != nil && firstFail == nil {
				firstFail = f
			}
		})
	}
	wg.Wait()
	if firstFail != nil {
		return nil, sent, firstFail
	}
	for mid := range out {
		rd.refetched[mid] = true
	}
	return out, sent, nil
}

// apply writes a page in one transaction: series masters (refilling stored occurrences when a
// master changed), removals, merged updates and filled occurrences, the sweep that ends a full
// round, the room's state and the request count.
func (s *Syncer) apply(ctx context.Context, r *room, rd *round, pg page, fetched map[string]doc, sent int) error {
	mailbox := r.spec.Mailbox
	now := s.clk.Now()
	s.mu.Lock()
	st := r.state
	ev, emitted := s.transition(r, store.RoomOK, nil)
	if ev == nil && len(s.gateEvents) == 0 && unchangedPoll(st, rd, pg, fetched, s.name) {
		// Nothing to write now: the deltaLink, times and count go with the next flushPolls.
		st.DeltaLink, st.LastAttempt, st.LastSuccess = pg.deltaLink, now, now
		s.polls[mailbox] = store.RoomPoll{Integration: s.name, DeltaLink: pg.deltaLink, At: now}
		if sent > 0 {
			s.unsaved[counterKey(s.name, now)] += int64(sent)
		}
		r.state, r.emitted, r.failures, r.lastCode, r.round = st, emitted, 0, "", nil
		r.due = s.nextPoll(r, now)
		s.mu.Unlock()
		return nil
	}
	// This write holds the room's whole state, newer than a pending unchanged poll.
	delete(s.polls, mailbox)
	extra := s.takeGateEvents()
	s.mu.Unlock()
	changed := 0
	err := s.write(ctx, func(tx *store.Tx) error {
		changed = 0
		gone := map[string]bool{}
		for mid, m := range fetched {
			if m == nil {
				gone[mid] = true
				continue
			}
			_, oldCK, had, err := tx.MasterJSON(mailbox, mid)
			if err != nil {
				return err
			}
			m = withoutNulls(m)
			if err := tx.PutMaster(mailbox, calendar.Event{ID: mid, ChangeKey: m.str("changeKey")}, m.encode()); err != nil {
				return err
			}
			if had && oldCK == m.str("changeKey") {
				continue
			}
			occ, err := tx.SeriesEvents(mailbox, mid)
			if err != nil {
				return err
			}
			for _, data := range occ {
				stored, err := parseDoc(data)
				if err != nil {
					continue
				}
				n, err := s.putEvent(tx, mailbox, fillOccurrence(m, stubOf(stored)), data)
				if err != nil {
					return err
				}
				changed += n
			}
		}
		for _, it := range pg.items {
			if it.removed {
				ok, err := tx.DeleteEvent(mailbox, it.id)
				if err != nil {
					return err
				}
				if ok {
					changed++
				}
				if rd.full {
					delete(rd.seen, it.id)
				}
				continue
			}
			stored, had, err := tx.EventJSON(mailbox, it.id)
			if err != nil {
				return err
			}
			var d doc
			switch {
			case it.stub():
				if gone[it.masterID] {
					continue
				}
				m := fetched[it.masterID]
				if m == nil {
					data, _, ok, err := tx.MasterJSON(mailbox, it.masterID)
					if err != nil {
						return err
					}
					if !ok {
						s.log.Warn("occurrence without its series master; skipped", "room", mailbox, "id", it.id)
						continue
					}
					if m, err = parseDoc(data); err != nil {
						continue
					}
				}
				d = fillOccurrence(m, it.doc)
			case had && !rd.full:
				old, err := parseDoc(stored)
				if err != nil {
					old = doc{}
				}
				d = mergeUpdate(old, it.doc)
			default:
				d = withoutNulls(it.doc)
			}
			if !had {
				stored = nil
			}
			n, err := s.putEvent(tx, mailbox, d, stored)
			if err != nil {
				return err
			}
			changed += n
			if rd.full {
				rd.seen[it.id] = true
			}
		}
		if pg.deltaLink != "" {
			if rd.full {
				n, err := tx.SweepEvents(mailbox, rd.seen)
				if err != nil {
					return err
				}
				changed += n
				st.LastFullSync = now
			}
			st.DeltaLink, st.NextLink = pg.deltaLink, ""
			st.WindowStart, st.WindowEnd = rd.ws, rd.we
			st.LastSuccess = now
		} else if !rd.full {
			st.NextLink = pg.nextLink
		}
		st.Integration, st.LastAttempt, st.RetryAfter = s.name, now, time.Time{}
		st.Status, st.StatusDetail = store.RoomOK, ""
		if err := tx.PutRoom(st); err != nil {
			return err
		}
		if sent > 0 {
			if _, err := tx.Add(counterKey(s.name, now), int64(sent)); err != nil {
				return err
			}
		}
		for _, e := range append(extra, ev) {
			if e != nil {
				if err := tx.Emit(*e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		s.returnGateEvents(extra)
		s.mu.Unlock()
		return err
	}
	done := pg.deltaLink != ""
	s.mu.Lock()
	r.state, r.emitted, r.failures, r.lastCode = st, emitted, 0, ""
	rd.changed += changed
	if done {
		r.round = nil
	} else {
		rd.next, r.due = pg.nextLink, now // the rest of the round, at once
	}
	s.mu.Unlock()
	if done {
		if rd.full || rd.changed > 0 {
			s.refresh(ctx, r)
		}
		s.mu.Lock()
		r.due = s.nextPoll(r, s.clk.Now())
		s.mu.Unlock()
		s.log.Debug("round done", "room", mailbox, "full", rd.full, "changed", rd.changed)
	}
	return nil
}

// unchangedPoll reports whether a page is the whole answer to a poll of the stored deltaLink
// that changed nothing the store holds but the deltaLink and the times: no items, no series
// master, the room already ok with no next page, detail or Retry-After to clear.
func unchangedPoll(st store.RoomState, rd *round, pg page, fetched map[string]doc, integration string) bool {
	return !rd.full && rd.changed == 0 && pg.deltaLink != "" && len(pg.items) == 0 && len(fetched) == 0 &&
		st.DeltaLink != "" && st.NextLink == "" && st.Status == store.RoomOK && st.StatusDetail == "" &&
		st.RetryAfter.IsZero() && st.Integration == integration &&
		st.WindowStart.Equal(rd.ws) && st.WindowEnd.Equal(rd.we)
}

// putEvent stores an event unless the store already holds exactly it (so a daily full round
// that finds nothing new changes nothing downstream). It returns 1 when it wrote.
func (s *Syncer) putEvent(tx *store.Tx, mailbox string, d doc, stored []byte) (int, error) {
	data := d.encode()
	if stored != nil && bytes.Equal(stored, data) {
		return 0, nil
	}
	ev, err := d.event()
	if err != nil {
		s.log.Warn("skipping an event Graph sent without usable times", "room", mailbox, "id", d.str("id"), "err", err)
		return 0, nil
	}
	if err := tx.PutEvent(mailbox, ev, data); err != nil {
		return 0, err
	}
	return 1, nil
}

// refresh rereads a room's meeting times (for the scheduler) and its diagnosis after a round
// that changed something.
func (s *Syncer) refresh(ctx context.Context, r *room) {
	mailbox := r.spec.Mailbox
	now := s.clk.Now()
	var spans []store.Span
	var err error
	s.db(ctx, func() { spans, err = s.st.EventSpans(ctx, mailbox, now.Add(-time.Hour), now.Add(48*time.Hour)) })
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot read meeting times", "room", mailbox, "err", err)
		}
		return
	}
	s.mu.Lock()
	r.spans = spans
	// The day's plan depends on the meeting times: redo it soon.
	s.budget.nextPlan = minTime(s.budget.nextPlan, now.Add(5*time.Second))
	s.mu.Unlock()
	var events []calendar.Event
	s.db(ctx, func() { events, err = s.st.Events(ctx, mailbox) })
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot read events for the diagnosis", "room", mailbox, "err", err)
		}
		return
	}
	findings := Diagnose(mailbox, events)
	s.mu.Lock()
	old := r.state.Diagnosis
	s.mu.Unlock()
	if sameFindings(findings, old) {
		return
	}
	oldFlags := map[string]bool{}
	for _, f := range old {
		oldFlags[f.Flag] = true
	}
	var fresh []store.Finding
	for _, f := range findings {
		if !oldFlags[f.Flag] {
			fresh = append(fresh, f)
		}
	}
	var saved store.RoomState
	err = s.write(ctx, func(tx *store.Tx) error {
		st, ok, err := tx.Room(mailbox)
		if err != nil || !ok {
			return err
		}
		st.Diagnosis = findings
		if err := tx.PutRoom(st); err != nil {
			return err
		}
		saved = st
		for _, f := range fresh {
			if err := tx.Emit(store.Event{Kind: EventDiagnosis, Level: "warn", Room: mailbox,
				Message: mailbox + ": " + f.Detail, Data: map[string]any{"flag": f.Flag, "fix": f.Fix, "integration": s.name}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot save the diagnosis", "room", mailbox, "err", err)
		}
		return
	}
	s.mu.Lock()
	r.state.Diagnosis = saved.Diagnosis
	s.mu.Unlock()
	for _, f := range fresh {
		s.log.Warn("room calendar processing needs attention", "room", mailbox, "flag", f.Flag, "fix", f.Fix)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// failed records a failed request: the room's status and next attempt, with the request
// count, in one write (none when nothing changed and nothing was sent).
func (s *Syncer) failed(ctx context.Context, r *room, f failure, sent int) {
	now := s.clk.Now()
	mailbox := r.spec.Mailbox
	s.mu.Lock()
	switch {
	case f.code == "budget":
		r.due = dayStart(now).AddDate(0, 0, 1)
		s.mu.Unlock()
		return
	case f.resync:
		r.round, r.forceFull, r.due = nil, true, now
		st, emitted := r.state, r.emitted
		st.DeltaLink, st.NextLink, st.LastAttempt = "", "", now
		s.mu.Unlock()
		s.log.Info("delta state expired; resyncing the room in full", "room", mailbox, "code", f.code)
		s.writeState(ctx, r, st, nil, emitted, sent)
		return
	case f.badToken && (f.gen < s.api.generation() || f.gen <= s.refreshedFrom || now.Sub(s.lastRefresh) > 5*time.Minute):
		// Graph rejected the token: get a new one once (or use the one another room already
		// got, or is getting) before calling it a failure.
		refresh := f.gen >= s.api.generation() && f.gen > s.refreshedFrom
		if refresh {
			s.lastRefresh, s.refreshedFrom = now, f.gen
		}
		r.due = now
		st, emitted := r.state, r.emitted
		s.mu.Unlock()
		if refresh {
			s.log.Info("Graph rejected the access token; fetching a new one", "room", mailbox, "code", f.code)
			if err := s.api.refresh(); err != nil {
				s.log.Error("cannot rebuild the Graph client", "err", err)
			}
		}
		if sent > 0 {
			s.writeState(ctx, r, st, nil, emitted, sent)
		}
		return
	}
	r.failures++
	delay := f.retryIn
	switch {
	case f.retryAfter >= 0:
		// Never before Retry-After: due exactly then, plus a little spread. An operator's
		// sync request waits for it too (SyncNow).
		delay = max(delay, f.retryAfter+time.Duration(s.rng.Float64()*s.tune.Jitter*float64(f.retryAfter))+100*time.Millisecond)
		r.notBefore = now.Add(f.retryAfter + 100*time.Millisecond)
	case delay == 0:
		delay = s.backoff(r.failures)
	}
	if f.token && s.gate.until.After(now) {
		delay = s.gate.until.Sub(now)
	}
	r.due = now.Add(delay)
	st := r.state
	status := f.status
	if status == "" {
		status = st.Status
	}
	ev, emitted := s.transition(r, status, &f)
	changed := st.Status != status || st.StatusDetail != f.detail
	st.Status, st.StatusDetail, st.LastAttempt, st.Integration = status, f.detail, now, s.name
	st.RetryAfter = time.Time{}
	if status == store.RoomThrottled {
		st.RetryAfter = r.due // a restart waits for it too
	}
	r.lastCode = f.code
	var extra []*store.Event
	if f.token {
		extra = s.takeGateEvents()
	}
	s.mu.Unlock()
	if changed {
		level := slogLevel(status)
		s.log.Log(ctx, level, "room not syncing", "room", mailbox, "status", status, "code", f.code, "detail", f.detail, "retry_in", delay.Round(time.Second))
	}
	if !changed && sent == 0 && ev == nil && len(extra) == 0 {
		return
	}
	if !s.writeState(ctx, r, st, append(extra, ev), emitted, sent) && len(extra) > 0 {
		s.mu.Lock()
		s.returnGateEvents(extra)
		s.mu.Unlock()
	}
}

// writeState saves a room's state with events and the request count; it reports success.
func (s *Syncer) writeState(ctx context.Context, r *room, st store.RoomState, events []*store.Event, emitted bool, sent int) bool {
	now := s.clk.Now()
	s.mu.Lock()
	delete(s.polls, r.spec.Mailbox) // st is the room's whole state, newer than a pending poll
	s.mu.Unlock()
	err := s.write(ctx, func(tx *store.Tx) error {
		if err := tx.PutRoom(st); err != nil {
			return err
		}
		if sent > 0 {
			if _, err := tx.Add(counterKey(s.name, now), int64(sent)); err != nil {
				return err
			}
		}
		for _, e := range events {
			if e != nil {
				if err := tx.Emit(*e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("cannot save the room's sync state", "room", r.spec.Mailbox, "err", err)
		}
		return false
	}
	s.mu.Lock()
	r.state, r.emitted = st, emitted
	s.mu.Unlock()
	return true
}

// transition decides whether a room's new status is worth an event: conditions a person must
// fix at once, passing ones (throttling, outages) only when they last, and the recovery after
// any event (under s.mu). It returns the event and whether an error event is now out.
func (s *Syncer) transition(r *room, status string, f *failure) (*store.Event, bool) {
	mailbox := r.spec.Mailbox
	if status == store.RoomOK {
		if r.emitted {
			return &store.Event{Kind: EventSyncRecovered, Level: "info", Room: mailbox, Message: mailbox + ": calendar sync works again",
				Data: map[string]any{"integration": s.name}}, false
		}
		return nil, false
	}
	if f == nil || f.token {
		return nil, r.emitted // token trouble is reported once for the integration
	}
	mk := func(level string) *store.Event {
		return &store.Event{Kind: EventSyncError, Level: level, Room: mailbox, Message: mailbox + ": " + f.detail,
			Data: map[string]any{"status": status, "code": f.code, "integration": s.name}}
	}
	switch status {
	case store.RoomThrottled, store.RoomTransient:
		if !r.emitted && r.failures >= 3 {
			return mk("warn"), true
		}
		return nil, r.emitted
	}
	if !r.emitted || status != r.state.Status || f.code != r.lastCode {
		return mk("error"), true
	}
	return nil, true
}

// gateCheck holds a room back while the token endpoint is refusing; after the wait, one room
// goes ahead as the probe (under its own lock).
func (s *Syncer) gateCheck(now time.Time) *failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gate
	if g.fail == nil {
		return nil
	}
	f := *g.fail
	f.retryAfter = -1
	switch {
	case now.Before(g.until):
		f.retryIn = g.until.Sub(now)
	case g.probing:
		f.retryIn = 2 * time.Second
	default:
		g.probing = true
		return nil
	}
	return &f // still a token failure: no room event (the integration has one)
}

// tokenOutcome opens the gate when the token endpoint refused and closes it when Graph
// answered.
func (s *Syncer) tokenOutcome(res result) {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gate
	if res.err != nil {
		f := classifyError(res.err)
		if !f.token {
			return
		}
		g.backoff = min(max(30*time.Second, 2*g.backoff), 15*time.Minute)
		g.until, g.probing = now.Add(g.backoff), false
		if g.fail == nil || g.fail.code != f.code {
			s.gateEvents = append(s.gateEvents, &store.Event{Kind: EventSyncError, Level: "error",
				Message: s.component + ": " + f.detail, Data: map[string]any{"integration": s.name, "code": f.code}})
			s.log.Error("cannot get a Graph access token", "code", f.code, "detail", f.detail, "retry_in", g.backoff)
		}
		g.fail = &f
		return
	}
	if res.sent && g.fail != nil {
		s.gateEvents = append(s.gateEvents, &store.Event{Kind: EventSyncRecovered, Level: "info",
			Message: s.component + ": access token obtained again", Data: map[string]any{"integration": s.name}})
		s.log.Info("Graph access token obtained again")
		*g = tokenGate{}
	}
}

// takeGateEvents hands the integration's pending events to the next write (under s.mu).
func (s *Syncer) takeGateEvents() []*store.Event {
	ev := s.gateEvents
	s.gateEvents = nil
	return ev
}

// returnGateEvents puts them back when that write failed (under s.mu).
func (s *Syncer) returnGateEvents(ev []*store.Event) {
	s.gateEvents = append(ev, s.gateEvents...)
}

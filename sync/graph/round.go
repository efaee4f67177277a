package graph

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// A room's step: the next request of its delta round (with the series masters the page
// needs) and the page applied to the store in one transaction.

// Event kinds the syncer emits (store.Event → recent events and MQTT).
const (
	EventSyncError     = "sync.error"     // a room (or, with no room, the integration) stopped syncing
	EventSyncRecovered = "sync.recovered" // it syncs again
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
		if r.again { // SyncNow during the step (graph.go)
			r.again = false
			if now := s.clk.Now(); r.due.After(now) {
				r.due = now
				if r.notBefore.After(now) {
					r.due = r.notBefore
				}
			}
		}
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
	if !s.takeAnswerSlot(ctx) {
		return
	}
	defer s.freeAnswerSlot()
	s.mu.Lock()
	routine := !r.routineDue.IsZero() && r.due.Equal(r.routineDue)
	if r.round == nil {
		r.round = s.newRound(r, s.clk.Now())
	}
	rd := r.round
	s.mu.Unlock()

	spec := reqSpec{mailbox: r.spec.Mailbox, kind: kindLink, link: rd.next}
	if rd.next == "" {
		spec.kind, spec.start, spec.end = kindDeltaStart, rd.ws, rd.we
	}
	if s.in.Delegated() {
		spec = viewSpec(r.spec.Mailbox, rd)
	}
	// Only an incremental round's first request: a full round's and a round's next pages are
	// wanted now.
	spec.linger = routine && !rd.full && spec.kind == kindLink
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
	pg, err := s.readPage(rd, res.body, res.checked)
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
	if s.needsFull(r, now) || s.in.Delegated() { // delegated rounds are all full (delegated_view.go)
		ws, we := window(r, now)
		r.forceFull = false
		return &round{full: true, ws: ws, we: we, seen: map[string]bool{}, refetched: map[string]bool{}}
	}
	link := r.cur.deltaLink
	if r.cur.nextLink != "" { // a round interrupted by a restart goes on where it was
		link = r.cur.nextLink
	}
	return &round{next: link, ws: r.cur.ws, we: r.cur.we, refetched: map[string]bool{}}
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
	have, err := s.st.EventData(ctx, mailbox, ids)
	if err != nil {
		return nil, 0, storeFailure(err)
	}
	etags := make(map[string]string, len(have))
	for id, data := range have {
		etags[id] = etagOf(data)
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
			_, ok, err := stored.Master(ctx, s.st, mailbox, mid)
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
	st, cur := r.state, r.cur
	ev, emitted := s.transition(r, store.RoomOK, nil)
	if ev == nil && len(s.gateEvents) == 0 && unchangedPoll(st, cur, rd, pg, fetched, s.name) {
		// Nothing to write now: the deltaLink, times and count go with the next flushPolls.
		st.LastAttempt, st.LastSuccess = now, now
		cur.deltaLink = pg.deltaLink
		s.polls[mailbox] = store.RoomPoll{Integration: s.name, Cursor: cur.encode(), At: now}
		if sent > 0 {
			s.unsaved[counterKey(s.name, now)] += int64(sent)
		}
		r.state, r.cur, r.emitted, r.failures, r.lastCode, r.round = st, cur, emitted, 0, "", nil
		r.routineDue = s.nextPoll(r, now)
		r.due = s.probeRecheck(r, 0, now, r.routineDue) // a recheck is no routine poll
		s.mu.Unlock()
		return nil
	}
	// This write holds the room's whole state, newer than a pending unchanged poll.
	delete(s.polls, mailbox)
	extra := s.takeGateEvents()
	s.mu.Unlock()
	// Where the room's sync is after this page: a complete round leaves its deltaLink and
	// window; an incremental round in progress its nextLink (a full one is started over).
	switch {
	case pg.deltaLink != "":
		cur = cursor{deltaLink: pg.deltaLink, ws: rd.ws, we: rd.we}
	case !rd.full:
		cur.nextLink = pg.nextLink
	}
	pre := prepareFull(rd, pg)
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
			if err := stored.PutMaster(tx, mailbox, calendar.Event{ID: mid, ChangeKey: m.str("changeKey")}, m.encode()); err != nil {
				return err
			}
			if had && oldCK == m.str("changeKey") {
				continue
			}
			occ, err := stored.SeriesEvents(tx, mailbox, mid)
			if err != nil {
				return err
			}
			for _, data := range occ {
				occDoc, err := validDoc(data)
				if err != nil {
					continue
				}
				n, err := s.putEvent(tx, mailbox, fillOccurrence(m, stubOf(occDoc)), data)
				if err != nil {
					return err
				}
				changed += n
			}
		}
		// A room's first full round (a cold start's every room) finds nothing stored: its
		// events are then stored without looking each one up first.
		none := false
		if rd.full {
			has, err := tx.HasEvents(mailbox)
			if err != nil {
				return err
			}
			none = !has
		}
		var plain plainEvent // one event's members at a time (plainevent.go)
		for i, it := range pg.items {
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
			var prev []byte
			had := false
			if !none {
				var err error
				if prev, had, err = tx.EventJSON(mailbox, it.id); err != nil {
					return err
				}
			}
			var d doc
			var data []byte // set instead of d by the plain path
			var event func() (calendar.Event, error)
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
					if m, err = validDoc(data); err != nil {
						continue
					}
				}
				d = fillOccurrence(m, it.document())
			case had && !rd.full:
				old, err := validDoc(prev)
				if err != nil {
					old = doc{}
				}
				d = mergeUpdate(old, it.document())
			default:
				if i < len(pre) && pre[i] != nil { // read and encoded before the write
					p := pre[i]
					data, event = p.data, p.event
					break
				}
				if it.doc == nil { // a page of Graph's JSON, not one built as documents
					if ev, ok := readPlainEvent(it.raw, plain); ok {
						plain = ev // its space is the next event's
						data, event = ev.encode(), ev.event
						break
					}
				}
				d = withoutNulls(it.document())
			}
			if data == nil {
				data, event = d.encode(), d.event
			}
			if !had {
				prev = nil
			}
			n, err := s.putData(tx, mailbox, data, event, prev)
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
			st.LastSuccess = now
		}
		st.Integration, st.LastAttempt, st.RetryAfter = s.name, now, time.Time{}
		st.Status, st.StatusDetail = store.RoomOK, ""
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		if err := tx.PutCursor(mailbox, s.name, cur.encode()); err != nil {
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
	r.state, r.cur, r.emitted, r.failures, r.lastCode = st, cur, emitted, 0, ""
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
		now := s.clk.Now()
		r.routineDue = s.nextPoll(r, now)
		r.due = s.probeRecheck(r, rd.changed, now, r.routineDue) // a recheck is no routine poll
		s.mu.Unlock()
		s.log.Debug("round done", "room", mailbox, "full", rd.full, "changed", rd.changed)
	}
	return nil
}

// preparedEvent is an event of a full round, read and encoded before its write.
type preparedEvent struct {
	data []byte
	ev   calendar.Event
	err  error
}

func (p *preparedEvent) event() (calendar.Event, error) { return p.ev, p.err }

// prepareFull reads and encodes a full round's plain events (what a cold start stores) on
// the room's own goroutine, before its write: the store's one writer, which every write of
// the agent waits for, then only inserts them. A full round stores every event it lists as
// sent (a stored copy is never merged into), so nothing the write reads changes them. The
// rest (series occurrences, events the plain path cannot read) is done in the write, as
// before. It returns one entry an item, nil where the write does the work; nil when the
// round is not a full one.
func prepareFull(rd *round, pg page) []*preparedEvent {
	if !rd.full {
		return nil
	}
	out := make([]*preparedEvent, len(pg.items))
	var plain plainEvent
	for i, it := range pg.items {
		if it.removed || it.stub() || it.doc != nil {
			continue
		}
		ev, ok := readPlainEvent(it.raw, plain)
		if !ok {
			continue
		}
		plain = ev           // its space is the next event's
		e, err := ev.event() // before the next event reuses the space
		out[i] = &preparedEvent{data: ev.encode(), ev: e, err: err}
	}
	return out
}

// unchangedPoll reports whether a page is the whole answer to a poll of the stored deltaLink
// that changed nothing the store holds but the deltaLink and the times: no items, no series
// master, the room already ok with no next page, detail or Retry-After to clear.
func unchangedPoll(st store.RoomState, cur cursor, rd *round, pg page, fetched map[string]doc, integration string) bool {
	return !rd.full && rd.changed == 0 && pg.deltaLink != "" && len(pg.items) == 0 && len(fetched) == 0 &&
		cur.deltaLink != "" && cur.nextLink == "" && st.Status == store.RoomOK && st.StatusDetail == "" &&
		st.RetryAfter.IsZero() && st.Integration == integration &&
		cur.ws.Equal(rd.ws) && cur.we.Equal(rd.we)
}

// putEvent stores an event unless the store already holds exactly it (so a daily full round
// that finds nothing new changes nothing downstream). It returns 1 when it wrote.
func (s *Syncer) putEvent(tx *store.Tx, mailbox string, d doc, prev []byte) (int, error) {
	return s.putData(tx, mailbox, d.encode(), d.event, prev)
}

// putData is putEvent for an event already encoded (data), whose index fields event decodes.
func (s *Syncer) putData(tx *store.Tx, mailbox string, data []byte, event func() (calendar.Event, error), prev []byte) (int, error) {
	if prev != nil && bytes.Equal(prev, data) {
		return 0, nil
	}
	ev, err := event()
	if err != nil {
		s.log.Warn("skipping an event Graph sent without usable times", "room", mailbox, "id", ev.ID, "err", err)
		return 0, nil
	}
	if err := stored.PutEvent(tx, mailbox, ev, data); err != nil {
		return 0, err
	}
	return 1, nil
}

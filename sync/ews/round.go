package ews

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// A room's step: probe with SyncFolderItems, and when something changed (or the window must
// be read anyway) list the window with CalendarView, read what the store lacks with GetItem
// and write it all in one transaction.

// getBatch is how many items one GetItem asks for (a small batch keeps Exchange within its
// time limit: ErrorTimeoutExpired asks for smaller ones, research §A2).
const getBatch = 25

// Event kinds the syncer emits (the Graph source's words).
const (
	EventSyncError     = "sync.error"
	EventSyncRecovered = "sync.recovered"
)

// step runs one sync of a room and schedules its next.
func (s *Syncer) step(ctx context.Context, r *room) {
	defer func() {
		s.mu.Lock()
		r.running = false
		if r.woken {
			r.woken = false
			if at := s.clk.Now().Add(s.tune.StreamDebounce); at.Before(r.due) && !at.Before(r.notBefore) {
				r.due = at
			}
		}
		s.due.Queue(r)
		s.steps--
		s.mu.Unlock()
		s.updateHealth()
		s.signal()
		s.progressed()
	}()
	c, f := s.client(ctx)
	if f != nil {
		s.failed(ctx, r, *f)
		return
	}
	if err := s.sync(ctx, c, r); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.failed(ctx, r, classify(err, r.spec.Mailbox, s.in))
	}
}

// sync is one round of a room; an error is the request (or write) that failed.
func (s *Syncer) sync(ctx context.Context, c *client, r *room) error {
	mailbox := r.spec.Mailbox
	now := s.clk.Now()
	s.mu.Lock()
	cur, full := r.cur, r.forceFull
	view := s.needsView(r, now)
	dirty := r.dirty
	r.dirty = false
	s.mu.Unlock()
	restore := func() {
		s.mu.Lock()
		r.dirty = r.dirty || dirty
		s.mu.Unlock()
	}
	state := cur.state
	if full {
		state = ""
	}
	changes := 0
	for range 100 { // 100 × 512 changes: far more than a room calendar holds
		ch, err := c.syncFolderItems(ctx, mailbox, state)
		if err != nil {
			restore()
			var e *ewsError
			if errors.As(err, &e) && e.code == "ErrorInvalidSyncStateData" && state != "" {
				s.log.Info("Exchange no longer accepts the room's sync state; reading the room in full", "room", mailbox)
				s.mu.Lock()
				r.cur.state, r.forceFull = "", true
				s.mu.Unlock()
				state = ""
				continue
			}
			return err
		}
		state, changes = ch.state, changes+ch.changes
		if ch.last {
			break
		}
	}
	if changes == 0 && !view {
		return s.unchanged(ctx, r, cursor{state: state, ws: cur.ws, we: cur.we})
	}
	ws, we := poll.Window(r.spec.UpcomingDays, now)
	if err := s.read(ctx, c, r, cursor{state: state, ws: ws, we: we}); err != nil {
		restore()
		return err
	}
	return nil
}

// unchanged records a probe that found nothing. A room whose state does not change otherwise
// (ok before, ok now) only moves its SyncState and times: that is batched with other rooms'
// (flush, every pollFlush) instead of a transaction per poll; a change of status is written
// at once.
func (s *Syncer) unchanged(ctx context.Context, r *room, cur cursor) error {
	now := s.clk.Now()
	s.mu.Lock()
	st := r.state
	ev, emitted := s.transition(r, store.RoomOK, nil)
	s.mu.Unlock()
	ok := st.Status == store.RoomOK && st.StatusDetail == "" && st.RetryAfter.IsZero() && st.Integration == s.name
	st.LastAttempt, st.LastSuccess, st.Integration = now, now, s.name
	st.Status, st.StatusDetail, st.RetryAfter = store.RoomOK, "", time.Time{}
	if ok && ev == nil {
		s.pending.Poll(r.spec.Mailbox, store.RoomPoll{Integration: s.name, Cursor: cur.encode(), At: now})
	} else if err := s.writeRoom(ctx, r, func(tx *store.Tx, key string, n int64) error {
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		if err := tx.PutCursor(r.spec.Mailbox, s.name, cur.encode()); err != nil {
			return err
		}
		return s.writeCount(tx, key, n, ev)
	}); err != nil {
		return storeErr(err)
	}
	s.mu.Lock()
	r.state, r.cur, r.emitted, r.failures, r.lastCode = st, cur, emitted, 0, ""
	r.due = s.nextPoll(r, now)
	s.mu.Unlock()
	return nil
}

// pollFlush is how often unchanged polls' progress is written. A kill -9 loses at most this
// much of it: the rooms' times go back by up to this much, each probes again from the
// SyncState it had up to this long before (the newer probes found nothing, so probing from
// there finds the same), and up to this long of requests is missing from the day's count.
const pollFlush = 10 * time.Second

// writeRoom writes a room's full state (fn gets the request count to add). It drops the
// room's unsaved poll first, and runs beside other rooms' writes but never beside a flush, so
// a batch taken before this write is written before it, never after.
func (s *Syncer) writeRoom(ctx context.Context, r *room, fn func(tx *store.Tx, key string, n int64) error) error {
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	s.pending.Drop(r.spec.Mailbox)
	s.mu.Lock()
	key, n := s.takeCount()
	s.mu.Unlock()
	err := s.st.Write(ctx, func(tx *store.Tx) error { return fn(tx, key, n) })
	if err != nil {
		s.returnCount(key, n)
	}
	return err
}

// flush writes the unchanged polls' SyncStates and times and the requests counted since the
// last write, in one transaction; on failure everything is kept for the next flush.
func (s *Syncer) flush(ctx context.Context) {
	defer s.progressed()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	polls := s.pending.Take()
	s.mu.Lock()
	key, n := s.takeCount()
	s.mu.Unlock()
	if len(polls) == 0 && n == 0 {
		return
	}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.TouchRooms(polls); err != nil {
			return err
		}
		return s.writeCount(tx, key, n)
	})
	if err != nil {
		s.pending.Return(polls)
		s.returnCount(key, n)
		if ctx.Err() == nil {
			s.log.Warn("cannot save the progress of calendar polls; retrying", "err", err)
		}
	}
}

func (s *Syncer) writeCount(tx *store.Tx, key string, n int64, events ...*store.Event) error {
	if n > 0 && key != "" {
		if _, err := tx.Add(key, n); err != nil {
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
}

func (s *Syncer) returnCount(key string, n int64) {
	s.mu.Lock()
	if key == s.unsavedK {
		s.unsaved += n
	}
	s.mu.Unlock()
}

// storedEvent is what the store holds of an event the view lists.
type storedEvent struct {
	changeKey string
	uid       string
	master    string
	data      []byte
}

// read lists the window, fetches what changed and writes the room, within a read slot
// (readbound.go).
func (s *Syncer) read(ctx context.Context, c *client, r *room, cur cursor) error {
	if !s.takeReadSlot(ctx) {
		return ctx.Err()
	}
	changed, err := s.readWrite(ctx, c, r, cur)
	s.freeReadSlot()
	if err != nil {
		return err
	}
	if changed > 0 || len(r.spans) == 0 {
		s.refresh(ctx, r)
	}
	s.mu.Lock()
	r.due = s.nextPoll(r, s.clk.Now())
	s.mu.Unlock()
	return nil
}

// readWrite is read's requests and write; it returns how many events the write changed.
func (s *Syncer) readWrite(ctx context.Context, c *client, r *room, cur cursor) (int, error) {
	mailbox := r.spec.Mailbox
	items, err := s.view(ctx, c, mailbox, cur.ws, cur.we, 0)
	if err != nil {
		return 0, err
	}
	rows, err := s.st.Events(ctx, mailbox)
	if err != nil {
		return 0, storeErr(err)
	}
	have := map[string]storedEvent{}
	masterOfUID := map[string]string{}
	for _, row := range rows {
		var v struct {
			UID    string `json:"iCalUId"`
			Master string `json:"seriesMasterId"`
		}
		_ = json.Unmarshal(row.Data, &v)
		have[row.ID] = storedEvent{changeKey: row.ChangeKey, uid: v.UID, master: v.Master, data: row.Data}
		if v.UID != "" && v.Master != "" {
			masterOfUID[v.UID] = v.Master
		}
	}
	keep := map[string]bool{}
	var need []getRef
	asked := map[string]bool{}
	for _, it := range items {
		keep[it.ItemID.ID] = true
		if h, ok := have[it.ItemID.ID]; !ok || h.changeKey != it.ItemID.ChangeKey || it.ItemID.ChangeKey == "" {
			need = append(need, getRef{id: it.ItemID.ID})
		}
		// An occurrence or exception of a series the store does not know yet: its master
		// (whose id is the occurrences' seriesMasterId, as in Graph) comes in the same
		// GetItem batches, as a RecurringMasterItemId of this occurrence (the view names the
		// type and UID, so no second round trip is needed for it).
		typ := itemTypes[it.Type]
		if (typ == calendar.TypeOccurrence || typ == calendar.TypeException) && it.UID != "" && !asked[it.UID] {
			if _, ok := masterOfUID[it.UID]; !ok {
				asked[it.UID] = true
				need = append(need, getRef{id: it.ItemID.ID, masterOf: true})
			}
		}
	}
	// A master Exchange will not give (an error for that id alone) leaves its occurrences
	// without seriesMasterId this round: they are complete items in EWS, and a room's
	// meetings never wait for their series (the master is asked for again next read).
	all, err := s.getAll(ctx, c, mailbox, need)
	if err != nil {
		return 0, err
	}
	var fetched, masters []got
	for _, g := range all {
		if g.ref.masterOf {
			masters = append(masters, g)
		} else {
			fetched = append(fetched, g)
		}
	}
	var masterDocs []itemDoc
	for _, m := range masters {
		if m.code != "" && m.code != "ErrorItemNotFound" {
			s.log.Warn("Exchange would not give a series' master; its occurrences are stored without it", "room", mailbox, "code", m.code)
		}
		if m.code == "" {
			masterOfUID[m.item.UID] = m.item.ItemID.ID
		}
	}
	// The items become what the store keeps before the write, not inside it: the store has
	// one writer, and Exchange's decoded answers (and the stored rows they are compared with)
	// are let go before the room waits for it.
	for _, m := range masters {
		if m.code != "" {
			continue
		}
		data, mev, err := eventDoc(m.item, "")
		if err != nil {
			s.log.Warn("skipping a series master without usable times", "room", mailbox, "err", err)
			continue
		}
		masterDocs = append(masterDocs, itemDoc{data: data, ev: mev})
	}
	var docs []itemDoc
	for _, g := range fetched {
		if g.code != "" {
			// Gone since the view (ErrorItemNotFound): it goes with the sweep.
			delete(keep, g.ref.id)
			continue
		}
		data, e, err := eventDoc(g.item, masterOfUID[g.item.UID])
		if err != nil {
			s.log.Warn("skipping an item Exchange sent without usable times", "room", mailbox, "err", err)
			continue
		}
		if h, ok := have[e.ID]; ok && bytes.Equal(h.data, data) {
			continue
		}
		if e.ID != g.ref.id { // an id Exchange rewrote: keep what it says now
			delete(keep, g.ref.id)
			keep[e.ID] = true
		}
		docs = append(docs, itemDoc{data: data, ev: e})
	}
	nItems, nFetched := len(items), len(fetched)
	now := s.clk.Now()
	s.mu.Lock()
	st := r.state
	ev, emitted := s.transition(r, store.RoomOK, nil)
	s.mu.Unlock()
	changed := 0
	err = s.writeRoom(ctx, r, func(tx *store.Tx, key string, n int64) error {
		changed = 0
		for _, m := range masterDocs {
			if err := stored.PutMaster(tx, mailbox, m.ev, m.data); err != nil {
				return err
			}
		}
		for _, d := range docs {
			if err := stored.PutEvent(tx, mailbox, d.ev, d.data); err != nil {
				return err
			}
			changed++
		}
		swept, err := tx.SweepEvents(mailbox, keep)
		if err != nil {
			return err
		}
		changed += swept
		st.Integration, st.LastAttempt, st.LastSuccess, st.LastFullSync = s.name, now, now, now
		st.Status, st.StatusDetail, st.RetryAfter = store.RoomOK, "", time.Time{}
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		if err := tx.PutCursor(mailbox, s.name, cur.encode()); err != nil {
			return err
		}
		return s.writeCount(tx, key, n, ev)
	})
	if err != nil {
		return 0, storeErr(err)
	}
	s.mu.Lock()
	r.state, r.cur, r.emitted, r.failures, r.lastCode, r.forceFull = st, cur, emitted, 0, "", false
	s.mu.Unlock()
	s.log.Debug("room read", "room", mailbox, "items", nItems, "fetched", nFetched, "changed", changed)
	return changed, nil
}

// itemDoc is an item as the store keeps it.
type itemDoc struct {
	data []byte
	ev   calendar.Event
}

// got is a GetItem answer with the ref it answers.
type got struct {
	gotItem
	ref getRef
}

// getAll reads refs in batches; a per-item ErrorItemNotFound is an answer (the item went),
// any other per-item error fails the round, except for a series master (then it is an
// answer too).
func (s *Syncer) getAll(ctx context.Context, c *client, mailbox string, refs []getRef) ([]got, error) {
	var out []got
	for i := 0; i < len(refs); i += getBatch {
		part := refs[i:min(len(refs), i+getBatch)]
		res, err := c.getItems(ctx, mailbox, part)
		if err != nil {
			return nil, err
		}
		for j, g := range res {
			if g.code != "" && g.code != "ErrorItemNotFound" && !part[j].masterOf {
				return nil, g.err
			}
			out = append(out, got{gotItem: g, ref: part[j]})
		}
	}
	return out, nil
}

// maxSplit is how often a window is halved when CalendarView cuts it short: 2^8 parts of a
// 9-day window are under an hour each.
const maxSplit = 8

// view lists the instances of [ws, we). CalendarView cannot page: when Exchange cuts the list
// (more than MaxEntries, or ErrorExceededFindCountLimit), the window is split in halves, and
// instances spanning the split are listed once.
func (s *Syncer) view(ctx context.Context, c *client, mailbox string, ws, we time.Time, depth int) ([]viewItem, error) {
	items, complete, err := c.calendarView(ctx, mailbox, ws, we, s.tune.MaxEntries)
	var e *ewsError
	if err != nil && errors.As(err, &e) && e.code == "ErrorExceededFindCountLimit" {
		err, complete = nil, false
	}
	if err != nil {
		return nil, err
	}
	if complete {
		return items, nil
	}
	if depth >= maxSplit || we.Sub(ws) < 2*time.Minute {
		return nil, &ewsError{op: "FindItem", code: "TooManyItems",
			message: fmt.Sprintf("more than %d calendar entries between %s and %s", s.tune.MaxEntries, ewsTime(ws), ewsTime(we))}
	}
	mid := ws.Add(we.Sub(ws) / 2).Truncate(time.Minute)
	a, err := s.view(ctx, c, mailbox, ws, mid, depth+1)
	if err != nil {
		return nil, err
	}
	b, err := s.view(ctx, c, mailbox, mid, we, depth+1)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []viewItem
	for _, it := range append(a, b...) {
		if !seen[it.ItemID.ID] {
			seen[it.ItemID.ID] = true
			out = append(out, it)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

// storeErr marks a store failure (transient: the disk, not Exchange).
type storeError struct{ err error }

func (e *storeError) Error() string { return "cannot write to the store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func storeErr(err error) error { return &storeError{err} }

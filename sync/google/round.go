package google

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	gcal "google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// A room's step: list the changes since the stored syncToken and apply them, or (first sync,
// window roll, 410, asked for) list the window in full and make the store hold exactly that.
// Each ends in one write: events, room state, cursor and request count together.

// Event kinds the syncer emits (the Graph source's words).
const (
	EventSyncError     = "sync.error"
	EventSyncRecovered = "sync.recovered"
)

// maxPages bounds one list: 1,000 pages of 250 events is far more than a room holds.
const maxPages = 1000

// step runs one sync of a room and schedules its next.
func (s *Syncer) step(ctx context.Context, r *room) {
	defer func() {
		s.mu.Lock()
		r.running = false
		s.due.Queue(r)
		s.steps--
		s.mu.Unlock()
		s.updateHealth()
		s.signal()
		s.progressed()
	}()
	if err := s.sync(ctx, r); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.failed(ctx, r, classify(err, r.spec.Mailbox, s.in, s.cli.key))
		return
	}
	s.ensureChannel(ctx, r)
}

// listed is a complete list: its events, the calendar's zone and the nextSyncToken.
type listed struct {
	items []*gcal.Event
	zone  *time.Location
	token string
}

// listAll pages through one events.list.
func (s *Syncer) listAll(ctx context.Context, q listQuery) (listed, error) {
	var out listed
	q.pageSize = s.tune.PageSize
	for range maxPages {
		res, err := s.cli.list(ctx, q)
		if err != nil {
			return listed{}, err
		}
		if out.zone == nil && res.TimeZone != "" {
			out.zone, _ = time.LoadLocation(res.TimeZone)
		}
		out.items = append(out.items, res.Items...)
		if res.NextPageToken == "" {
			out.token = res.NextSyncToken
			return out, nil
		}
		q.pageToken = res.NextPageToken
	}
	return listed{}, errors.New("events.list " + q.calendarID + ": more than 1000 pages")
}

// gone reports Google's 410: the syncToken is no longer valid (fullSyncRequired).
func gone(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusGone
}

// sync is one round of a room; an error is the request (or write) that failed.
func (s *Syncer) sync(ctx context.Context, r *room) error {
	id := r.spec.Mailbox
	now := s.clk.Now()
	s.mu.Lock()
	cur := r.cur
	full := s.needsFull(r, now)
	s.mu.Unlock()
	if !full {
		l, err := s.listAll(ctx, listQuery{calendarID: id, syncToken: cur.token})
		switch {
		case err == nil:
			return s.apply(ctx, r, l, cursor{token: firstNonEmpty(l.token, cur.token), ws: cur.ws, we: cur.we})
		case gone(err):
			s.log.Info("Google no longer accepts the room's sync token (410 fullSyncRequired); reading the room in full", "room", id)
		default:
			return err
		}
	}
	ws, we := poll.Window(r.spec.UpcomingDays, now)
	l, err := s.listAll(ctx, listQuery{calendarID: id, ws: ws, we: we})
	if err != nil {
		return err
	}
	return s.replace(ctx, r, l, cursor{token: l.token, ws: ws, we: we})
}

// inWindow reports whether an event overlaps [ws, we), as calendarView and timeMin/timeMax
// select.
func inWindow(ev calendar.Event, ws, we time.Time) bool {
	st, err1 := ev.StartTime()
	en, err2 := ev.EndTime()
	if err1 != nil || err2 != nil {
		return false
	}
	return en.After(ws) && st.Before(we) || st.Equal(en) && !st.Before(ws) && st.Before(we)
}

// apply writes the changes of an incremental list: cancelled events (and a cancelled series'
// stored instances) are deleted, the others stored when they overlap the window and changed;
// an event moved out of the window is deleted.
func (s *Syncer) apply(ctx context.Context, r *room, l listed, cur cursor) error {
	if len(l.items) == 0 {
		return s.unchanged(ctx, r, cur)
	}
	id := r.spec.Mailbox
	changed := 0
	return s.commit(ctx, r, cur, false, func(tx *store.Tx) error {
		changed = 0
		for _, it := range l.items {
			if it == nil || it.Id == "" {
				continue
			}
			if it.Status == "cancelled" {
				n, err := deleteWithSeries(tx, id, it.Id)
				if err != nil {
					return err
				}
				changed += n
				continue
			}
			data, ev, err := eventDoc(it, id, l.zone)
			if err != nil {
				s.log.Warn("skipping an event Google sent without usable times", "room", id, "err", err)
				continue
			}
			if !inWindow(ev, cur.ws, cur.we) {
				gone, err := tx.DeleteEvent(id, ev.ID)
				if err != nil {
					return err
				}
				if gone {
					changed++
				}
				continue
			}
			if old, ok, err := tx.EventJSON(id, ev.ID); err != nil {
				return err
			} else if ok && bytes.Equal(old, data) {
				continue
			}
			if err := stored.PutEvent(tx, id, ev, data); err != nil {
				return err
			}
			changed++
		}
		return nil
	}, &changed)
}

// deleteWithSeries deletes an event and, when it was a recurring event's series, its stored
// instances (a deleted series may come as the series id alone).
func deleteWithSeries(tx *store.Tx, room, id string) (int, error) {
	n := 0
	if gone, err := tx.DeleteEvent(room, id); err != nil {
		return 0, err
	} else if gone {
		n++
	}
	for _, typ := range []string{calendar.TypeOccurrence, calendar.TypeException} {
		inst, err := tx.SeriesEvents(room, id, typ)
		if err != nil {
			return n, err
		}
		for iid := range inst {
			if _, err := tx.DeleteEvent(room, iid); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// replace makes the store hold exactly the window's events of a full list (a complete answer
// from Google is the room's truth; a failed list changes nothing).
func (s *Syncer) replace(ctx context.Context, r *room, l listed, cur cursor) error {
	id := r.spec.Mailbox
	rows, err := s.st.Events(ctx, id)
	if err != nil {
		return storeErr(err)
	}
	have := make(map[string][]byte, len(rows))
	for _, row := range rows {
		have[row.ID] = row.Data
	}
	changed := 0
	return s.commit(ctx, r, cur, true, func(tx *store.Tx) error {
		changed = 0
		keep := map[string]bool{}
		for _, it := range l.items {
			if it == nil || it.Id == "" || it.Status == "cancelled" {
				continue
			}
			data, ev, err := eventDoc(it, id, l.zone)
			if err != nil {
				s.log.Warn("skipping an event Google sent without usable times", "room", id, "err", err)
				continue
			}
			if !inWindow(ev, cur.ws, cur.we) {
				continue
			}
			keep[ev.ID] = true
			if bytes.Equal(have[ev.ID], data) {
				continue
			}
			if err := stored.PutEvent(tx, id, ev, data); err != nil {
				return err
			}
			changed++
		}
		swept, err := tx.SweepEvents(id, keep)
		changed += swept
		return err
	}, &changed)
}

// commit writes a round's events (put) with the room's new state, cursor and request count in
// one transaction, then schedules the room.
func (s *Syncer) commit(ctx context.Context, r *room, cur cursor, full bool, put func(tx *store.Tx) error, changed *int) error {
	id := r.spec.Mailbox
	now := s.clk.Now()
	s.mu.Lock()
	st := r.state
	ev, emitted := s.transition(r, store.RoomOK, nil)
	key, n := s.takeCount()
	s.mu.Unlock()
	st.Integration, st.LastAttempt, st.LastSuccess = s.name, now, now
	if full {
		st.LastFullSync = now
	}
	st.Status, st.StatusDetail, st.RetryAfter = store.RoomOK, "", time.Time{}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if err := put(tx); err != nil {
			return err
		}
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		if err := tx.PutCursor(id, s.name, cur.encode()); err != nil {
			return err
		}
		return s.writeCount(tx, key, n, ev)
	})
	if err != nil {
		s.returnCount(key, n)
		return storeErr(err)
	}
	s.mu.Lock()
	r.state, r.cur, r.emitted, r.failures, r.limited, r.lastCode = st, cur, emitted, 0, 0, ""
	if full {
		r.forceFull = false
	}
	s.mu.Unlock()
	if *changed > 0 || len(r.spans) == 0 {
		s.refresh(ctx, r)
	}
	s.mu.Lock()
	r.due = s.nextPoll(r, s.clk.Now())
	s.mu.Unlock()
	s.log.Debug("room synced", "room", id, "full", full, "changed", *changed)
	return nil
}

// unchanged records a poll that found nothing: the times, the new syncToken and the request
// count, in one small write.
func (s *Syncer) unchanged(ctx context.Context, r *room, cur cursor) error {
	now := s.clk.Now()
	s.mu.Lock()
	st := r.state
	ev, emitted := s.transition(r, store.RoomOK, nil)
	key, n := s.takeCount()
	s.mu.Unlock()
	ok := st.Status == store.RoomOK && st.StatusDetail == "" && st.RetryAfter.IsZero() && st.Integration == s.name
	st.LastAttempt, st.LastSuccess, st.Integration = now, now, s.name
	st.Status, st.StatusDetail, st.RetryAfter = store.RoomOK, "", time.Time{}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if ok && ev == nil {
			if err := tx.TouchRooms(map[string]store.RoomPoll{r.spec.Mailbox: {Integration: s.name, Cursor: cur.encode(), At: now}}); err != nil {
				return err
			}
		} else {
			if err := tx.PutSyncState(st); err != nil {
				return err
			}
			if err := tx.PutCursor(r.spec.Mailbox, s.name, cur.encode()); err != nil {
				return err
			}
		}
		return s.writeCount(tx, key, n, ev)
	})
	if err != nil {
		s.returnCount(key, n)
		return storeErr(err)
	}
	s.mu.Lock()
	r.state, r.cur, r.emitted, r.failures, r.limited, r.lastCode = st, cur, emitted, 0, 0, ""
	r.due = s.nextPoll(r, now)
	s.mu.Unlock()
	return nil
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

// flushCount writes requests counted since the last write (failed steps').
func (s *Syncer) flushCount(ctx context.Context) {
	s.mu.Lock()
	key, n := s.takeCount()
	s.mu.Unlock()
	if n == 0 {
		return
	}
	if err := s.st.Write(ctx, func(tx *store.Tx) error { return s.writeCount(tx, key, n) }); err != nil {
		s.returnCount(key, n)
	}
}

// storeError marks a store failure (transient: the disk, not Google).
type storeError struct{ err error }

func (e *storeError) Error() string { return "cannot write to the store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func storeErr(err error) error { return &storeError{err} }

package graph

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// A step that failed: the room's status and next attempt (failed, saved with writeState),
// and which status changes are worth an event (transition, also used when a round succeeds).

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
		st.LastAttempt = now
		s.mu.Unlock()
		s.log.Info("delta state expired; resyncing the room in full", "room", mailbox, "code", f.code)
		s.writeState(ctx, r, st, &cursor{}, nil, emitted, sent)
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
			s.writeState(ctx, r, st, nil, nil, emitted, sent)
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
	if !s.writeState(ctx, r, st, nil, append(extra, ev), emitted, sent) && len(extra) > 0 {
		s.mu.Lock()
		s.returnGateEvents(extra)
		s.mu.Unlock()
	}
}

// writeState saves a room's state and cursor (cur, or the one it has when nil), events and
// the request count; it reports success.
func (s *Syncer) writeState(ctx context.Context, r *room, st store.RoomState, cur *cursor, events []*store.Event, emitted bool, sent int) bool {
	now := s.clk.Now()
	s.mu.Lock()
	delete(s.polls, r.spec.Mailbox) // st and the cursor are the room's whole state, newer than a pending poll
	if cur == nil {
		c := r.cur
		cur = &c
	}
	s.mu.Unlock()
	err := s.write(ctx, func(tx *store.Tx) error {
		if err := tx.PutSyncState(st); err != nil {
			return err
		}
		if err := tx.PutCursor(r.spec.Mailbox, s.name, cur.encode()); err != nil {
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
	r.state, r.cur, r.emitted = st, *cur, emitted
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

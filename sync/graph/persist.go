package graph

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// How the syncer writes to the store: every store call of the steps runs on one long-lived
// worker (db, write), and polls that found nothing new are saved in batches (flushLoop,
// flushPolls) instead of one transaction each.

// pollFlush is how often the progress of unchanged polls is written. A kill -9 loses at most
// this much of it: the rooms' last_success and last_attempt times go back by up to this
// much, each room then polls from the cursor (deltaLink) it had up to this long before (the newer
// polls found nothing, so polling again from there finds the same: nothing, or changes
// that came since, applied the same way), and up to this long of those polls' requests is
// missing from the day's count in the store (the budget can be overspent by that much).
const pollFlush = 10 * time.Second

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

// flushPolls writes the unchanged polls' cursors and times and the pending request counts
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

// db runs fn (a store call) on the store worker and waits for it. Each step runs on a
// goroutine of its own, and SQLite (modernc) runs deep stacks: on a fresh goroutine every
// read grew its stack by copying (writes run on the store's writer goroutine). The worker
// keeps its grown stack, and it is what orders the source's writes (write, flushPolls).
// Called only while Run runs.
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

// write is Store.Write, submitted from the store worker: the source's writes reach the store
// in the order the worker takes them (flushPolls relies on it), while the worker goes on to
// submit the next without waiting for the commit, so several rooms' writes can share one
// (the store's group commit).
func (s *Syncer) write(ctx context.Context, fn func(*store.Tx) error) error {
	var wait func() error
	s.db(ctx, func() { wait = s.st.Submit(ctx, fn) })
	return wait()
}

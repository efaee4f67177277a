package graph

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/exchange"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// After a round that changed something: the room's meeting times for the scheduler and its
// calendar processing diagnosis, with an event for each new finding.

// refresh rereads a room's meeting times (for the scheduler) and its diagnosis after a round
// that changed something (the diagnosis waits for the end of a cold start, below).
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
	s.budget.nextPlan = poll.Replan(now, s.budget.nextPlan)
	later := s.coldLeft > 0
	if later && !r.diagnoseDue {
		r.diagnoseDue = true
		s.diagnoseLater = append(s.diagnoseLater, r)
	}
	s.mu.Unlock()
	if !later {
		s.diagnose(ctx, r)
	}
}

// A cold start (rooms the store has never synced) diagnoses its rooms once every such room's
// first step has ended, not after each room's first round: the diagnosis decodes every event
// of the room again (about 1.3 s of CPU at 1,000 rooms), on two cores the cold start keeps
// busy until its last room is pushed. The findings come a cold sync later; a warm start
// (every room synced before) diagnoses at once, as does a room added later.

// startCold counts the rooms the store has never synced. Called with s.mu held, after load.
func (s *Syncer) startCold() {
	for _, r := range s.diagnoseLater { // left by an earlier Run: their next change diagnoses them
		r.diagnoseDue = false
	}
	s.diagnoseLater, s.coldLeft = nil, 0
	for _, r := range s.list {
		r.cold = r.state.LastSuccess.IsZero()
		if r.cold {
			s.coldLeft++
		}
	}
}

// endColdStep notes that r's first step of a cold start has ended, and returns the rooms
// waiting for their diagnosis once it was the last. Called with s.mu held.
func (s *Syncer) endColdStep(r *room) []*room {
	if !r.cold {
		return nil
	}
	r.cold = false
	if s.coldLeft--; s.coldLeft > 0 {
		return nil
	}
	later := s.diagnoseLater
	s.diagnoseLater = nil
	return later
}

// diagnose reads the room's events and saves its calendar processing diagnosis, with an
// event for each new finding.
func (s *Syncer) diagnose(ctx context.Context, r *room) {
	mailbox := r.spec.Mailbox
	s.mu.Lock()
	r.diagnoseDue = false
	s.mu.Unlock()
	var events []calendar.Event
	// Summaries, not Events: the diagnosis reads neither attendees nor locations, nor a body
	// whose preview has text (half the decoding, which ran for every room at a cold start).
	// Read here, not on the store worker: a read needs no writer, and decoding a room's events
	// (a few ms) on the one worker held up every other room's writes behind it.
	events, err := stored.Summaries(ctx, s.st, mailbox)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot read events for the diagnosis", "room", mailbox, "err", err)
		}
		return
	}
	findings := exchange.Diagnose(mailbox, events)
	s.mu.Lock()
	old := r.state.Diagnosis
	s.mu.Unlock()
	if exchange.SameFindings(findings, old) {
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

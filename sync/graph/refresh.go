package graph

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/source/poll"
)

// After a round that changed something, the room's meeting times are read again for the
// scheduler. (Its calendar processing diagnosis is the agent's, from the events the processor
// decodes: agent/diagnose.go.)

// refresh rereads a room's meeting times (for the scheduler) after a round that changed
// something.
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
	s.mu.Unlock()
}

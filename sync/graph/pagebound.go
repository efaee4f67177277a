package graph

import "context"

// Steps wait for the store's single writer with Graph's answer in hand. At a cold start the
// scheduler runs up to max_in_flight × 20 steps at once (so that batches form), the answers
// come back far faster than one writer stores them, and nearly all of those steps sat at the
// writer holding a parsed page: the largest part of the cold start's peak heap (perf.md §2).
// A step therefore takes one of answerSlots(max_in_flight) slots before it sends and keeps it
// until its page is written: the writer still always has pages queued (a few per request
// slot, each answered in a round trip), and the steps beyond that wait holding nothing.

// answersPerRequestSlot is how many answered steps may wait per request in flight.
const answersPerRequestSlot = 4

func answerSlots(maxInFlight int) int { return max(1, maxInFlight) * answersPerRequestSlot }

// takeAnswerSlot waits for a slot; false when ctx ended first.
//
// Routine polls waiting for company to share a $batch (dispatch.go) hold slots too. When every
// slot is taken they go at once, and none waits again while a step waits here: in a cold start
// the slots belong to the rooms' first syncs.
func (s *Syncer) takeAnswerSlot(ctx context.Context) bool {
	select {
	case s.answers <- struct{}{}:
		return true
	default:
	}
	s.slotWaiters.Add(1)
	defer s.slotWaiters.Add(-1)
	s.disp.sendWaiting()
	select {
	case s.answers <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Syncer) freeAnswerSlot() { <-s.answers }

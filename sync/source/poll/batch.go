package poll

import (
	"context"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// Polls that found nothing new change only a room's cursor and times: a source collects them
// here and writes them together (store.Tx.TouchRooms) every so often, instead of one
// transaction per poll (at 1,000 rooms that is several writes a second on an appliance's
// flash for nothing a reader acts on).

// Pending is the unsaved progress of unchanged polls, by room. Safe for concurrent use.
type Pending struct {
	mu    sync.Mutex
	polls map[string]store.RoomPoll
}

// Poll records a room's newest unchanged poll (it replaces an older one).
func (p *Pending) Poll(room string, rp store.RoomPoll) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.polls == nil {
		p.polls = map[string]store.RoomPoll{}
	}
	p.polls[room] = rp
}

// Drop forgets a room's unsaved poll: a full write of the room is newer (call it before that
// write, under the same exclusion as Take, so an older batch never lands after it).
func (p *Pending) Drop(room string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.polls, room)
}

// Take hands the unsaved polls to a write.
func (p *Pending) Take() map[string]store.RoomPoll {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.polls
	p.polls = nil
	return out
}

// Return puts polls back after a failed write; a room polled again meanwhile keeps its newer
// poll.
func (p *Pending) Return(polls map[string]store.RoomPoll) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for room, rp := range polls {
		if p.polls == nil {
			p.polls = map[string]store.RoomPoll{}
		}
		if cur, ok := p.polls[room]; !ok || cur.At.Before(rp.At) {
			p.polls[room] = rp
		}
	}
}

// Every calls f every d on clk until ctx ends, on a fixed cadence (each deadline d after the
// one before, so a slow f does not push the next one back; behind by more than a period, it
// calls f at once and goes on from there).
func Every(ctx context.Context, clk clock.Clock, d time.Duration, f func()) {
	next := clk.Now().Add(d)
	t := clk.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			f()
			next = next.Add(d)
			if now := clk.Now(); next.After(now) {
				t.Reset(next.Sub(now))
			} else {
				next = now
				t.Reset(0)
			}
		}
	}
}

package graph

import (
	"context"
	"errors"
	"sync"
)

// errBudget is returned instead of sending when the daily request budget is used up.
var errBudget = errors.New("the daily Graph request budget (max_requests_per_day) is used up")

// maxBatch is the most parts of one $batch (Graph's limit).
const maxBatch = 20

// dispatcher sends the rooms' requests with at most maxInFlight HTTP requests at once. While
// every slot is busy, requests queue; a sender that frees up takes everything queued (up to
// 20) as one JSON batch. So batches form only when there is a backlog (a cold start, the daily
// re-baseline), where they save round trips; in steady state each request goes alone, at once.
// Batching never saves quota: every part counts (README "Calendar sync (Microsoft Graph)").
//
// Per-mailbox concurrency is the rooms' business: a room has at most 4 requests outstanding,
// so a batch never holds more than 4 parts for one mailbox.
type dispatcher struct {
	api         *api
	maxInFlight int
	batching    bool
	// admit counts n requests against the budget, or refuses them.
	admit func(n int) error

	mu      sync.Mutex
	queue   []*call
	senders int
	wg      sync.WaitGroup
	ctx     context.Context // the syncer's run context: senders stop with it
}

type call struct {
	ctx  context.Context
	spec reqSpec
	done chan result
}

// do sends one request and waits for its answer (or ctx).
func (d *dispatcher) do(ctx context.Context, spec reqSpec) result {
	c := &call{ctx: ctx, spec: spec, done: make(chan result, 1)}
	d.mu.Lock()
	d.queue = append(d.queue, c)
	if d.senders < d.maxInFlight {
		d.senders++
		d.wg.Add(1)
		go d.sender()
	}
	d.mu.Unlock()
	select {
	case r := <-c.done:
		return r
	case <-ctx.Done():
		return result{err: ctx.Err(), retryAfter: -1}
	}
}

// take removes up to n live calls from the queue.
func (d *dispatcher) take(n int) []*call {
	var out []*call
	for len(d.queue) > 0 && len(out) < n {
		c := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		if c.ctx.Err() != nil {
			c.done <- result{err: c.ctx.Err(), retryAfter: -1}
			continue
		}
		out = append(out, c)
	}
	return out
}

func (d *dispatcher) sender() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		limit := 1
		if d.batching {
			limit = maxBatch
		}
		calls := d.take(limit)
		if len(calls) == 0 {
			d.senders--
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		if err := d.admit(len(calls)); err != nil {
			for _, c := range calls {
				c.done <- result{err: err, retryAfter: -1}
			}
			continue
		}
		if len(calls) == 1 {
			calls[0].done <- d.api.send(calls[0].ctx, calls[0].spec)
			continue
		}
		specs := make([]reqSpec, len(calls))
		for i, c := range calls {
			specs[i] = c.spec
		}
		for i, r := range d.api.sendBatch(d.ctx, specs) {
			calls[i].done <- r
		}
	}
}

// wait returns when every sender has stopped.
func (d *dispatcher) wait() { d.wg.Wait() }

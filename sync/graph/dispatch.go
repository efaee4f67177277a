package graph

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
)

// errBudget is returned instead of sending when the daily request budget is used up.
var errBudget = errors.New("the daily Graph request budget (max_requests_per_day) is used up")

// maxBatch is the most parts of one $batch (Graph's limit).
const maxBatch = 20

// dispatcher sends the rooms' requests with at most maxInFlight HTTP requests at once. While
// every slot is busy, requests queue; a sender that frees up takes everything queued (up to
// 20) as one JSON batch. So batches form when there is a backlog (a cold start, the daily
// re-baseline), where they save round trips, and from routine polls: a poll marked linger
// (a room's next poll at its plain interval, which nothing brought forward) waits up to
// lingerFor for others while a sender is free, and goes when 20 wait, when another request
// is sent (it goes along), when steps wait for the answer slots it holds (pagebound.go), or
// when the wait ends; a sender that finishes meanwhile leaves it waiting. Every other request
// goes at once. In steady state most requests are the hot rooms' routine polls, tens a
// second: sent alone, each paid the SDK's middleware, an HTTP/2 stream and the senders' and
// reader's wake-ups (sending and reading were 17 % of the agent's steady CPU in a profile at
// 1,000 rooms). Batching never saves quota: every part counts (README "Calendar sync
// (Microsoft Graph)").
//
// Per-mailbox concurrency is the rooms' business: a room has at most 4 requests outstanding,
// so a batch never holds more than 4 parts for one mailbox.
//
// A sender with nothing to send waits senderIdle for more before it ends. In steady state
// (tens of requests a second, one at a time) a sender that ended with each request meant a new
// goroutine per request, whose stack grew through the SDK's middleware chain (copied at each
// doubling): about 3.5 % of the agent's steady CPU at 1,000 rooms in a profile.
type dispatcher struct {
	api         *api
	maxInFlight int
	batching    bool
	// admit counts n requests against the budget, or refuses them.
	admit func(n int) error
	clk   clock.Clock

	mu      sync.Mutex
	queue   []*call
	senders int           // running senders
	idle    int           // of them, waiting for work and not yet woken
	wake    chan struct{} // a token per idle sender woken for a queued call (cap maxInFlight)
	wg      sync.WaitGroup
	ctx     context.Context // the syncer's run context: senders stop with it

	lingerFor time.Duration // how long a routine poll waits for company (0: it does not)
	// pressed reports whether steps wait for an answer slot, which waiting calls hold (nil: never).
	pressed     func() bool
	lingering   int  // lingering calls in the queue
	lingerTimer bool // a linger's wait runs
}

// senderIdle is how long a sender waits for more work before it ends.
const senderIdle = 30 * time.Second

func newDispatcher(a *api, maxInFlight int, batching bool, admit func(int) error, clk clock.Clock) *dispatcher {
	return &dispatcher{api: a, maxInFlight: maxInFlight, batching: batching, admit: admit, clk: clk,
		wake: make(chan struct{}, max(maxInFlight, 1))}
}

type call struct {
	ctx     context.Context
	spec    reqSpec
	done    chan result
	waiting bool // counted in lingering
}

// do sends one request and waits for its answer (or ctx).
func (d *dispatcher) do(ctx context.Context, spec reqSpec) result {
	c := &call{ctx: ctx, spec: spec, done: make(chan result, 1)}
	d.mu.Lock()
	d.queue = append(d.queue, c)
	if d.lingers(c) && (d.idle > 0 || d.senders < d.maxInFlight) {
		// With every sender busy it queues as any call does: the first sender to finish
		// takes it with the rest, and waiting on would only hold its room's answer slot
		// (a cold start's tail, the daily re-baseline).
		c.waiting = true
		d.lingering++
		if d.lingering < maxBatch {
			d.startLinger()
			d.mu.Unlock()
			return d.await(ctx, c)
		}
	}
	d.sendQueued()
	d.mu.Unlock()
	return d.await(ctx, c)
}

// lingers reports whether c may wait for others to share a batch with.
func (d *dispatcher) lingers(c *call) bool {
	return c.spec.linger && d.batching && d.lingerFor > 0 && (d.pressed == nil || !d.pressed())
}

// startLinger makes sure the queue is sent by lingerFor from now at the latest (under d.mu).
// A wait already running ends sooner, and takes the new call with it.
func (d *dispatcher) startLinger() {
	if d.lingerTimer {
		return
	}
	d.lingerTimer = true
	t := d.clk.NewTimer(d.lingerFor)
	var stop <-chan struct{}
	if d.ctx != nil {
		stop = d.ctx.Done()
	}
	go func() {
		select {
		case <-t.C():
		case <-stop:
			// The syncer stops: its steps' calls end with its context, and no sender may
			// start while it waits for them (wait).
			t.Stop()
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.lingerTimer = false
		d.release()
	}()
}

// sendWaiting sends the calls waiting for company now.
func (d *dispatcher) sendWaiting() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.release()
}

// release ends the wait of every waiting call (under d.mu): a sender takes them now, and calls
// that come after wait anew.
func (d *dispatcher) release() {
	if d.lingering == 0 {
		return
	}
	for _, c := range d.queue {
		c.waiting = false
	}
	d.lingering = 0
	d.sendQueued()
}

// onlyWaiting reports whether every queued call waits out a linger that will send them (under
// d.mu). A sender leaves such calls to it and goes idle, so that more can join them: taken
// by the first sender to finish, batches stayed at about 4 parts in steady state.
func (d *dispatcher) onlyWaiting() bool {
	return d.lingering > 0 && d.lingering == len(d.queue) && d.lingering < maxBatch
}

// sendQueued wakes an idle sender, or starts one, for what is queued (under d.mu). With every
// sender busy it does neither: the first to finish takes the queue.
func (d *dispatcher) sendQueued() {
	switch {
	case d.idle > 0:
		// Never blocks: tokens in the channel never outnumber the waiting senders, at most
		// maxInFlight.
		d.idle--
		d.wake <- struct{}{}
	case d.senders < d.maxInFlight:
		d.senders++
		d.wg.Add(1)
		go d.sender()
	}
}

// await waits for c's answer, or for ctx.
func (d *dispatcher) await(ctx context.Context, c *call) result {
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
		if c.waiting {
			d.lingering--
		}
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
	var idle clock.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		d.mu.Lock()
		limit := 1
		if d.batching {
			limit = maxBatch
		}
		var calls []*call
		if !d.onlyWaiting() {
			calls = d.take(limit)
		}
		if len(calls) == 0 {
			if d.ctx.Err() != nil {
				d.senders--
				d.mu.Unlock()
				return
			}
			d.idle++
			d.mu.Unlock()
			if idle == nil {
				idle = d.clk.NewTimer(senderIdle)
			} else {
				idle.Reset(senderIdle)
			}
			select {
			case <-d.wake:
				continue
			case <-idle.C():
			case <-d.ctx.Done():
			}
			d.mu.Lock()
			if d.idle == 0 {
				// Every waiting sender, this one included, has a token coming: a call was
				// queued for it after the timer fired. Take the token and serve it.
				d.mu.Unlock()
				<-d.wake
				continue
			}
			d.idle--
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

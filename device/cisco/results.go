package cisco

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/otj-edge/otj-edge/device"
)

// Outcomes and results of Push and Retry are the driver seam's (package device).
const (
	OutcomePushed    = device.OutcomePushed
	OutcomeUnchanged = device.OutcomeUnchanged
	OutcomeWaiting   = device.OutcomeWaiting // nothing sent: the room has not synced yet (gate.go)
	OutcomeFailed    = device.OutcomeFailed
	OutcomePending   = device.OutcomePending
)

// Result is what a Push or Retry did to one codec.
type Result = device.Result

// The Manager is the Cisco endpoint type's driver.
var _ device.Driver = (*Manager)(nil)

// asked are the callers waiting on a codec (guarded by codec.mu). A caller is answered by the
// first pass that handles its event; retries that arrive while a retry's attempt runs share
// its result, so a double click never makes a second login.
type asked struct {
	pushes  []chan Result // answered by the next pass handling evForce
	retries []chan Result // answered by the next pass handling evRetry
	joined  []chan Result // came while an attempt ran
	trying  bool          // a pass with retries runs now
}

// callers are the channels one pass answers.
type callers []chan Result

// takeFor moves the callers a pass handling ev answers out of a (under codec.mu). A caller
// whose event is not in ev yet (it is being kicked) waits for the next pass.
func (a *asked) takeFor(ev uint32) callers {
	var out callers
	if ev&evForce != 0 {
		out, a.pushes = append(out, a.pushes...), nil
	}
	if ev&evRetry != 0 && len(a.retries) > 0 {
		out, a.retries = append(out, a.retries...), nil
		a.trying = true
	}
	return out
}

// take moves every caller out of a (under codec.mu): the codec stops.
func (a *asked) take() callers {
	out := append(append(append(callers{}, a.pushes...), a.retries...), a.joined...)
	a.pushes, a.retries, a.joined, a.trying = nil, nil, nil, false
	return out
}

func (cs callers) answer(r Result) {
	for _, ch := range cs {
		ch <- r // buffered, one answer each
	}
}

// request asks the codec for a full push now (retry: after one connection attempt even while
// it waits out a 403) and returns where the result will come.
func (c *codec) request(retry bool) <-chan Result {
	ch := make(chan Result, 1)
	c.mu.Lock()
	switch {
	case retry && c.asked.trying:
		c.asked.joined = append(c.asked.joined, ch)
		c.mu.Unlock()
		return ch
	case retry:
		c.asked.retries = append(c.asked.retries, ch)
	default:
		c.asked.pushes = append(c.asked.pushes, ch)
	}
	c.mu.Unlock()
	if retry {
		c.kick(evRetry)
	} else {
		c.kick(evForce)
	}
	return ch
}

// done records what this pass's push did.
func (c *codec) done(outcome string, bookings int) {
	c.outcome.Outcome, c.outcome.Bookings, c.outcome.Detail = outcome, bookings, ""
}

// failed records why this pass did not push.
func (c *codec) failed(why string) {
	c.outcome.Outcome, c.outcome.Detail = OutcomeFailed, why
}

// answer tells the pass's callers (and the retries that joined it) what it did.
func (c *codec) answer(cs callers) {
	c.mu.Lock()
	cs = append(cs, c.asked.joined...)
	c.asked.joined, c.asked.trying = nil, false
	state, connected := c.state, c.connected
	c.mu.Unlock()
	if len(cs) == 0 {
		return
	}
	r := c.outcome
	r.Endpoint, r.State, r.Connected = c.ep.Name, state, connected
	if r.Outcome == "" { // nothing pushed: the connection failed, or the codec waits out a 403
		r.Outcome, r.Detail = OutcomeFailed, c.lastDetail
		if r.Attempts == 0 && c.waitWake == wakeNever && !c.authFailedAt.IsZero() {
			r.Detail += fmt.Sprintf(" (no login attempted: `otj-edge endpoints retry %s` makes one now)", c.ep.Name)
		}
	}
	if r.Detail == "" {
		r.Detail = c.lastDetail
	}
	if !connected {
		r.NextAttempt = c.m.sched.dueAt(c, timerReconnect)
	}
	cs.answer(r)
}

// Push pushes the room's bookings now, in full, to the named codec ("" for every one) and
// waits until each push is answered or ctx ends (those still going are OutcomePending). A
// codec that is away gets one connection attempt, unless it is waiting out a 403 (Retry
// makes that attempt). A codec whose room has not synced yet is left alone (OutcomeWaiting).
func (m *Manager) Push(ctx context.Context, name string) ([]Result, error) {
	cs, err := m.pick(name)
	if err != nil {
		return nil, err
	}
	return m.ask(ctx, cs, false)
}

// Retry makes one connection attempt to the named codec now, even while it waits out the 5
// minutes after a 403 (the operator fixed the password), pushes when it connects, and says
// how it went. Retries that come while one runs share its attempt: codecs lock an account
// after 5 failed logins. The 5-minute wait restarts from this attempt when it fails.
func (m *Manager) Retry(ctx context.Context, name string) (Result, error) {
	if name == "" {
		return Result{}, errors.New("retry: name the Cisco endpoint to try")
	}
	cs, err := m.pick(name)
	if err != nil {
		return Result{}, err
	}
	rs, err := m.ask(ctx, cs, true)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

func (m *Manager) ask(ctx context.Context, cs []*codec, retry bool) ([]Result, error) {
	m.hmu.Lock()
	running, stopping := m.ctx, m.stopping
	m.hmu.Unlock()
	if running == nil || stopping {
		return nil, errors.New("the Cisco driver is not running")
	}
	chans := make([]<-chan Result, len(cs))
	for i, c := range cs {
		chans[i] = c.request(retry)
	}
	out := make([]Result, len(cs))
	for i, ch := range chans {
		select {
		case r := <-ch:
			out[i] = r
			continue
		case <-ctx.Done():
		case <-running.Done():
		}
		state, connected, _ := cs[i].status()
		out[i] = Result{Endpoint: cs[i].ep.Name, Outcome: OutcomePending, State: state, Connected: connected,
			Detail: "no answer yet: the codec is still being connected or pushed; the push goes on"}
		if running.Err() != nil {
			out[i].Outcome, out[i].Detail = OutcomeFailed, "the agent is stopping"
		}
	}
	return out, nil
}

// pick returns the named codec, or every codec for "".
func (m *Manager) pick(name string) ([]*codec, error) {
	if name == "" {
		return m.codecs, nil
	}
	c, ok := m.byName[name]
	if !ok {
		names := make([]string, 0, len(m.byName))
		for n := range m.byName {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no Cisco endpoint named %q (configured: %v)", name, names)
	}
	return []*codec{c}, nil
}

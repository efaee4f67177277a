package webex

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/store"
)

// The scheduler: one goroutine serves every endpoint. It keeps each idle endpoint's next
// deadline (dev.nextDeadline), waits on one timer for the earliest, and starts a step of an
// endpoint when its deadline comes or it is kicked (a change of its room, a status round, a
// Push or Retry). A step runs in a goroutine of its own while it lasts, so a slow push to one
// device delays no other; at most one step of an endpoint runs at a time, and a kick during a
// step starts another once it ends. A goroutine per endpoint, each parked on its own timer,
// cost a stack (8 KB and more) for each of them for as long as the agent ran: 100 Webex
// devices, 100 goroutines.

// stepping is the scheduler's record of an endpoint.
type stepping struct {
	d       *dev
	running bool
	held    int       // busy counts this step holds (its start, and the wake it took)
	next    time.Time // when the endpoint is next due (zero: only on a kick); set between steps
}

// schedule runs the endpoints' steps until ctx ends, and passes the room changes sub reports
// to their endpoints; it returns once no step runs.
func (m *Manager) schedule(ctx context.Context, sub *store.Sub) {
	clk := m.opts.Clock
	eps := make([]*stepping, len(m.devices))
	for i, d := range m.devices {
		eps[i] = &stepping{d: d}
	}
	done := make(chan *stepping, len(eps))
	running := 0
	start := func(e *stepping, woken bool) {
		e.running, e.held = true, 1
		if woken {
			e.held++
		}
		m.busy.Add(1) // released once the step ended and the next deadline is armed
		running++
		go func() {
			e.d.step(ctx)
			done <- e
		}()
	}
	var timer clock.Timer
	var armed time.Time // the deadline timer waits for
	release := 0
	first := true // every endpoint steps once at the start (its first push is due)
	for {
		if ctx.Err() == nil {
			now := clk.Now()
			for _, e := range eps {
				if e.running {
					continue
				}
				woken := e.d.takeWake()
				if first || woken || (!e.next.IsZero() && !now.Before(e.next)) {
					start(e, woken)
				}
			}
			first = false
			var earliest time.Time
			for _, e := range eps {
				if !e.running && !e.next.IsZero() && (earliest.IsZero() || e.next.Before(earliest)) {
					earliest = e.next
				}
			}
			// A timer already waiting for the same deadline stays: re-made from a now read at
			// the top of a pass (a pass for a stale wake holds no pending work, so a test's
			// fake clock may move meanwhile) it would wake that much late.
			if timer != nil && !earliest.Equal(armed) {
				timer.Stop()
				timer = nil
			}
			if timer == nil && !earliest.IsZero() {
				timer, armed = clk.NewTimer(max(0, earliest.Sub(clk.Now()))), earliest
			}
		}
		if release > 0 {
			m.busy.Add(-release) // the steps are done and the next deadlines armed
			release = 0
		}
		var fire <-chan time.Time
		if timer != nil {
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
				timer = nil
			}
			if running == 0 {
				return
			}
			e := <-done
			running--
			e.running = false
			release += e.held
		case e := <-done:
			running--
			e.running = false
			e.next = e.d.nextDeadline()
			release += e.held
		case <-m.wake:
		case <-sub.C:
			for _, room := range sub.Take() {
				for _, d := range m.byRoom[room] {
					d.changed()
				}
			}
		case <-fire:
			timer = nil
		}
	}
}

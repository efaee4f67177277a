package poly

import (
	"context"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
)

// The REST health scheduler: one goroutine serves every endpoint with an address. Each
// endpoint is checked at the start and every RESTEvery after its last check; restRecheckMin
// after the endpoint polls while its calendar was last seen offline (wakeREST; further polls
// meanwhile ask for one more check after that one); and, while its certificate is refused,
// at once when its stored pin changes, which is read every CertRecheck. A check runs in a
// goroutine of its own while it lasts (a device that does not answer holds up no other), one
// at a time per endpoint. A goroutine per endpoint, each parked on its timer, cost a stack
// (8 KB and more) each for as long as the agent ran: 100 Poly endpoints, 100 goroutines.

// restEndpoint is the scheduler's record of one endpoint.
type restEndpoint struct {
	a       *account
	c       *restClient // nil before the first check
	gone    bool        // the address is unusable: no more checks
	running bool
	due     time.Time // the next check
	woken   bool      // due was set by a wake (restRecheckMin from the wake)
	again   bool      // woken while a wake's wait or a check ran: another wait after this check
	refused bool      // the last check met a refused certificate
	pinAt   time.Time // while refused: when the stored pin is read again
}

// wakeREST asks for an early check of a (s.pollMu held).
func (s *Service) wakeREST(a *account) {
	if s.restWake == nil || s.restWake[a.Name] {
		return
	}
	s.restWake[a.Name] = true
	s.restBusy.Add(1)
	select {
	case s.restKick <- struct{}{}:
	default:
	}
}

// takeWake reports (and clears) a pending wake of a.
func (s *Service) takeRESTWake(a *account) bool {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	w := s.restWake[a.Name]
	delete(s.restWake, a.Name)
	return w
}

// restSchedule runs the endpoints' REST checks until ctx ends; it returns once none runs.
func (s *Service) restSchedule(ctx context.Context, accts []*account) {
	eps := make([]*restEndpoint, len(accts))
	for i, a := range accts {
		eps[i] = &restEndpoint{a: a} // due zero: checked at once
	}
	type result struct {
		e       *restEndpoint
		c       *restClient
		refused bool
	}
	done := make(chan result, len(eps))
	running := 0
	var timer clock.Timer
	var armed time.Time // the deadline timer waits for
	release := 0
	for {
		if ctx.Err() == nil {
			now := s.clock.Now()
			for _, e := range eps {
				if s.takeRESTWake(e.a) {
					release++ // taken: counted as handled once the timer is armed below
					switch {
					case e.gone:
					case e.running || e.woken:
						e.again = true // after the check that is running or waited for
					default:
						// A poll while the calendar was seen offline: check restRecheckMin from
						// now (whatever was due sooner waits for it too).
						e.due, e.woken = now.Add(restRecheckMin), true
					}
				}
				if e.running || e.gone {
					continue
				}
				check := !now.Before(e.due)
				if !check && e.refused && !e.woken && !now.Before(e.pinAt) {
					if e.c != nil && s.pinAccepted(ctx, e.a, e.c) {
						check = true
					} else {
						e.pinAt = now.Add(s.opts.CertRecheck)
					}
				}
				if !check {
					continue
				}
				e.running = true
				s.restBusy.Add(1) // released once the check is recorded and the next armed
				running++
				a, c := e.a, e.c
				go func() {
					c, refused := s.restCheck(ctx, a, c)
					done <- result{e: e, c: c, refused: refused}
				}()
			}
			var earliest time.Time
			at := func(t time.Time) {
				if earliest.IsZero() || t.Before(earliest) {
					earliest = t
				}
			}
			for _, e := range eps {
				if e.running || e.gone {
					continue
				}
				at(e.due)
				if e.refused && !e.woken {
					at(e.pinAt)
				}
			}
			// A timer already waiting for the same deadline stays (device/webex's scheduler
			// says why: re-made from this pass's now it could wake late).
			if timer != nil && !earliest.Equal(armed) {
				timer.Stop()
				timer = nil
			}
			if timer == nil && !earliest.IsZero() {
				timer, armed = s.clock.NewTimer(max(0, earliest.Sub(s.clock.Now()))), earliest
			}
		}
		if release > 0 {
			s.restBusy.Add(-release)
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
			r := <-done
			running--
			r.e.running = false
			release++
		case r := <-done:
			running--
			release++
			e := r.e
			e.running, e.c, e.refused, e.gone = false, r.c, r.refused, r.c == nil
			now := s.clock.Now()
			e.due, e.woken = now.Add(s.opts.RESTEvery), false
			if e.again {
				e.due, e.woken, e.again = now.Add(restRecheckMin), true, false
			}
			if e.refused {
				e.pinAt = now.Add(s.opts.CertRecheck)
			}
		case <-s.restKick:
		case <-fire:
			timer = nil
		}
	}
}

package graph

import (
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// The token gate: while the token endpoint refuses, rooms wait instead of each asking for a
// token; after the wait one room goes ahead as the probe. The integration's token trouble
// is one event, written with the next room write (gateEvents).

// tokenGate stops every room from asking for a token while the token endpoint refuses.
type tokenGate struct {
	fail    *failure
	until   time.Time
	backoff time.Duration
	probing bool
}

// gateCheck holds a room back while the token endpoint is refusing; after the wait, one room
// goes ahead as the probe (under its own lock).
func (s *Syncer) gateCheck(now time.Time) *failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gate
	if g.fail == nil {
		return nil
	}
	f := *g.fail
	f.retryAfter = -1
	switch {
	case now.Before(g.until):
		f.retryIn = g.until.Sub(now)
	case g.probing:
		f.retryIn = 2 * time.Second
	default:
		g.probing = true
		return nil
	}
	return &f // still a token failure: no room event (the integration has one)
}

// tokenOutcome opens the gate when the token endpoint refused and closes it when Graph
// answered.
func (s *Syncer) tokenOutcome(res result) {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.gate
	if res.err != nil {
		f := classifyError(res.err)
		if !f.token {
			return
		}
		g.backoff = min(max(30*time.Second, 2*g.backoff), 15*time.Minute)
		g.until, g.probing = now.Add(g.backoff), false
		if g.fail == nil || g.fail.code != f.code {
			s.gateEvents = append(s.gateEvents, &store.Event{Kind: EventSyncError, Level: "error",
				Message: s.component + ": " + f.detail, Data: map[string]any{"integration": s.name, "code": f.code}})
			s.log.Error("cannot get a Graph access token", "code", f.code, "detail", f.detail, "retry_in", g.backoff)
		}
		g.fail = &f
		return
	}
	if res.sent && g.fail != nil {
		s.gateEvents = append(s.gateEvents, &store.Event{Kind: EventSyncRecovered, Level: "info",
			Message: s.component + ": access token obtained again", Data: map[string]any{"integration": s.name}})
		s.log.Info("Graph access token obtained again")
		*g = tokenGate{}
	}
}

// takeGateEvents hands the integration's pending events to the next write (under s.mu).
func (s *Syncer) takeGateEvents() []*store.Event {
	ev := s.gateEvents
	s.gateEvents = nil
	return ev
}

// returnGateEvents puts them back when that write failed (under s.mu).
func (s *Syncer) returnGateEvents(ev []*store.Event) {
	s.gateEvents = append(ev, s.gateEvents...)
}

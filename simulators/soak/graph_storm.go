package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

func init() { register("graph_storm", graphStorm) }

// graphLimit is Graph's limit of requests in flight per mailbox.
const graphLimit = 4

// graphStorm runs Graph through its failures one after another while calendars change and
// syncs are requested every second: 429 with Retry-After, 503 with Retry-After, 410 (delta
// token expired), slow answers past the agent's 60 s request timeout (with a storm of a
// minute or more; a shorter one makes them only slow), truncated JSON, dropped connections. Then the faults end
// and every room must sync again and every codec hold the right bookings. graphsim's counters
// must show no request before a Retry-After expired and never more than 4 requests in flight
// per mailbox, and each fault must have been hit (a fault nobody met proves nothing).
func graphStorm(ctx context.Context, e *env, r *Result) error {
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: e.knobs.Rooms, meetings: 15, cisco: e.knobs.Rooms, config: soakConfig})
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.waitSynced(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	g := s.graph()
	if err := g.resetStats(ctx); err != nil {
		return err
	}
	slow := 65 * time.Second // past the agent's request timeout
	if e.knobs.StormFor < time.Minute {
		slow = 2 * time.Second
		r.note("storm shorter than 1m: slow answers last %s, not past the 60 s request timeout", slow)
	}
	phase := max(e.knobs.StormFor/6, 2*time.Second)
	rooms := s.sim.File.Graph.Rooms
	faults := []struct {
		name string
		f    graphsim.Fault
		dur  time.Duration
	}{
		{"429", graphsim.Fault{Kind: graphsim.FaultStatus, Status: 429, RetryAfter: 2}, phase},
		{"503", graphsim.Fault{Kind: graphsim.FaultStatus, Status: 503, RetryAfter: 1}, phase},
		{"410", graphsim.Fault{Kind: graphsim.FaultExpireDelta}, phase},
		{"garbage", graphsim.Fault{Kind: graphsim.FaultGarbage}, phase},
		{"drop", graphsim.Fault{Kind: graphsim.FaultDrop}, phase},
		// Last: requests hung past the timeout keep their rooms busy beyond the phase.
		{"slow", graphsim.Fault{Kind: graphsim.FaultLatency, Latency: graphsim.Duration(slow)}, max(phase, slow+5*time.Second)},
	}
	ch := newChurner(s, e.knobs.Seed, 300*time.Millisecond, churnMix{edit: 1})
	ch.start(ctx)
	for i, f := range faults {
		// Half the rooms get the fault: the others keep syncing beside them.
		var ids []int
		for j, room := range rooms {
			if j%2 != i%2 && len(rooms) > 1 {
				continue
			}
			ff := f.f
			ff.Mailbox = room
			if f.name == "410" {
				ff.Count = 1 // the delta state is forgotten once; the full resync that follows must work
			}
			id, err := g.fault(ctx, ff)
			if err != nil {
				ch.stop()
				return fmt.Errorf("inject %s: %w", f.name, err)
			}
			ids = append(ids, id)
		}
		end := time.Now().Add(f.dur)
		for time.Now().Before(end) && ctx.Err() == nil {
			_ = s.action(ctx, "sync", map[string]any{})
			time.Sleep(time.Second)
		}
		hits := 0
		var active []graphsim.Fault
		if err := callJSON(ctx, http.MethodGet, g.url+"/faults", nil, &active); err == nil {
			for _, a := range active {
				hits += a.Hits
			}
		}
		if f.name == "410" {
			hits += len(ids) - len(active) // used up: each was hit once
		}
		if err := g.clearFaults(ctx); err != nil {
			ch.stop()
			return err
		}
		r.Counts["hits_"+f.name] = hits
		r.check(hits > 0, "the %s fault was never hit", f.name)
		if !s.alive() {
			ch.stop()
			return fmt.Errorf("the agent exited during the %s faults; see %s", f.name, s.agent.Log)
		}
	}
	ch.stop()
	ch.counts(r.Counts)
	// Recovery: every room syncs again (a sync request does not cut a Retry-After short; the
	// agent's own retry timers apply) and the codecs hold the right bookings.
	_ = s.action(ctx, "sync", map[string]any{})
	began := time.Now()
	if err := waitFor(ctx, 6*time.Minute, time.Second, func() error { return roomsOK(ctx, s) }); err != nil {
		r.failf("rooms did not recover: %v", err)
	}
	r.Counts["recover_seconds"] = time.Since(began).Seconds()
	if err := s.syncedSince(ctx, began, 6*time.Minute); err != nil {
		r.failf("rooms did not sync after the storm: %v", err)
	}
	if diffs, _ := s.converged(ctx, 60*time.Second); len(diffs) > 0 {
		r.failf("codecs not converged after the storm: %v", diffs)
	}
	st, err := g.stats(ctx)
	if err != nil {
		return err
	}
	early, inflight, throttled := 0, 0, 0
	statuses := map[string]int{}
	for room, m := range st.Mailboxes {
		early += m.EarlyRetries
		inflight = max(inflight, m.MaxInFlight)
		throttled += m.Throttled
		for k, v := range m.Statuses {
			statuses[k] += v
		}
		r.check(m.EarlyRetries == 0, "%s: %d requests before Retry-After expired", room, m.EarlyRetries)
		r.check(m.MaxInFlight <= graphLimit, "%s: %d requests in flight (Graph allows %d)", room, m.MaxInFlight, graphLimit)
	}
	r.Counts["graph_requests"] = st.Requests
	r.Counts["early_retries"] = early
	r.Counts["max_in_flight"] = inflight
	r.Counts["answers_by_status"] = statuses
	r.check(s.alive(), "the agent is not running at the end")
	return nil
}

// roomsOK is nil when every room's last sync succeeded after its last failure.
func roomsOK(ctx context.Context, s *site) error {
	var rooms []struct {
		Mailbox     string    `json:"mailbox"`
		Status      string    `json:"status"`
		Detail      string    `json:"detail"`
		LastAttempt time.Time `json:"last_attempt"`
		LastSuccess time.Time `json:"last_success"`
	}
	if err := callJSON(ctx, http.MethodGet, s.sim.File.Agent.StatusURL+"/api/rooms", nil, &rooms); err != nil {
		return err
	}
	for _, rm := range rooms {
		if rm.Status != "ok" || rm.LastSuccess.Before(rm.LastAttempt) {
			return fmt.Errorf("room %s: %s %s", rm.Mailbox, rm.Status, rm.Detail)
		}
	}
	return nil
}

// syncedSince waits until every room has synced successfully after t (asking for a sync):
// the store then holds every calendar change made before t, so the codecs can be compared
// with Graph without waiting for the agent's poll interval (a change to a meeting hours away
// may take up to 5 minutes by design).
func (s *site) syncedSince(ctx context.Context, t time.Time, limit time.Duration) error {
	_ = s.action(ctx, "sync", map[string]any{})
	return waitFor(ctx, limit, 250*time.Millisecond, func() error {
		var rooms []struct {
			Mailbox     string    `json:"mailbox"`
			LastSuccess time.Time `json:"last_success"`
		}
		if err := callJSON(ctx, http.MethodGet, s.sim.File.Agent.StatusURL+"/api/rooms", nil, &rooms); err != nil {
			return err
		}
		for _, rm := range rooms {
			if rm.LastSuccess.Before(t) {
				return fmt.Errorf("room %s last synced at %s", rm.Mailbox, rm.LastSuccess.Format(time.TimeOnly))
			}
		}
		return nil
	})
}

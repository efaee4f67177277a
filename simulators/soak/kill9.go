package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
)

func init() { register("kill9", kill9) }

// soakConfig pins what the checks assume: the Cisco window (1 h back, to the end of
// tomorrow) and the outbox cap.
func soakConfig(cfg map[string]any) {
	cfg["cisco"] = map[string]any{"window_past": "1h", "window_days": 1}
	cfg["log"] = map[string]any{"format": "text", "level": "info"}
}

// kill9 kills the agent with SIGKILL at random moments while calendars change, codecs reboot
// and drop, pushes and reloads run and the outbox drains; after each kill it checks the store
// (integrity_check), notes every event waiting in the outbox, restarts the agent and waits
// for every codec to hold the right bookings. At the end every event the store ever committed
// must have reached the broker.
func kill9(ctx context.Context, e *env, r *Result) error {
	var sub *listener
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: e.knobs.Rooms, meetings: 20, cisco: e.knobs.Rooms, mqtt: "embedded",
		config: soakConfig,
		beforeAgent: func(s *site) (err error) {
			sub, err = listen(s.sim.File.MQTT.URL, "soak-kill9")
			return err
		}})
	if err != nil {
		return err
	}
	defer s.close()
	defer sub.close()
	if err := s.waitSynced(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	if diffs, _ := s.converged(ctx, e.knobs.Converge); len(diffs) > 0 {
		return fmt.Errorf("codecs did not converge before the first kill: %v", diffs)
	}
	rng := rand.New(rand.NewPCG(e.knobs.Seed, 9))
	ch := newChurner(s, e.knobs.Seed, 150*time.Millisecond, churnMix{edit: 12, reboot: 2, drop: 2, push: 2, reload: 2})
	var mustArrive []string
	var worst time.Duration
	var converges []time.Duration
	integrityOK, queuedAtKill, bursts, killsWithQueue := 0, 0, 0, 0
	for i := range e.knobs.Kills {
		ch.start(ctx)
		burst := i%3 == 2
		if burst {
			// Every third kill lands while the outbox drains a burst of events (reloads:
			// one event each), a fraction of a second after it began.
			burstCtx, stopBurst := context.WithCancel(ctx)
			go reloadBurst(burstCtx, s, 200)
			time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
			stopBurst()
			bursts++
		} else {
			// A random moment: right after the start (first sync, reconnects, the outbox
			// backlog) up to a few seconds in (steady pushes and edits).
			time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Second))))
		}
		if !s.alive() {
			ch.stop()
			return fmt.Errorf("kill %d: the agent had exited on its own; see %s", i+1, s.agent.Log)
		}
		s.agent.Kill()
		ch.stop()
		c, err := harness.CheckStore(ctx, s.dbPath())
		if err != nil {
			r.failf("kill %d: read the store: %v", i+1, err)
		} else if r.check(c.Integrity == "ok", "kill %d: integrity_check: %s", i+1, c.Integrity) {
			integrityOK++
		}
		mustArrive = append(mustArrive, c.QueuedEvents...)
		queuedAtKill += len(c.QueuedEvents)
		if len(c.QueuedEvents) > 0 {
			killsWithQueue++
		}
		if err := s.startAgent(ctx); err != nil {
			return fmt.Errorf("restart %d: %w", i+1, err)
		}
		diffs, took := s.converged(ctx, e.knobs.Converge)
		converges = append(converges, took)
		worst = max(worst, took)
		if len(diffs) > 0 {
			r.failf("restart %d: codecs not converged after %s: %v", i+1, e.knobs.Converge, diffs)
		}
	}
	r.Counts["kills"] = e.knobs.Kills
	r.Counts["integrity_ok"] = integrityOK
	r.Counts["converge_max_seconds"] = worst.Seconds()
	r.Counts["converge_p50_seconds"] = median(converges).Seconds()
	ch.counts(r.Counts)
	lost, err := drainAndCount(ctx, s, sub, mustArrive, r)
	if err != nil {
		return err
	}
	r.Counts["events_queued_at_kills"] = queuedAtKill
	r.Counts["kills_with_events_queued"] = killsWithQueue
	r.Counts["kills_during_event_bursts"] = bursts
	r.check(lost == 0, "%d events committed to the outbox never reached the broker", lost)
	return nil
}

// drainAndCount waits for the agent's outbox to empty, stops the agent, and compares what the
// store ever emitted (minus drops it counted) with what the subscriber received; mustArrive
// are ids seen queued in the outbox along the way. It returns the events lost.
func drainAndCount(ctx context.Context, s *site, sub *listener, mustArrive []string, r *Result) (int, error) {
	if err := waitDrained(ctx, s, 60*time.Second); err != nil {
		r.failf("the outbox did not drain: %v", err)
	}
	if err := s.agent.Stop(15 * time.Second); err != nil {
		r.failf("the agent did not stop cleanly: %v", err)
	}
	c, err := harness.CheckStore(ctx, s.dbPath())
	if err != nil {
		return 0, err
	}
	r.check(c.Integrity == "ok", "final integrity_check: %s", c.Integrity)
	want := int(c.EventsEmitted - c.Dropped - int64(len(c.QueuedEvents)))
	// The subscriber may still be receiving the last ones.
	_ = waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() error {
		if n := sub.count(); n < want || len(sub.missing(mustArrive)) > 0 {
			return fmt.Errorf("%d of %d", n, want)
		}
		return nil
	})
	missing := sub.missing(mustArrive)
	slices.Sort(missing)
	missing = slices.Compact(missing)
	received := sub.count()
	lost := max(want-received, 0)
	if len(missing) > 0 {
		r.failf("%d events seen queued in the outbox never arrived (first %s)", len(missing), missing[0])
		lost = max(lost, len(missing))
	}
	r.Counts["events_emitted"] = c.EventsEmitted
	r.Counts["events_dropped_by_cap"] = c.Dropped
	r.Counts["events_received"] = received
	r.Counts["events_duplicated"] = sub.duplicates()
	r.Counts["events_left_in_outbox"] = len(c.QueuedEvents)
	r.Counts["events_lost"] = lost
	return lost, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// reloadBurst asks for n config reloads (one event each) from 4 clients at once, until ctx
// ends.
func reloadBurst(ctx context.Context, s *site, n int) {
	next := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				_ = s.action(ctx, "reload", map[string]any{})
			}
		}()
	}
	defer func() { close(next); wg.Wait() }()
	for range n {
		select {
		case <-ctx.Done():
			return
		case next <- struct{}{}:
		}
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

func init() { register("broker_down", brokerDown) }

// brokerDown stops the MQTT broker (mosquitto, persistent, no per-client queue limit) while
// the agent produces Events events (config reloads through the control API: each one is an
// event, `config.reloaded`, in the outbox), then starts it again: every event must reach the
// central subscriber, none dropped (the outbox cap is raised above Events for the scenario;
// the cap and its drop counter are covered by the store's tests).
func brokerDown(ctx context.Context, e *env, r *Result) error {
	if err := os.MkdirAll(filepath.Join(e.dir, "broker"), 0o755); err != nil {
		return err
	}
	b, err := mosquitto.Start(ctx, mosquitto.Options{Dir: filepath.Join(e.dir, "broker"), Persistence: true})
	if err != nil {
		return fmt.Errorf("start the broker: %w", err)
	}
	defer b.Close()
	r.Counts["broker"] = b.Kind()
	var sub *listener
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: 2, meetings: 5, cisco: 1, mqtt: b.Addr(),
		config: func(cfg map[string]any) {
			soakConfig(cfg)
			cfg["mqtt"] = map[string]any{"broker": b.URL(), "outbox_max_messages": e.knobs.Events*2 + 10000, "keepalive": "5s"}
		},
		beforeAgent: func(s *site) (err error) {
			sub, err = listen(b.URL(), "soak-broker-down")
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
	if err := waitDrained(ctx, s, 30*time.Second); err != nil {
		return fmt.Errorf("before the outage: %w", err)
	}
	if err := b.Stop(); err != nil {
		return fmt.Errorf("stop the broker: %w", err)
	}
	began := time.Now()
	var made, failed atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := s.action(ctx, "reload", map[string]any{}); err != nil {
					failed.Add(1)
					continue
				}
				made.Add(1)
			}
		}()
	}
	for range e.knobs.Events {
		if ctx.Err() != nil {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	produce := time.Since(began)
	depth, err := outboxDepth(ctx, s)
	if err != nil {
		return err
	}
	r.Counts["events_produced"] = made.Load()
	r.Counts["produce_errors"] = failed.Load()
	r.Counts["produce_seconds"] = produce.Seconds()
	r.Counts["outbox_depth_while_down"] = depth
	r.check(failed.Load() == 0, "%d reloads failed while the broker was down", failed.Load())
	r.check(depth >= made.Load(), "the outbox held %d messages after %d events with the broker down", depth, made.Load())
	if !s.alive() {
		return fmt.Errorf("the agent exited while the broker was down; see %s", s.agent.Log)
	}
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("start the broker again: %w", err)
	}
	back := time.Now()
	if err := waitDrained(ctx, s, 5*time.Minute); err != nil {
		r.failf("the outbox did not drain after the broker came back: %v", err)
	}
	r.Counts["drain_seconds"] = time.Since(back).Seconds()
	lost, err := drainAndCount(ctx, s, sub, nil, r)
	if err != nil {
		return err
	}
	r.check(lost == 0, "%d events never reached the broker", lost)
	return nil
}

func outboxDepth(ctx context.Context, s *site) (int64, error) {
	var st struct {
		MQTT struct {
			OutboxDepth int64 `json:"outbox_depth"`
		} `json:"mqtt"`
	}
	err := harness.GetJSON(ctx, s.sim.File.Agent.StatusURL+"/api/status", &st)
	return st.MQTT.OutboxDepth, err
}

// waitDrained waits for the agent's outbox to empty.
func waitDrained(ctx context.Context, s *site, limit time.Duration) error {
	return waitFor(ctx, limit, 200*time.Millisecond, func() error {
		d, err := outboxDepth(ctx, s)
		if err == nil && d > 0 {
			err = fmt.Errorf("the outbox still holds %d messages", d)
		}
		return err
	})
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
)

// The supervisor runs the parts partSpecs lists: it starts them in order, restarts a failed
// one with backoff, and on reload restarts exactly the parts whose key changed.

// supervisor runs the parts, restarts failed ones with backoff, and reconciles the running
// set with a new list of specs on reload.
type supervisor struct {
	a       *Agent
	root    context.Context
	running []*runningPart
}

type runningPart struct {
	spec   partSpec
	cancel context.CancelFunc
	done   chan struct{}
}

func newSupervisor(ctx context.Context, a *Agent) *supervisor {
	// Parts outlive the root context's cancellation until stopAll stops them in order.
	return &supervisor{a: a, root: context.WithoutCancel(ctx)}
}

// reconcile stops the parts that are gone or changed (newest first), then starts the new and
// changed ones in order. Unchanged parts keep running untouched.
func (s *supervisor) reconcile(specs []partSpec) {
	want := map[string]string{}
	for _, sp := range specs {
		want[sp.name] = sp.key
	}
	var keep []*runningPart
	for i := len(s.running) - 1; i >= 0; i-- {
		r := s.running[i]
		if key, ok := want[r.spec.name]; ok && key == r.spec.key {
			keep = append([]*runningPart{r}, keep...)
			continue
		}
		s.stop(r, s.a.opts.StopTimeout)
		s.a.log.Info("part stopped for the new config", "part", r.spec.name)
	}
	have := map[string]*runningPart{}
	for _, r := range keep {
		have[r.spec.name] = r
	}
	var next []*runningPart
	for _, sp := range specs {
		if r, ok := have[sp.name]; ok {
			next = append(next, r)
			continue
		}
		next = append(next, s.start(sp))
	}
	s.running = next
}

func (s *supervisor) start(sp partSpec) *runningPart {
	ctx, cancel := context.WithCancel(s.root)
	r := &runningPart{spec: sp, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		s.a.supervise(ctx, sp)
	}()
	return r
}

func (s *supervisor) stop(r *runningPart, limit time.Duration) {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(limit):
		s.a.log.Warn("part did not stop in time", "part", r.spec.name)
	}
}

// stopAll stops every part, newest first, within limit in all.
func (s *supervisor) stopAll(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for i := len(s.running) - 1; i >= 0; i-- {
		s.stop(s.running[i], max(time.Until(deadline), 100*time.Millisecond))
	}
	s.running = nil
}

// supervise builds and runs a part until ctx ends, rebuilding and restarting it after a
// failure with growing delays; a failing part is marked in health (component "part/<name>";
// the part's own components say more) and never stops the rest.
func (a *Agent) supervise(ctx context.Context, sp partSpec) {
	backoff := time.Second
	component := "part/" + sp.name
	failed := false
	for {
		start := a.clock.Now()
		err := runGuarded(ctx, sp, func() {
			if failed {
				a.health.OK(component, "running again")
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		failed = true
		a.health.Fail(component, err.Error())
		a.log.Error("part failed; restarting", "part", sp.name, "err", err, "in", backoff)
		if a.clock.Now().Sub(start) > 5*time.Minute {
			backoff = time.Second
		}
		if !clock.Sleep(a.clock, backoff, ctx.Done()) {
			return
		}
		backoff = min(backoff*2, 2*time.Minute)
	}
}

// runGuarded builds and runs one part (calling built in between), turning a panic into an
// error so one bug cannot take the site down.
func runGuarded(ctx context.Context, sp partSpec, built func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	run, err := sp.build()
	if err != nil {
		return err
	}
	built()
	return run(ctx)
}

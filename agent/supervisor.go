package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
)

// The supervisor runs the parts partSpecs lists: it starts them in order, restarts a failed
// one with backoff (a panic is logged with its stack), and on reload restarts exactly the
// parts whose key changed. A part that fails on its config (Permanent) is not restarted
// until the next reload.

// Permanent marks err as a failure that retrying cannot fix: only a change of the config, or
// of a file it names (a CA, a certificate), can. The supervisor then stops restarting the
// part, marks it in health with what to do, and tries it again at the next reload.
//
// A part's build error is always taken as permanent: a build only translates the config and
// reads the files it names, and never touches the network. A part's run returns
// Permanent(err) for such a failure it finds later. Packages that cannot import agent report
// the same with an error type that has a method Permanent() bool returning true.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() error   { return e.err }
func (e permanentError) Permanent() bool { return true }

// isPermanent reports whether err, or an error it wraps, says retrying cannot fix it.
func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// permanentAdvice follows a permanent failure's message in health.
const permanentAdvice = " (otj-edge does not retry this: fix the config, then otj-edge reload)"

// panicError is a part's panic: the value and the stack of the goroutine that panicked.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

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
	done   chan struct{} // closed when supervise returns: stopped, or failed permanently
}

// ended reports whether the part's supervise has returned. Only stop cancels a part, so a
// part still in the running set that has ended failed permanently.
func (r *runningPart) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func newSupervisor(ctx context.Context, a *Agent) *supervisor {
	// Parts outlive the root context's cancellation until stopAll stops them in order.
	return &supervisor{a: a, root: context.WithoutCancel(ctx)}
}

// reconcile stops the parts that are gone or changed (newest first), then starts the new and
// changed ones in order. Unchanged parts keep running untouched. A part that failed
// permanently starts again even with its key unchanged: a reload is the operator saying the
// config, or a file it names, is fixed (the key does not see a file's content).
func (s *supervisor) reconcile(specs []partSpec) {
	want := map[string]string{}
	for _, sp := range specs {
		want[sp.name] = sp.key
	}
	var keep []*runningPart
	for i := len(s.running) - 1; i >= 0; i-- {
		r := s.running[i]
		key, wanted := want[r.spec.name]
		switch {
		case r.ended():
			if wanted {
				s.a.log.Info("trying again a part that failed on its config", "part", r.spec.name)
			}
		case wanted && key == r.spec.key:
			keep = append([]*runningPart{r}, keep...)
			continue
		default:
			s.stop(r, s.a.opts.StopTimeout)
			s.a.log.Info("part stopped for the new config", "part", r.spec.name)
		}
		if !wanted { // its failure, if any, is no longer anything to fix
			s.a.health.Remove(partComponent(r.spec.name))
		}
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

func partComponent(name string) string { return "part/" + name }

// supervise builds and runs a part until ctx ends, rebuilding and restarting it after a
// failure with growing delays; a failing part is marked in health (component "part/<name>";
// the part's own components say more) and never stops the rest. A permanent failure (see
// Permanent) ends it instead: the next reload starts the part again (reconcile).
func (a *Agent) supervise(ctx context.Context, sp partSpec) {
	backoff := time.Second
	component := partComponent(sp.name)
	for {
		start := a.clock.Now()
		err := runGuarded(ctx, sp, func() { a.partRunning(component) })
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		if isPermanent(err) {
			a.health.Fail(component, err.Error()+permanentAdvice)
			a.log.Error("part failed on its config; not restarting it until otj-edge reload", "part", sp.name, "err", err)
			return
		}
		a.health.Fail(component, err.Error())
		if pe, ok := errors.AsType[*panicError](err); ok {
			// The stack is what makes a panic fixable: the health line has only the value.
			a.log.Error("part panicked; restarting", "part", sp.name, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack), "in", backoff)
		} else {
			a.log.Error("part failed; restarting", "part", sp.name, "err", err, "in", backoff)
		}
		if a.clock.Now().Sub(start) > 5*time.Minute {
			backoff = time.Second
		}
		if !clock.Sleep(a.clock, backoff, ctx.Done()) {
			return
		}
		backoff = min(backoff*2, 2*time.Minute)
	}
}

// partRunning clears the part's failure once it is built again. The failure may be an
// earlier supervise's (a part restarted by a reload), so health is asked, not a local flag.
func (a *Agent) partRunning(component string) {
	for _, it := range a.health.Problems() {
		if it.Component == component {
			a.health.OK(component, "running again")
		}
	}
}

// runGuarded builds and runs one part (calling built in between), turning a panic into an
// error with the panicking goroutine's stack, so one bug cannot take the site down. A build
// error is permanent (see Permanent).
func runGuarded(ctx context.Context, sp partSpec, built func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	run, err := sp.build()
	if err != nil {
		return Permanent(err)
	}
	built()
	return run(ctx)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/device/poly"
)

// The supervisor runs on the injected clock: a test waits for its backoff timer
// (TimerCreated) or for supervise to return, and moves time itself.

// supervised is an agent with nothing but a fake clock, a log and health, for the supervisor.
type supervised struct {
	t    *testing.T
	clk  *clock.Fake
	logs *syncBuffer
	a    *Agent
	sup  *supervisor
}

func newSupervised(t *testing.T) *supervised {
	clk := clock.NewFake(time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	a := New(&config.Config{}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk, StopTimeout: 5 * time.Second})
	s := &supervised{t: t, clk: clk, logs: logs, a: a, sup: newSupervisor(t.Context(), a)}
	t.Cleanup(func() { s.sup.stopAll(5 * time.Second) })
	return s
}

// health is the component's item; ok is false when there is none.
func (s *supervised) health(component string) (health.Item, bool) {
	for _, it := range s.a.health.Snapshot() {
		if it.Component == component {
			return it, true
		}
	}
	return health.Item{}, false
}

// await fails the test when ch yields nothing in time (a hang, not a wait for time to pass).
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// part is a part whose run does what the test says, counting its builds.
type part struct {
	builds  atomic.Int32
	built   chan int32    // each build's number
	running chan struct{} // a run started
	// build decides build n's outcome: an error, or what run does (nil: run until stopped).
	build func(n int32) (run func(ctx context.Context) error, err error)
}

func newPart(build func(n int32) (func(ctx context.Context) error, error)) *part {
	return &part{built: make(chan int32, 16), running: make(chan struct{}, 16), build: build}
}

func (p *part) spec(name, key string) partSpec {
	return partSpec{name: name, key: key, build: func() (func(ctx context.Context) error, error) {
		n := p.builds.Add(1)
		p.built <- n
		run, err := p.build(n)
		if err != nil {
			return nil, err
		}
		if run == nil {
			run = func(ctx context.Context) error { <-ctx.Done(); return nil }
		}
		return func(ctx context.Context) error {
			p.running <- struct{}{}
			return run(ctx)
		}, nil
	}}
}

// writeToNilMap is a part's bug: it panics with "assignment to entry in nil map".
func writeToNilMap(m map[string]int) { m["room"]++ }

// TestAPanickingPartLogsItsStackAndRestarts: a part that panics is logged with the panic value
// and the stack that leads to the bug, marked in health, and restarted after the backoff;
// once it runs again health says so.
func TestAPanickingPartLogsItsStackAndRestarts(t *testing.T) {
	s := newSupervised(t)
	p := newPart(func(n int32) (func(ctx context.Context) error, error) {
		if n == 1 {
			return func(context.Context) error { writeToNilMap(nil); return nil }, nil
		}
		return nil, nil
	})
	armed := s.clk.TimerCreated()
	s.sup.reconcile([]partSpec{p.spec("cisco", "k1")})
	await(t, armed, "the backoff after the panic")
	// Build 1 ran (and panicked): take its signals, so the waits below see build 2's.
	assert.Equal(t, int32(1), await(t, p.built, "build 1"))
	await(t, p.running, "build 1 running")

	logs := s.logs.String()
	assert.Contains(t, logs, `msg="part panicked; restarting" part=cisco panic="assignment to entry in nil map"`)
	assert.Contains(t, logs, "agent.writeToNilMap(", "the stack names the function that panicked")
	assert.Contains(t, logs, "supervisor_test.go:", "with its file and line")
	it, ok := s.health("part/cisco")
	require.True(t, ok)
	assert.Equal(t, health.Error, it.Level)
	assert.Equal(t, "panic: assignment to entry in nil map", it.Message, "health has the value, not the stack")
	assert.Equal(t, []time.Duration{time.Second}, s.clk.Pending(), "restarted after 1 s")

	s.clk.Advance(time.Second)
	assert.Equal(t, int32(2), await(t, p.built, "the rebuild"))
	await(t, p.running, "the part running again")
	it, _ = s.health("part/cisco")
	assert.Equal(t, health.OK, it.Level)
	assert.Equal(t, "running again", it.Message)
}

// TestAPartThatFailsOnItsConfigWaitsForAReload: a part whose build fails (a config problem) is
// not rebuilt however long the agent runs; health says what is wrong and what to do. Each
// reload tries it again, and once the config is fixed it runs.
func TestAPartThatFailsOnItsConfigWaitsForAReload(t *testing.T) {
	s := newSupervised(t)
	var fixed atomic.Bool
	p := newPart(func(int32) (func(ctx context.Context) error, error) {
		if !fixed.Load() {
			return nil, errors.New(`graph integration "m365": ca_file /etc/otj-edge/ca.pem: no certificate in it`)
		}
		return nil, nil
	})
	s.sup.reconcile([]partSpec{p.spec("graph/m365", "k1")})
	await(t, s.sup.running[0].done, "supervise to give up")

	it, ok := s.health("part/graph/m365")
	require.True(t, ok)
	assert.Equal(t, health.Error, it.Level)
	assert.Equal(t, `graph integration "m365": ca_file /etc/otj-edge/ca.pem: no certificate in it (otj-edge does not retry this: fix the config, then otj-edge reload)`, it.Message)
	assert.Contains(t, s.logs.String(), `msg="part failed on its config; not restarting it until otj-edge reload" part=graph/m365`)
	assert.Empty(t, s.clk.Pending(), "no retry is scheduled")
	s.clk.Advance(24 * time.Hour)
	assert.Equal(t, int32(1), p.builds.Load(), "built once in a day")

	// A reload with the file still broken tries once more (its key does not see the file).
	s.sup.reconcile([]partSpec{p.spec("graph/m365", "k1")})
	await(t, s.sup.running[0].done, "the second attempt to give up")
	assert.Equal(t, int32(2), p.builds.Load())

	// The operator fixes the config; the reload changes the part's key and starts it.
	fixed.Store(true)
	s.sup.reconcile([]partSpec{p.spec("graph/m365", "k2")})
	await(t, p.running, "the part running after the reload")
	assert.Equal(t, int32(3), p.builds.Load())
	it, _ = s.health("part/graph/m365")
	assert.Equal(t, health.OK, it.Level)
	assert.Equal(t, "running again", it.Message)
}

// certProblem is how a package that cannot import agent reports a permanent failure.
type certProblem struct{ file string }

func (e certProblem) Error() string   { return "ews certificate " + e.file + ": no PEM data" }
func (e certProblem) Permanent() bool { return true }

// TestARunningPartCanReportAPermanentFailure: an error a part's run returns is retried with
// backoff, unless it says it is permanent (agent.Permanent, or its own Permanent method);
// then the part stops until a reload, and a reload that drops the part drops its health item.
func TestARunningPartCanReportAPermanentFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"agent.Permanent", Permanent(fmt.Errorf("status page: listen address %q is not host:port", "localhost"))},
		{"a Permanent method", fmt.Errorf("ews: %w", certProblem{file: "/etc/otj-edge/ews.crt"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSupervised(t)
			p := newPart(func(n int32) (func(ctx context.Context) error, error) {
				if n == 1 {
					return func(context.Context) error { return errors.New("connection reset by peer") }, nil
				}
				return func(context.Context) error { return tc.err }, nil
			})
			armed := s.clk.TimerCreated()
			s.sup.reconcile([]partSpec{p.spec("ews", "k1")})
			await(t, armed, "the backoff after a transient failure")
			assert.Contains(t, s.logs.String(), `msg="part failed; restarting" part=ews err="connection reset by peer" in=1s`)

			s.clk.Advance(time.Second)
			await(t, s.sup.running[0].done, "supervise to give up")
			it, _ := s.health("part/ews")
			assert.Equal(t, tc.err.Error()+permanentAdvice, it.Message)
			s.clk.Advance(time.Hour)
			assert.Equal(t, int32(2), p.builds.Load(), "not rebuilt after the permanent failure")

			s.sup.reconcile(nil)
			_, ok := s.health("part/ews")
			assert.False(t, ok, "a part removed from the config leaves no failure behind")
		})
	}
}

// waitHealth waits until the component's item satisfies ok (health changes are signalled).
func waitHealth(t *testing.T, h *health.Tracker, component string, ok func(health.Item) bool) health.Item {
	t.Helper()
	changed, stop := h.Subscribe()
	defer stop()
	timeout := time.After(20 * time.Second)
	for {
		for _, it := range h.Snapshot() {
			if it.Component == component && ok(it) {
				return it
			}
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for health %s; have %+v", component, h.Snapshot())
		}
	}
}

// TestABrokenEWSCertificateWaitsForTheOperator: the self-signed certificate of the Poly
// calendar service is damaged on disk. The service is not rebuilt in a loop: health says
// what is wrong and to reload; the operator deletes the pair as told and reloads the
// unchanged config, and the service makes a new certificate and serves.
func TestABrokenEWSCertificateWaitsForTheOperator(t *testing.T) {
	dir := t.TempDir()
	path := writeTestConfig(t, dir, testSiteHead("off", "https://"+freePort(t)+"/t/oauth2/v2.0/token", "")+`  - name: default
endpoints:
  - name: poly-1
    type: poly
    room: room-1@example.com
    calendar_username: poly-1
    calendar_password: calendar-secret-value-1
ews:
  listen: `+freePort(t)+`
`)
	state := filepath.Join(dir, "state")
	certFile, keyFile := filepath.Join(state, poly.SelfSignedCertFile), filepath.Join(state, poly.SelfSignedKeyFile)
	require.NoError(t, os.MkdirAll(state, 0o700))
	for _, f := range []string{certFile, keyFile} {
		require.NoError(t, os.WriteFile(f, []byte("-----BEGIN CERT"), 0o600)) // cut short by a power loss
	}
	cfg, err := config.Load(path)
	require.NoError(t, err)
	clk := clock.NewFake(time.Now())
	logs := &syncBuffer{}
	a := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk, ConfigPath: path})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	await(t, a.Ready(), "the agent to start")

	ews := func() *runningPart {
		a.reloadMu.Lock()
		defer a.reloadMu.Unlock()
		for _, r := range a.sup.running {
			if r.spec.name == "ews" {
				return r
			}
		}
		t.Fatal("no ews part")
		return nil
	}
	failures := func() int {
		return strings.Count(logs.String(), `msg="part failed on its config; not restarting it until otj-edge reload" part=ews`)
	}
	it := waitHealth(t, a.Health(), "part/ews", func(it health.Item) bool { return it.Level == health.Error })
	assert.Contains(t, it.Message, "delete "+certFile+" and "+keyFile+" to have a new one made")
	assert.Contains(t, it.Message, "fix the config, then otj-edge reload")
	await(t, ews().done, "the ews part to give up")
	clk.Advance(time.Hour)
	assert.Equal(t, 1, failures(), "not rebuilt while nothing changed")

	// A reload of the unchanged config tries the part again (here: still broken).
	require.NoError(t, a.Reload(t.Context()))
	await(t, ews().done, "the second attempt to give up")
	assert.Equal(t, 2, failures())

	require.NoError(t, os.Remove(certFile))
	require.NoError(t, os.Remove(keyFile))
	require.NoError(t, a.Reload(t.Context()))
	it = waitHealth(t, a.Health(), "ews", func(it health.Item) bool { return it.Level == health.OK })
	assert.Contains(t, it.Message, "serving 1 Poly endpoint(s)")
	it = waitHealth(t, a.Health(), "part/ews", func(it health.Item) bool { return it.Level == health.OK })
	assert.Equal(t, "running again", it.Message)
	_, err = os.Stat(certFile)
	assert.NoError(t, err, "a new certificate was made")
}

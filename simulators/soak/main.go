// Command soak runs otj-edge's fault scenarios (`make soak`) against the real binaries on
// loopback — the agent killed with SIGKILL, Graph and the broker unreachable, Graph and codec
// fault storms, hostile input, hours of churn — and writes one JSON report with each
// scenario's verdict and counts. simulators/README.md ("Soak tests") explains every scenario and knob.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
)

// Knobs size the scenarios (flags, or SOAK_* environment variables).
type Knobs struct {
	Kills       int           `json:"kills"`        // kill9: SIGKILLs (SOAK_KILLS)
	Events      int           `json:"events"`       // broker_down: events produced while the broker is down (SOAK_EVENTS)
	Rooms       int           `json:"rooms"`        // rooms (and codecs) of a site (SOAK_ROOMS)
	Outage      time.Duration `json:"outage"`       // wan_down: how long Graph is unreachable (SOAK_OUTAGE)
	StormFor    time.Duration `json:"storm_for"`    // graph_storm, codec_storm: how long the faults last (SOAK_STORM)
	ChurnRounds int           `json:"churn_rounds"` // leaks: rounds of churn (SOAK_CHURN)
	Converge    time.Duration `json:"converge"`     // kill9: time allowed to converge after a restart (SOAK_CONVERGE)
	Seed        uint64        `json:"seed"`         // SOAK_SEED
}

// Defaults are the full run's sizes.
func Defaults() Knobs {
	return Knobs{Kills: 50, Events: 10000, Rooms: 10, Outage: 90 * time.Second, StormFor: 60 * time.Second,
		ChurnRounds: 360, Converge: 30 * time.Second, Seed: 1}
}

// Report is bench/soak.json.
type Report struct {
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	Host      string    `json:"host"`
	CPUs      int       `json:"cpus"`
	Knobs     Knobs     `json:"knobs"`
	Pass      bool      `json:"pass"`
	Scenarios []*Result `json:"scenarios"`
}

// Result is one scenario's verdict: Pass only when it ran to the end and every check held.
type Result struct {
	Name     string         `json:"name"`
	Pass     bool           `json:"pass"`
	Seconds  float64        `json:"seconds"`
	Counts   map[string]any `json:"counts"`
	Failures []string       `json:"failures,omitempty"`
	Error    string         `json:"error,omitempty"` // the scenario could not run to the end
	Notes    []string       `json:"notes,omitempty"`
}

// failf records a failed check.
func (r *Result) failf(format string, args ...any) {
	const keep = 50
	if len(r.Failures) == keep {
		r.Failures = append(r.Failures, "… more failures left out")
	}
	if len(r.Failures) < keep {
		r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
	}
}

// check records a failure unless ok; it returns ok.
func (r *Result) check(ok bool, format string, args ...any) bool {
	if !ok {
		r.failf(format, args...)
	}
	return ok
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// env is what every scenario gets.
type env struct {
	bins  harness.Bins
	dir   string // the scenario's own directory
	knobs Knobs
	log   *slog.Logger
}

type scenario struct {
	name string
	run  func(ctx context.Context, e *env, r *Result) error
}

var scenarios []scenario

func register(name string, run func(ctx context.Context, e *env, r *Result) error) {
	scenarios = append(scenarios, scenario{name, run})
}

// Names are the scenarios in run order.
func Names() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// Run builds the binaries (into dir/bin) and runs the named scenarios (nil: all).
func Run(ctx context.Context, dir string, names []string, k Knobs, log *slog.Logger) (*Report, error) {
	root, err := harness.Root()
	if err != nil {
		return nil, err
	}
	log.Info("building otj-edge and otj-sim")
	bins, err := harness.Build(ctx, root, filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	return RunWith(ctx, bins, dir, names, k, log)
}

// RunWith runs the named scenarios (nil: all) with built binaries, each in its own
// directory under dir.
func RunWith(ctx context.Context, bins harness.Bins, dir string, names []string, k Knobs, log *slog.Logger) (*Report, error) {
	for _, n := range names {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("no scenario %q (there are %s)", n, strings.Join(Names(), ", "))
		}
	}
	host, _ := os.Hostname()
	rep := &Report{Started: time.Now().UTC(), Host: host, CPUs: runtime.NumCPU(), Knobs: k, Pass: true}
	for _, sc := range scenarios {
		if len(names) > 0 && !slices.Contains(names, sc.name) {
			continue
		}
		r := &Result{Name: sc.name, Counts: map[string]any{}}
		rep.Scenarios = append(rep.Scenarios, r)
		e := &env{bins: bins, dir: filepath.Join(dir, sc.name), knobs: k, log: log.With("scenario", sc.name)}
		// A fresh directory: a store left by an earlier run would hold pins and delta links
		// of simulators that no longer exist.
		if err := os.RemoveAll(e.dir); err != nil {
			return rep, err
		}
		if err := os.MkdirAll(e.dir, 0o755); err != nil {
			return rep, err
		}
		log.Info("scenario start", "scenario", sc.name)
		began := time.Now()
		if err := sc.run(ctx, e, r); err != nil {
			r.Error = err.Error()
		}
		r.Seconds = time.Since(began).Seconds()
		r.Pass = r.Error == "" && len(r.Failures) == 0
		rep.Pass = rep.Pass && r.Pass
		log.Info("scenario done", "scenario", sc.name, "pass", r.Pass, "seconds", int(r.Seconds), "failures", len(r.Failures), "error", r.Error)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	return rep, ctx.Err()
}

func main() {
	k := Defaults()
	envKnobs(&k)
	out := flag.String("out", "bench/soak.json", "where to write the report")
	list := flag.String("scenarios", os.Getenv("SOAK_SCENARIOS"), "comma-separated scenarios to run (default all: "+strings.Join(Names(), ",")+")")
	work := flag.String("dir", "", "working directory for the sites and logs (default: a new temporary directory, kept on failure)")
	flag.IntVar(&k.Kills, "kills", k.Kills, "kill9: how many SIGKILLs")
	flag.IntVar(&k.Events, "events", k.Events, "broker_down: events produced while the broker is down")
	flag.IntVar(&k.Rooms, "rooms", k.Rooms, "rooms (each with a codec) per site")
	flag.DurationVar(&k.Outage, "outage", k.Outage, "wan_down: how long Graph is unreachable")
	flag.DurationVar(&k.StormFor, "storm", k.StormFor, "graph_storm, codec_storm: how long the faults last")
	flag.IntVar(&k.ChurnRounds, "churn", k.ChurnRounds, "leaks: rounds of churn (one round ≈ 10 s of a busy site)")
	flag.DurationVar(&k.Converge, "converge", k.Converge, "kill9: how long codecs may take to converge after a restart")
	flag.Uint64Var(&k.Seed, "seed", k.Seed, "random seed")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir := *work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "otj-soak-"); err != nil {
			fail(err)
		}
	}
	var names []string
	for _, n := range strings.Split(*list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	rep, err := Run(ctx, dir, names, k, log)
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := os.MkdirAll(filepath.Dir(*out), 0o755); werr == nil {
			werr = os.WriteFile(*out, append(b, '\n'), 0o644)
			if werr != nil {
				err = errors.Join(err, werr)
			}
		}
		for _, r := range rep.Scenarios {
			verdict := "PASS"
			if !r.Pass {
				verdict = "FAIL"
			}
			fmt.Printf("%-12s %s  %5.0fs  %v\n", r.Name, verdict, r.Seconds, r.Counts)
			for _, f := range r.Failures {
				fmt.Printf("    - %s\n", f)
			}
			if r.Error != "" {
				fmt.Printf("    error: %s\n", r.Error)
			}
		}
		fmt.Printf("report: %s (logs in %s)\n", *out, dir)
	}
	if err != nil {
		fail(err)
	}
	if rep != nil && rep.Pass && *work == "" {
		os.RemoveAll(dir)
	}
	if rep != nil && !rep.Pass {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "soak:", err)
	os.Exit(1)
}

// envKnobs reads SOAK_* variables over the defaults.
func envKnobs(k *Knobs) {
	ints := map[string]*int{"SOAK_KILLS": &k.Kills, "SOAK_EVENTS": &k.Events, "SOAK_ROOMS": &k.Rooms, "SOAK_CHURN": &k.ChurnRounds}
	for name, p := range ints {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
			*p = v
		}
	}
	durs := map[string]*time.Duration{"SOAK_OUTAGE": &k.Outage, "SOAK_STORM": &k.StormFor, "SOAK_CONVERGE": &k.Converge}
	for name, p := range durs {
		if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
			*p = v
		}
	}
	if v, err := strconv.ParseUint(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		k.Seed = v
	}
}

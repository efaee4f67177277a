// Command bench is `make bench`: it runs the Go benchmarks and the scale scenarios and writes
// one JSON report (bench/report.json) whose figures are explained in simulators/README.md ("Benchmarks").
// It is a measuring tool, never imported by the product.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is bench/report.json. Scenario figures are added by the scenarios; a figure that was
// not measured is absent, never zero.
type Report struct {
	GeneratedAt string         `json:"generated_at"`
	Host        Host           `json:"host"`
	BinaryBytes int64          `json:"binary_bytes"`
	Figures     map[string]any `json:"figures,omitempty"`
	// Targets says, for every target in design.md, the figure it applies to and whether it is met.
	Targets map[string]Target `json:"targets,omitempty"`
	// Run is otj-edge's whole run at BENCH_ROOMS, the headline figures' source.
	Run *Run `json:"run,omitempty"`
	// Scale is the scale scenario at each room count (BENCH_SCALE), otj-edge only.
	Scale []*Run `json:"scale,omitempty"`
	// Baseline is the naive strategy's run at BENCH_ROOMS, polling at the fair interval (rooms ×
	// 86,400 s ÷ the daily budget: the same Graph budget as otj-edge; until issue 22 it polled
	// every minute), and Ratios compare it with otj-edge's run at the same size (ratio = naive ÷
	// otj-edge).
	Baseline *Run             `json:"baseline,omitempty"`
	Ratios   map[string]Ratio `json:"ratios,omitempty"`
	// BaselineOverBudget is the naive run at BENCH_NAIVE_REFERENCE (every minute: over the
	// budget at 1,000 rooms), a second reference, and RatiosOverBudget compare with it.
	BaselineOverBudget *Run             `json:"baseline_over_budget,omitempty"`
	RatiosOverBudget   map[string]Ratio `json:"ratios_over_budget,omitempty"`
	// EWS is otj-edge's run with its rooms read over EWS (the ews scenario, BENCH_EWS_ROOMS).
	EWS        *Run                 `json:"ews,omitempty"`
	Benchmarks map[string]Benchmark `json:"benchmarks"`
	// Errors are the scenarios that failed, with why (their figures are missing or partial).
	Errors map[string]string `json:"errors,omitempty"`
	// Fleet is the fleet scenario: simulated sites on one Mosquitto, `otj-edge fleet --serve` following them.
	Fleet *FleetRun `json:"fleet,omitempty"`
	// Google is otj-edge's run with its rooms read from Google Workspace (the google scenario,
	// BENCH_GOOGLE_ROOMS).
	Google *Run `json:"google,omitempty"`
}

// Host describes the machine the figures come from.
type Host struct {
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	CPUs   int    `json:"cpus"`
	Go     string `json:"go"`
}

// Benchmark is one Go benchmark's result.
type Benchmark struct {
	Package     string             `json:"package"`
	NsPerOp     float64            `json:"ns_per_op"`
	BytesPerOp  float64            `json:"bytes_per_op,omitempty"`
	AllocsPerOp float64            `json:"allocs_per_op,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
}

// scenario is a measured run (real processes or in-process simulators) that adds figures to the
// report. Each lives in its own file and registers itself in init.
type scenario struct {
	name string
	run  func(ctx context.Context, rep *Report) error
}

var scenarios []scenario

func register(name string, run func(ctx context.Context, rep *Report) error) {
	scenarios = append(scenarios, scenario{name, run})
}

// afterBenchmarks hooks derive figures from the Go benchmark results (e.g. invites per second).
var afterBenchmarks []func(rep *Report)

// afterScenarios hooks derive figures from several scenarios (ratios, targets).
var afterScenarios []func(rep *Report)

// cleanups run when bench ends, whatever happened (e.g. removing built binaries).
var cleanups []func()

func main() {
	out := flag.String("out", "bench/report.json", "report file")
	pkgs := flag.String("pkgs", envOr("BENCH_PKGS", "./..."), "packages whose Go benchmarks run (\"none\" for none)")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	only := flag.String("scenarios", os.Getenv("BENCH_SCENARIOS"), "comma-separated scenarios to run (default: all; \"none\" for none)")
	flag.Parse()
	if err := run(*out, *pkgs, *benchtime, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(out, pkgs, benchtime, only string) error {
	defer func() {
		for _, f := range cleanups {
			f()
		}
	}()
	rep := Report{
		GeneratedAt: time.Now().UTC().Format(time.RFC3339),
		Host:        Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()},
		Figures:     map[string]any{},
	}
	size, err := binarySize()
	if err != nil {
		return err
	}
	rep.BinaryBytes = size
	fmt.Fprintf(os.Stderr, "binary_bytes: %d (linux/amd64, stripped, CGO off)\n", size)

	rep.Benchmarks = map[string]Benchmark{}
	if pkgs != "none" {
		benches, err := goBenchmarks(pkgs, benchtime)
		if err != nil {
			return err
		}
		rep.Benchmarks = benches
	}
	for _, f := range afterBenchmarks {
		f(&rep)
	}

	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	// A failed scenario is recorded and the others still run; the report is written after each
	// scenario, so a long run that fails late keeps what it measured.
	var failed []string
	for _, sc := range scenarios {
		if len(want) > 0 && !want[sc.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "scenario %s…\n", sc.name)
		start := time.Now()
		if err := sc.run(context.Background(), &rep); err != nil {
			fmt.Fprintf(os.Stderr, "scenario %s FAILED: %v\n", sc.name, err)
			if rep.Errors == nil {
				rep.Errors = map[string]string{}
			}
			rep.Errors[sc.name] = err.Error()
			failed = append(failed, sc.name)
		} else {
			fmt.Fprintf(os.Stderr, "scenario %s done in %s\n", sc.name, time.Since(start).Round(time.Second))
		}
		if err := writeReport(out, rep); err != nil {
			return err
		}
	}
	for _, f := range afterScenarios {
		f(&rep)
	}
	if err := writeReport(out, rep); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s (see errors in %s)", strings.Join(failed, ", "), out)
	}
	return nil
}

// writeReport writes the report as it stands (atomically: a reader never sees half a file).
func writeReport(out string, rep Report) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// binarySize builds the agent as shipped (linux/amd64, CGO off, stripped) and measures it.
func binarySize() (int64, error) {
	dir, err := os.MkdirTemp("", "otj-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "otj-edge")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/otj-edge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("build agent: %w", err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// goBenchmarks runs `go test -bench` and parses every result line, custom metrics included.
func goBenchmarks(pkgs, benchtime string) (map[string]Benchmark, error) {
	args := []string{"test", "-run=^$", "-bench=.", "-benchmem", "-benchtime=" + benchtime}
	args = append(args, strings.Fields(pkgs)...)
	cmd := exec.Command("go", args...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.Stderr.Write(buf.Bytes())
		return nil, fmt.Errorf("go test -bench: %w", err)
	}
	out := map[string]Benchmark{}
	pkg := ""
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pkg: ") {
			pkg = strings.TrimPrefix(line, "pkg: ")
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		b := Benchmark{Package: pkg, Metrics: map[string]float64{}}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			default:
				b.Metrics[f[i+1]] = v
			}
		}
		if len(b.Metrics) == 0 {
			b.Metrics = nil
		}
		out[m[1]] = b
		fmt.Fprintln(os.Stderr, line)
	}
	return out, nil
}

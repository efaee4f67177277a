// Command footprint measures the agent's memory and CPU the way the design's footprint target
// is stated: the real binaries (stripped, CGO off), otj-sim with 1,000 rooms, 1,000 codecs and
// 100 Poly endpoints, Graph at 100 ms latency. It records the agent's peak RSS over the cold
// start, then, once every room is synced and every endpoint settled, its RSS and CPU time over a
// steady window, minute by minute (the machine is shared: CPU is taken from the process's own
// CPU-time counters, never from wall time alone, and the spread between minutes says how noisy
// a run was).
//
//	go run ./simulators/footprint [-runs 2] [-window 5m] [-env GOMEMLIMIT=48MiB] [-pprof DIR]
//
// With -pprof it starts the agent with OTJ_EDGE_PPROF on a loopback port and saves heap,
// goroutine and 30 s CPU profiles from the steady window into DIR. It is a measuring tool, never
// imported by the product.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/sim"
)

type options struct {
	rooms, cisco, poly, meetings int
	latency                      time.Duration
	settle, window, limit        time.Duration
	runs                         int
	env                          []string
	pprofDir                     string
	keep                         bool
	out                          string
}

type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, " ") }
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var o options
	var env envFlags
	flag.IntVar(&o.rooms, "rooms", 1000, "room mailboxes")
	flag.IntVar(&o.cisco, "cisco", 1000, "Cisco codecs")
	flag.IntVar(&o.poly, "poly", 100, "Poly endpoints")
	flag.IntVar(&o.meetings, "meetings", 40, "meetings per room")
	flag.DurationVar(&o.latency, "latency", 100*time.Millisecond, "Graph latency")
	flag.DurationVar(&o.settle, "settle", 60*time.Second, "wait after every room synced and every endpoint settled before the steady window")
	flag.DurationVar(&o.window, "window", 5*time.Minute, "steady window over which RSS and CPU are measured")
	flag.DurationVar(&o.limit, "limit", 5*time.Minute, "longest the cold start may take")
	flag.IntVar(&o.runs, "runs", 1, "independent runs (fresh simulators and state each)")
	flag.Var(&env, "env", "extra environment variable for the agent, NAME=VALUE (repeatable)")
	flag.StringVar(&o.pprofDir, "pprof", "", "save heap, goroutine and CPU profiles of the steady agent into this directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the run directories (logs, state)")
	flag.StringVar(&o.out, "json", "", "also write the results as JSON to this file")
	flag.Parse()
	o.env = env
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

// Result is one run's figures.
type Result struct {
	ColdStartSeconds float64   `json:"cold_start_seconds"` // agent start → every room synced and endpoint settled
	PeakRSSMB        float64   `json:"peak_rss_mb"`        // VmHWM at the end: the whole run's high-water mark
	ColdPeakRSSMB    float64   `json:"cold_peak_rss_mb"`   // VmHWM when the cold start had settled
	SteadyRSSMeanMB  float64   `json:"steady_rss_mean_mb"`
	SteadyRSSMaxMB   float64   `json:"steady_rss_max_mb"`
	SteadyCPUPercent float64   `json:"steady_cpu_percent"` // of one core, over the whole window
	MinuteCPU        []float64 `json:"minute_cpu_percent"` // per minute of the window
	ColdCPUSeconds   float64   `json:"cold_cpu_seconds"`
	SimCPUPercent    float64   `json:"sim_cpu_percent"` // otj-sim over the window (contention)
	// GraphRequestsPerSec is the agent's Graph request rate over the window (graphsim's
	// count). It is the main driver of the agent's CPU and depends on the time of day: a
	// fresh state has the whole day's budget for the hours left, and rooms with a meeting
	// within 30 minutes poll every 15 s. Compare CPU between runs per request, too.
	GraphRequestsPerSec float64  `json:"graph_requests_per_sec"`
	LoadAvg             string   `json:"loadavg"` // at the end of the window
	Env                 []string `json:"env,omitempty"`
}

func run(ctx context.Context, o options) error {
	root, err := harness.Root()
	if err != nil {
		return err
	}
	binDir, err := os.MkdirTemp("", "otj-footprint-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	fmt.Fprintln(os.Stderr, "footprint: building the binaries")
	bins, err := harness.Build(ctx, root, binDir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(bins.Agent); err == nil {
		fmt.Fprintf(os.Stderr, "footprint: otj-edge binary %.1f MB\n", float64(fi.Size())/(1<<20))
	}
	var results []Result
	for i := range o.runs {
		r, err := once(ctx, o, bins, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		results = append(results, r)
		b, _ := json.Marshal(r)
		fmt.Printf("run %d: %s\n", i+1, b)
	}
	summarize(results)
	if o.out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		return os.WriteFile(o.out, b, 0o644)
	}
	return nil
}

func once(ctx context.Context, o options, bins harness.Bins, n int) (Result, error) {
	r := Result{Env: o.env}
	dir, err := os.MkdirTemp("", "otj-footprint-")
	if err != nil {
		return r, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "footprint: run %d in %s\n", n+1, dir)
	}
	s, err := harness.StartSim(ctx, bins, dir, "--rooms", strconv.Itoa(o.rooms), "--cisco", strconv.Itoa(o.cisco),
		"--poly", strconv.Itoa(o.poly), "--meetings", strconv.Itoa(o.meetings), "--latency", o.latency.String(),
		"--clean", "--mqtt", "embedded")
	if err != nil {
		return r, err
	}
	defer s.Stop(15 * time.Second)

	env := slices.Clone(o.env)
	pprofURL := ""
	if o.pprofDir != "" {
		addr, err := sim.FreeAddr()
		if err != nil {
			return r, err
		}
		env = append(env, "OTJ_EDGE_PPROF="+addr)
		pprofURL = "http://" + addr
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	a, err := harness.StartAgent(sctx, bins, s.File.Agent.Config, s.File.Agent.StatusURL, filepath.Join(dir, "agent.log"), env...)
	if err != nil {
		return r, err
	}
	defer a.Stop(15 * time.Second)

	// Cold start: every room synced and no endpoint still unknown or down.
	deadline := time.Now().Add(o.limit)
	for {
		if done, err := a.Exited(); done {
			return r, fmt.Errorf("the agent exited (%v); see %s", err, a.Log)
		}
		st, err := a.Status(ctx)
		if err == nil && settled(st, o) {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("not settled within %s: %+v (err %v)", o.limit, st, err)
		}
		if !sleep(ctx, time.Second) {
			return r, ctx.Err()
		}
	}
	r.ColdStartSeconds = time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "footprint: run %d settled in %.1f s; waiting %s\n", n+1, r.ColdStartSeconds, o.settle)
	if !sleep(ctx, o.settle) {
		return r, ctx.Err()
	}
	u0, err := harness.ProcUsage(a.Pid())
	if err != nil {
		return r, err
	}
	r.ColdPeakRSSMB = mb(u0.PeakRSSBytes)
	r.ColdCPUSeconds = u0.CPU.Seconds()
	s0, _ := harness.ProcUsage(s.Pid())
	g0, g0err := graphRequests(ctx, s.File.Graph.Admin)

	// Steady window: sample RSS every second, CPU per minute.
	t0 := time.Now()
	var rssSum float64
	var samples int
	lastCPU, lastT := u0.CPU, t0
	profiled := false
	for time.Since(t0) < o.window {
		if !sleep(ctx, time.Second) {
			return r, ctx.Err()
		}
		u, err := harness.ProcUsage(a.Pid())
		if err != nil {
			return r, err
		}
		rssSum += mb(u.RSSBytes)
		samples++
		r.SteadyRSSMaxMB = math.Max(r.SteadyRSSMaxMB, mb(u.RSSBytes))
		if now := time.Now(); now.Sub(lastT) >= time.Minute {
			r.MinuteCPU = append(r.MinuteCPU, round(100*(u.CPU-lastCPU).Seconds()/now.Sub(lastT).Seconds()))
			lastCPU, lastT = u.CPU, now
		}
		if pprofURL != "" && !profiled && time.Since(t0) > o.window/2 {
			profiled = true
			// The CPU profile is taken in the background so the window's sampling goes on.
			go saveProfiles(ctx, pprofURL, o.pprofDir, n+1)
		}
	}
	u1, err := harness.ProcUsage(a.Pid())
	if err != nil {
		return r, err
	}
	s1, _ := harness.ProcUsage(s.Pid())
	g1, g1err := graphRequests(ctx, s.File.Graph.Admin)
	wall := time.Since(t0).Seconds()
	if g0err == nil && g1err == nil {
		r.GraphRequestsPerSec = round(float64(g1-g0) / wall)
	}
	r.SteadyCPUPercent = round(100 * (u1.CPU - u0.CPU).Seconds() / wall)
	r.SimCPUPercent = round(100 * (s1.CPU - s0.CPU).Seconds() / wall)
	r.SteadyRSSMeanMB = round(rssSum / float64(samples))
	r.SteadyRSSMaxMB = round(r.SteadyRSSMaxMB)
	r.PeakRSSMB = mb(u1.PeakRSSBytes)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return r, nil
}

// settled: every room synced once and every endpoint past unknown/down/waiting (a codec waits
// for its room's first sync before its first push).
func settled(st harness.Status, o options) bool {
	if st.Calendar.Rooms != o.rooms || st.Calendar.Synced != o.rooms {
		return false
	}
	total := 0
	for state, k := range st.Endpoints {
		if state == "unknown" || state == "down" || state == "waiting" {
			return false
		}
		total += k
	}
	return total == o.cisco+o.poly
}

// graphRequests is graphsim's count of Graph requests so far.
func graphRequests(ctx context.Context, admin string) (int64, error) {
	var st struct {
		Requests int64 `json:"requests"`
	}
	err := harness.GetJSON(ctx, admin+"/stats", &st)
	return st.Requests, err
}

func saveProfiles(ctx context.Context, base, dir string, run int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "footprint: profiles:", err)
		return
	}
	get := func(path, name string, limit time.Duration) {
		cctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "footprint: profile", name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("run%d-%s", run, name)))
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}
	get("/debug/pprof/heap", "heap.pb.gz", 30*time.Second)
	get("/debug/pprof/heap?debug=1", "heap.txt", 30*time.Second)
	get("/debug/pprof/goroutine?debug=1", "goroutine.txt", 30*time.Second)
	get("/debug/pprof/profile?seconds=60", "cpu.pb.gz", 90*time.Second)
	get("/debug/pprof/allocs", "allocs.pb.gz", 30*time.Second)
}

func summarize(rs []Result) {
	if len(rs) == 0 {
		return
	}
	col := func(f func(Result) float64) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, r := range rs {
			lo, hi = math.Min(lo, f(r)), math.Max(hi, f(r))
		}
		return
	}
	line := func(name string, f func(Result) float64) {
		lo, hi := col(f)
		fmt.Printf("%-22s %8.1f … %8.1f\n", name, lo, hi)
	}
	fmt.Printf("%d run(s), range over runs:\n", len(rs))
	line("cold start s", func(r Result) float64 { return r.ColdStartSeconds })
	line("peak RSS MB", func(r Result) float64 { return r.PeakRSSMB })
	line("steady RSS mean MB", func(r Result) float64 { return r.SteadyRSSMeanMB })
	line("steady RSS max MB", func(r Result) float64 { return r.SteadyRSSMaxMB })
	line("steady CPU %", func(r Result) float64 { return r.SteadyCPUPercent })
	if !slices.ContainsFunc(rs, func(r Result) bool { return len(r.MinuteCPU) == 0 }) {
		line("minute CPU % (min)", func(r Result) float64 { return slices.Min(r.MinuteCPU) })
		line("minute CPU % (max)", func(r Result) float64 { return slices.Max(r.MinuteCPU) })
	}
	line("cold CPU s", func(r Result) float64 { return r.ColdCPUSeconds })
	line("otj-sim CPU %", func(r Result) float64 { return r.SimCPUPercent })
	line("Graph requests/s", func(r Result) float64 { return r.GraphRequestsPerSec })
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	return clock.Sleep(clock.Real{}, d, ctx.Done())
}

func mb(b int64) float64 { return round(float64(b) / (1 << 20)) }

func round(v float64) float64 { return math.Round(v*10) / 10 }

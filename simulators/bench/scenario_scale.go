package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// The scale and baseline scenarios (scale.go runs one of them at one size) and the report's
// targets and ratios.
func init() {
	register("scale", scaleScenario)
	register("baseline", baselineScenario)
	afterScenarios = append(afterScenarios, ratios, targets, ewsTargets, webexTargets)
	afterScenarios = append(afterScenarios, googleTargets) // after targets, which starts the map
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	binDir    string
)

// scaleBinaries builds the programs once per invocation (removed when bench ends).
func scaleBinaries(ctx context.Context) (binaries, error) {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "otj-bench-bin-")
		if buildErr != nil {
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(binDir) })
		logf("scale: building otj-edge, otj-sim and the naive baseline")
		built, buildErr = buildAll(ctx, binDir)
	})
	return built, buildErr
}

// edgeAtRooms is otj-edge's run at BENCH_ROOMS, for the ratios.
var edgeAtRooms *Run

// scaleScenario runs otj-edge at every BENCH_SCALE size and at BENCH_ROOMS (once when both
// name the same size); the BENCH_ROOMS run gives the report's headline figures.
func scaleScenario(ctx context.Context, rep *Report) error {
	o, err := scaleOptionsFromEnv()
	if err != nil {
		return err
	}
	bins, err := scaleBinaries(ctx)
	if err != nil {
		return err
	}
	sizes := append([]int(nil), o.scale...)
	inScale := map[int]bool{}
	for _, n := range sizes {
		inScale[n] = true
	}
	if !inScale[o.rooms] {
		sizes = append(sizes, o.rooms)
	}
	// A size that fails is reported and the others still run.
	var errs []error
	var ran []*Run
	for _, n := range sizes {
		r, err := scaleRun(ctx, bins, o, "otj-edge", n)
		if err != nil {
			logf("scale: otj-edge at %d rooms FAILED: %v", n, err)
			errs = append(errs, fmt.Errorf("otj-edge at %d rooms: %w", n, err))
			continue
		}
		ran = append(ran, r)
		if inScale[n] {
			rep.Scale = append(rep.Scale, r)
		}
		if n == o.rooms {
			edgeAtRooms = r
			headline(rep, r)
		}
	}
	reportRSSPerRoom(rep, ran)
	return errors.Join(errs...)
}

// baselineScenario runs the naive strategy at BENCH_ROOMS: at the fair interval, within the
// same daily Graph budget as otj-edge (the baseline the ratios and targets compare with), then
// at BENCH_NAIVE_REFERENCE (1 min: over the budget) as a second reference.
func baselineScenario(ctx context.Context, rep *Report) error {
	o, err := scaleOptionsFromEnv()
	if err != nil {
		return err
	}
	bins, err := scaleBinaries(ctx)
	if err != nil {
		return err
	}
	r, err := scaleRun(ctx, bins, o, "naive", o.rooms)
	if err != nil {
		return fmt.Errorf("naive at %d rooms: %w", o.rooms, err)
	}
	rep.Baseline = r
	if o.naiveRef <= 0 || o.naiveRef == o.naiveInterval(o.rooms) {
		return nil
	}
	ref := o
	ref.naiveEvery = o.naiveRef
	r, err = scaleRun(ctx, bins, ref, "naive", o.rooms)
	if err != nil {
		return fmt.Errorf("naive at %d rooms every %s (the over-budget reference): %w", o.rooms, o.naiveRef, err)
	}
	rep.BaselineOverBudget = r
	return nil
}

// headline copies the run's main figures to the top of the report.
func headline(rep *Report, r *Run) {
	rep.Run = r
	rep.Figures["scale_rooms"] = r.Rooms
	if r.ColdSyncSeconds != nil {
		rep.Figures["cold_sync_seconds"] = *r.ColdSyncSeconds
	}
	if r.P95HotChangeSeconds != nil {
		rep.Figures["p95_hot_change_seconds"] = *r.P95HotChangeSeconds
	}
	if r.P95ColdChangeSeconds != nil {
		rep.Figures["p95_cold_change_seconds"] = *r.P95ColdChangeSeconds
	}
	rep.Figures["projected_graph_requests_per_day"] = r.ProjectedGraphRequestsPerDay
	rep.Figures["peak_rss_mb"] = r.PeakRSSMB
	rep.Figures["steady_rss_mb"] = r.SteadyRSSMB
	rep.Figures["steady_cpu_percent"] = r.SteadyCPUPercent
	webexHeadline(rep, r)
}

// Ratio sets a headline figure beside the naive baseline's.
type Ratio struct {
	OTJEdge float64 `json:"otj_edge"`
	Naive   float64 `json:"naive"`
	// Ratio is naive ÷ otj-edge: above 1, otj-edge needs less (time, requests, memory, CPU);
	// absent when otj-edge's figure is 0.
	Ratio *float64 `json:"ratio,omitempty"`
}

// runFigure reads a headline figure of a run (ok false when it was not measured).
func runFigure(r *Run, key string) (float64, bool) {
	switch key {
	case "cold_sync_seconds":
		if r.ColdSyncSeconds != nil {
			return *r.ColdSyncSeconds, true
		}
	case "p95_hot_change_seconds":
		if r.P95HotChangeSeconds != nil {
			return *r.P95HotChangeSeconds, true
		}
	case "p95_cold_change_seconds":
		if r.P95ColdChangeSeconds != nil {
			return *r.P95ColdChangeSeconds, true
		}
	case "projected_graph_requests_per_day":
		return float64(r.ProjectedGraphRequestsPerDay), true
	case "peak_rss_mb":
		return r.PeakRSSMB, true
	case "steady_rss_mb":
		return r.SteadyRSSMB, true
	case "steady_cpu_percent":
		return r.SteadyCPUPercent, true
	}
	return 0, false
}

var headlineKeys = []string{"cold_sync_seconds", "p95_hot_change_seconds", "p95_cold_change_seconds",
	"projected_graph_requests_per_day", "peak_rss_mb", "steady_rss_mb", "steady_cpu_percent"}

func ratios(rep *Report) {
	rep.Ratios = ratiosWith(rep.Baseline)
	rep.RatiosOverBudget = ratiosWith(rep.BaselineOverBudget)
}

// ratiosWith sets otj-edge's headline figures beside a naive run's (nil: no comparable run).
func ratiosWith(naive *Run) map[string]Ratio {
	if edgeAtRooms == nil || naive == nil || edgeAtRooms.Rooms != naive.Rooms {
		return nil
	}
	out := map[string]Ratio{}
	for _, k := range headlineKeys {
		e, ok1 := runFigure(edgeAtRooms, k)
		n, ok2 := runFigure(naive, k)
		if !ok1 || !ok2 {
			continue
		}
		r := Ratio{OTJEdge: e, Naive: n}
		if e > 0 {
			r.Ratio = ptr(round2(n / e))
		}
		out[k] = r
	}
	return out
}

// Target is one of design.md's targets, the figure it applies to and whether it is met.
type Target struct {
	Target string   `json:"target"`          // as design.md states it
	Value  *float64 `json:"value,omitempty"` // absent: not measured in this run
	Met    *bool    `json:"met"`             // null: not measured in this run
	Note   string   `json:"note,omitempty"`
}

// targets evaluates design.md's targets against this report's figures.
func targets(rep *Report) {
	rep.Targets = map[string]Target{}
	fig := func(k string) (float64, bool) {
		if k == "binary_bytes" {
			return float64(rep.BinaryBytes), rep.BinaryBytes > 0
		}
		switch v := rep.Figures[k].(type) {
		case float64:
			return v, true
		case int:
			return float64(v), true
		case int64:
			return float64(v), true
		}
		return 0, false
	}
	note := ""
	if n, ok := fig("scale_rooms"); ok && n != 1000 {
		note = fmt.Sprintf("measured at %d rooms (BENCH_ROOMS); the target is stated for 1,000", int(n))
	}
	add := func(key, target string, limit float64, atMost bool, note string) {
		t := Target{Target: target, Note: note}
		if v, ok := fig(key); ok {
			t.Value = ptr(v)
			if atMost {
				t.Met = ptr(v <= limit)
			} else {
				t.Met = ptr(v >= limit)
			}
		} else if key == "cold_sync_seconds" && edgeAtRooms != nil {
			t.Met = ptr(false)
			t.Note = fmt.Sprintf("not converged: %d of %d codecs right at the cold limit", edgeAtRooms.CodecsRight, edgeAtRooms.Codecs)
		} else {
			t.Note = "not measured in this run"
		}
		rep.Targets[key] = t
	}
	add("binary_bytes", "≤ 25 MB (25,000,000 bytes; linux/amd64, stripped, CGO off)", 25e6, true, "")
	add("rules_invites_per_sec", "≥ 20,000 realistic HTML invites per second per core", 20000, false, "")
	// Issue 22's targets (they replaced design.md's looser first ones: cold ≤ 60 s, hot ≤ 20 s,
	// cold changes ≤ 300 s, peak ≤ 64 MB).
	add("cold_sync_seconds", "≤ 15 s: 1,000 rooms × ~40 events, every room synced and every codec pushed", 15, true, note)
	add("p95_hot_change_seconds", "p95 ≤ 10 s: a change to a meeting starting within 30 min reaches the codec", 10, true, note)
	add("p95_cold_change_seconds", "p95 ≤ 120 s: any other change reaches the codec", 120, true, note)
	add("projected_graph_requests_per_day", "≤ 1,000,000 Graph requests per 24 h for 1,000 rooms, at the steady window's rate "+
		"(a busy-hours reference; graph_requests_per_day is the day's)", 1e6, true, note)
	add("peak_rss_mb", "≤ 80 MB RSS with 1,000 rooms, 1,000 codecs, 100 Poly endpoints (peak, VmHWM)", 80, true, note)
	add("steady_rss_mb", "≤ 64 MB RSS at steady state (mean over the steady window)", 64, true, note)
	add("steady_cpu_percent", "≤ 5 % of one core at steady state", 5, true, note)
	belowNaive(rep, note)
	if t, ok := rep.Targets["projected_graph_requests_per_day"]; ok && t.Value != nil {
		// The window's rate is not the day's use: the syncer spends the budget where meetings
		// start or run, so busy hours poll more than the day's average. Say what the syncer
		// planned for the next 24 h and what a whole simulated day counted.
		day := "the coldsync scenario's simulated day was not run"
		if v, ok := fig("graph_sync_projected_requests_per_day"); ok {
			day = fmt.Sprintf("the coldsync scenario's simulated day (virtual time) counted %.0f for 1,000 rooms", v)
		}
		plan := ""
		if edgeAtRooms != nil && edgeAtRooms.AgentProjectedPerDay > 0 {
			plan = fmt.Sprintf("the syncer's own plan for the next 24 h was %d; ", edgeAtRooms.AgentProjectedPerDay)
		}
		t.Note = joinNote(t.Note, "the steady window's rate × 24 h; otj-edge spends its daily budget unevenly (hot rooms, "+
			"where a meeting starts within 30 minutes or runs, are polled most) and stops at the budget, so a window in "+
			"busy hours projects more than a day uses; "+plan+day)
		rep.Targets["projected_graph_requests_per_day"] = t
	}
	graphDayTarget(rep, fig)
	rssSplitNote(rep)
	if edgeAtRooms != nil {
		h, c := edgeAtRooms.HotChanges, edgeAtRooms.ColdChanges
		for key, s := range map[string]ChangeStats{"p95_hot_change_seconds": h, "p95_cold_change_seconds": c} {
			if t, ok := rep.Targets[key]; ok && s.Missed > 0 {
				t.Note = joinNote(t.Note, fmt.Sprintf("%d of %d edits did not arrive within the change limit", s.Missed, s.Count))
				rep.Targets[key] = t
			}
		}
	}
}

// graphDayTarget is issue 22's request target as the issue states it: the Graph requests of a
// day, both as the syncer plans them (its projection for the next 24 h in the headline run) and
// as graphsim counts them over a simulated day (the coldsync scenario, virtual time), each
// ≤ 1,000,000 at 1,000 rooms. The value is the larger of the two; unmet or unknown when either
// is missing.
func graphDayTarget(rep *Report, fig func(string) (float64, bool)) {
	t := Target{Target: "≤ 1,000,000 Graph requests a day for 1,000 rooms, planned (the syncer's 24-h projection) and " +
		"counted over a simulated day (coldsync)"}
	var plan float64
	if edgeAtRooms != nil && edgeAtRooms.AgentProjectedPerDay > 0 {
		plan = float64(edgeAtRooms.AgentProjectedPerDay)
		t.Note = fmt.Sprintf("planned %d", edgeAtRooms.AgentProjectedPerDay)
	} else {
		t.Note = "no plan read from the agent in this run"
	}
	counted, ok := fig("graph_sync_projected_requests_per_day")
	if ok {
		t.Note = joinNote(t.Note, fmt.Sprintf("counted %.0f over a simulated day", counted))
	} else {
		t.Note = joinNote(t.Note, "the coldsync scenario's simulated day was not run")
	}
	if plan > 0 || ok {
		t.Value = ptr(max(plan, counted))
	}
	if plan > 0 && ok {
		t.Met = ptr(plan <= 1e6 && counted <= 1e6)
	}
	rep.Targets["graph_requests_per_day"] = t
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// belowNaive adds the target that the cold sync beat the fair naive baseline's in the same run
// (cold_sync_below_naive: its value is otj-edge's cold sync, its note the naive one's).
func belowNaive(rep *Report, note string) {
	t := Target{Target: "cold sync below the naive baseline's (fair interval) in the same run"}
	switch {
	case edgeAtRooms == nil || rep.Baseline == nil || edgeAtRooms.Rooms != rep.Baseline.Rooms:
		t.Note = "not measured in this run (needs the scale and baseline scenarios at BENCH_ROOMS)"
	case edgeAtRooms.ColdSyncSeconds == nil:
		t.Met = ptr(false)
		t.Note = "otj-edge's cold start did not converge"
	case rep.Baseline.ColdSyncSeconds == nil:
		t.Value = ptr(*edgeAtRooms.ColdSyncSeconds)
		t.Met = ptr(true)
		t.Note = joinNote(note, "the naive run's cold start did not converge")
	default:
		e, n := *edgeAtRooms.ColdSyncSeconds, *rep.Baseline.ColdSyncSeconds
		t.Value, t.Met = ptr(e), ptr(e < n)
		t.Note = joinNote(note, fmt.Sprintf("naive: %.1f s", n))
	}
	rep.Targets["cold_sync_below_naive"] = t
}

// rssSplitNote says how the steady RSS splits into the program's own (anonymous) memory and
// the pages of files it maps, its program file's above all: a bigger binary is more of them.
func rssSplitNote(rep *Report) {
	t, ok := rep.Targets["steady_rss_mb"]
	if !ok || t.Value == nil || edgeAtRooms == nil {
		return
	}
	split := fmt.Sprintf("%.1f MB anonymous and %.1f MB file pages (mostly the program file's, which the kernel can "+
		"drop and read back)", edgeAtRooms.SteadyRSSAnonMB, edgeAtRooms.SteadyRSSFileMB)
	if n := rep.Baseline; n != nil && n.Rooms == edgeAtRooms.Rooms {
		split += fmt.Sprintf("; the naive poller's %.1f MB: %.1f anonymous and %.1f file pages", n.SteadyRSSMB, n.SteadyRSSAnonMB, n.SteadyRSSFileMB)
	}
	t.Note = joinNote(t.Note, "otj-edge's steady RSS is "+split)
	rep.Targets["steady_rss_mb"] = t
}

package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // simPlace's Etc/GMT zones on a machine without the zone database

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// The scale scenario: real processes on loopback. otj-sim serves N rooms (~40 meetings each
// over 7 days, Graph at 100 ms latency with Graph's limits), N Cisco codecs and min(100, N/10)
// Poly endpoints; then otj-edge (or the naive baseline, see naive/) runs on the config otj-sim
// generated. A run measures:
//
//   - cold_sync_seconds: process start → every room synced (the agent's status API) and every
//     codec showing its right bookings (expect.go), taken at the ciscosim Put that made each
//     codec right, so the check's polling does not add to it.
//   - hot and cold changes: over the first two thirds of the steady window, edits made through
//     graphsim's admin API (alternately a subject change and a time change) to meetings starting within
//     30 minutes (hot: one per sample room, created before the process starts so it is known)
//     and to meetings starting later (cold, other rooms); the delay from the edit to the
//     accepted ciscosim Put that shows it. p50, p95, max and count; an edit not seen within the
//     change limit counts as the limit and as missed.
//   - the steady window (after the cold sync and a settling time): Graph requests counted by
//     graphsim, projected to 24 h; the process's CPU time over the window ÷ wall time (% of one
//     core); its RSS sampled every second (mean and max); its peak RSS (VmHWM) at the end, which
//     covers the cold start.

// scaleOptions configure the scale runs (environment variables, see simulators/README.md).
type scaleOptions struct {
	rooms       int   // BENCH_ROOMS: the run the headline figures come from
	scale       []int // BENCH_SCALE
	meetings    int   // BENCH_MEETINGS
	latency     time.Duration
	window      time.Duration // BENCH_WINDOW
	settle      time.Duration // BENCH_SETTLE
	changes     int           // BENCH_CHANGES: edits of each kind
	changeLimit time.Duration // BENCH_CHANGE_LIMIT
	coldLimit   time.Duration // BENCH_COLD_LIMIT
	naiveEvery  time.Duration // BENCH_NAIVE_INTERVAL; zero: the fair interval (fairNaiveInterval)
	// naiveRef is the over-budget reference run's interval (BENCH_NAIVE_REFERENCE, default 1m;
	// zero: no reference run).
	naiveRef time.Duration
	budget   int  // BENCH_BUDGET: Graph requests per day both strategies must fit (default 1,000,000)
	keep     bool // BENCH_KEEP: keep run directories (logs, state)
	// agentEnv is extra environment for the otj-edge process only (BENCH_AGENT_ENV, e.g.
	// "GOMEMLIMIT=48MiB GOGC=100"): settings tried on the agent never reach otj-sim or naive.
	agentEnv []string
	// freeBusy is graphsim's getSchedule detail level for every room (BENCH_FREE_BUSY_DETAILS,
	// default limited_details: the room calendars share subjects, as `otj-edge check` advises,
	// so the change probe sees the sample's subject edits; availability_only is Exchange's
	// default, where it sees only moves, new meetings and cancellations).
	freeBusy string
	// source is the calendar source the agent reads: "graph" (the scale and baseline
	// scenarios) or "ews" (the ews scenario: otj-sim --source ews, ewssim in front of
	// graphsim's calendars, the agent on an ews integration with streaming).
	source string
	// localTime, when pinned, is the time of the simulated working day (minutes after
	// midnight) the steady window starts at (BENCH_LOCAL_TIME, default 10:28; "machine": not
	// pinned, the calendars' working day in this machine's zone, as before). Their meetings
	// start on the hour and half hour from 08:00 to 18:00 local, and how many rooms are hot
	// and how many codecs connect for a starting meeting depend on where in that day, and in
	// its half hour, the 3-minute window falls: unpinned, steady CPU and RSS moved with the
	// wall clock the bench ran at.
	localTime int
	pinned    bool
}

// benchLocalTime is BENCH_LOCAL_TIME's default: mid-morning, in the busy part of the day,
// the window holding a half hour's meeting starts and ends (10:30).
const benchLocalTime = 10*60 + 28

// windowLead estimates how long after otj-sim starts the steady window begins, beyond the
// settling time: otj-sim's start, the sample meetings and the codecs' expected bookings, the
// cold sync (about 18 s at 1,000 rooms) and its check; 62 and 72 s (otj-edge, naive) at 1,000
// rooms on 2026-12-07. An error of a few seconds moves the window as much.
const windowLead = 65 * time.Second

func scaleOptionsFromEnv() (scaleOptions, error) {
	o := scaleOptions{source: "graph", rooms: envInt("BENCH_ROOMS", 1000), meetings: envInt("BENCH_MEETINGS", 40),
		latency: 100 * time.Millisecond, changes: envInt("BENCH_CHANGES", 20), keep: os.Getenv("BENCH_KEEP") != "",
		budget: envInt("BENCH_BUDGET", graphconf.DefaultMaxRequestsPerDay), agentEnv: strings.Fields(os.Getenv("BENCH_AGENT_ENV")),
		freeBusy: cmp.Or(os.Getenv("BENCH_FREE_BUSY_DETAILS"), graphsim.FreeBusyLimitedDetails)}
	if o.freeBusy != graphsim.FreeBusyLimitedDetails && o.freeBusy != graphsim.FreeBusyAvailabilityOnly {
		return o, fmt.Errorf("BENCH_FREE_BUSY_DETAILS=%q is neither %s nor %s", o.freeBusy, graphsim.FreeBusyLimitedDetails, graphsim.FreeBusyAvailabilityOnly)
	}
	var err error
	if o.localTime, o.pinned, err = localTimeFromEnv(os.Getenv("BENCH_LOCAL_TIME")); err != nil {
		return o, err
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		to   *time.Duration
	}{
		{"BENCH_WINDOW", 3 * time.Minute, &o.window},
		{"BENCH_SETTLE", 30 * time.Second, &o.settle},
		{"BENCH_CHANGE_LIMIT", 10 * time.Minute, &o.changeLimit},
		{"BENCH_COLD_LIMIT", 20 * time.Minute, &o.coldLimit},
		{"BENCH_NAIVE_INTERVAL", 0, &o.naiveEvery},
		{"BENCH_NAIVE_REFERENCE", time.Minute, &o.naiveRef},
		{"BENCH_LATENCY", 100 * time.Millisecond, &o.latency},
	} {
		*d.to = d.def
		if v := os.Getenv(d.name); v == "none" && d.name == "BENCH_NAIVE_REFERENCE" {
			*d.to = 0
		} else if v != "" {
			if *d.to, err = time.ParseDuration(v); err != nil || *d.to < 0 {
				return o, fmt.Errorf("%s=%q is not a duration like 3m or 30s", d.name, v)
			}
		}
	}
	list := "10,100,1000,5000"
	if v, ok := os.LookupEnv("BENCH_SCALE"); ok {
		list = v
	}
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" || f == "none" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return o, fmt.Errorf("BENCH_SCALE=%q: %q is not a room count", list, f)
		}
		o.scale = append(o.scale, n)
	}
	slices.Sort(o.scale)
	o.scale = slices.Compact(o.scale)
	if o.budget < 1 {
		return o, fmt.Errorf("BENCH_BUDGET=%d is not a request count", o.budget)
	}
	return o, nil
}

// localTimeFromEnv reads BENCH_LOCAL_TIME: HH:MM, "machine" (not pinned), or empty (the
// default), as minutes after midnight.
func localTimeFromEnv(v string) (minutes int, pinned bool, err error) {
	switch v {
	case "":
		return benchLocalTime, true, nil
	case "machine":
		return 0, false, nil
	}
	t, err := time.Parse("15:04", v)
	if err != nil {
		return 0, false, fmt.Errorf("BENCH_LOCAL_TIME=%q is neither a time like 10:28 nor \"machine\"", v)
	}
	return t.Hour()*60 + t.Minute(), true, nil
}

// simPlace is otj-sim's --zone and --shift that make the calendars' local time at the instant
// at read minutes (after midnight): a whole-hour zone (Etc/GMT±N, N within the zone
// database's -14..+12) for the hours and a shift of their working day's grid, within half an
// hour, for the minutes. So the steady window falls at the same place of the simulated
// working day whatever the wall clock.
func simPlace(at time.Time, minutes int) (zone string, shift time.Duration) {
	u := at.UTC()
	d := ((minutes-(u.Hour()*60+u.Minute()))%1440 + 1440) % 1440 // minutes ahead of UTC, 0..1439
	off := (d + 30) / 60                                         // the nearest whole hour, 0..24
	shift = time.Duration(off*60-d) * time.Minute                // -30m..30m: the grid moves by it
	if off > 14 {
		off -= 24 // -9..0: west of UTC
	}
	switch {
	case off == 0:
		zone = "Etc/UTC"
	case off > 0:
		zone = fmt.Sprintf("Etc/GMT-%d", off) // the zone database's names invert the sign
	default:
		zone = fmt.Sprintf("Etc/GMT+%d", -off)
	}
	return zone, shift
}

// zoneOr is the named zone, or this machine's when name is empty.
func zoneOr(name string) (*time.Location, error) {
	if name == "" {
		return time.Local, nil
	}
	return time.LoadLocation(name)
}

// fairNaiveInterval is the naive poller's interval that keeps it within the same daily Graph
// budget as otj-edge: it spends one request per room per visit (one calendarView page of up
// to 100 events holds a room's window), so rooms × 86,400 s ÷ budget (86.4 s for 1,000 rooms
// at 1,000,000 a day). A baseline polling faster than that would buy its freshness with
// requests otj-edge may not spend.
func fairNaiveInterval(rooms, budget int) time.Duration {
	return time.Duration(float64(rooms) * 86400 / float64(budget) * float64(time.Second)).Round(100 * time.Millisecond)
}

// naiveInterval is the baseline's interval: BENCH_NAIVE_INTERVAL when set, else the fair one.
func (o scaleOptions) naiveInterval(rooms int) time.Duration {
	if o.naiveEvery > 0 {
		return o.naiveEvery
	}
	return fairNaiveInterval(rooms, o.budget)
}

// Run is one scale run's figures (a figure that could not be measured is absent).
type Run struct {
	dir           string // the run directory, when kept (scaleOptions.keep)
	Strategy      string `json:"strategy"`         // otj-edge or naive
	Source        string `json:"source,omitempty"` // the agent's calendar source: absent for Graph, "ews"
	Rooms         int    `json:"rooms"`
	Codecs        int    `json:"codecs"`
	PolyEndpoints int    `json:"poly_endpoints"`
	Meetings      int    `json:"meetings"` // events in graphsim's rooms (series occurrences counted)
	// NaiveIntervalSeconds is the naive program's polling interval (naive runs only).
	NaiveIntervalSeconds float64 `json:"naive_interval_seconds,omitempty"`

	ColdSyncSeconds *float64 `json:"cold_sync_seconds,omitempty"`
	CodecsRight     int      `json:"codecs_right"` // codecs showing their right bookings at the end of the cold start
	RoomsSynced     int      `json:"rooms_synced,omitempty"`
	ColdGraphReqs   int      `json:"cold_sync_graph_requests"`

	P95HotChangeSeconds  *float64    `json:"p95_hot_change_seconds,omitempty"`
	P95ColdChangeSeconds *float64    `json:"p95_cold_change_seconds,omitempty"`
	HotChanges           ChangeStats `json:"hot_changes"`
	ColdChanges          ChangeStats `json:"cold_changes"`

	WindowSeconds                float64 `json:"steady_window_seconds"`
	SteadyGraphRequests          int     `json:"steady_graph_requests"`
	ProjectedGraphRequestsPerDay int64   `json:"projected_graph_requests_per_day"`
	AgentProjectedPerDay         int64   `json:"agent_projected_graph_requests_per_day,omitempty"` // the syncer's own plan (status API)
	GraphThrottled               int     `json:"graph_throttled_responses"`                        // 429s over the whole run
	GraphEarlyRetries            int     `json:"graph_requests_before_retry_after"`
	GraphMaxInFlightPerMailbox   int     `json:"graph_max_in_flight_per_mailbox"`

	// EWS figures of an ews run (its graph_* request counts stay Graph's: none).
	EWS *EWSFigures `json:"ews,omitempty"`
	// Google figures of a google run (scenario_google.go; graph_* counts stay Graph's: none).
	Google *GoogleFigures `json:"google,omitempty"`
	// Webex figures: the Webex devices beside the LAN codecs (scenario_webex.go).
	Webex *WebexFigures `json:"webex,omitempty"`

	PeakRSSMB      float64 `json:"peak_rss_mb"`
	SteadyRSSMB    float64 `json:"steady_rss_mb"` // mean over the window
	SteadyRSSMaxMB float64 `json:"steady_rss_max_mb"`
	// SteadyRSSAnonMB and SteadyRSSFileMB split SteadyRSSMB (means over the same samples):
	// the program's own memory, and the pages of files it maps, its program file's above all
	// (a bigger binary is more of them; the kernel can drop them and read them back).
	SteadyRSSAnonMB float64 `json:"steady_rss_anon_mb"`
	SteadyRSSFileMB float64 `json:"steady_rss_file_mb"`
	// SteadyTouchedAnonMB and SteadyTouchedFileMB are the memory the program touched during
	// the window, split as above (its pages' accessed bits cleared at the window's start and
	// read at its end: harness.ClearRefs): its working set, where RSS also counts pages mapped
	// and not used since, such as the program file's that only the start-up ran. Absent where
	// /proc cannot say.
	SteadyTouchedAnonMB *float64 `json:"steady_touched_anon_mb,omitempty"`
	SteadyTouchedFileMB *float64 `json:"steady_touched_file_mb,omitempty"`
	SteadyCPUPercent    float64  `json:"steady_cpu_percent"`
	ColdCPUSeconds      float64  `json:"cold_cpu_seconds"` // CPU time used until the steady window began
	SimCPUPercent       float64  `json:"sim_cpu_percent"`  // otj-sim over the window: how busy the machine's other side was
	// SimColdCPUSeconds is otj-sim's CPU time over the same span as ColdCPUSeconds (the
	// program's start to the steady window): the simulators' share of the two cores the cold
	// start runs on, which the program's requests cost them.
	SimColdCPUSeconds float64 `json:"sim_cold_cpu_seconds"`
	LoadAvg           string  `json:"loadavg"` // at the end of the window
	// MachineStealColdPercent and MachineStealSteadyPercent are the share of the machine's
	// CPU time a hypervisor gave to others over the cold start (the program's start to the
	// steady window, the settling included, as ColdCPUSeconds) and over the steady window
	// (/proc/stat; absent where it cannot be read): a run on a virtual machine whose steal rose
	// ran on a slower machine than its neighbours.
	MachineStealColdPercent   *float64 `json:"machine_steal_cold_percent,omitempty"`
	MachineStealSteadyPercent *float64 `json:"machine_steal_steady_percent,omitempty"`
	// SimZone and SimShiftMinutes are otj-sim's --zone and --shift (BENCH_LOCAL_TIME; absent:
	// this machine's zone, no shift) and SteadyLocalTime the calendars' time of day when the
	// steady window began (HH:MM:SS, their working day's unshifted grid).
	SimZone         string `json:"sim_zone,omitempty"`
	SimShiftMinutes int    `json:"sim_shift_minutes,omitempty"`
	SteadyLocalTime string `json:"steady_local_time,omitempty"`

	coldRSSMax int64 // the largest RSS sampled during the cold start
}

// ChangeStats summarises one kind of edit.
type ChangeStats struct {
	Count   int      `json:"count"`  // edits made
	Seen    int      `json:"seen"`   // edits that reached the codec within the change limit
	Missed  int      `json:"missed"` // edits that did not (counted as the limit in the percentiles)
	Skipped int      `json:"skipped,omitempty"`
	P50     *float64 `json:"p50_seconds,omitempty"`
	P95     *float64 `json:"p95_seconds,omitempty"`
	Max     *float64 `json:"max_seconds,omitempty"`
}

// binaries are the programs a scale run starts.
type binaries struct {
	harness.Bins
	Naive string
}

// buildAll builds otj-edge and otj-sim as shipped, and the naive baseline, into dir.
func buildAll(ctx context.Context, dir string) (binaries, error) {
	root, err := harness.Root()
	if err != nil {
		return binaries{}, err
	}
	b, err := harness.Build(ctx, root, dir)
	if err != nil {
		return binaries{}, err
	}
	naive := filepath.Join(dir, "naive")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", naive, "./simulators/bench/naive")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("build the naive baseline: %w\n%s", err, out)
	}
	return binaries{Bins: b, Naive: naive}, nil
}

// process is what a run measures: otj-edge (with its status API) or the naive program.
type process struct {
	proc  *harness.Proc
	agent *harness.Agent // nil for naive
}

func (p process) stop() { _ = p.proc.Stop(30 * time.Second) }

// scaleRun runs one strategy at n rooms.
func scaleRun(ctx context.Context, bins binaries, o scaleOptions, strategy string, n int) (*Run, error) {
	r := &Run{Strategy: strategy, Rooms: n, Codecs: n, PolyEndpoints: min(100, n/10)}
	if strategy == "naive" {
		r.NaiveIntervalSeconds = o.naiveInterval(n).Seconds()
	}
	logf("scale: %s, %d rooms: starting otj-sim", strategy, n)
	dir, err := os.MkdirTemp("", "otj-bench-scale-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		logf("scale: run directory %s", dir)
		r.dir = dir
	} else {
		defer os.RemoveAll(dir)
	}
	flags := []string{"--rooms", strconv.Itoa(n), "--cisco", strconv.Itoa(n),
		"--poly", strconv.Itoa(r.PolyEndpoints), "--meetings", strconv.Itoa(o.meetings), "--latency", o.latency.String(),
		"--clean", "--mqtt", "embedded"}
	if o.freeBusy != "" {
		flags = append(flags, "--free-busy-details", o.freeBusy)
	}
	if o.pinned {
		var shift time.Duration
		r.SimZone, shift = simPlace(time.Now().Add(o.settle+windowLead), o.localTime)
		r.SimShiftMinutes = int(shift / time.Minute)
		flags = append(flags, "--zone", r.SimZone, "--shift", shift.String())
	}
	flags = append(flags, webexFlags(webexDevices(o, strategy, n))...)
	if o.source == "ews" {
		r.Source = "ews"
		flags = append(flags, "--source", "ews")
	}
	if o.source == "google" { // scenario_google.go
		r.Source = "google"
		flags = append(flags, "--source", "google")
	}
	s, err := harness.StartSim(ctx, bins.Bins, dir, flags...)
	if err != nil {
		return nil, err
	}
	defer s.Stop(30 * time.Second)
	st, err := loadSite(ctx, s)
	if err != nil {
		return nil, err
	}
	if len(st.codecs) != n {
		return nil, fmt.Errorf("otj-sim configured %d codecs, want %d", len(st.codecs), n)
	}

	// The hot sample's meetings, 28 minutes ahead, exist before the process starts.
	hotRooms, coldRooms := sampleRooms(st, o.changes)
	hot, err := createHotMeetings(ctx, st, hotRooms, time.Now())
	if err != nil {
		return nil, err
	}
	webexHot, err := createHotMeetings(ctx, st, sampleWebex(st, o.changes, hotRooms, coldRooms), time.Now())
	if err != nil {
		return nil, err
	}
	if err := st.resolve(ctx, time.Now()); err != nil {
		return nil, err
	}
	w0, err := webexStats(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, c := range st.codecs {
		r.Meetings += len(c.meetings)
	}
	g0, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	e0, err := ewsStats(ctx, st)
	if err != nil {
		return nil, err
	}
	var gm googleMarks // googlesim's counters at the same marks (scenario_google.go)
	if err := gm.mark(ctx, s); err != nil {
		return nil, err
	}

	logf("scale: %s, %d rooms: starting the process", strategy, n)
	simStart, simErr := harness.ProcUsage(s.Pid())
	m0, m0Err := harness.ReadMachineCPU()
	start := time.Now()
	var p process
	switch strategy {
	case "otj-edge":
		a, err := harness.StartAgent(ctx, bins.Bins, s.File.Agent.Config, s.File.Agent.StatusURL, filepath.Join(dir, "agent.log"), o.agentEnv...)
		if err != nil {
			return nil, err
		}
		p = process{proc: a.Proc, agent: a}
	case "naive":
		np, err := harness.StartProcess(bins.Naive, []string{"-config", s.File.Agent.Config, "-interval", o.naiveInterval(n).String()},
			filepath.Join(dir, "naive.log"))
		if err != nil {
			return nil, err
		}
		p = process{proc: np}
	default:
		return nil, fmt.Errorf("unknown strategy %q", strategy)
	}
	defer p.stop()

	// Cold start.
	done, err := coldStart(ctx, st, p, start, o.coldLimit, r)
	if err != nil {
		return nil, err
	}
	if done.IsZero() {
		logf("scale: %s, %d rooms: NOT converged within %s: %d of %d codecs right", strategy, n, o.coldLimit, r.CodecsRight, n)
	} else {
		r.ColdSyncSeconds = ptr(round2(done.Sub(start).Seconds()))
		logf("scale: %s, %d rooms: cold sync %.1f s", strategy, n, *r.ColdSyncSeconds)
	}
	g1, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	e1, err := ewsStats(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := gm.mark(ctx, s); err != nil {
		return nil, err
	}
	r.ColdGraphReqs = g1.Requests - g0.Requests
	if !sleepCtx(ctx, o.settle) {
		return nil, ctx.Err()
	}
	webexWait, err := waitWebexUnblocked(ctx, st)
	if err != nil {
		return nil, err
	}

	// Steady window, with the change sample made at its start.
	u0, err := harness.ProcUsage(p.proc.Pid())
	if err != nil {
		return nil, fmt.Errorf("%s exited: see its log (%w)", strategy, err)
	}
	s0, _ := harness.ProcUsage(s.Pid())
	m1, m1Err := harness.ReadMachineCPU()
	r.MachineStealColdPercent = stealBetween(m0, m0Err, m1, m1Err)
	clearErr := harness.ClearRefs(p.proc.Pid())
	g2, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	e2, err := ewsStats(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := gm.mark(ctx, s); err != nil {
		return nil, err
	}
	r.ColdCPUSeconds = round2(u0.CPU.Seconds())
	if simErr == nil && s0.CPU > 0 { // otj-sim's CPU read at both ends, or not reported
		r.SimColdCPUSeconds = round2((s0.CPU - simStart.CPU).Seconds())
	}
	t0 := time.Now()
	if loc, err := zoneOr(r.SimZone); err == nil {
		r.SteadyLocalTime = t0.In(loc).Add(-time.Duration(r.SimShiftMinutes) * time.Minute).Format("15:04:05")
	}
	ch := startChanges(ctx, st, hot, coldRooms, o.window*2/3, o.changeLimit)
	wch := webexChanges(ctx, st, webexHot, o.window*2/3, o.changeLimit)
	var rssSum, rssMax, anonSum, fileSum float64
	samples := 0
	for time.Since(t0) < o.window {
		if !sleepCtx(ctx, time.Second) {
			return nil, ctx.Err()
		}
		u, err := harness.ProcUsage(p.proc.Pid())
		if err != nil {
			return nil, fmt.Errorf("%s exited during the steady window: see its log (%w)", strategy, err)
		}
		rssSum += mb(u.RSSBytes)
		rssMax = math.Max(rssMax, mb(u.RSSBytes))
		anonSum += mb(u.AnonRSSBytes)
		fileSum += mb(u.FileRSSBytes)
		samples++
	}
	u1, err := harness.ProcUsage(p.proc.Pid())
	if err != nil {
		return nil, fmt.Errorf("%s exited during the steady window: see its log (%w)", strategy, err)
	}
	s1, _ := harness.ProcUsage(s.Pid())
	r.SteadyTouchedAnonMB, r.SteadyTouchedFileMB = touchedSince(p.proc.Pid(), clearErr)
	m2, m2Err := harness.ReadMachineCPU()
	r.MachineStealSteadyPercent = stealBetween(m1, m1Err, m2, m2Err)
	g3, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	e3, err := ewsStats(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := gm.mark(ctx, s); err != nil {
		return nil, err
	}
	wall := time.Since(t0).Seconds()
	r.WindowSeconds = round2(wall)
	r.SteadyGraphRequests = g3.Requests - g2.Requests
	r.ProjectedGraphRequestsPerDay = int64(math.Round(float64(r.SteadyGraphRequests) * 86400 / wall))
	r.SteadyCPUPercent = round2(100 * (u1.CPU - u0.CPU).Seconds() / wall)
	r.SimCPUPercent = round2(100 * (s1.CPU - s0.CPU).Seconds() / wall)
	r.SteadyRSSMB = round2(rssSum / float64(max(samples, 1)))
	r.SteadyRSSMaxMB = round2(rssMax)
	r.SteadyRSSAnonMB = round2(anonSum / float64(max(samples, 1)))
	r.SteadyRSSFileMB = round2(fileSum / float64(max(samples, 1)))
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if p.agent != nil {
		if as, err := p.agent.Status(ctx); err == nil {
			for _, src := range as.Sources {
				if src.Type == "graph" { // the figure compares with graphsim's count
					r.AgentProjectedPerDay += src.Projected24h
				}
			}
		}
	}

	// The changes still in flight after the window.
	hotStats, coldStats, err := ch.wait()
	if err != nil {
		return nil, err
	}
	r.HotChanges, r.ColdChanges = hotStats, coldStats
	r.P95HotChangeSeconds, r.P95ColdChangeSeconds = hotStats.P95, coldStats.P95
	// VmHWM is updated lazily by the kernel: the peak is also at least any RSS sampled.
	peak := max(u1.PeakRSSBytes, r.coldRSSMax)
	if u2, err := harness.ProcUsage(p.proc.Pid()); err == nil {
		peak = max(peak, u2.PeakRSSBytes)
	}
	r.PeakRSSMB = math.Max(mb(peak), r.SteadyRSSMaxMB)
	g4, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	e4, err := ewsStats(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := gm.mark(ctx, s); err != nil {
		return nil, err
	}
	r.GraphThrottled, r.GraphEarlyRetries = g4.throttled-g0.throttled, g4.early-g0.early
	r.GraphMaxInFlightPerMailbox = g4.maxInFlight
	if st.ewsAdmin != "" {
		r.EWS = ewsFigures(e0, e1, e2, e3, e4, wall, ch)
	}
	r.Google = gm.figures(wall, ch)
	if st.webex != nil {
		w1, err := webexStats(ctx, st)
		if err != nil {
			return nil, err
		}
		if r.Webex, err = webexFigures(ctx, st, wch, w0, w1); err != nil {
			return nil, err
		}
		r.Webex.ColdBlockWaitSeconds = round2(webexWait.Seconds())
	}
	if exited, err := p.proc.Exited(); exited {
		return nil, fmt.Errorf("%s exited during the run (%v): see %s", strategy, err, p.proc.Log)
	}
	logf("scale: %s, %d rooms: %s", strategy, n, r.summary())
	return r, nil
}

func (r *Run) summary() string {
	f := func(p *float64) string {
		if p == nil {
			return "—"
		}
		return strconv.FormatFloat(*p, 'f', 1, 64)
	}
	perDay := fmt.Sprintf("%d Graph req/day", r.ProjectedGraphRequestsPerDay)
	if r.EWS != nil {
		perDay = fmt.Sprintf("%d EWS req/day, p95 change %s s", r.EWS.ProjectedPerDay, f(r.EWS.P95Change))
	}
	if g := r.Google; g != nil {
		perDay = fmt.Sprintf("%d Google req/day, p95 change %s s, %d rate-limited", g.ProjectedPerDay, f(g.P95Change), g.RateLimited)
	}
	if w := r.Webex; w != nil {
		perDay += fmt.Sprintf(", %d Webex devices: hot p95 %s s (%d/%d), %s s behind LAN, %d 429s, %d Retry-After violations",
			w.Devices, f(w.HotChanges.P95), w.HotChanges.Seen, w.HotChanges.Count, f(w.P95BehindLAN), w.RateLimited, w.Violations)
	}
	at := ""
	if r.SteadyLocalTime != "" {
		at = fmt.Sprintf(", steady window from %s of the calendars' day", r.SteadyLocalTime)
	}
	if r.SteadyTouchedAnonMB != nil && r.SteadyTouchedFileMB != nil {
		at += fmt.Sprintf(", touched in the window %.1f MB anonymous and %.1f MB file pages", *r.SteadyTouchedAnonMB, *r.SteadyTouchedFileMB)
	}
	if r.MachineStealColdPercent != nil && r.MachineStealSteadyPercent != nil {
		at += fmt.Sprintf(", machine steal %.1f %% cold, %.1f %% steady", *r.MachineStealColdPercent, *r.MachineStealSteadyPercent)
	}
	return fmt.Sprintf("cold %s s, hot p95 %s s (%d/%d), cold p95 %s s (%d/%d), %s, peak %.1f MB, steady %.1f MB (anonymous %.1f, file pages %.1f), "+
		"CPU %.2f %%, cold-start CPU %.1f s (otj-sim %.1f s)%s",
		f(r.ColdSyncSeconds), f(r.HotChanges.P95), r.HotChanges.Seen, r.HotChanges.Count, f(r.ColdChanges.P95),
		r.ColdChanges.Seen, r.ColdChanges.Count, perDay, r.PeakRSSMB, r.SteadyRSSMB, r.SteadyRSSAnonMB, r.SteadyRSSFileMB,
		r.SteadyCPUPercent, r.ColdCPUSeconds, r.SimColdCPUSeconds, at)
}

// touchedSince reads the memory process pid touched since its accessed bits were cleared
// (clearErr: how that went), or nils.
func touchedSince(pid int, clearErr error) (anonMB, fileMB *float64) {
	if clearErr != nil {
		return nil, nil
	}
	t, err := harness.ReadTouched(pid)
	if err != nil {
		return nil, nil
	}
	return ptr(mb(t.AnonBytes)), ptr(mb(t.FileBytes))
}

// stealBetween is the stolen share of the machine's CPU time between two readings, or nil
// when either could not be read.
func stealBetween(a harness.MachineCPU, aErr error, b harness.MachineCPU, bErr error) *float64 {
	if aErr != nil || bErr != nil {
		return nil
	}
	p, err := harness.StealPercent(a, b)
	if err != nil {
		return nil
	}
	return ptr(round2(p))
}

// coldStart waits until every codec shows its right bookings (and, for otj-edge, every room
// is synced) and returns when that was, or zero when the limit passed first.
func coldStart(ctx context.Context, st *site, p process, start time.Time, limit time.Duration, r *Run) (time.Time, error) {
	right := map[string]time.Time{}
	var synced time.Time
	deadline := start.Add(limit)
	var last string
	// The observer's own load: reading every codec's bookings and Puts on every pass cost
	// otj-sim and the bench a large share of the 2 cores the cold start is measured on. A
	// codec is read again only when it received a Put since it was last read (ciscosim's
	// fleet-wide count, one request), and every fifth pass anyway (a wanted set changes with
	// time too). The time measured is the simulator's record of the Put, so reading less often
	// does not move it.
	lookedAt := map[string]int{}
	for pass := 0; ; pass++ {
		puts, err := st.codecPutCounts(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if exited, err := p.proc.Exited(); exited {
			return time.Time{}, fmt.Errorf("the process exited during the cold start (%v): see %s", err, p.proc.Log)
		}
		if u, err := harness.ProcUsage(p.proc.Pid()); err == nil {
			r.coldRSSMax = max(r.coldRSSMax, u.RSSBytes, u.PeakRSSBytes)
		}
		if p.agent != nil && synced.IsZero() {
			if as, err := p.agent.Status(ctx); err == nil {
				r.RoomsSynced = as.Calendar.Synced
				if as.Calendar.Rooms > 0 && as.Calendar.Synced == as.Calendar.Rooms {
					synced = time.Now()
				}
			}
		}
		var todo []*codecPlan
		for _, c := range st.codecs {
			if _, ok := right[c.name]; ok {
				continue
			}
			n, counted := puts[c.name]
			if seen, looked := lookedAt[c.name]; looked && counted && n == seen && pass%5 != 0 {
				continue
			}
			lookedAt[c.name] = n
			todo = append(todo, c)
		}
		type result struct {
			name string
			at   time.Time
		}
		found := make(chan result, len(todo))
		wrong := make(chan string, len(todo))
		err = forEach(ctx, todo, 8, func(ctx context.Context, c *codecPlan) error {
			now := time.Now()
			got, err := st.codecBookings(ctx, c.name)
			if err != nil {
				return err
			}
			want := st.want(c, now)
			if shows := st.shows(got, now); !sameSet(want, shows) {
				wrong <- c.name + ": " + diff(want, shows)
				return nil
			}
			at, err := rightSince(ctx, st, c, want, now, start)
			if err != nil {
				return err
			}
			found <- result{c.name, at}
			return nil
		})
		if err != nil {
			return time.Time{}, err
		}
		close(found)
		close(wrong)
		for w := range wrong {
			last = w
		}
		for f := range found {
			right[f.name] = f.at
		}
		r.CodecsRight = len(right)
		if len(right) == len(st.codecs) && (p.agent == nil || !synced.IsZero()) {
			done := synced
			for _, at := range right {
				if at.After(done) {
					done = at
				}
			}
			return done, nil
		}
		if time.Now().After(deadline) {
			logf("scale: cold start: e.g. %s", last)
			return time.Time{}, nil
		}
		if !sleepCtx(ctx, 2*time.Second) {
			return time.Time{}, ctx.Err()
		}
	}
}

// rightSince finds the first accepted Put after start from which the codec showed want (the
// check at now saw it right); a codec with nothing to show needs no Put.
func rightSince(ctx context.Context, st *site, c *codecPlan, want map[bookingKey]bool, now, start time.Time) (time.Time, error) {
	if len(want) == 0 {
		return start, nil
	}
	puts, err := st.codecPuts(ctx, c.name)
	if err != nil {
		return time.Time{}, err
	}
	for _, p := range puts {
		if p.Accepted && p.Source == "xapi" && !p.At.Before(start) && sameSet(want, st.shows(p.Bookings, now)) {
			return p.At, nil
		}
	}
	return now, nil // e.g. a Put the simulator did not record in full: the check's own time
}

// graphCounters are graphsim's counters the runs use.
type graphCounters struct {
	Requests                      int
	throttled, early, maxInFlight int
}

func graphStats(ctx context.Context, st *site) (graphCounters, error) {
	var s struct {
		Requests  int `json:"requests"`
		Mailboxes map[string]struct {
			MaxInFlight  int `json:"max_in_flight"`
			EarlyRetries int `json:"early_retries"`
			Throttled    int `json:"throttled"`
		} `json:"mailboxes"`
	}
	if err := harness.GetJSON(ctx, st.graphAdmin+"/stats", &s); err != nil {
		return graphCounters{}, fmt.Errorf("read graphsim's counters: %w", err)
	}
	g := graphCounters{Requests: s.Requests}
	for _, m := range s.Mailboxes {
		g.throttled += m.Throttled
		g.early += m.EarlyRetries
		g.maxInFlight = max(g.maxInFlight, m.MaxInFlight)
	}
	return g, nil
}

// sampleRooms picks k codecs for hot edits and k others for cold edits, spread over the site.
func sampleRooms(st *site, k int) (hot, cold []*codecPlan) {
	n := len(st.codecs)
	k = min(k, n/2)
	if k == 0 && n > 0 {
		return []*codecPlan{st.codecs[0]}, nil
	}
	for i := range 2 * k {
		c := st.codecs[i*n/(2*k)]
		if i%2 == 0 {
			hot = append(hot, c)
		} else {
			cold = append(cold, c)
		}
	}
	return hot, cold
}

func roomPath(st *site, room string) string {
	return st.graphAdmin + "/rooms/" + url.PathEscape(room) + "/events"
}

func ptr[T any](v T) *T { return &v }

func mb(b int64) float64 { return round2(float64(b) / (1 << 20)) }

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	return clock.Sleep(clock.Real{}, d, ctx.Done())
}

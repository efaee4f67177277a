package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

// The fleet scenario (BENCH_SCENARIOS=fleet): the central side under a whole fleet. BENCH_FLEET_SITES
// simulated sites (default 1,000; fleet_site.go) with BENCH_FLEET_ROOMS rooms each (20) publish
// at the agent's rates to one real Mosquitto for BENCH_FLEET_MINUTES (5), while the real
// `otj-edge fleet --serve` process follows them. BENCH_FLEET_OFFLINE_PERCENT of the sites (5)
// drop off mid-run and come back (two in three by a cut connection, so the broker publishes
// their last will, one in three by a clean shutdown), and 1 % more go offline near the end and
// stay away. The load generator keeps the ground truth; at the end the view must match it.
// The report's "fleet" key has:
//
//   - messages_per_second: messages the broker acknowledged, per second over the steady
//     window (after every site connected), with bytes and the count per topic;
//   - broker and view: CPU (% of one core over the steady window) and RSS from /proc; the
//     view's RSS before any site, after every site's retained states arrived, at the end, its
//     peak, and its growth per site;
//   - accuracy: sites, online, offline, rooms and events as published and as the view shows
//     them, and how many sites differ (target 0);
//   - status_latency: from a status published (for the will: the connection cut) to the view
//     holding it, p50/p95/max, by kind (connect, health, will, shutdown).
func init() {
	register("fleet", fleetScenario)
}

type fleetOptions struct {
	sites, rooms   int
	window         time.Duration // the whole run, ramp included
	offlinePercent float64
	rates          fleetRates
}

func fleetOptionsFromEnv() (fleetOptions, error) {
	minutes, err := strconv.ParseFloat(envOr("BENCH_FLEET_MINUTES", "5"), 64)
	if err != nil || minutes <= 0 {
		return fleetOptions{}, fmt.Errorf("BENCH_FLEET_MINUTES %q is not a positive number of minutes", os.Getenv("BENCH_FLEET_MINUTES"))
	}
	off, err := strconv.ParseFloat(envOr("BENCH_FLEET_OFFLINE_PERCENT", "5"), 64)
	if err != nil || off < 0 || off > 50 {
		return fleetOptions{}, fmt.Errorf("BENCH_FLEET_OFFLINE_PERCENT %q is not a percentage from 0 to 50", os.Getenv("BENCH_FLEET_OFFLINE_PERCENT"))
	}
	return fleetOptions{sites: envInt("BENCH_FLEET_SITES", 1000), rooms: envInt("BENCH_FLEET_ROOMS", 20),
		window: time.Duration(minutes * float64(time.Minute)), offlinePercent: off, rates: agentRates()}, nil
}

// agentRates are the agent's defaults (telemetry.Timing, config validate.go) and an everyday
// site: a meeting an hour per room gives a few events (started, joined, pushed), and a codec
// goes down or comes back about every 10 minutes somewhere on the site.
func agentRates() fleetRates {
	return fleetRates{roomRefresh: 5 * time.Minute, metrics: time.Minute, eventsPerHour: 3,
		healthChange: 10 * time.Minute, statusMin: 5 * time.Second}
}

// FleetRun is the fleet scenario's result, the report's "fleet" key.
type FleetRun struct {
	Sites             int              `json:"sites"`
	RoomsPerSite      int              `json:"rooms_per_site"`
	RunSeconds        float64          `json:"run_seconds"`
	RampSeconds       float64          `json:"ramp_seconds"`   // until every site's retained states were in the view
	SteadySeconds     float64          `json:"steady_seconds"` // the window CPU and rates are measured over
	Rates             map[string]any   `json:"rates"`
	Published         int64            `json:"published"` // acknowledged by the broker, whole run
	PublishedBytes    int64            `json:"published_bytes"`
	PublishFailures   int64            `json:"publish_failures"`
	PublishedByTopic  map[string]int64 `json:"published_by_topic"`
	MessagesPerSecond float64          `json:"messages_per_second"`
	BytesPerSecond    float64          `json:"bytes_per_second"`
	Outages           int              `json:"outages"`        // sites that went away and came back
	StayedOffline     int              `json:"stayed_offline"` // sites offline at the end
	SiteErrors        []string         `json:"site_errors,omitempty"`
	Broker            FleetProc        `json:"broker"`
	View              FleetProc        `json:"view"`
	Accuracy          FleetAccuracy    `json:"accuracy"`
	StatusLatency     FleetLatency     `json:"status_latency"`
}

// FleetProc is a process's cost, from /proc.
type FleetProc struct {
	Kind            string   `json:"kind,omitempty"`
	CPUPercent      float64  `json:"cpu_percent"` // of one core, over the steady window
	RSSMB           float64  `json:"rss_mb"`      // at the end
	PeakRSSMB       float64  `json:"peak_rss_mb"`
	BaselineRSSMB   *float64 `json:"baseline_rss_mb,omitempty"`      // the view before any site
	LoadedRSSMB     *float64 `json:"loaded_rss_mb,omitempty"`        // after the ramp
	GrowthPerSiteKB *float64 `json:"growth_per_site_kb,omitempty"`   // (loaded − baseline) ÷ sites
	RunGrowthMB     *float64 `json:"growth_during_run_mb,omitempty"` // end − loaded
}

// FleetAccuracy compares the view with what was published.
type FleetAccuracy struct {
	Expected         FleetCounts `json:"expected"`
	Viewed           FleetCounts `json:"viewed"`
	Mismatches       int         `json:"mismatches"` // sites whose state, rooms or events differ
	Examples         []string    `json:"examples,omitempty"`
	ConvergedSeconds *float64    `json:"converged_seconds,omitempty"` // after publishing stopped
}

// FleetCounts are the fleet-wide counts.
type FleetCounts struct {
	Sites   int   `json:"sites"`
	Online  int   `json:"online"`
	Offline int   `json:"offline"`
	Rooms   int   `json:"rooms"`
	Events  int64 `json:"events"`
}

// FleetLatency is publish → view for status changes, in milliseconds.
type FleetLatency struct {
	Count      int                     `json:"count"`
	P50Ms      *float64                `json:"p50_ms,omitempty"`
	P95Ms      *float64                `json:"p95_ms,omitempty"`
	MaxMs      *float64                `json:"max_ms,omitempty"`
	ByKind     map[string]FleetLatency `json:"by_kind,omitempty"`
	Superseded int                     `json:"superseded,omitempty"` // replaced by a newer status before it was checked
	Missed     int                     `json:"missed,omitempty"`     // never shown within 30 s
}

func fleetScenario(ctx context.Context, rep *Report) error {
	o, err := fleetOptionsFromEnv()
	if err != nil {
		return err
	}
	bin, err := fleetBinary(ctx)
	if err != nil {
		return err
	}
	r, err := fleetRun(ctx, bin, o)
	if r != nil {
		recordFleet(rep, r)
	}
	return err
}

// recordFleet puts a fleet run in the report, with its headline figures and target.
func recordFleet(rep *Report, r *FleetRun) {
	rep.Fleet = r
	rep.Figures["fleet_sites"] = r.Sites
	rep.Figures["fleet_messages_per_second"] = r.MessagesPerSecond
	rep.Figures["fleet_broker_cpu_percent"] = r.Broker.CPUPercent
	rep.Figures["fleet_broker_rss_mb"] = r.Broker.RSSMB
	rep.Figures["fleet_view_cpu_percent"] = r.View.CPUPercent
	rep.Figures["fleet_view_peak_rss_mb"] = r.View.PeakRSSMB
	rep.Figures["fleet_mismatches"] = r.Accuracy.Mismatches
	if r.StatusLatency.P95Ms != nil {
		rep.Figures["fleet_status_p95_ms"] = *r.StatusLatency.P95Ms
	}
	afterScenarios = append(afterScenarios, func(rep *Report) {
		if rep.Targets == nil {
			rep.Targets = map[string]Target{}
		}
		ok := r.Accuracy.Mismatches == 0 && r.StatusLatency.Missed == 0
		rep.Targets["fleet_mismatches"] = Target{Target: "0: otj-edge fleet shows every site, room and event the fleet published",
			Value: ptr(float64(r.Accuracy.Mismatches)), Met: &ok,
			Note: fmt.Sprintf("%d sites × %d rooms for %.0f s", r.Sites, r.RoomsPerSite, r.RunSeconds)}
	})
}

// fleetBinary builds otj-edge as shipped (removed when bench ends).
func fleetBinary(ctx context.Context) (string, error) {
	root, err := harness.Root()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "otj-bench-fleet-")
	if err != nil {
		return "", err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	return buildEdge(ctx, root, dir)
}

// buildEdge builds only otj-edge (the fleet view is its `fleet` command) the way it ships.
func buildEdge(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "otj-edge")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/otj-edge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build otj-edge: %w\n%s", err, b)
	}
	return out, nil
}

// sitePlan is when a site connects and whether (and how) it goes away.
type sitePlan struct {
	connectAt     time.Duration
	downAt, upAt  time.Duration // zero downAt: no outage; zero upAt: stays offline
	abrupt        bool
	stayOfflineAt time.Duration
}

func fleetPlans(o fleetOptions, ramp time.Duration, rng *rand.Rand) []sitePlan {
	plans := make([]sitePlan, o.sites)
	for i := range plans {
		plans[i].connectAt = time.Duration(float64(ramp) * float64(i) / float64(max(o.sites, 1)))
	}
	steady := o.window - ramp
	perm := rng.Perm(o.sites)
	outages := int(math.Round(float64(o.sites) * o.offlinePercent / 100))
	stay := int(math.Round(float64(o.sites) / 100))
	if o.offlinePercent > 0 {
		outages, stay = max(outages, 2), max(stay, 1)
	}
	away := func() time.Duration { // 20–60 s at full length, shorter in a short run
		lo, hi := min(20*time.Second, steady/8), min(60*time.Second, steady/4)
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	for k, i := range perm[:min(outages+stay, o.sites)] {
		p := &plans[i]
		p.abrupt = k%3 != 2
		if k < outages {
			d := away()
			latest := max(o.window-d-steady/8, ramp+time.Second)
			p.downAt = ramp + time.Duration(rng.Int64N(int64(latest-ramp)+1))
			p.upAt = p.downAt + d
		} else {
			p.downAt = o.window - steady/4 + time.Duration(rng.Int64N(int64(steady/8)+1))
		}
	}
	return plans
}

// mosquittoPid finds the broker's process by its config file, which lives in the broker's own
// directory (the harness does not expose the pid).
func mosquittoPid(b *mosquitto.Broker) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), "mosquitto") && strings.Contains(string(cmd), b.Dir()+"/") {
			return pid, nil
		}
	}
	return 0, errors.New("the mosquitto process is not in /proc")
}

var servingLine = regexp.MustCompile(`serving the fleet view on (http://\S+/fleet)`)

// startView runs `otj-edge fleet --serve` and waits for its address.
func startView(ctx context.Context, bin, broker, dir string) (*harness.Proc, string, error) {
	logPath := filepath.Join(dir, "fleet-view.log")
	p, err := harness.StartProcess(bin, []string{"fleet", "--broker", broker, "--serve", "127.0.0.1:0"}, logPath)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if m := servingLine.FindSubmatch(b); m != nil {
			return p, string(m[1]), nil
		}
		if exited, err := p.Exited(); exited {
			return nil, "", fmt.Errorf("otj-edge fleet --serve exited (%v):\n%s", err, b)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			break
		}
	}
	p.Kill()
	return nil, "", fmt.Errorf("otj-edge fleet --serve did not start serving in 30s: see %s", logPath)
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, q float64) float64 {
	return sorted[max(0, int(math.Ceil(q*float64(len(sorted))))-1)]
}

func latencyOf(ms []float64) FleetLatency {
	l := FleetLatency{Count: len(ms)}
	if len(ms) == 0 {
		return l
	}
	sort.Float64s(ms)
	l.P50Ms, l.P95Ms, l.MaxMs = ptr(round2(percentile(ms, 0.5))), ptr(round2(percentile(ms, 0.95))), ptr(round2(ms[len(ms)-1]))
	return l
}

// procCost samples a process's RSS (its maximum) until stopped.
type procCost struct {
	pid    int
	mu     sync.Mutex
	maxRSS int64
}

func (p *procCost) sample() (harness.Usage, error) {
	u, err := harness.ProcUsage(p.pid)
	if err == nil {
		p.mu.Lock()
		p.maxRSS = max(p.maxRSS, u.RSSBytes, u.PeakRSSBytes)
		p.mu.Unlock()
	}
	return u, err
}

func (p *procCost) peak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxRSS
}

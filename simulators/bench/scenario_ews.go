package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/otj-edge/otj-edge/simulators/harness"
)

// The ews scenario: the scale run (scale.go) with the calendars served over EWS. otj-sim
// --source ews puts ewssim in front of graphsim's rooms (100 ms latency, Exchange's default
// throttling policy) and generates an agent config whose rooms sync through an ews
// integration (impersonation, streaming notifications); edits still go through graphsim's
// admin API, which ewssim serves from the same calendars. One run at BENCH_EWS_ROOMS (default
// BENCH_ROOMS, 1,000) measures:
//
//   - ews_cold_sync_seconds: process start → every room synced and every codec right, as the
//     scale scenario's cold_sync_seconds (target ≤ 60 s at 1,000 rooms with 100 ms latency).
//   - ews_p95_change_seconds: p95 over every edit (hot and cold together: with streaming a
//     room's sync wakes on the change whatever its meetings) from the edit to the accepted
//     codec Put that shows it (target ≤ 10 s); ews_p95_hot_change_seconds and
//     ews_p95_cold_change_seconds split it.
//   - ews_cold_sync_requests and ews_projected_requests_per_day: EWS requests counted by
//     ewssim during the cold sync and over the steady window (× 24 h).
//
// The whole run is in the report under "ews" (a Run, with Source "ews").
func init() {
	register("ews", ewsScenario)
}

// EWSFigures are an ews run's own counts, from ewssim's admin API.
type EWSFigures struct {
	ColdRequests    int      `json:"cold_sync_ews_requests"`
	SteadyRequests  int      `json:"steady_ews_requests"`
	ProjectedPerDay int64    `json:"projected_ews_requests_per_day"`
	ServerBusy      int      `json:"server_busy_responses"` // ErrorServerBusy answers over the whole run
	P95Change       *float64 `json:"p95_change_seconds,omitempty"`
	Changes         int      `json:"changes"`
	ChangesMissed   int      `json:"changes_missed"`
}

// ewsRun is the ews scenario's run, for the targets.
var ewsRun *Run

func ewsScenario(ctx context.Context, rep *Report) error {
	o, err := scaleOptionsFromEnv()
	if err != nil {
		return err
	}
	o.source = "ews"
	n := envInt("BENCH_EWS_ROOMS", o.rooms)
	bins, err := scaleBinaries(ctx)
	if err != nil {
		return err
	}
	r, err := scaleRun(ctx, bins, o, "otj-edge", n)
	if err != nil {
		return fmt.Errorf("otj-edge over EWS at %d rooms: %w", n, err)
	}
	recordEWS(rep, r)
	return nil
}

// recordEWS puts an ews run and its figures in the report.
func recordEWS(rep *Report, r *Run) {
	ewsRun = r
	rep.EWS = r
	rep.Figures["ews_rooms"] = r.Rooms
	if r.ColdSyncSeconds != nil {
		rep.Figures["ews_cold_sync_seconds"] = *r.ColdSyncSeconds
	}
	if r.P95HotChangeSeconds != nil {
		rep.Figures["ews_p95_hot_change_seconds"] = *r.P95HotChangeSeconds
	}
	if r.P95ColdChangeSeconds != nil {
		rep.Figures["ews_p95_cold_change_seconds"] = *r.P95ColdChangeSeconds
	}
	if r.EWS != nil {
		if r.EWS.P95Change != nil {
			rep.Figures["ews_p95_change_seconds"] = *r.EWS.P95Change
		}
		rep.Figures["ews_cold_sync_requests"] = r.EWS.ColdRequests
		rep.Figures["ews_projected_requests_per_day"] = r.EWS.ProjectedPerDay
	}
}

// ewsSite finds ewssim's admin API in sim.json's ews block (when otj-sim serves EWS); without
// a graph block, graphsim's admin is the one ewssim mounts.
func ewsSite(s *harness.Sim, st *site) error {
	b, err := os.ReadFile(filepath.Join(s.Dir, "sim.json"))
	if err != nil {
		return fmt.Errorf("read sim.json: %w", err)
	}
	var f struct {
		EWS *struct {
			Admin string `json:"admin"`
		} `json:"ews"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read sim.json: %w", err)
	}
	if f.EWS != nil && f.EWS.Admin != "" {
		st.ewsAdmin = f.EWS.Admin
		if st.graphAdmin == "" {
			st.graphAdmin = f.EWS.Admin
		}
	}
	if st.graphAdmin == "" {
		return fmt.Errorf("sim.json has neither a graph nor an ews admin API")
	}
	return nil
}

// ewsCounters are ewssim's counters the runs use (zero when otj-sim serves no EWS).
type ewsCounters struct {
	Requests   int
	ServerBusy int
}

func ewsStats(ctx context.Context, st *site) (ewsCounters, error) {
	if st.ewsAdmin == "" {
		return ewsCounters{}, nil
	}
	var s struct {
		Requests   int `json:"requests"`
		ServerBusy int `json:"server_busy"`
	}
	if err := harness.GetJSON(ctx, st.ewsAdmin+"/ews/stats", &s); err != nil {
		return ewsCounters{}, fmt.Errorf("read ewssim's counters: %w", err)
	}
	return ewsCounters{Requests: s.Requests, ServerBusy: s.ServerBusy}, nil
}

// ewsFigures works out an ews run's figures from ewssim's counters at the run's marks (before
// the process, after the cold sync, around the steady window, at the end) and its edits.
func ewsFigures(e0, e1, e2, e3, e4 ewsCounters, wall float64, ch *changes) *EWSFigures {
	f := &EWSFigures{ColdRequests: e1.Requests - e0.Requests, SteadyRequests: e3.Requests - e2.Requests,
		ServerBusy: e4.ServerBusy - e0.ServerBusy}
	if wall > 0 {
		f.ProjectedPerDay = int64(math.Round(float64(f.SteadyRequests) * 86400 / wall))
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var lat []float64
	for _, e := range ch.edits {
		f.Changes++
		switch e.state {
		case seen:
			lat = append(lat, e.latency.Seconds())
		case missed:
			f.ChangesMissed++
			lat = append(lat, ch.limit.Seconds())
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		f.P95Change = ptr(round2(lat[max(0, int(math.Ceil(0.95*float64(len(lat))))-1)]))
	}
	return f
}

// ewsTargets adds issue 17's EWS targets to the report's (after targets, which starts them).
func ewsTargets(rep *Report) {
	if rep.Targets == nil {
		rep.Targets = map[string]Target{}
	}
	note := ""
	if ewsRun != nil && ewsRun.Rooms != 1000 {
		note = fmt.Sprintf("measured at %d rooms (BENCH_EWS_ROOMS); the target is stated for 1,000", ewsRun.Rooms)
	}
	add := func(key, target string, limit float64) {
		t := Target{Target: target, Note: note}
		v, ok := rep.Figures[key].(float64)
		switch {
		case ok:
			t.Value, t.Met = ptr(v), ptr(v <= limit)
		case ewsRun != nil && key == "ews_cold_sync_seconds":
			t.Met = ptr(false)
			t.Note = joinNote(note, fmt.Sprintf("not converged: %d of %d codecs right at the cold limit", ewsRun.CodecsRight, ewsRun.Codecs))
		default:
			t.Note = "not measured in this run"
		}
		if ok && key == "ews_p95_change_seconds" && ewsRun != nil && ewsRun.EWS != nil && ewsRun.EWS.ChangesMissed > 0 {
			t.Note = joinNote(t.Note, fmt.Sprintf("%d of %d edits did not arrive within the change limit", ewsRun.EWS.ChangesMissed, ewsRun.EWS.Changes))
		}
		rep.Targets[key] = t
	}
	add("ews_cold_sync_seconds", "≤ 60 s: 1,000 rooms over EWS (100 ms latency), every room synced and every codec pushed", 60)
	add("ews_p95_change_seconds", "p95 ≤ 10 s: a change reaches the codec over EWS with streaming notifications", 10)
}

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/simulators/polysim"
)

func init() { register("leaks", leaks) }

// leaks puts the agent through ChurnRounds rounds of what a busy site sees (the default, 360
// rounds, is about an hour of it: every round edits calendars, asks for a sync and a push,
// reboots one codec and cuts another's socket, makes every Poly endpoint poll, sends one
// hostile EWS request, and reloads the config) and compares the agent's goroutines and open
// descriptors (GET /api/runtime) after the churn, once the site is quiet again, with the
// figures before it. "Flat" is: at most max(10, 10 %) more goroutines and max(5, 10 %) more
// descriptors; a leak of one per reconnect or per poll shows up as hundreds.
func leaks(ctx context.Context, e *env, r *Result) error {
	s, err := startSite(ctx, e.bins, e.dir, siteOpts{rooms: e.knobs.Rooms, meetings: 10, cisco: e.knobs.Rooms, poly: 2, mqtt: "embedded", config: soakConfig})
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.waitSynced(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	rng := rand.New(rand.NewPCG(e.knobs.Seed, 13))
	ed := newEditor(s.graph(), s.sim.File.Graph.Rooms, e.knobs.Seed)
	calls, failed := 0, 0
	do := func(err error) {
		calls++
		if err != nil {
			failed++
		}
	}
	round := func(i int) {
		for range 3 {
			do(ed.step(ctx))
		}
		do(s.action(ctx, "sync", map[string]any{}))
		do(s.action(ctx, "push", map[string]any{}))
		codecs := s.sim.File.Cisco
		c1, c2 := codecs[rng.IntN(len(codecs))], codecs[rng.IntN(len(codecs))]
		do(callJSON(ctx, http.MethodPost, s.sim.File.CiscoAdmin+"/codecs/"+pathEscape(c1.Name)+"/reboot", map[string]any{"down_ms": 200}, nil))
		do(callJSON(ctx, http.MethodPost, s.sim.File.CiscoAdmin+"/codecs/"+pathEscape(c2.Name)+"/drop", nil, nil))
		for _, p := range s.sim.File.Poly {
			var st polysim.Status
			err := callJSON(ctx, http.MethodPost, s.sim.File.PolyAdmin+"/endpoints/"+pathEscape(p.Name)+"/poll", nil, &st)
			if err == nil && st.LastError != "" {
				err = fmt.Errorf("poll: %s", st.LastError)
			}
			do(err)
		}
		kind := polysim.JunkKinds[i%len(polysim.JunkKinds)]
		if kind == "oversize" || kind == "oversize_chunked" {
			kind = "malformed" // 50 MB each round would measure the loopback, not the agent
		}
		do(callJSON(ctx, http.MethodPost, s.sim.File.PolyAdmin+"/endpoints/"+pathEscape(s.sim.File.Poly[0].Name)+"/junk", map[string]string{"kind": kind}, nil))
		do(s.action(ctx, "reload", map[string]any{}))
	}
	// Warm up: connection pools, caches and every part's goroutines reach their steady state.
	for i := range 5 {
		round(i)
	}
	start, err := s.quietRuntime(ctx)
	if err != nil {
		return err
	}
	began := time.Now()
	var trail []map[string]any
	for i := range e.knobs.ChurnRounds {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		round(i)
		if !s.alive() {
			return fmt.Errorf("the agent exited in round %d; see %s", i+1, s.agent.Log)
		}
		if step := max(e.knobs.ChurnRounds/10, 1); (i+1)%step == 0 {
			if rt, err := s.runtime(ctx); err == nil {
				trail = append(trail, map[string]any{"round": i + 1, "goroutines": rt.Goroutines, "open_files": deref(rt.OpenFiles), "heap_mb": float64(rt.HeapBytes) / (1 << 20)})
			}
		}
	}
	r.Counts["churn_seconds"] = time.Since(began).Seconds()
	end, err := s.quietRuntime(ctx)
	if err != nil {
		return err
	}
	r.Counts["rounds"] = e.knobs.ChurnRounds
	r.Counts["churn_calls"] = calls
	r.Counts["churn_calls_failed"] = failed
	r.check(failed <= calls/20, "%d of %d churn calls failed: the churn did not happen as planned", failed, calls)
	r.Counts["goroutines_start"] = start.Goroutines
	r.Counts["goroutines_end"] = end.Goroutines
	r.Counts["open_files_start"] = deref(start.OpenFiles)
	r.Counts["open_files_end"] = deref(end.OpenFiles)
	r.Counts["heap_mb_start"] = float64(start.HeapBytes) / (1 << 20)
	r.Counts["heap_mb_end"] = float64(end.HeapBytes) / (1 << 20)
	r.Counts["rss_mb_end"] = float64(deref64(end.RSSBytes)) / (1 << 20)
	r.Counts["trail"] = trail
	if start.OpenFiles == nil || end.OpenFiles == nil {
		r.failf("/api/runtime has no open_files on this system: descriptors cannot be checked")
	}
	for _, v := range flatViolations(start, end) {
		r.failf("%s", v)
	}
	return nil
}

// quietRuntime waits for the site to settle (codecs back up and holding the right bookings),
// then takes the lowest of a few samples: goroutines that finish a request on their way out
// are not leaks.
func (s *site) quietRuntime(ctx context.Context) (web.Runtime, error) {
	if diffs, _ := s.converged(ctx, 60*time.Second); len(diffs) > 0 {
		return web.Runtime{}, fmt.Errorf("the site did not settle: %v", diffs)
	}
	var best web.Runtime
	for i := range 4 {
		rt, err := s.runtime(ctx)
		if err != nil {
			return best, err
		}
		if i == 0 || rt.Goroutines < best.Goroutines {
			best.Goroutines = rt.Goroutines
		}
		if i == 0 || deref(rt.OpenFiles) < deref(best.OpenFiles) {
			best.OpenFiles = rt.OpenFiles
		}
		best.HeapBytes, best.RSSBytes = rt.HeapBytes, rt.RSSBytes
		time.Sleep(500 * time.Millisecond)
	}
	return best, nil
}

// flatViolations says how the end figures grew past the tolerance over the start ones.
func flatViolations(start, end web.Runtime) []string {
	var out []string
	if limit := start.Goroutines + max(10, start.Goroutines/10); end.Goroutines > limit {
		out = append(out, fmt.Sprintf("goroutines grew from %d to %d (flat allows up to %d)", start.Goroutines, end.Goroutines, limit))
	}
	if start.OpenFiles != nil && end.OpenFiles != nil {
		if limit := *start.OpenFiles + max(5, *start.OpenFiles/10); *end.OpenFiles > limit {
			out = append(out, fmt.Sprintf("open descriptors grew from %d to %d (flat allows up to %d)", *start.OpenFiles, *end.OpenFiles, limit))
		}
	}
	return out
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func deref64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

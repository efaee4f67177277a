package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/webexsim"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// Webex devices in the scale run (issue 20). otj-edge's scale runs (Graph source) start otj-sim
// with --webex W (BENCH_WEBEX, default min(100, rooms/10)): W Cisco devices registered to
// Webex, in rooms that also have a LAN codec, pushed by otj-edge through webexsim's cloud xAPI
// (one integration, one rate-limit bucket of 300 requests a minute). The run measures, beside
// the LAN figures:
//
//   - webex_p95_hot_change_seconds: the scale scenario's hot edits (changes.go), made to meetings
//     starting within 30 minutes in BENCH_CHANGES Webex devices' rooms, each timed from the edit
//     to the accepted webexsim Bookings.Put that shows it (webexsim records Puts as ciscosim
//     does). Target ≤ 10 s.
//   - webex_p95_hot_behind_lan_seconds: for the same edits, the Webex device's Put time minus the
//     LAN codec's of the same room (what the cloud path adds; the calendar source's own delay is
//     common to both).
//   - webex_retry_after_violations: webexsim's count of requests that arrived while their token
//     was inside a Retry-After it had been given (must be 0), beside its 429s, requests and
//     stale refresh-token uses over the whole run. BENCH_WEBEX_RATE_LIMIT and
//     BENCH_WEBEX_RATE_WINDOW (e.g. 10 and 10s) lower webexsim's limit so that the run meets 429s.
//
// The figures are in the run's "webex" block; the BENCH_ROOMS run's are also headline figures.

// WebexFigures are a run's Webex device figures.
type WebexFigures struct {
	Devices    int         `json:"devices"`
	HotChanges ChangeStats `json:"hot_changes"`
	// P95BehindLAN is the p95 of (Webex Put − LAN codec Put) for the same edit in the same
	// room; absent when no edit reached both.
	P95BehindLAN *float64 `json:"p95_behind_lan_seconds,omitempty"`
	Requests     int      `json:"requests"`     // every webexsim API request over the run
	RateLimited  int      `json:"rate_limited"` // 429s answered
	// Violations are requests inside a Retry-After (webexsim's count): 0 means otj-edge always
	// waited as Webex asked.
	Violations     int `json:"retry_after_violations"`
	TokenRefreshes int `json:"token_refreshes"`
	StaleRefreshes int `json:"stale_refreshes"` // a rotated-out refresh token used after its grace
	// ColdBlockWaitSeconds is how long the steady window waited, after the settle, for a
	// Retry-After webexsim gave during the cold start to end (waitWebexUnblocked); 0 when none
	// was in force.
	ColdBlockWaitSeconds float64 `json:"cold_block_wait_seconds"`
}

// webexBlockLimit bounds waitWebexUnblocked: a Webex Retry-After lasts the rest of a
// rate-limit window (a minute at webexsim's default) unless an injected burst says otherwise.
const webexBlockLimit = 2 * time.Minute

// waitWebexUnblocked waits, before the steady window, until no Retry-After webexsim gave is in
// force, and returns how long that took. A cold start pushes every Webex device in full (its
// bookings listed, the Put, listed back: three requests each, 300 at 100 devices), which can
// spend a whole rate-limit window; a change made in the block that follows waits for its end
// (up to a window's length) however it is scheduled. That is the cold start's cost, reported
// as such (webex.cold_block_wait_seconds), not the steady freshness the window measures.
func waitWebexUnblocked(ctx context.Context, st *site) (time.Duration, error) {
	if st.webex == nil {
		return 0, nil
	}
	w := blockWaiter{stats: func(ctx context.Context) (webexsim.Stats, error) { return webexStats(ctx, st) }, now: time.Now, sleep: sleepCtx}
	return w.wait(ctx)
}

// blockWaiter is waitWebexUnblocked's loop, with the clock it reads and sleeps on.
type blockWaiter struct {
	stats func(context.Context) (webexsim.Stats, error)
	now   func() time.Time
	sleep func(context.Context, time.Duration) bool
}

func (w blockWaiter) wait(ctx context.Context) (time.Duration, error) {
	start := w.now()
	for slept := false; ; slept = true {
		s, err := w.stats(ctx)
		if err != nil {
			return 0, err
		}
		var until time.Time
		for _, tl := range s.Tokens {
			if tl.BlockedUntil != nil && tl.BlockedUntil.After(until) {
				until = *tl.BlockedUntil
			}
		}
		waited := w.now().Sub(start)
		switch {
		case until.IsZero() && !slept:
			return 0, nil // none was in force: the window opens at once
		case until.IsZero():
			logf("webex: the steady window waited %.1f s for the cold start's Retry-After to end", waited.Seconds())
			return waited, nil
		case waited >= webexBlockLimit:
			return 0, fmt.Errorf("webexsim still refuses the agent's Webex token until %s, %s after the settle", until.UTC().Format("15:04:05"), webexBlockLimit)
		}
		if !w.sleep(ctx, min(until.Sub(w.now())+100*time.Millisecond, webexBlockLimit)) {
			return 0, ctx.Err()
		}
	}
}

// webexSite is what the checks know of the Webex devices: their plans (as codecs': room,
// profile, firmware, resolved meetings), by endpoint name.
type webexSite struct {
	admin  string
	plans  []*codecPlan
	byName map[string]bool
}

// webexDevices is how many Webex devices a scale run starts: none for the naive baseline and
// for other sources (their scenarios measure the calendar side).
func webexDevices(o scaleOptions, strategy string, rooms int) int {
	if strategy != "otj-edge" || o.source != "graph" {
		return 0
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_WEBEX")); err == nil && v >= 0 {
		return v
	}
	return min(100, rooms/10)
}

// webexFlags are otj-sim's flags for w Webex devices.
func webexFlags(w int) []string {
	if w == 0 {
		return nil
	}
	return []string{"--webex", strconv.Itoa(w)}
}

// loadWebexSite reads the Webex devices from the generated config and webexsim (nothing when
// otj-sim runs none).
func loadWebexSite(ctx context.Context, s *harness.Sim, cfg *config.Config, st *site) error {
	if s.File.Webex == nil {
		return nil
	}
	var fleet []webexsim.DeviceInfo
	if err := harness.GetJSON(ctx, s.File.Webex.Admin+"/devices", &fleet); err != nil {
		return fmt.Errorf("list webexsim's devices: %w", err)
	}
	fw := map[string]cisco.Firmware{}
	for _, d := range fleet {
		p, ok := ciscosim.Profiles[d.Profile]
		if !ok {
			return fmt.Errorf("webex device %s has an unknown profile %q", d.DisplayName, d.Profile)
		}
		fw[d.DisplayName] = cisco.ParseFirmware(p.Version, p.DisplayName)
	}
	w := &webexSite{admin: s.File.Webex.Admin, byName: map[string]bool{}}
	for _, e := range cfg.Endpoints {
		if e.Type != config.EndpointWebex {
			continue
		}
		f, ok := fw[e.Name]
		if !ok {
			return fmt.Errorf("webex device %s is in the config but not in webexsim", e.Name)
		}
		prof, err := profileOf(cfg, e.Profile)
		if err != nil {
			return fmt.Errorf("webex device %s: %w", e.Name, err)
		}
		w.plans = append(w.plans, &codecPlan{name: e.Name, room: e.Room, profile: prof, fw: f})
		w.byName[e.Name] = true
	}
	st.webex = w
	// A smaller rate limit (BENCH_WEBEX_RATE_LIMIT requests per BENCH_WEBEX_RATE_WINDOW) makes
	// the run meet 429s, so the violation count has something to count.
	settings := map[string]any{}
	if v, err := strconv.Atoi(os.Getenv("BENCH_WEBEX_RATE_LIMIT")); err == nil && v > 0 {
		settings["rate_limit"] = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_WEBEX_RATE_WINDOW")); err == nil && v > 0 {
		settings["rate_window_ms"] = v.Milliseconds()
	}
	if len(settings) > 0 {
		if err := adminCall(ctx, http.MethodPatch, w.admin+"/settings", settings, nil); err != nil {
			return fmt.Errorf("set webexsim's rate limit: %w", err)
		}
	}
	return nil
}

// sampleWebex picks up to k Webex devices for hot edits, spread over them, preferring rooms
// the LAN sample does not edit (so each room's edits are one sample's).
func sampleWebex(st *site, k int, lan ...[]*codecPlan) []*codecPlan {
	if st.webex == nil || k <= 0 {
		return nil
	}
	taken := map[string]bool{}
	for _, l := range lan {
		for _, c := range l {
			taken[c.room] = true
		}
	}
	var free, busy []*codecPlan
	for _, p := range st.webex.plans {
		if taken[p.room] {
			busy = append(busy, p)
		} else {
			free = append(free, p)
		}
	}
	pool := append(free, busy...)
	k = min(k, len(pool))
	out := make([]*codecPlan, 0, k)
	for i := range k {
		out = append(out, pool[i*len(pool)/k])
	}
	return out
}

// webexStats are webexsim's counters over the run.
func webexStats(ctx context.Context, st *site) (webexsim.Stats, error) {
	var s webexsim.Stats
	if st.webex == nil {
		return s, nil
	}
	if err := harness.GetJSON(ctx, st.webex.admin+"/stats", &s); err != nil {
		return s, fmt.Errorf("read webexsim's counters: %w", err)
	}
	return s, nil
}

// slowWebexEdit is the latency past which a Webex edit of a meeting within 30 minutes is
// logged by name: the hot p95 target.
const slowWebexEdit = 10 * time.Second

// webexFigures works out the run's Webex figures from its edits and webexsim's counters
// before the process started (s0) and at the end (s1).
func webexFigures(ctx context.Context, st *site, ch *changes, s0, s1 webexsim.Stats) (*WebexFigures, error) {
	f := &WebexFigures{Devices: len(st.webex.plans), Requests: s1.Requests - s0.Requests, RateLimited: s1.RateLimited - s0.RateLimited,
		Violations: s1.Violations - s0.Violations, TokenRefreshes: s1.TokenRefreshes - s0.TokenRefreshes,
		StaleRefreshes: s1.StaleRefreshes - s0.StaleRefreshes}
	if ch == nil {
		return f, nil
	}
	hot, _, err := ch.wait()
	if err != nil {
		return nil, err
	}
	f.HotChanges = hot
	var behind []float64
	ch.mu.Lock()
	edits := slices.Clone(ch.edits)
	ch.mu.Unlock()
	for _, e := range edits {
		lan := st.byRoom[e.codec.room]
		if e.state != seen || lan == nil {
			continue
		}
		puts, err := st.codecPuts(ctx, lan.name)
		if err != nil {
			return nil, err
		}
		for _, p := range puts {
			if p.Accepted && !p.At.Before(e.at) && showsEdit(p.Bookings, e.want) {
				behind = append(behind, e.at.Add(e.latency).Sub(p.At).Seconds())
				if e.hot && e.latency > slowWebexEdit {
					// Named with both times, so the agent's log (BENCH_KEEP) can say where the
					// time went: the calendar source (the LAN codec as late) or the Webex path.
					logf("webex: slow edit: %s in %s (edited %s) reached the Webex device in %.1f s, its LAN codec in %.1f s",
						e.eventID, e.codec.room, e.at.UTC().Format("15:04:05.000"), e.latency.Seconds(), p.At.Sub(e.at).Seconds())
				}
				break
			}
		}
	}
	if len(behind) > 0 {
		slices.Sort(behind)
		f.P95BehindLAN = ptr(round2(behind[max(0, int(math.Ceil(0.95*float64(len(behind))))-1)]))
	}
	return f, nil
}

// webexHeadline copies the headline run's Webex figures to the top of the report.
func webexHeadline(rep *Report, r *Run) {
	w := r.Webex
	if w == nil {
		return
	}
	rep.Figures["webex_devices"] = w.Devices
	if w.HotChanges.P95 != nil {
		rep.Figures["webex_p95_hot_change_seconds"] = *w.HotChanges.P95
	}
	if w.P95BehindLAN != nil {
		rep.Figures["webex_p95_hot_behind_lan_seconds"] = *w.P95BehindLAN
	}
	rep.Figures["webex_rate_limited"] = w.RateLimited
	rep.Figures["webex_retry_after_violations"] = w.Violations
	rep.Figures["webex_cold_block_wait_seconds"] = w.ColdBlockWaitSeconds
}

// webexTargets adds issue 20's targets (after targets, which starts the map).
func webexTargets(rep *Report) {
	if rep.Targets == nil {
		rep.Targets = map[string]Target{}
	}
	if edgeAtRooms == nil || edgeAtRooms.Webex == nil {
		return
	}
	r, w := edgeAtRooms, edgeAtRooms.Webex
	note := ""
	if r.Rooms != 1000 {
		note = fmt.Sprintf("measured at %d rooms with %d Webex devices; the target is stated for 1,000 rooms with 100", r.Rooms, w.Devices)
	}
	t := Target{Target: "p95 ≤ 10 s: a change to a meeting starting within 30 min reaches a Webex device through the cloud xAPI " +
		"(the same freshness as a LAN codec)", Note: note}
	if p := w.HotChanges.P95; p != nil {
		t.Value, t.Met = ptr(*p), ptr(*p <= 10)
		if w.HotChanges.Missed > 0 {
			t.Note = joinNote(t.Note, fmt.Sprintf("%d of %d edits did not arrive within the change limit", w.HotChanges.Missed, w.HotChanges.Count))
		}
		if l := r.HotChanges.P95; l != nil && w.P95BehindLAN != nil {
			t.Note = joinNote(t.Note, fmt.Sprintf("the LAN codecs' hot p95 in the same run was %.1f s and the Webex device was p95 %.1f s "+
				"behind the LAN codec of its room: the calendar source's delay (Graph: polls and the change probe) is common to both",
				*l, *w.P95BehindLAN))
		}
		if w.ColdBlockWaitSeconds > 0 {
			t.Note = joinNote(t.Note, fmt.Sprintf("the window began %.1f s later than the settle, when the Retry-After Webex gave during "+
				"the cold start's full pushes ended (a change inside it waits for its end)", w.ColdBlockWaitSeconds))
		}
	} else {
		t.Note = joinNote(t.Note, "no edit measured")
	}
	rep.Targets["webex_p95_hot_change_seconds"] = t
	v := float64(w.Violations)
	rep.Targets["webex_retry_after_violations"] = Target{Target: "0: no request to Webex inside a Retry-After it was given (webexsim's count)",
		Value: &v, Met: ptr(w.Violations == 0), Note: joinNote(note, fmt.Sprintf("%d 429s answered over the run, %d requests", w.RateLimited, w.Requests))}
}

// webexChanges starts the Webex devices' hot edits (the scale scenario's edits, timed against
// webexsim's Puts); nil when there are none.
func webexChanges(ctx context.Context, st *site, hot []hotMeeting, span, limit time.Duration) *changes {
	if len(hot) == 0 {
		return nil
	}
	return startChanges(ctx, st, hot, nil, span, limit)
}

// profileOf compiles the config's profile name.
func profileOf(cfg *config.Config, name string) (*rules.Profile, error) {
	for i := range cfg.Profiles {
		if cfg.Profiles[i].Name == name {
			return cfg.Profiles[i].Compile()
		}
	}
	return nil, fmt.Errorf("no profile %q", name)
}

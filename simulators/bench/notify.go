package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
)

// The graph_notify scenario: Graph change notifications (issue 18) against polling alone, on
// the same site. Two runs of otj-edge at BENCH_NOTIFY_ROOMS (default BENCH_ROOMS): one with
// `otj-sim --notify` (a TLS reverse proxy in front of the agent's notifications listener,
// notifications_url in the generated config), one without. Each run: cold start, then (with
// notifications) until every room has a live subscription (the status API), the settling
// time, and the steady window with the scale scenario's change sample (changes.go: hot and
// cold edits made through graphsim's admin API, timed to the accepted codec Put). Figures:
//
//   - graph_notify_change_to_codec_p95_seconds: p95 of every edit, hot and cold, with
//     notifications (target ≤ 5 s at 1,000 rooms); graph_polling_change_to_codec_p95_seconds
//     the same without.
//   - graph_notify_requests_per_day and graph_polling_requests_per_day: graphsim's request
//     count over the steady window × 24 h; the notify figure adds the subscription renewals,
//     which fall outside any short window (one per room per 46 h: 4,200-min subscriptions
//     renewed when 24 h remain). graph_notify_requests_ratio_to_polling is their ratio (target
//     below 1: fewer requests than polling alone).

func init() {
	register("graph_notify", notifyScenario)
}

// renewalsPerRoomDay is the subscription renewals a room needs per day (sync/graph's defaults).
const renewalsPerRoomDay = 24.0 / (4200.0/60 - 24)

// notifyRun is one run's figures.
type notifyRun struct {
	Notify           bool        `json:"notifications"`
	Rooms            int         `json:"rooms"`
	ColdSyncSeconds  *float64    `json:"cold_sync_seconds,omitempty"`
	SubscribeSeconds *float64    `json:"subscribe_seconds,omitempty"` // process start → every room subscribed
	Changes          ChangeStats `json:"changes"`                     // hot and cold together
	HotChanges       ChangeStats `json:"hot_changes"`
	ColdChanges      ChangeStats `json:"cold_changes"`
	WindowSeconds    float64     `json:"steady_window_seconds"`
	WindowRequests   int         `json:"steady_graph_requests"`
	RequestsPerDay   int64       `json:"graph_requests_per_day"`
	AgentPlanPerDay  int64       `json:"agent_projected_graph_requests_per_day,omitempty"`
	Notifications    *notifyFig  `json:"notifications_status,omitempty"`
	// Webex: the run's Webex devices (scenario_webex.go) beside the LAN codecs, with the same
	// Graph freshness; only the run with notifications starts them.
	Webex *WebexFigures `json:"webex,omitempty"`
}

// notifyFig is the status API's notifications block at the end of the window.
type notifyFig struct {
	Rooms     int    `json:"rooms"`
	Live      int    `json:"live"`
	Received  int64  `json:"received"`
	Ignored   int64  `json:"ignored"`
	Failures  int64  `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

func notifyScenario(ctx context.Context, rep *Report) error {
	o, err := scaleOptionsFromEnv()
	if err != nil {
		return err
	}
	n := envInt("BENCH_NOTIFY_ROOMS", o.rooms)
	bins, err := scaleBinaries(ctx)
	if err != nil {
		return err
	}
	with, err := notifyRunAt(ctx, bins, o, n, true)
	if err != nil {
		return fmt.Errorf("with notifications at %d rooms: %w", n, err)
	}
	without, err := notifyRunAt(ctx, bins, o, n, false)
	if err != nil {
		return fmt.Errorf("polling alone at %d rooms: %w", n, err)
	}
	rep.Figures["graph_notify_rooms"] = n
	rep.Figures["graph_notify_runs"] = []*notifyRun{with, without}
	if with.Changes.P95 != nil {
		rep.Figures["graph_notify_change_to_codec_p95_seconds"] = *with.Changes.P95
	}
	if without.Changes.P95 != nil {
		rep.Figures["graph_polling_change_to_codec_p95_seconds"] = *without.Changes.P95
	}
	if w := with.Webex; w != nil && w.HotChanges.P95 != nil {
		rep.Figures["graph_notify_webex_p95_hot_change_seconds"] = *w.HotChanges.P95
	}
	rep.Figures["graph_notify_requests_per_day"] = with.RequestsPerDay
	rep.Figures["graph_polling_requests_per_day"] = without.RequestsPerDay
	var ratio *float64
	if without.RequestsPerDay > 0 {
		ratio = ptr(round2(float64(with.RequestsPerDay) / float64(without.RequestsPerDay)))
		rep.Figures["graph_notify_requests_ratio_to_polling"] = *ratio
	}
	// The report's targets are rebuilt after every scenario (scenario_scale.go); these are
	// added once that has run.
	afterScenarios = append(afterScenarios, func(rep *Report) { notifyTargets(rep, n, with, ratio) })
	logf("graph_notify: %d rooms: change p95 %s s with notifications, %s s polling; %d vs %d requests/day (ratio %s)",
		n, fmtP(with.Changes.P95), fmtP(without.Changes.P95), with.RequestsPerDay, without.RequestsPerDay, fmtP(ratio))
	return nil
}

func notifyTargets(rep *Report, n int, with *notifyRun, ratio *float64) {
	if rep.Targets == nil {
		rep.Targets = map[string]Target{}
	}
	note := ""
	if n != 1000 {
		note = fmt.Sprintf("measured at %d rooms (BENCH_NOTIFY_ROOMS); the target is stated for 1,000", n)
	}
	t := Target{Target: "p95 ≤ 5 s: a change reaches the codec with change notifications (1,000 rooms)", Note: note}
	if p := with.Changes.P95; p != nil {
		t.Value, t.Met = ptr(*p), ptr(*p <= 5)
		if with.Changes.Missed > 0 {
			t.Note = joinNote(t.Note, fmt.Sprintf("%d of %d edits did not arrive within the change limit", with.Changes.Missed, with.Changes.Count))
		}
		t.Note = joinNote(t.Note, "graphsim delivers at once; Microsoft 365 documents Outlook notifications within about a minute on average")
	} else {
		t.Note = joinNote(t.Note, "no edit measured")
	}
	rep.Targets["graph_notify_change_to_codec_p95_seconds"] = t
	r := Target{Target: "fewer Graph requests per day with change notifications than polling alone (ratio < 1)", Note: note}
	if ratio != nil {
		r.Value, r.Met = ptr(*ratio), ptr(*ratio < 1)
		r.Note = joinNote(r.Note, "steady windows × 24 h on the same site; renewals added (one per room per 46 h)")
	}
	rep.Targets["graph_notify_requests_ratio_to_polling"] = r
	if w := with.Webex; w != nil {
		rep.Targets["graph_notify_webex_p95_hot_change_seconds"] = webexNotifyTarget(w, with, note)
	}
}

// webexNotifyTarget is issue 20's freshness target for the Webex devices of the run with
// notifications: the same hot edits as the scale run's, when Graph tells the agent of a change
// instead of waiting for the next poll.
func webexNotifyTarget(w *WebexFigures, with *notifyRun, note string) Target {
	t := Target{Target: "p95 ≤ 10 s: a change to a meeting starting within 30 min reaches a Webex device through the cloud xAPI, " +
		"with Graph change notifications", Note: note}
	p := w.HotChanges.P95
	if p == nil {
		t.Note = joinNote(t.Note, "no edit measured")
		return t
	}
	t.Value, t.Met = ptr(*p), ptr(*p <= 10 && w.HotChanges.Missed == 0 && w.Violations == 0)
	if w.HotChanges.Missed > 0 {
		t.Note = joinNote(t.Note, fmt.Sprintf("%d of %d edits did not arrive within the change limit", w.HotChanges.Missed, w.HotChanges.Count))
	}
	if w.Violations > 0 {
		t.Note = joinNote(t.Note, fmt.Sprintf("%d requests inside a Retry-After", w.Violations))
	}
	if l := with.HotChanges.P95; l != nil {
		t.Note = joinNote(t.Note, fmt.Sprintf("%d Webex devices; the LAN codecs' hot p95 in the same run was %.1f s", w.Devices, *l))
	}
	return t
}

// notifyRunAt runs otj-edge at n rooms, with notifications or polling alone.
func notifyRunAt(ctx context.Context, bins binaries, o scaleOptions, n int, notify bool) (*notifyRun, error) {
	r := &notifyRun{Notify: notify, Rooms: n}
	what := "polling"
	if notify {
		what = "notifications"
	}
	dir, err := os.MkdirTemp("", "otj-bench-notify-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		logf("graph_notify: %s: run directory %s", what, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	args := []string{"--rooms", strconv.Itoa(n), "--cisco", strconv.Itoa(n), "--poly", "0", "--meetings", strconv.Itoa(o.meetings),
		"--latency", o.latency.String(), "--clean", "--mqtt", "off"}
	webexN := 0
	if notify {
		args = append(args, "--notify")
		webexN = webexDevices(o, "otj-edge", n)
		args = append(args, webexFlags(webexN)...)
	}
	logf("graph_notify: %s, %d rooms: starting otj-sim", what, n)
	s, err := harness.StartSim(ctx, bins.Bins, dir, args...)
	if err != nil {
		return nil, err
	}
	defer s.Stop(30 * time.Second)
	if notify && (s.File.Graph == nil || s.File.Graph.Notifications == nil) {
		return nil, errors.New("otj-sim --notify wrote no graph.notifications block to sim.json")
	}
	st, err := loadSite(ctx, s)
	if err != nil {
		return nil, err
	}
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
	if webexN > 0 && st.webex == nil {
		return nil, fmt.Errorf("otj-sim --webex %d configured no Webex devices", webexN)
	}
	w0, err := webexStats(ctx, st)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	a, err := harness.StartAgent(ctx, bins.Bins, s.File.Agent.Config, s.File.Agent.StatusURL, filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	p := process{proc: a.Proc, agent: a}
	defer p.stop()
	scratch := &Run{}
	done, err := coldStart(ctx, st, p, start, o.coldLimit, scratch)
	if err != nil {
		return nil, err
	}
	if !done.IsZero() {
		r.ColdSyncSeconds = ptr(round2(done.Sub(start).Seconds()))
	}
	if notify {
		// The steady window starts once every room is subscribed: creating the subscriptions
		// (one call at a time) is a one-off, like the cold sync.
		deadline := start.Add(o.coldLimit)
		for {
			nf, _, err := agentNotifications(ctx, a)
			if err != nil {
				return nil, err
			}
			if nf != nil && nf.Live == n {
				r.SubscribeSeconds = ptr(round2(time.Since(start).Seconds()))
				break
			}
			if time.Now().After(deadline) {
				live, last := 0, ""
				if nf != nil {
					live, last = nf.Live, nf.LastError
				}
				return nil, fmt.Errorf("%d of %d rooms subscribed within %s (last error: %q); see %s", live, n, o.coldLimit, last, p.proc.Log)
			}
			if !sleepCtx(ctx, time.Second) {
				return nil, ctx.Err()
			}
		}
		logf("graph_notify: %d rooms subscribed after %.1f s", n, *r.SubscribeSeconds)
	}
	if !sleepCtx(ctx, o.settle) {
		return nil, ctx.Err()
	}
	webexWait, err := waitWebexUnblocked(ctx, st)
	if err != nil {
		return nil, err
	}

	g0, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	ch := startChanges(ctx, st, hot, coldRooms, o.window*2/3, o.changeLimit)
	wch := webexChanges(ctx, st, webexHot, o.window*2/3, o.changeLimit)
	if !sleepCtx(ctx, o.window) {
		return nil, ctx.Err()
	}
	g1, err := graphStats(ctx, st)
	if err != nil {
		return nil, err
	}
	wall := time.Since(t0).Seconds()
	r.WindowSeconds, r.WindowRequests = round2(wall), g1.Requests-g0.Requests
	perDay := float64(r.WindowRequests) * 86400 / wall
	nf, plan, err := agentNotifications(ctx, a)
	if err != nil {
		return nil, err
	}
	r.AgentPlanPerDay = plan
	if notify {
		perDay += float64(n) * renewalsPerRoomDay
		r.Notifications = nf
	}
	r.RequestsPerDay = int64(math.Round(perDay))
	hotStats, coldStats, err := ch.wait()
	if err != nil {
		return nil, err
	}
	r.HotChanges, r.ColdChanges = hotStats, coldStats
	ch.mu.Lock()
	all := make([]*edit, len(ch.edits))
	for i, e := range ch.edits {
		c := *e
		c.hot = true // one sample: stats() takes one kind
		all[i] = &c
	}
	ch.mu.Unlock()
	r.Changes = stats(all, true, ch.limit)
	r.Changes.Skipped = hotStats.Skipped + coldStats.Skipped
	if st.webex != nil {
		w1, err := webexStats(ctx, st)
		if err != nil {
			return nil, err
		}
		if r.Webex, err = webexFigures(ctx, st, wch, w0, w1); err != nil {
			return nil, err
		}
		r.Webex.ColdBlockWaitSeconds = round2(webexWait.Seconds())
		logf("graph_notify: %d Webex devices: hot p95 %s s (%d/%d seen), %s s behind LAN, %d Retry-After violations",
			r.Webex.Devices, fmtP(r.Webex.HotChanges.P95), r.Webex.HotChanges.Seen, r.Webex.HotChanges.Count,
			fmtP(r.Webex.P95BehindLAN), r.Webex.Violations)
	}
	if exited, err := p.proc.Exited(); exited {
		return nil, fmt.Errorf("otj-edge exited during the run (%v): see %s", err, p.proc.Log)
	}
	logf("graph_notify: %s, %d rooms: change p95 %s s (%d/%d seen), %d requests in %.0f s → %d/day",
		what, n, fmtP(r.Changes.P95), r.Changes.Seen, r.Changes.Count, r.WindowRequests, wall, r.RequestsPerDay)
	return r, nil
}

// agentNotifications reads the Graph source's notifications block and its 24-h plan from the
// agent's status API.
func agentNotifications(ctx context.Context, a *harness.Agent) (*notifyFig, int64, error) {
	var st struct {
		Sources []struct {
			Type          string     `json:"type"`
			Projected24h  int64      `json:"projected_24h"`
			Notifications *notifyFig `json:"notifications"`
		} `json:"sources"`
	}
	if err := harness.GetJSON(ctx, a.StatusURL+"/api/status", &st); err != nil {
		return nil, 0, fmt.Errorf("read the agent's status: %w", err)
	}
	for _, s := range st.Sources {
		if s.Type == "graph" {
			return s.Notifications, s.Projected24h, nil
		}
	}
	return nil, 0, nil
}

func fmtP(p *float64) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64)
}

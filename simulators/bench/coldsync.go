package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/graph"
)

// The Graph sync alone, in one process: graphsim over TLS on loopback, the real syncer
// (msgraph-sdk-go, default max_in_flight and budget) and a store in a temporary directory.
// It does not include the meeting processor, codec pushes or a separate agent process (the
// full cold start is measured with real processes elsewhere).
//
//   - graph_sync_cold_seconds: 1,000 rooms (BENCH_ROOMS) × ~40 meetings over 7 days, 100 ms added
//     to every Graph operation (a batch's parts run 4 at a time, as in Graph), Graph's limits;
//     from Run until every room's first round is in the store. Generating the calendars is
//     not timed.
//   - graph_requests_per_room_per_day: Graph requests counted by graphsim over a simulated
//     Monday (virtual time, no latency) after the cold sync, with BENCH_STEADY_ROOMS rooms
//     (default 100) and a budget of 1,000 requests per room per day, which is how 1,000 rooms
//     with 1,000,000 are scheduled (the plan is per room). graph_sync_projected_requests_per_day is
//     that × 1,000; graph_syncer_projection_per_day is what the syncer itself projected at
//     00:02 (× 1,000 / rooms); graph_hot_interval_max_seconds and graph_cold_interval_max_seconds
//     are the longest poll intervals in force during the day (before ± 5 % jitter).
func init() {
	register("coldsync", coldSync)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func coldSync(ctx context.Context, rep *Report) error {
	rooms := envInt("BENCH_ROOMS", 1000)
	secs, extra, err := measureColdSync(ctx, rooms, 40, 100*time.Millisecond)
	if err != nil {
		return err
	}
	rep.Figures["graph_sync_cold_seconds"] = round2(secs)
	rep.Figures["graph_sync_rooms"] = rooms
	for k, v := range extra {
		rep.Figures[k] = v
	}
	fmt.Fprintf(os.Stderr, "graph_sync_cold_seconds: %.2f (%d rooms)\n", secs, rooms)

	steady := envInt("BENCH_STEADY_ROOMS", 100)
	perRoom, projected, hotMax, coldMax, err := measureSteadyDay(ctx, steady)
	if err != nil {
		return err
	}
	rep.Figures["graph_hot_interval_max_seconds"] = round2(hotMax.Seconds())
	rep.Figures["graph_cold_interval_max_seconds"] = round2(coldMax.Seconds())
	rep.Figures["graph_requests_per_room_per_day"] = round2(perRoom)
	rep.Figures["graph_sync_projected_requests_per_day"] = int64(perRoom * 1000)
	rep.Figures["graph_syncer_projection_per_day"] = projected
	fmt.Fprintf(os.Stderr, "graph_requests_per_room_per_day: %.1f (simulated day, %d rooms); projected for 1,000 rooms: %d\n",
		perRoom, steady, int64(perRoom*1000))
	return nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func roomList(n int) []string {
	out := make([]string, n)
	width := max(2, len(strconv.Itoa(n)))
	for i := range out {
		out[i] = fmt.Sprintf("room-%0*d@contoso.example", width, i+1)
	}
	return out
}

// benchEnv is graphsim, a store and an integration pointing at them.
type benchEnv struct {
	sim *graphsim.Server
	st  *store.Store
	in  graph.Integration
	dir string
}

func newBenchEnv(ctx context.Context, opts graphsim.Options, now func() time.Time) (*benchEnv, error) {
	sim, err := graphsim.New(opts)
	if err != nil {
		return nil, err
	}
	if err := sim.Start(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "otj-bench-graph-")
	if err != nil {
		sim.Close()
		return nil, err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := sim.CA().WriteFile(ca); err != nil {
		sim.Close()
		return nil, err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "otj-edge.db"), store.Options{Now: now})
	if err != nil {
		sim.Close()
		return nil, err
	}
	in := graph.Integration{Name: "m365", ClientID: sim.ClientID(),
		ClientSecret: secret.New(sim.ClientSecret()), TokenURL: sim.TokenURL(), GraphURL: sim.GraphURL(),
		MaxRequestsPerDay: graph.DefaultMaxRequestsPerDay, MaxInFlight: graph.DefaultMaxInFlight, CAFile: ca}
	return &benchEnv{sim: sim, st: st, in: in, dir: dir}, nil
}

func (e *benchEnv) close() {
	e.sim.Close()
	e.st.Close()
	os.RemoveAll(e.dir)
}

func specs(rooms []string) []graph.RoomSpec {
	out := make([]graph.RoomSpec, len(rooms))
	for i, r := range rooms {
		out[i] = graph.RoomSpec{Mailbox: r, UpcomingDays: 7}
	}
	return out
}

// waitSynced waits until every room has completed a round: woken by the store's change notices, it
// looks at most every 50 ms so that watching a thousand rooms costs little.
func waitSynced(ctx context.Context, st *store.Store, n int, limit time.Duration) error {
	sub := st.Subscribe(store.TopicRooms)
	defer sub.Close()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		rs, err := st.Rooms(ctx)
		if err != nil {
			return err
		}
		done := 0
		for _, r := range rs {
			if !r.LastSuccess.IsZero() {
				done++
			}
		}
		if done == n {
			return nil
		}
		select {
		case <-sub.C:
		case <-deadline.C:
			return fmt.Errorf("only %d of %d rooms synced after %s", done, n, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func measureColdSync(ctx context.Context, n, meetings int, latency time.Duration) (float64, map[string]any, error) {
	env, err := newBenchEnv(ctx, graphsim.Options{Latency: latency}, time.Now)
	if err != nil {
		return 0, nil, err
	}
	defer env.close()
	rooms := roomList(n)
	fmt.Fprintf(os.Stderr, "coldsync: generating %d rooms × %d meetings…\n", n, meetings)
	sum, err := env.sim.Load(graphsim.Scenario{Rooms: rooms, Meetings: meetings, Seed: 1})
	if err != nil {
		return 0, nil, err
	}
	s, err := graph.New(graph.Options{Integration: env.in, Rooms: specs(rooms), Store: env.st,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return 0, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Run(runCtx) }()
	err = waitSynced(ctx, env.st, n, 10*time.Minute)
	elapsed := time.Since(start)
	cancel()
	if runErr := <-done; runErr != nil && err == nil {
		err = runErr
	}
	if err != nil {
		return 0, nil, err
	}
	st := env.sim.Stats()
	maxInFlight, throttled, early := 0, 0, 0
	for _, m := range st.Mailboxes {
		maxInFlight = max(maxInFlight, m.MaxInFlight)
		throttled += m.Throttled
		early += m.EarlyRetries
	}
	if maxInFlight > graphsim.MailboxConcurrency || early > 0 {
		return 0, nil, fmt.Errorf("cold sync broke Graph's rules: %d in flight for one mailbox, %d early retries", maxInFlight, early)
	}
	return elapsed.Seconds(), map[string]any{
		"graph_sync_meetings":                    sum.Instances,
		"graph_sync_cold_requests":               st.Requests,
		"graph_sync_cold_batches":                st.Batches,
		"graph_sync_max_in_flight_per_mailbox":   maxInFlight,
		"graph_sync_throttled_responses":         throttled,
		"graph_sync_requests_before_retry_after": early,
	}, nil
}

// measureSteadyDay syncs n rooms, then runs a simulated Monday in virtual time and counts the
// requests graphsim sees.
func measureSteadyDay(ctx context.Context, n int) (perRoom float64, projected int64, hotMax, coldMax time.Duration, err error) {
	monday := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(monday)
	env, err := newBenchEnv(ctx, graphsim.Options{Now: clk.Now, TokenTTL: 48 * time.Hour}, clk.Now)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer env.close()
	rooms := roomList(n)
	if _, err := env.sim.Load(graphsim.Scenario{Rooms: rooms, Meetings: 40, Seed: 1, Now: monday}); err != nil {
		return 0, 0, 0, 0, err
	}
	env.in.MaxRequestsPerDay = 1000 * n // 1,000 rooms with 1,000,000 a day, per room
	s, err := graph.New(graph.Options{Integration: env.in, Rooms: specs(rooms), Store: env.st, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	if err := waitSynced(ctx, env.st, n, 10*time.Minute); err != nil {
		return 0, 0, 0, 0, err
	}
	if err := settle(ctx, s); err != nil {
		return 0, 0, 0, 0, err
	}
	before := env.sim.Stats().Requests
	fmt.Fprintf(os.Stderr, "coldsync: simulating a day of %d rooms in virtual time…\n", n)
	for end := monday.Add(24 * time.Hour); clk.Now().Before(end); {
		// One second at a time: the change probe's hot interval (7 s) is not a multiple of a
		// coarser step, which would stretch it and undercount its requests.
		clk.Advance(time.Second)
		if err := settle(ctx, s); err != nil {
			return 0, 0, 0, 0, err
		}
		st := s.Stats()
		if projected == 0 && clk.Now().Sub(monday) >= 2*time.Minute { // the plan made with the calendars known
			projected = st.Projected24h
		}
		hotMax, coldMax = max(hotMax, st.HotInterval), max(coldMax, st.ColdInterval)
	}
	used := env.sim.Stats().Requests - before
	cancel()
	if err := <-done; err != nil {
		return 0, 0, 0, 0, err
	}
	if int64(used) > int64(env.in.MaxRequestsPerDay) {
		return 0, 0, 0, 0, fmt.Errorf("the simulated day used %d requests, over the budget of %d", used, env.in.MaxRequestsPerDay)
	}
	return float64(used) / float64(n), projected * 1000 / int64(n), hotMax, coldMax, nil
}

// settle waits until the syncer has nothing due at the fake clock's time.
func settle(ctx context.Context, s *graph.Syncer) error {
	deadline := time.NewTimer(5 * time.Minute)
	defer deadline.Stop()
	for !s.Quiet() {
		select {
		case <-s.Progress():
		case <-deadline.C:
			return errors.New("the syncer did not settle")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

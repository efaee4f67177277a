package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/simulators/sim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

func init() { register("cisco_push", benchCiscoPush) }

// benchCiscoPush measures the Cisco driver against a fleet of simulated codecs served by an
// otj-sim process (so this process holds only what the agent would: the driver and its store):
// the cold push to every codec, the delay from a meeting change in the store to the codec's
// answer to the Put, push latency, memory. BENCH_CISCO_CODECS sets the fleet size (default 1000).
func benchCiscoPush(ctx context.Context, rep *Report) error {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("BENCH_CISCO_CODECS")); err == nil && v > 0 {
		n = v
	}
	const perRoom = 20
	dir, err := os.MkdirTemp("", "otj-bench-cisco-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sim, stop, err := startSim(ctx, dir, n)
	if err != nil {
		return err
	}
	defer stop()
	if len(sim.Cisco) != n {
		return fmt.Errorf("otj-sim started %d codecs, want %d", len(sim.Cisco), n)
	}
	st, err := store.Open(ctx, filepath.Join(dir, "otj-edge.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	now := time.Now().UTC().Truncate(time.Minute)
	eps := make([]cisco.Endpoint, n)
	var rooms []store.RoomRef
	var refs []store.EndpointRef
	for i, c := range sim.Cisco {
		eps[i] = cisco.Endpoint{Name: c.Name, Room: c.Room, Address: c.URL, Username: c.Username, Password: c.Password}
		rooms = append(rooms, store.RoomRef{Mailbox: c.Room, Integration: "m365"})
		refs = append(refs, store.EndpointRef{Name: c.Name, Type: "cisco", Room: c.Room})
	}
	meetings := func(room string, salt string) []calendar.Meeting {
		ms := make([]calendar.Meeting, perRoom)
		for j := range ms {
			start := now.Add(time.Duration(j) * 90 * time.Minute)
			ms[j] = calendar.Meeting{Room: room, ID: fmt.Sprintf("m-%d", j), Start: start, End: start.Add(time.Hour),
				Subject: "Meeting " + strconv.Itoa(j) + salt, Organizer: "Ada Lovelace", Join: true,
				Number: fmt.Sprintf("%d@vc.example.com", 1000+j), Protocol: "SIP", Platform: "Other",
				StartBuffer: calendar.Duration(5 * time.Minute)}
		}
		return ms
	}
	err = st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		if err := tx.SyncEndpoints(refs); err != nil {
			return err
		}
		for _, r := range rooms {
			if _, err := stored.ReplaceMeetings(tx, r.Mailbox, meetings(r.Mailbox, "")); err != nil {
				return err
			}
			// As a completed sync and the processor leave it: codecs are pushed only then.
			if err := tx.PutRoom(store.RoomState{Mailbox: r.Mailbox, Integration: r.Integration, Status: store.RoomOK, LastSuccess: now}); err != nil {
				return err
			}
			if err := tx.MarkResolved(r.Mailbox, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := rssMB()
	m, err := cisco.New(cisco.Options{Endpoints: eps, Store: st, Logger: slog.New(slog.DiscardHandler), WindowPast: time.Hour, WindowDays: 1})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- m.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	// Pushed = the codec accepted a Put and the driver recorded its hash.
	hashes := func() (map[string]string, error) {
		all, err := st.Endpoints(ctx)
		out := map[string]string{}
		for _, e := range all {
			out[e.Name] = e.PushHash
		}
		return out, err
	}
	waitUntil := func(limit time.Duration, ok func(map[string]string) bool) error {
		sub := st.Subscribe(store.TopicEndpoints)
		defer sub.Close()
		end := time.After(limit)
		for {
			h, err := hashes()
			if err != nil {
				return err
			}
			if ok(h) {
				return nil
			}
			select {
			case <-sub.C:
				sub.Take()
			case <-end:
				return fmt.Errorf("not done within %s", limit)
			}
		}
	}
	err = waitUntil(5*time.Minute, func(h map[string]string) bool {
		for _, e := range eps {
			if h[e.Name] == "" {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("cold push: %w", err)
	}
	cold := time.Since(start)
	if path := os.Getenv("BENCH_CISCO_HEAPPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	// Freshness: one room's meetings change; how long until its codec accepted the new list.
	const changes = 20
	var delays []time.Duration
	for k := range changes {
		i := rand.N(n)
		h0, err := hashes()
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := st.Write(ctx, func(tx *store.Tx) error {
			_, err := stored.ReplaceMeetings(tx, eps[i].Room, meetings(eps[i].Room, fmt.Sprintf(" (change %d)", k)))
			return err
		}); err != nil {
			return err
		}
		if err := waitUntil(time.Minute, func(h map[string]string) bool { return h[eps[i].Name] != h0[eps[i].Name] }); err != nil {
			return fmt.Errorf("change %d to %s: %w", k, eps[i].Name, err)
		}
		delays = append(delays, time.Since(t0))
	}
	slices.Sort(delays)
	stats := m.Stats()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rep.Figures["cisco_codecs"] = n
	rep.Figures["cisco_connected"] = stats.Connected
	rep.Figures["cisco_cold_push_seconds"] = cold.Seconds()
	rep.Figures["cisco_change_to_push_p50_ms"] = ms(delays[len(delays)/2])
	rep.Figures["cisco_change_to_push_p95_ms"] = ms(delays[len(delays)*95/100])
	rep.Figures["cisco_push_latency_p95_ms"] = ms(stats.LatencyP95)
	rep.Figures["cisco_driver_heap_mb"] = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / (1 << 20)
	rep.Figures["cisco_process_rss_mb"] = rssMB()
	rep.Figures["cisco_process_rss_before_mb"] = rssBefore
	rep.Figures["cisco_driver_stack_mb"] = float64(int64(after.StackInuse)-int64(before.StackInuse)) / (1 << 20)
	rep.Figures["cisco_goroutines"] = runtime.NumGoroutine()
	fmt.Fprintf(os.Stderr, "cisco_push: %d codecs pushed in %s; change→push p95 %s; heap +%.1f MB, RSS %.1f MB\n",
		n, cold.Round(time.Millisecond), delays[len(delays)*95/100].Round(time.Millisecond),
		rep.Figures["cisco_driver_heap_mb"], rep.Figures["cisco_process_rss_mb"])
	return nil
}

// startSim builds and runs otj-sim with n codecs (and n rooms) and reads its sim.json.
func startSim(ctx context.Context, dir string, n int) (*sim.File, func(), error) {
	bin := filepath.Join(dir, "otj-sim")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/otj-sim")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, nil, fmt.Errorf("build otj-sim: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "--dir", filepath.Join(dir, "sim"), "--rooms", strconv.Itoa(n),
		"--cisco", strconv.Itoa(n), "--poly", "0", "--mqtt", "off")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start otj-sim: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	path, ok := strings.CutPrefix(strings.TrimSpace(line), "otj-sim ready: ")
	if err != nil || !ok {
		stop()
		return nil, nil, fmt.Errorf("otj-sim did not get ready: %q %v", line, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		stop()
		return nil, nil, err
	}
	var f sim.File
	if err := json.Unmarshal(b, &f); err != nil {
		stop()
		return nil, nil, err
	}
	return &f, stop, nil
}

// rssMB is this process's resident memory (Linux; 0 elsewhere).
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

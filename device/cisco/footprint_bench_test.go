package cisco

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// Measuring what a codec connection costs (issue 22): the codecs run in a child process (this
// test binary, re-run with childFleetEnv set), so the figures are the driver's alone: the
// simulator's half of every TLS session and its CPU are not counted.
//
//	go test -run '^$' -bench 'IdleFootprint|DialCheck' -benchtime 1x ./device/cisco/
//	CISCO_BENCH_CODECS=1000 go test -run '^$' -bench IdleFootprint -benchtime 1x ./device/cisco/

const childFleetEnv = "CISCO_BENCH_CHILD_FLEET"

// classicTLSEnv set: the child's codecs take X25519 and P-256 only (no post-quantum hybrid).
const classicTLSEnv = "CISCO_BENCH_CLASSIC_TLS"

func TestMain(m *testing.M) {
	if r, err := strconv.Atoi(os.Getenv("CISCO_BENCH_MEMRATE")); err == nil && r > 0 {
		runtime.MemProfileRate = r // finer heap profiles for CISCO_BENCH_HEAPPROF
	}
	if n := os.Getenv(childFleetEnv); n != "" {
		runChildFleet(n)
		return
	}
	os.Exit(m.Run())
}

// runChildFleet serves n codecs and prints "name url" per codec until stdin closes.
func runChildFleet(n string) {
	count, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child fleet:", err)
		os.Exit(2)
	}
	f := ciscosim.NewFleet(ciscosim.Options{TickEvery: -1})
	defer f.Close()
	var kex []tls.CurveID // Go's defaults: the post-quantum hybrid first
	if os.Getenv(classicTLSEnv) != "" {
		kex = []tls.CurveID{tls.X25519, tls.CurveP256} // a TLS library that predates it
	}
	w := bufio.NewWriter(os.Stdout)
	for i := range count {
		c, err := f.Add(ciscosim.CodecConfig{Name: fmt.Sprintf("codec-%04d", i), UpFor: time.Hour, MaxTotalSessions: 1000, MaxSessionsPerUser: 1000,
			KeyExchanges: kex,
			Users:        []ciscosim.User{{Username: testUser, Password: testPassword, Roles: []string{ciscosim.RoleAdmin}}}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child fleet:", err)
			os.Exit(2)
		}
		fmt.Fprintln(w, c.Name(), c.URL())
	}
	w.Flush()
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// childFleet starts n codecs in a child process and returns their endpoints.
func childFleet(b *testing.B, n int) []Endpoint {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childFleetEnv+"="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	var eps []Endpoint
	for len(eps) < n && sc.Scan() {
		name, url, _ := strings.Cut(sc.Text(), " ")
		eps = append(eps, Endpoint{Name: name, Room: name + "@contoso.example", Address: url, Username: testUser, Password: testPassword})
	}
	if len(eps) < n {
		b.Fatalf("child fleet: %d of %d codecs", len(eps), n)
	}
	return eps
}

type memFigures struct {
	heap, heapInuse, stack uint64
	goroutines             int
}

func memNow() memFigures {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heap: ms.HeapAlloc, heapInuse: ms.HeapInuse, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// BenchmarkIdleFootprint runs a manager over CISCO_BENCH_CODECS codecs (default 200), each
// room with two meetings this evening, and reports the live heap, goroutine stacks and
// goroutines per codec once every codec is pushed and idle.
func BenchmarkIdleFootprint(b *testing.B) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("CISCO_BENCH_CODECS")); err == nil && v > 0 {
		n = v
	}
	for _, model := range []ConnectionModel{ConnPersistent, ConnOnDemand} {
		b.Run(string(model), func(b *testing.B) {
			for b.Loop() {
				idleFootprint(b, n, model, false)
			}
		})
	}
}

// BenchmarkConnectedFootprint is BenchmarkIdleFootprint with every room's first meeting
// starting in two minutes: on_demand keeps each codec connected and subscribed for its
// feedback (what 633 of make bench's 1,000 codecs cost in its steady window).
func BenchmarkConnectedFootprint(b *testing.B) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("CISCO_BENCH_CODECS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		idleFootprint(b, n, ConnOnDemand, true)
	}
}

func idleFootprint(b *testing.B, n int, model ConnectionModel, hot bool) {
	eps := childFleet(b, n)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "otj-edge.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	var rooms []store.RoomRef
	var refs []store.EndpointRef
	for _, e := range eps {
		rooms = append(rooms, store.RoomRef{Mailbox: e.Room, Integration: "m365"})
		refs = append(refs, store.EndpointRef{Name: e.Name, Type: "cisco", Room: e.Room})
	}
	err = st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		for _, r := range rooms {
			if err := markSynced(tx, r.Mailbox); err != nil {
				return err
			}
			first := now.Add(3 * time.Hour)
			if hot { // inside the feedback stretch (join window - 5 min) from the start
				first = now.Add(2 * time.Minute)
			}
			ms := providerMeetings(r.Mailbox, first)[:2]
			if _, err := stored.ReplaceMeetings(tx, r.Mailbox, ms); err != nil {
				return err
			}
		}
		return tx.SyncEndpoints(refs)
	})
	if err != nil {
		b.Fatal(err)
	}
	check, _ := time.ParseDuration(os.Getenv("CISCO_BENCH_CHECK"))     // on_demand's check interval; default the driver's
	steady, _ := time.ParseDuration(os.Getenv("CISCO_BENCH_STEADY"))   // also measure CPU over this window once settled
	connecting, _ := strconv.Atoi(os.Getenv("CISCO_BENCH_CONNECTING")) // MaxConnecting; default the driver's
	var mu sync.Mutex
	quiet := map[string]bool{} // codecs whose handler went idle after a push (subscribed when hot)
	idle := func(name string, pushes int) {
		if pushes > 0 {
			mu.Lock()
			quiet[name] = true
			mu.Unlock()
		}
	}
	m, err := New(Options{Endpoints: eps, Store: st, WindowPast: time.Hour, WindowDays: 1, Connection: model, IdleAfter: time.Second, CheckEvery: check, MaxConnecting: connecting, idle: idle})
	if err != nil {
		b.Fatal(err)
	}
	before := memNow()
	cpu0 := cpuTime()
	start := time.Now()
	peak := make(chan uint64)
	stopPeak := make(chan struct{})
	go func() { // the cold start's peak of heap in use and stacks (what RSS follows)
		var top uint64
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			top = max(top, ms.HeapInuse+ms.StackInuse)
			select {
			case <-stopPeak:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(rctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		s := m.Stats()
		mu.Lock()
		nquiet := len(quiet)
		mu.Unlock()
		settled := s.Pushes >= int64(n) && (model == ConnPersistent && s.Connected == n ||
			model == ConnOnDemand && !hot && s.Connected == 0 || hot && s.Connected == n && nquiet == n)
		if settled {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not settled: %+v", s)
		}
		time.Sleep(100 * time.Millisecond) // a benchmark's poll, not a test's wait
	}
	startCPU, startWall := cpuTime()-cpu0, time.Since(start)
	close(stopPeak)
	top := <-peak
	after := memNow()
	if p := os.Getenv("CISCO_BENCH_HEAPPROF"); p != "" { // what the live heap is made of
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	b.ReportMetric((float64(top)-float64(before.heapInuse+before.stack))/(1<<20), "start-peak-MB")
	b.ReportMetric(startWall.Seconds(), "start-s")
	b.ReportMetric(float64(int64(after.heap)-int64(before.heap))/float64(n), "heap-B/codec")
	b.ReportMetric(float64(int64(after.stack)-int64(before.stack))/float64(n), "stack-B/codec")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/codec")
	b.ReportMetric(float64(startCPU.Microseconds())/float64(n), "start-CPU-µs/codec")
	if steady > 0 {
		cpu1 := cpuTime()
		time.Sleep(steady) // a benchmark's measuring window
		b.ReportMetric(100*float64(cpuTime()-cpu1)/float64(steady), "steady-CPU-%")
	}
}

// BenchmarkDialCheck is the CPU of one connection made and closed: TCP, TLS handshake
// (certificate checked against its pin), WebSocket upgrade with the login; "check" adds what a
// liveness check reads (Uptime and the booking list). CPU of this process only.
func BenchmarkDialCheck(b *testing.B) {
	ep := childFleet(b, 1)[0]
	url, _ := WebSocketURL(ep.Address)
	first, err := Dial(context.Background(), DialOptions{URL: url, Username: ep.Username, Password: ep.Password})
	if err != nil {
		b.Fatal(err)
	}
	learned := first.KeyExchange() // what the driver offers from the second dial on
	first.Close()
	first.Wait()
	for _, v := range []struct {
		name  string
		check bool
		kex   tls.CurveID
	}{{"dial", false, 0}, {"dial+check", true, 0}, {"dial+check/remembered-kex", true, learned}} {
		check := v.check
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			cpu0 := cpuTime()
			for b.Loop() {
				conn, err := Dial(ctx, DialOptions{URL: url, Username: ep.Username, Password: ep.Password, KeyExchange: v.kex})
				if err != nil {
					b.Fatal(err)
				}
				if check {
					if _, err := readUptime(ctx, conn); err != nil {
						b.Fatal(err)
					}
					if _, err := listIDs(ctx, conn); err != nil {
						b.Fatal(err)
					}
				}
				conn.Close()
				conn.Wait()
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "CPU-µs/op")
		})
	}
}

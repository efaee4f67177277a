// Command demo is `make demo`: it starts otj-sim (Graph with a realistic day, a Cisco codec
// fleet, a Poly fleet, an embedded MQTT broker) and the agent on the generated config, prints
// the status page's address and keeps a one-screen summary up to date until Ctrl-C, which
// stops everything. It drives the real binaries; it is never imported by the product.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/sim"
)

func main() {
	agentBin := flag.String("agent", "bin/otj-edge", "the otj-edge binary")
	simBin := flag.String("sim", "bin/otj-sim", "the otj-sim binary")
	dir := flag.String("dir", "sim", "directory for the simulators' files and the agent's state")
	rooms := flag.Int("rooms", 20, "rooms")
	cisco := flag.Int("cisco", 14, "Cisco codecs")
	poly := flag.Int("poly", 6, "Poly endpoints")
	once := flag.Bool("once", false, "print one summary once everything has settled and exit (for tests)")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: run until Ctrl-C)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	if err := run(ctx, os.Stdout, *agentBin, *simBin, *dir, *rooms, *cisco, *poly, *once); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, agentBin, simBin, dir string, rooms, cisco, poly int, once bool) error {
	// A fresh directory each time: the demo's calendars are generated around "now".
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	simLog, err := os.Create(filepath.Join(dir, "otj-sim.log"))
	if err != nil {
		return err
	}
	defer simLog.Close()
	simCmd := exec.Command(simBin, "--dir", dir, "--rooms", fmt.Sprint(rooms), "--cisco", fmt.Sprint(cisco),
		"--poly", fmt.Sprint(poly), "--mqtt", "embedded")
	simCmd.Stderr = simLog
	out, err := simCmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := simCmd.Start(); err != nil {
		return fmt.Errorf("start otj-sim: %w", err)
	}
	defer terminate(simCmd, "otj-sim")
	simJSON, err := waitReady(ctx, out)
	if err != nil {
		return fmt.Errorf("otj-sim: %w (see %s)", err, simLog.Name())
	}
	var f sim.File
	b, err := os.ReadFile(simJSON)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read %s: %w", simJSON, err)
	}

	agentLog, err := os.Create(filepath.Join(dir, "otj-edge.log"))
	if err != nil {
		return err
	}
	defer agentLog.Close()
	agentCmd := exec.Command(agentBin, "run", "--config", f.Agent.Config)
	agentCmd.Stdout, agentCmd.Stderr = agentLog, agentLog
	if err := agentCmd.Start(); err != nil {
		return fmt.Errorf("start otj-edge: %w", err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agentCmd.Wait() }()
	defer func() {
		if agentCmd.ProcessState == nil {
			_ = agentCmd.Process.Signal(os.Interrupt)
			select {
			case <-agentDone:
			case <-time.After(20 * time.Second):
				_ = agentCmd.Process.Kill()
			}
		}
	}()

	var msgs mqttCounter
	if f.MQTT != nil {
		if stopMQTT, err := msgs.watch(f.MQTT.URL); err == nil {
			defer stopMQTT()
		}
	}

	fmt.Fprintf(w, "otj-edge demo\n  status page: %s\n  simulators:  %s\n  agent log:   %s\n  (Ctrl-C stops everything)\n\n",
		f.Agent.StatusURL, simJSON, agentLog.Name())

	tty := w == os.Stdout && isTerminal()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		s := collect(ctx, &f, &msgs)
		if once && s.settled() {
			fmt.Fprint(w, s.render(&f))
			return nil
		}
		if !once {
			if tty {
				fmt.Fprint(w, "\033[H\033[2J")
				fmt.Fprintf(w, "otj-edge demo: status page %s (Ctrl-C stops)\n\n", f.Agent.StatusURL)
			}
			fmt.Fprint(w, s.render(&f))
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "\nstopping…")
			return ctx.Err()
		case err := <-agentDone:
			return fmt.Errorf("the agent stopped (%v); see %s", err, agentLog.Name())
		case <-tick.C:
		}
	}
}

// waitReady reads otj-sim's stdout until its ready line and returns the sim.json path.
func waitReady(ctx context.Context, r io.Reader) (string, error) {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", errors.New("exited before it was ready")
			}
			if p, found := strings.CutPrefix(l, "otj-sim ready: "); found {
				go func() {
					for range lines {
					}
				}()
				return p, nil
			}
		case <-timeout:
			return "", errors.New("not ready after 2 minutes")
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func terminate(cmd *exec.Cmd, name string) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fmt.Fprintf(os.Stderr, "demo: %s did not stop; killing it\n", name)
		_ = cmd.Process.Kill()
	}
}

// summary is one screenful.
type summary struct {
	agentUp      bool
	calendarText string
	rooms        map[string]int
	roomsTotal   int
	endpoints    map[string]int
	health       string
	bookings     map[string]int // codec → bookings on it
	polyMeetings map[string]int // poly → meetings it shows
	polyPolled   map[string]time.Time
	mqtt         map[string]int64
}

// settled: every room has had its first sync, every codec has bookings and every Poly
// endpoint shows meetings (the demo's rooms all have meetings today, bar the room outside
// the access policy).
func (s summary) settled() bool {
	if !s.agentUp || s.roomsTotal == 0 || s.rooms["pending"] > 0 {
		return false
	}
	for _, n := range s.bookings {
		if n == 0 {
			return false
		}
	}
	shown := 0
	for name, t := range s.polyPolled {
		if t.IsZero() {
			return false
		}
		shown += s.polyMeetings[name]
	}
	return len(s.polyPolled) == 0 || shown > 0
}

func collect(ctx context.Context, f *sim.File, msgs *mqttCounter) summary {
	s := summary{bookings: map[string]int{}, polyMeetings: map[string]int{}, polyPolled: map[string]time.Time{}}
	var st struct {
		Health struct {
			Overall string `json:"overall"`
		} `json:"health"`
		Calendar struct {
			Rooms int    `json:"rooms"`
			Text  string `json:"text"`
		} `json:"calendar"`
		Rooms     map[string]int `json:"rooms"`
		Endpoints map[string]int `json:"endpoints"`
	}
	if harness.GetJSON(ctx, f.Agent.StatusURL+"/api/status", &st) == nil {
		s.agentUp = true
		s.calendarText, s.rooms, s.endpoints, s.health, s.roomsTotal = st.Calendar.Text, st.Rooms, st.Endpoints, st.Health.Overall, st.Calendar.Rooms
	}
	for _, c := range f.Cisco {
		var b struct {
			Bookings []json.RawMessage `json:"Bookings"`
		}
		if harness.GetJSON(ctx, f.CiscoAdmin+"/codecs/"+c.Name+"/bookings", &b) == nil {
			s.bookings[c.Name] = len(b.Bookings)
		}
	}
	for _, p := range f.Poly {
		var m struct {
			LastPoll time.Time         `json:"last_poll"`
			Meetings []json.RawMessage `json:"meetings"`
		}
		if harness.GetJSON(ctx, f.PolyAdmin+"/endpoints/"+p.Name+"/meetings", &m) == nil {
			s.polyMeetings[p.Name], s.polyPolled[p.Name] = len(m.Meetings), m.LastPoll
		}
	}
	s.mqtt = msgs.snapshot()
	return s
}

func (s summary) render(f *sim.File) string {
	var b strings.Builder
	if !s.agentUp {
		b.WriteString("agent:     starting…\n")
	} else {
		fmt.Fprintf(&b, "agent:     health %s; %s\n", s.health, s.calendarText)
		fmt.Fprintf(&b, "rooms:     %s\n", counts(s.rooms))
		fmt.Fprintf(&b, "endpoints: %s\n", counts(s.endpoints))
	}
	pushed, withBookings := 0, 0
	for _, n := range s.bookings {
		pushed += n
		if n > 0 {
			withBookings++
		}
	}
	fmt.Fprintf(&b, "cisco:     %d bookings on %d of %d codecs\n", pushed, withBookings, len(f.Cisco))
	polled, shown := 0, 0
	for name, t := range s.polyPolled {
		if !t.IsZero() {
			polled++
		}
		shown += s.polyMeetings[name]
	}
	fmt.Fprintf(&b, "poly:      %d of %d endpoints have polled; %d meetings shown\n", polled, len(f.Poly), shown)
	if s.mqtt != nil {
		fmt.Fprintf(&b, "mqtt:      %s\n", counts64(s.mqtt))
	}
	return b.String()
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none yet"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func counts64(m map[string]int64) string {
	c := map[string]int{}
	for k, v := range m {
		c[k] = int(v)
	}
	return counts(c)
}

// mqttCounter counts the messages the site publishes, by kind (status, rooms, events, metrics).
type mqttCounter struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64
}

func (c *mqttCounter) watch(url string) (func(), error) {
	c.n = map[string]*atomic.Int64{}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("otj-demo-%d", os.Getpid())).
		SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(false)
	opts.SetOnConnectHandler(func(cl paho.Client) {
		cl.Subscribe("otj/v1/#", 0, func(_ paho.Client, m paho.Message) {
			parts := strings.Split(m.Topic(), "/")
			if len(parts) < 4 {
				return
			}
			c.mu.Lock()
			ctr := c.n[parts[3]]
			if ctr == nil {
				ctr = new(atomic.Int64)
				c.n[parts[3]] = ctr
			}
			c.mu.Unlock()
			ctr.Add(1)
		})
	})
	cl := paho.NewClient(opts)
	cl.Connect()
	return func() { cl.Disconnect(100) }, nil
}

func (c *mqttCounter) snapshot() map[string]int64 {
	if c.n == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for k, v := range c.n {
		out[k] = v.Load()
	}
	return out
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Package sim is otj-sim: it starts every simulator on loopback (Graph + Entra, a Cisco codec
// fleet, a Poly endpoint fleet, an MQTT broker), writes DIR/otj-edge.yaml (a complete agent
// config pointing at them) and DIR/sim.json (where everything is), and prints
// "otj-sim ready: DIR/sim.json". The demo, the benchmarks and outside conformance checks rely
// on this contract (design.md, "The simulator contract"); keep it exactly.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// Options are otj-sim's flags.
type Options struct {
	Dir      string        // where sim.json, otj-edge.yaml, ca.pem and state go
	Rooms    int           // room mailboxes in graphsim
	Meetings int           // meetings per room over the coming days (negative: none; tests add their own)
	Cisco    int           // simulated Cisco codecs
	Poly     int           // simulated Poly endpoints
	Latency  time.Duration // added to every Graph request
	MQTT     string        // embedded, off, or HOST:PORT of an existing broker
	Seed     int64         // scenario seed (same seed, same calendars)
	Logger   *slog.Logger
	// Now is the scenario's "now" (default time.Now); meetings are generated around it.
	Now func() time.Time
	// Clean leaves out the deliberately misconfigured rooms the demo shows (benchmarks).
	Clean bool
	// Source is the calendar source of the generated agent config: "graph" (default), "ews"
	// (ewssim serves the same rooms over EWS; sim.json gains an "ews" block) or "google"
	// (googlesim serves them as resource calendars; sim.json gains a "google" block).
	Source string
	// Webex is the number of cloud-registered Webex devices (webexsim; sim.json "webex").
	Webex int
	// Notify puts a TLS reverse proxy in front of the agent's Graph change-notification
	// listener and turns notifications on in the generated config (notify.go).
	Notify bool
	// FreeBusyDetails is what graphsim's getSchedule shows of every room: "availability_only"
	// (default, Exchange's) or "limited_details" (sim.json graph.free_busy_details).
	FreeBusyDetails string
	// Zone is the IANA time zone of the generated calendars' working hours (meetings fall
	// between 08:00 and 18:00 there; default: Now's zone). The benchmarks set it so that their
	// steady window falls at the same local time of the working day whatever the wall clock.
	Zone string
	// Shift moves the working day's grid by whole minutes (-30m..30m): with Zone, "now" stands
	// at a chosen minute of the simulated working day.
	Shift time.Duration
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	if o.Dir == "" {
		o.Dir = "sim"
	}
	if o.Rooms == 0 {
		o.Rooms = 20
	}
	if o.Meetings == 0 {
		o.Meetings = 40
	}
	if o.MQTT == "" {
		o.MQTT = "embedded"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Source == "" {
		o.Source = SourceGraph
	}
}

// Calendar sources of the generated agent config.
const (
	SourceGraph = "graph"
	SourceEWS   = "ews"
	// SourceGoogle: googlesim serves the same rooms as Google resource calendars.
	SourceGoogle = "google"
)

// File is sim.json.
type File struct {
	Graph      *GraphInfo  `json:"graph,omitempty"`
	EWS        *EWSInfo    `json:"ews,omitempty"`
	Google     *GoogleInfo `json:"google,omitempty"`
	Webex      *WebexInfo  `json:"webex,omitempty"`
	Cisco      []CiscoInfo `json:"cisco"`
	Poly       []PolyInfo  `json:"poly"`
	CiscoAdmin string      `json:"cisco_admin,omitempty"`
	PolyAdmin  string      `json:"poly_admin,omitempty"`
	MQTT       *MQTTInfo   `json:"mqtt,omitempty"`
	Agent      AgentInfo   `json:"agent"`
}

// GraphInfo tells where graphsim is and how to log in to it.
type GraphInfo struct {
	URL          string   `json:"url"`       // https://127.0.0.1:P/v1.0
	TokenURL     string   `json:"token_url"` // https://127.0.0.1:P/<tenant>/oauth2/v2.0/token
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	CAFile       string   `json:"ca_file"`
	Admin        string   `json:"admin"` // http://127.0.0.1:Q
	Rooms        []string `json:"rooms"`
	// Notifications is set with --notify (notify.go).
	Notifications *NotifyInfo `json:"notifications,omitempty"`
	// FreeBusyDetails is the rooms' getSchedule detail level (--free-busy-details):
	// "availability_only" or "limited_details".
	FreeBusyDetails string `json:"free_busy_details"`
}

// CiscoInfo is one simulated codec.
type CiscoInfo struct {
	Name     string `json:"name"`
	Room     string `json:"room"`
	URL      string `json:"url"` // wss://127.0.0.1:P/ws
	Username string `json:"username"`
	Password string `json:"password"`
}

// PolyInfo is one simulated Poly endpoint: the credentials it uses against the agent's EWS
// calendar service.
type PolyInfo struct {
	Name     string `json:"name"`
	Room     string `json:"room"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// MQTTInfo is the broker.
type MQTTInfo struct {
	URL string `json:"url"` // tcp://127.0.0.1:P
}

// AgentInfo is where the agent will listen when run on the generated config.
type AgentInfo struct {
	Config    string `json:"config"`
	StatusURL string `json:"status_url"`
	EWSURL    string `json:"ews_url"`
}

// Env is what parts share while the simulators start: options, the CA, the room list, the
// sim.json being filled and the agent config being built.
type Env struct {
	Opts  Options
	Log   *slog.Logger
	CA    *simtls.CA
	Rooms []string // room mailboxes, decided before any part starts
	File  *File
	Agent *AgentConfig

	// Calendar is graphsim, once the graph part started (ewssim serves its mailboxes).
	Calendar *graphsim.Server

	// AgentEWSAddr is the host:port the agent's EWS service will listen on (polysim polls it).
	AgentEWSAddr string

	mu      sync.Mutex
	closers []func()
}

// OnClose registers cleanup run (in reverse) when the simulators stop.
func (e *Env) OnClose(f func()) {
	e.mu.Lock()
	e.closers = append(e.closers, f)
	e.mu.Unlock()
}

// Part is one simulator. Parts start in order; each fills its section of sim.json and of the
// agent config.
type Part struct {
	Name  string
	Order int // lower starts first
	Start func(ctx context.Context, env *Env) error
}

var (
	partsMu sync.Mutex
	parts   []Part
)

// Register adds a simulator part (from its init function).
func Register(p Part) {
	partsMu.Lock()
	defer partsMu.Unlock()
	parts = append(parts, p)
}

// Running is a started set of simulators.
type Running struct {
	Env      *Env
	SimJSON  string // path of sim.json
	closeOne sync.Once
}

// Close stops every simulator.
func (r *Running) Close() {
	r.closeOne.Do(func() {
		r.Env.mu.Lock()
		cl := r.Env.closers
		r.Env.mu.Unlock()
		for i := len(cl) - 1; i >= 0; i-- {
			cl[i]()
		}
	})
}

// RoomAddress is the mailbox of room i (0-based) among n.
func RoomAddress(i, n int) string {
	width := max(2, len(fmt.Sprint(n)))
	return fmt.Sprintf("room-%0*d@contoso.example", width, i+1)
}

// checkShift refuses a Shift the calendars' grid cannot take: graphsim moves it by whole
// minutes (its scenario's shift_minutes), so a part of a minute would be dropped unsaid.
func checkShift(d time.Duration) error {
	if d%time.Minute != 0 || d < -30*time.Minute || d > 30*time.Minute {
		return fmt.Errorf("shift %s: want whole minutes from -30m to 30m", d)
	}
	return nil
}

// Start starts every registered part, then writes otj-edge.yaml and sim.json.
func Start(ctx context.Context, opts Options) (*Running, error) {
	opts.Defaults()
	if opts.Source != SourceGraph && opts.Source != SourceEWS && opts.Source != SourceGoogle {
		return nil, fmt.Errorf("source %q: want graph, ews or google", opts.Source)
	}
	if err := checkShift(opts.Shift); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	ca, err := simtls.NewCA("otj-sim CA")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		return nil, fmt.Errorf("write CA: %w", err)
	}
	env := &Env{Opts: opts, Log: opts.Logger, CA: ca, File: &File{Cisco: []CiscoInfo{}, Poly: []PolyInfo{}}}
	for i := range opts.Rooms {
		env.Rooms = append(env.Rooms, RoomAddress(i, opts.Rooms))
	}
	run := &Running{Env: env, SimJSON: filepath.Join(dir, "sim.json")}

	statusAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	env.AgentEWSAddr, err = FreeAddr()
	if err != nil {
		return nil, err
	}
	env.Agent = newAgentConfig(dir, statusAddr, env.AgentEWSAddr)
	ewsCert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	env.Agent.EWS.CertFile = filepath.Join(dir, "ews.crt")
	env.Agent.EWS.KeyFile = filepath.Join(dir, "ews.key")
	if err := simtls.WritePair(ewsCert, env.Agent.EWS.CertFile, env.Agent.EWS.KeyFile); err != nil {
		return nil, fmt.Errorf("write EWS certificate: %w", err)
	}
	env.File.Agent = AgentInfo{
		Config:    filepath.Join(dir, "otj-edge.yaml"),
		StatusURL: "http://" + statusAddr,
		EWSURL:    "https://" + env.AgentEWSAddr + "/EWS/Exchange.asmx",
	}

	partsMu.Lock()
	ps := append([]Part(nil), parts...)
	partsMu.Unlock()
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Order < ps[j].Order })
	for _, p := range ps {
		if err := p.Start(ctx, env); err != nil {
			run.Close()
			return nil, fmt.Errorf("start %s simulator: %w", p.Name, err)
		}
	}
	if err := writeFileAtomic(env.File.Agent.Config, env.Agent.YAML()); err != nil {
		run.Close()
		return nil, err
	}
	b, err := json.MarshalIndent(env.File, "", "  ")
	if err != nil {
		run.Close()
		return nil, err
	}
	if err := writeFileAtomic(run.SimJSON, append(b, '\n')); err != nil {
		run.Close()
		return nil, err
	}
	return run, nil
}

// writeFileAtomic writes via a temporary file and rename, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// FreeAddr finds a free loopback port for the agent (it binds it later). The port is taken
// from below the kernel's ephemeral range when it can be: a port the kernel hands out for
// ":0" could be handed out again to one of the thousand listeners the simulators open next
// (or to another process) before the agent binds it.
func FreeAddr() (string, error) {
	lo, hi := 20000, 32768 // below Linux's default ephemeral range (32768–60999)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var elo, ehi int
		if _, err := fmt.Sscan(string(b), &elo, &ehi); err == nil {
			switch {
			case elo > 2048:
				lo, hi = max(1024, elo-12768), elo
			case ehi < 65000:
				lo, hi = ehi+1, 65536
			}
		}
	}
	for range 200 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Listen opens a loopback listener on a free port (for parts).
func Listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// CiscoRooms and PolyRooms decide which room each simulated endpoint sits in: codecs take the
// first rooms, Poly endpoints the next ones, wrapping around when there are more endpoints
// than rooms.
func CiscoRoom(env *Env, i int) string { return env.Rooms[i%len(env.Rooms)] }

// PolyRoom is the room of Poly endpoint i.
func PolyRoom(env *Env, i int) string { return env.Rooms[(env.Opts.Cisco+i)%len(env.Rooms)] }

// EndpointName names simulated endpoint i of a kind ("codec", "poly") after its room; a
// second endpoint of the kind in the same room (more endpoints than rooms) gets a suffix.
func EndpointName(env *Env, kind string, i int) string {
	room := CiscoRoom(env, i)
	if kind == "poly" {
		room = PolyRoom(env, i)
	}
	local, _, _ := strings.Cut(room, "@")
	offset := i
	if kind == "poly" {
		offset += env.Opts.Cisco
	}
	if n := offset / len(env.Rooms); n > 0 {
		return fmt.Sprintf("%s-%s-%d", local, kind, n+1)
	}
	return local + "-" + kind
}

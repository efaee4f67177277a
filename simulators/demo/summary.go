package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/harness"
	"github.com/otj-edge/otj-edge/simulators/sim"
)

// summary is one screenful, built from what the agent's status API and the simulators' admin
// APIs answered. Every figure render prints is computed from these fields, so a test can give
// the inputs and read the screen.
type summary struct {
	agentUp bool
	status  agentStatus
	// codecs and polys hold the endpoints whose simulator answered; ciscoTotal and polyTotal
	// are how many the demo started.
	codecs     []codecView
	polys      []polyView
	ciscoTotal int
	polyTotal  int
	// webex are the Webex devices whose simulator answered (bookings as webexsim holds them).
	webex      []codecView
	webexTotal int
	mqtt       *mqttSnapshot // nil: no broker in this demo
}

// agentStatus is the part of GET /api/status the summary shows.
type agentStatus struct {
	Health struct {
		Overall string       `json:"overall"`
		Items   []healthItem `json:"items"` // worst first
	} `json:"health"`
	Calendar struct {
		Rooms int    `json:"rooms"`
		Text  string `json:"text"`
	} `json:"calendar"`
	Rooms     map[string]int `json:"rooms"`     // rooms by sync status
	Endpoints map[string]int `json:"endpoints"` // endpoints by state
}

type healthItem struct {
	Component string `json:"component"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

// codecView is one simulated codec: the bookings it holds (ciscosim's truth, not what the
// agent says it pushed).
type codecView struct {
	name     string
	bookings int
}

// polyView is one simulated Poly endpoint: its calendar state as the device reports it and the
// meetings it shows.
type polyView struct {
	name     string
	state    string
	polled   bool // it has made at least one poll, successful or not
	meetings int
}

// maxProblems is how many unhealthy components the summary names before it says how many more
// there are; the status page lists them all.
const maxProblems = 6

// render draws the summary. It names every component that is not healthy (up to maxProblems)
// and counts what each line says it counts.
func (s summary) render() string {
	var b strings.Builder
	if !s.agentUp {
		b.WriteString("agent:     starting…\n")
	} else {
		fmt.Fprintf(&b, "agent:     health %s; %s\n", s.status.Health.Overall, s.status.Calendar.Text)
		var problems []healthItem
		for _, it := range s.status.Health.Items {
			if it.Level != "" && it.Level != "ok" {
				problems = append(problems, it)
			}
		}
		for i, it := range problems {
			if i == maxProblems {
				fmt.Fprintf(&b, "           … and %d more on the status page\n", len(problems)-maxProblems)
				break
			}
			fmt.Fprintf(&b, "           %s: %s: %s\n", levelLabel(it.Level), it.Component, it.Message)
		}
		fmt.Fprintf(&b, "rooms:     %s\n", tally(s.status.Rooms, "room", "rooms"))
		fmt.Fprintf(&b, "endpoints: %s\n", tally(s.status.Endpoints, "endpoint", "endpoints"))
	}

	bookings, holding := 0, 0
	for _, c := range s.codecs {
		bookings += c.bookings
		if c.bookings > 0 {
			holding++
		}
	}
	fmt.Fprintf(&b, "cisco:     %s on %d of %d codecs\n", plural(bookings, "booking", "bookings"), holding, s.ciscoTotal)
	if s.webexTotal > 0 {
		bookings, holding = 0, 0
		for _, c := range s.webex {
			bookings += c.bookings
			if c.bookings > 0 {
				holding++
			}
		}
		fmt.Fprintf(&b, "webex:     %s on %d of %d cloud devices\n", plural(bookings, "booking", "bookings"), holding, s.webexTotal)
	}

	meetings, showing := 0, 0
	states := map[string]int{}
	for _, p := range s.polys {
		meetings += p.meetings
		if p.meetings > 0 {
			showing++
		}
		state := p.state
		if !p.polled {
			state = "not polled yet"
		}
		states[state]++
	}
	fmt.Fprintf(&b, "poly:      %s shown on %d of %d endpoints", plural(meetings, "meeting", "meetings"), showing, s.polyTotal)
	if len(states) > 0 {
		fmt.Fprintf(&b, "; calendar %s", breakdown(states))
	}
	b.WriteString("\n")

	if s.mqtt != nil {
		fmt.Fprintf(&b, "mqtt:      %s\n", s.mqtt.describe())
	}
	return b.String()
}

// settled: every room has had its first sync, every codec has bookings, every Poly endpoint has
// polled and they show meetings (the demo's rooms all have meetings today, bar the room outside
// the access policy).
func (s summary) settled() bool {
	total := 0
	for _, n := range s.status.Rooms {
		total += n
	}
	if !s.agentUp || total == 0 || s.status.Rooms["pending"] > 0 {
		return false
	}
	if len(s.codecs) < s.ciscoTotal || len(s.polys) < s.polyTotal {
		return false
	}
	if len(s.webex) < s.webexTotal {
		return false
	}
	for _, c := range append(slices.Clone(s.codecs), s.webex...) {
		if c.bookings == 0 {
			return false
		}
	}
	shown := 0
	for _, p := range s.polys {
		if !p.polled {
			return false
		}
		shown += p.meetings
	}
	return s.polyTotal == 0 || shown > 0
}

// collect reads the agent's status API and the simulators' admin APIs.
func collect(ctx context.Context, f *sim.File, msgs *mqttCounter) summary {
	s := summary{ciscoTotal: len(f.Cisco), polyTotal: len(f.Poly)}
	if harness.GetJSON(ctx, f.Agent.StatusURL+"/api/status", &s.status) == nil {
		s.agentUp = true
	}
	for _, c := range f.Cisco {
		var b struct {
			Bookings []json.RawMessage `json:"Bookings"`
		}
		if harness.GetJSON(ctx, f.CiscoAdmin+"/codecs/"+c.Name+"/bookings", &b) == nil {
			s.codecs = append(s.codecs, codecView{name: c.Name, bookings: len(b.Bookings)})
		}
	}
	if f.Webex != nil {
		s.webexTotal = len(f.Webex.Devices)
		for _, d := range f.Webex.Devices {
			var b struct {
				Bookings []json.RawMessage `json:"Bookings"`
			}
			if harness.GetJSON(ctx, f.Webex.Admin+"/devices/"+d.ID+"/bookings", &b) == nil {
				s.webex = append(s.webex, codecView{name: d.DisplayName, bookings: len(b.Bookings)})
			}
		}
	}
	for _, p := range f.Poly {
		var m struct {
			State    string            `json:"state"`
			LastPoll time.Time         `json:"last_poll"`
			Meetings []json.RawMessage `json:"meetings"`
		}
		if harness.GetJSON(ctx, f.PolyAdmin+"/endpoints/"+p.Name+"/meetings", &m) == nil {
			s.polys = append(s.polys, polyView{name: p.Name, state: m.State, polled: !m.LastPoll.IsZero(), meetings: len(m.Meetings)})
		}
	}
	if msgs != nil {
		s.mqtt = msgs.snapshot()
	}
	return s
}

// screen shows summaries, redrawing only when the text differs from what it shows: a quiet
// demo leaves the terminal (or the log it is piped to) alone.
type screen struct {
	w      io.Writer
	tty    bool   // clear and redraw in place; otherwise append, separated by a blank line
	header string // drawn above the summary after each clear
	shown  string
	drawn  bool
}

// show draws text unless it is already on the screen, and reports whether it drew.
func (sc *screen) show(text string) bool {
	if sc.drawn && text == sc.shown {
		return false
	}
	switch {
	case sc.tty:
		fmt.Fprint(sc.w, "\033[H\033[2J", sc.header)
	case sc.drawn:
		fmt.Fprintln(sc.w)
	}
	fmt.Fprint(sc.w, text)
	sc.shown, sc.drawn = text, true
	return true
}

func levelLabel(level string) string {
	if level == "warning" {
		return "warn"
	}
	return level
}

// tally says "20 rooms: 19 ok, 1 policy_denied": the total, then the count of each key.
func tally(m map[string]int, one, many string) string {
	total := 0
	for _, n := range m {
		total += n
	}
	if total == 0 {
		return "none yet"
	}
	return plural(total, one, many) + ": " + breakdown(m)
}

// breakdown lists the counts by key, in key order: "19 ok, 1 policy_denied".
func breakdown(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func plural[N int | int64](n N, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

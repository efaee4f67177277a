// Package layering_test keeps the module's layers apart (Tailscale's tstest/deptest is the
// model): it lists every package with `go list -json` and fails when an import crosses a seam
// the design draws. ARCHITECTURE.md says what each layer owns; this test is what holds it.
package layering_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/otj-edge/otj-edge"

// kit is the leaf kit every layer may use: each imports no project package but the others.
var kit = []string{"agent/clock", "agent/health", "agent/secret", "agent/tokenvault"}

// sources are the calendar source packages (add sync/ews, sync/google as they land); their
// leaves for the config loader (sync/graph/graphconf) are not sources.
var sources = []string{"sync/graph", "sync/ews", "sync/google"}

// modelStore is the one package that knows both the store and the neutral model
// (sync/calendar): it encodes events and meetings into the store's model-agnostic rows and
// decodes them back. Sources, the processor, drivers, the web and telemetry may use it.
const modelStore = "sync/calendar/stored"

// deviceShared are the packages of device/ every driver may use: the driver seam, the
// certificate trust, and the Bookings Put document (Cisco LAN and Webex cloud push the same).
var deviceShared = []string{"device", "device/pin", "device/bookings"}

// pkg is what the rules read of `go list -json`: paths are relative to the module ("sync/graph").
type pkg struct {
	Path    string
	Imports []string // direct, production code
	Deps    []string // transitive, production code
	Tests   []string // direct imports of the package's tests
}

// rule is one seam: applies picks the packages it binds, and forbidden says why an import of
// theirs (a project path) is not allowed, or "" when it is.
type rule struct {
	name      string
	applies   func(p string) bool
	forbidden func(dep string) string
	tests     bool // the package's tests are bound too, not only its production code
	direct    bool // only the package's own imports are bound, not what they import in turn
}

func under(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

var rules = []rule{
	{
		// Sources and drivers own plain Options; the agent translates the config into them
		// (agent/translate.go). They may use the kit, nothing else of agent/.
		name:    "sources and drivers stay below the agent",
		applies: func(p string) bool { return under(p, "sync", "device") },
		forbidden: func(dep string) string {
			if under(dep, "agent") && !slices.Contains(kit, dep) {
				return "sync/* and device/* take plain Options and may use only the kit (" + strings.Join(kit, ", ") +
					") of agent/; translate the config in the agent (agent/translate.go)"
			}
			return ""
		},
		tests: true,
	},
	{
		// The store is the bottom layer: sources write it and drivers read it, so it can know
		// neither, nor the calendar model: it keeps index columns and the model's JSON, opaque
		// to it (its own tests too, so they stay model-agnostic).
		name:    "the store imports no layer above it",
		applies: func(p string) bool { return under(p, "store") },
		forbidden: func(dep string) string {
			if slices.Contains(kit, dep) {
				return ""
			}
			return "store may import only the kit (" + strings.Join(kit, ", ") + "); typed reads and writes of the calendar model go in " + modelStore
		},
		tests: true,
	},
	{
		// The model's face on the store is an adapter, not a layer: it knows the store and
		// the model and nothing else, so whoever uses it pulls in nothing more.
		name:    "the model's store adapter knows only the store and the model",
		applies: func(p string) bool { return p == modelStore },
		forbidden: func(dep string) string {
			if slices.Contains(kit, dep) || dep == "store" || dep == "sync/calendar" {
				return ""
			}
			return modelStore + " may import only store, sync/calendar and the kit"
		},
	},
	{
		name: "leaves import no project package but the kit",
		applies: func(p string) bool {
			// sync/graph/graphconf is the Graph settings parser the config loader calls: a
			// leaf, so agent/config does not pull in the Graph source.
			return slices.Contains(kit, p) || p == "sync/calendar" || p == "sync/graph/graphconf"
		},
		forbidden: func(dep string) string {
			if slices.Contains(kit, dep) {
				return ""
			}
			return "a leaf imports no project package except the kit (" + strings.Join(kit, ", ") + ")"
		},
	},
	{
		// The source seam (sync/source) and what every Exchange source shares (sync/exchange)
		// sit below the sources: a source depends on them, never the other way round, so EWS
		// can use them without Graph.
		name:    "the source seam imports no source",
		applies: func(p string) bool { return p == "sync/source" || p == "sync/exchange" },
		forbidden: func(dep string) string {
			if slices.Contains(kit, dep) || dep == "store" || dep == "sync/calendar" || dep == modelStore || dep == "sync/source" {
				return ""
			}
			return "the source seam may import only the kit, store, sync/calendar, " + modelStore + " and sync/source"
		},
		tests: true,
	},
	{
		// Endpoint drivers meet only in the agent's endpoint-type table (agent/endpoints.go):
		// a driver uses the seam (package device) and what drivers share (deviceShared), never
		// another driver, so a new endpoint type is one package.
		name:    "drivers do not import each other",
		applies: func(p string) bool { return under(p, "device") && !slices.Contains(deviceShared, p) },
		forbidden: func(dep string) string {
			if under(dep, "device") && !slices.Contains(deviceShared, dep) {
				return "a driver imports of device/ only " + strings.Join(deviceShared, ", ") + "; move what two drivers share into such a package"
			}
			return ""
		},
		tests: true,
	},
	{
		// Only the composition root knows which sources exist (its table, agent/sources*.go):
		// the rest of the agent, the drivers, the processor and other sources see the store
		// and the seam.
		name: "only the agent's source table names a source",
		applies: func(p string) bool {
			// The layers below the composition root (cmd/otj-edge and the command line,
			// agent/cli, are above it: the next rule keeps the CLI's own imports apart).
			// Sources are bound too: one source never imports another.
			return under(p, "agent", "device", "store", "sync") && p != "agent" && p != "agent/cli"
		},
		forbidden: func(dep string) string {
			if slices.Contains(sources, dep) {
				return "a calendar source is built and reached through the agent's source table (agent/sources.go) and sync/source; import those, not " + dep
			}
			return ""
		},
	},
	{
		// The command line (agent/cli) is the binary's front: only main calls it, so the agent
		// and everything below it stay usable without it. (Package agent's tests run commands
		// through an agent_test file, which this rule does not bind.)
		name:    "only cmd/otj-edge imports the command line",
		applies: func(p string) bool { return p != "cmd/otj-edge" && p != "agent/cli" },
		forbidden: func(dep string) string {
			if dep == "agent/cli" {
				return "agent/cli is the otj-edge command line; only cmd/otj-edge calls it"
			}
			return ""
		},
	},
	{
		// The command line reaches sources and drivers through package agent's exported API
		// (agent.New, agent.CheckOnline, agent.PulledEndpoint…) and the contracts it shares with
		// the agent (agent/web, agent/telemetry, store, device/pin), never a source, the source
		// seam or a driver itself: those are the agent's tables.
		name:    "the command line reaches the agent through its API",
		applies: func(p string) bool { return p == "agent/cli" },
		forbidden: func(dep string) string {
			if slices.Contains(sources, dep) || dep == "sync/source" || (under(dep, "device") && !slices.Contains(deviceShared, dep)) {
				return "the command line reaches " + dep + " through package agent's exported API, not directly"
			}
			return ""
		},
		direct: true,
	},
	{
		// The seam and the certificate trust are leaves: every driver and the agent use them.
		name:    "the driver seam is a leaf",
		applies: func(p string) bool { return slices.Contains(deviceShared, p) && p != "device/bookings" },
		forbidden: func(dep string) string {
			if slices.Contains(kit, dep) {
				return ""
			}
			return "package device and device/pin import no project package except the kit (" + strings.Join(kit, ", ") + ")"
		},
	},
	{
		// The Bookings Put document is made of the meeting model and nothing else, so both
		// Cisco drivers (LAN and Webex cloud) push the same bytes for the same room.
		name:    "the bookings document is a leaf",
		applies: func(p string) bool { return p == "device/bookings" },
		forbidden: func(dep string) string {
			if slices.Contains(kit, dep) || dep == "sync/calendar" {
				return ""
			}
			return "device/bookings imports only the meeting model (sync/calendar) and the kit"
		},
	},
	{
		// otj-sim (cmd/otj-sim) is the simulators' own binary.
		name:    "production code never imports the simulators",
		applies: func(p string) bool { return !under(p, "simulators", "cmd/otj-sim") && p != "" },
		forbidden: func(dep string) string {
			if under(dep, "simulators") {
				return "production code never imports simulators/* (tests may)"
			}
			return ""
		},
	},
}

// violations checks every rule against pkgs, naming the import chain of each violation.
func violations(pkgs map[string]*pkg) []string {
	var out []string
	paths := make([]string, 0, len(pkgs))
	for p := range pkgs {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, r := range rules {
		for _, p := range paths {
			if !r.applies(p) {
				continue
			}
			deps := pkgs[p].Deps
			if r.direct {
				deps = pkgs[p].Imports
			}
			for _, dep := range deps {
				if why := r.forbidden(dep); why != "" {
					out = append(out, fmt.Sprintf("%s: %s imports %s (%s): %s", r.name, p, dep, strings.Join(chain(pkgs, p, dep), " → "), why))
				}
			}
			if !r.tests {
				continue
			}
			for _, dep := range pkgs[p].Tests {
				if why := r.forbidden(dep); why != "" && !slices.Contains(pkgs[p].Deps, dep) {
					out = append(out, fmt.Sprintf("%s: the tests of %s import %s: %s", r.name, p, dep, why))
				}
			}
		}
	}
	return out
}

// chain is the shortest production import path from p to dep, through project packages.
func chain(pkgs map[string]*pkg, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var c []string
			for ; p != ""; p = prev[p] {
				c = append([]string{p}, c...)
			}
			return c
		}
		if pkgs[p] == nil {
			continue
		}
		for _, q := range pkgs[p].Imports {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, "…", to}
}

// listPackages runs `go list -json ./...` in the module and keeps the project's own imports.
func listPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "list", "-e", "-json=ImportPath,Imports,Deps,TestImports,XTestImports,Error", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	own := func(paths []string) []string {
		var o []string
		for _, p := range paths {
			if p == module {
				o = append(o, "")
			} else if rest, ok := strings.CutPrefix(p, module+"/"); ok {
				o = append(o, rest)
			}
		}
		return o
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var raw struct {
			ImportPath                               string
			Imports, Deps, TestImports, XTestImports []string
			Error                                    *struct{ Err string }
		}
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if raw.Error != nil {
			t.Fatalf("go list %s: %s", raw.ImportPath, raw.Error.Err)
		}
		path := own([]string{raw.ImportPath})
		if len(path) == 0 {
			continue
		}
		pkgs[path[0]] = &pkg{Path: path[0], Imports: own(raw.Imports), Deps: own(raw.Deps),
			Tests: own(append(raw.TestImports, raw.XTestImports...))}
	}
	return pkgs
}

// TestLayering fails when a forbidden import appears anywhere in the module.
func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	for _, want := range []string{"store", "sync/graph", "device/cisco", "device/poly", "agent/config", "agent/clock"} {
		if pkgs[want] == nil {
			t.Fatalf("go list did not list %s: the rules would check nothing", want)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestLayeringRulesCatchForbiddenImports runs the rules on a module with one forbidden import
// per seam, some of them indirect, and checks that each is named with its chain.
func TestLayeringRulesCatchForbiddenImports(t *testing.T) {
	graph := map[string][]string{
		"agent":                {"agent/config", "sync/graph", "device/cisco", "store"},
		"agent/config":         {"sync/graph/graphconf", "agent/secret"},
		"agent/secret":         nil,
		"agent/clock":          {"store"}, // a kit leaf that is no leaf
		"sync/calendar":        nil,
		"sync/graph/graphconf": nil,
		"sync/graph":           {"sync/graph/helper", "agent/clock", "store"},
		"sync/graph/helper":    {"agent/config"}, // indirect: sync/graph → helper → agent/config
		"device/cisco":         {"agent/web", "sync/calendar/stored"},
		"sync/calendar/stored": {"store", "sync/calendar", "sync/graph/graphconf"},
		"agent/web":            nil,
		"store":                {"sync/calendar", "sync/rules"},
		"sync/rules":           {"sync/calendar"},
		"cmd/otj-edge":         {"agent", "simulators/graphsim"},
		"simulators/graphsim":  nil,
		"sync/source":          {"store", "sync/graph"},
		"sync/exchange":        {"sync/calendar", "agent/secret"},
		"agent/telemetry":      {"sync/ews"},
		"sync/ews":             {"sync/exchange", "sync/source", "sync/graph"},
		"agent/cli":            {"agent", "device/cisco", "agent/web"},
		"agent/health":         {"agent/cli"}, // indirect: the kit would pull the command line into every layer
	}
	deps := func(p string) []string {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, q := range graph[p] {
				if !seen[q] {
					seen[q] = true
					walk(q)
				}
			}
		}
		walk(p)
		var out []string
		for q := range seen {
			out = append(out, q)
		}
		slices.Sort(out)
		return out
	}
	pkgs := map[string]*pkg{}
	for p, imps := range graph {
		pkgs[p] = &pkg{Path: p, Imports: imps, Deps: deps(p)}
	}
	pkgs["device/poly"] = &pkg{Path: "device/poly", Tests: []string{"agent/config", "simulators/polysim"}}
	got := strings.Join(violations(pkgs), "\n")
	for _, want := range []string{
		"sync/graph imports agent/config (sync/graph → sync/graph/helper → agent/config)",
		"sync/graph/helper imports agent/config (sync/graph/helper → agent/config)",
		"device/cisco imports agent/web (device/cisco → agent/web)",
		"the tests of device/poly import agent/config",
		"store imports sync/rules (store → sync/rules)",
		"store imports sync/calendar (store → sync/calendar)",
		"the model's store adapter knows only the store and the model: sync/calendar/stored imports sync/graph/graphconf",
		"agent/clock imports store (agent/clock → store)",
		"cmd/otj-edge imports simulators/graphsim (cmd/otj-edge → simulators/graphsim)",
		"the source seam imports no source: sync/source imports sync/graph (sync/source → sync/graph)",
		"only the agent's source table names a source: sync/ews imports sync/graph (sync/ews → sync/graph)",
		"only the agent's source table names a source: agent/telemetry imports sync/graph (agent/telemetry → sync/ews → sync/graph)",
		"only cmd/otj-edge imports the command line: agent/health imports agent/cli (agent/health → agent/cli)",
		"the command line reaches the agent through its API: agent/cli imports device/cisco (agent/cli → device/cisco)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the rules miss %q; they said:\n%s", want, got)
		}
	}
	for _, allowed := range []string{"sync/calendar/stored imports store", "sync/calendar/stored imports sync/calendar",
		"device/cisco imports sync/calendar/stored", "sync/graph imports agent/clock", "agent/config imports",
		"device/poly imports simulators", "tests of device/poly import simulators", "sync/exchange imports",
		"agent imports sync/graph", "cmd/otj-edge imports agent/cli", "agent/cli imports sync/graph",
		"agent/cli imports agent/web"} {
		if strings.Contains(got, allowed) {
			t.Errorf("the rules refuse an allowed import (%s):\n%s", allowed, got)
		}
	}
}

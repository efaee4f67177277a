package agent

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device"
)

// The endpoint-type table: one row per config `type:` of endpoint, registered by the type's
// file (endpoints_cisco.go, endpoints_poly.go) next to the loader's row for its keys
// (agent/config/endpoint_<type>.go). Everything the agent and the CLI do with endpoints goes
// through it: the parts that run the drivers, push and retry (control.go), `otj-edge
// endpoints trust` and `retry`, and `otj-edge check`. A new endpoint type is one driver
// package under device/ and these two rows.

// endpointType is one row of the table.
type endpointType struct {
	// label names the type in messages ("Cisco", "Poly").
	label string
	// part is the name of the part that runs the type's driver (its health component too).
	part string
	// key fingerprints what the driver is built from, secrets included (keyOf): a reload
	// restarts the driver exactly when it changes.
	key func(cfg *config.Config, eps []config.Endpoint) string
	// build translates the config into the driver's options and makes the driver for eps
	// (the type's endpoints, at least one). No network: its error is a config problem.
	build func(a *Agent, cfg *config.Config, eps []config.Endpoint) (device.Driver, error)
	// check is the type's part of `otj-edge check`: one line per thing checked, and how
	// many failed (nil: nothing to check online).
	check func(ctx context.Context, cfg *config.Config, w io.Writer) int
	// stats are the driver's figures for the MQTT metrics, under the type's name (nil: none).
	stats func(d device.Driver) any

	// Capabilities, for decisions made without a running driver (the CLI, the API).
	//
	// pulled: the endpoints fetch their calendar from otj-edge themselves; nothing is
	// pushed or retried (the driver answers device.ErrPulled).
	pulled bool
	// pins: the driver pins each endpoint's certificate (device/pin), so `otj-edge endpoints
	// trust` can accept a changed one.
	pins bool
}

var endpointTypes = struct {
	sync.RWMutex
	m map[string]endpointType
}{m: map[string]endpointType{}}

// registerEndpointType adds a row (from an init function, or a test). The loader must know
// the type too (config.RegisterEndpointType).
func registerEndpointType(name string, t endpointType) {
	endpointTypes.Lock()
	defer endpointTypes.Unlock()
	if _, dup := endpointTypes.m[name]; dup {
		panic("agent: endpoint type " + name + " registered twice")
	}
	if t.label == "" {
		t.label = name
	}
	if t.part == "" {
		t.part = name
	}
	endpointTypes.m[name] = t
}

// endpointTypeOf returns the row of a type.
func endpointTypeOf(name string) (endpointType, bool) {
	endpointTypes.RLock()
	defer endpointTypes.RUnlock()
	t, ok := endpointTypes.m[name]
	return t, ok
}

// endpointTypeNames lists the registered types, sorted (the order parts start and checks run).
func endpointTypeNames() []string {
	endpointTypes.RLock()
	defer endpointTypes.RUnlock()
	names := make([]string, 0, len(endpointTypes.m))
	for n := range endpointTypes.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// endpointsOf lists cfg's endpoints of one type, in config order.
func endpointsOf(cfg *config.Config, typ string) []config.Endpoint {
	var out []config.Endpoint
	for _, e := range cfg.Endpoints {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// endpointSpecs lists a part per endpoint type that has endpoints in cfg; the drivers of the
// others are forgotten.
func (a *Agent) endpointSpecs(cfg *config.Config) []partSpec {
	var specs []partSpec
	for _, name := range endpointTypeNames() {
		t, _ := endpointTypeOf(name)
		eps := endpointsOf(cfg, name)
		if len(eps) == 0 {
			a.setDriver(name, nil)
			continue
		}
		specs = append(specs, partSpec{name: t.part, key: t.key(cfg, eps), build: func() (func(context.Context) error, error) {
			d, err := t.build(a, cfg, eps)
			if err != nil {
				return nil, err
			}
			a.setDriver(name, d)
			return d.Run, nil
		}})
	}
	return specs
}

// setDriver records the running driver of a type (nil: none).
func (a *Agent) setDriver(typ string, d device.Driver) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.drivers == nil {
		a.drivers = map[string]device.Driver{}
	}
	if d == nil {
		delete(a.drivers, typ)
		return
	}
	a.drivers[typ] = d
}

// driver returns the running driver of a type, or nil.
func (a *Agent) driver(typ string) device.Driver {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.drivers[typ]
}

// driverStats are the running drivers' figures for the metrics, by type.
func (a *Agent) driverStats() map[string]any {
	out := map[string]any{}
	for _, name := range endpointTypeNames() {
		t, _ := endpointTypeOf(name)
		if d := a.driver(name); d != nil && t.stats != nil {
			out[name] = t.stats(d)
		}
	}
	return out
}

// PulledEndpoint says why endpoint takes no push or retry ("" when it takes them): its type's
// endpoints fetch their calendar from otj-edge themselves.
func PulledEndpoint(cfg *config.Config, endpoint string) string {
	e := cfg.Endpoint(endpoint)
	if e == nil {
		return ""
	}
	if t, ok := endpointTypeOf(e.Type); ok && t.pulled {
		return fmt.Sprintf("%s is a %s endpoint: it fetches its calendar from otj-edge itself", endpoint, t.label)
	}
	return ""
}

// pushTarget is one driver a push or retry goes to, with the endpoints it serves.
type pushTarget struct {
	typ    endpointType
	driver device.Driver // nil: not running
	eps    []config.Endpoint
}

// pushTargets finds the drivers a push or a retry (what) of endpoint ("" every one) goes to.
func (a *Agent) pushTargets(what, endpoint string) ([]pushTarget, error) {
	cfg := a.cfg.Load()
	if endpoint != "" {
		e := cfg.Endpoint(endpoint)
		if e == nil {
			return nil, fmt.Errorf("%s: endpoint %q is not configured: %w", what, endpoint, web.ErrNotFound)
		}
		t, ok := endpointTypeOf(e.Type)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: endpoint %s has type %q, which this build does not know", what, endpoint, e.Type)
		case t.pulled:
			return nil, fmt.Errorf("%s: %s, so there is nothing to %s", what, PulledEndpoint(cfg, endpoint), what)
		}
		d := a.driver(e.Type)
		if d == nil {
			return nil, fmt.Errorf("%s: the %s driver is not running", what, t.label)
		}
		return []pushTarget{{typ: t, driver: d, eps: []config.Endpoint{*e}}}, nil
	}
	var out []pushTarget
	var pulled []string
	for _, name := range endpointTypeNames() {
		t, _ := endpointTypeOf(name)
		eps := endpointsOf(cfg, name)
		switch {
		case len(eps) == 0:
		case t.pulled:
			pulled = append(pulled, t.label)
		default:
			out = append(out, pushTarget{typ: t, driver: a.driver(name), eps: eps})
		}
	}
	if len(out) == 0 {
		msg := what + ": no endpoint that takes pushes is configured"
		if len(pulled) > 0 {
			msg += " (" + strings.Join(pulled, " and ") + " endpoints fetch their calendar from otj-edge themselves)"
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return out, nil
}

// pushAll pushes to every target at once and gathers the results in table order. A driver
// that is not running answers for each of its endpoints that the push failed.
func pushAll(ctx context.Context, targets []pushTarget) ([]device.Result, error) {
	results := make([][]device.Result, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		if tg.driver == nil {
			for _, e := range tg.eps {
				results[i] = append(results[i], device.Result{Endpoint: e.Name, Outcome: device.OutcomeFailed,
					Detail: "the " + tg.typ.label + " driver is not running"})
			}
			continue
		}
		wg.Go(func() { results[i], errs[i] = tg.driver.Push(ctx, "") })
	}
	wg.Wait()
	var out []device.Result
	for i := range targets {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, results[i]...)
	}
	return slices.Clip(out), nil
}

func init() {
	registerCheck(onlineCheck{name: "endpoints", run: checkEndpoints})
}

// checkEndpoints runs each endpoint type's check, in table order.
func checkEndpoints(ctx context.Context, cfg *config.Config, w io.Writer) (failed int) {
	for _, name := range endpointTypeNames() {
		if t, _ := endpointTypeOf(name); t.check != nil && len(endpointsOf(cfg, name)) > 0 {
			failed += t.check(ctx, cfg, w)
		}
	}
	return failed
}

// EndpointTypePins reports whether the driver of endpoint type typ pins each endpoint's
// certificate (device/pin), so `otj-edge endpoints trust` can accept a changed one.
func EndpointTypePins(typ string) bool {
	t, _ := endpointTypeOf(typ)
	return t.pins
}

package config

import (
	"time"

	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// The change probe of a Graph integration (README "Calendar sync (Microsoft Graph)", change
// probe):
//
//	probe:
//	  mode: auto          # auto (default) | on | off
//	  hot_interval: 7s    # rooms with a meeting within 30 min or running
//	  cold_interval: 60s  # the others
//
// auto probes app-only integrations, and delegated ones whose scopes include Calendars.Read
// or Calendars.ReadWrite (getSchedule's documented delegated permissions). off polls exactly
// as without a probe.

// GraphProbe is the probe: mapping of a Graph integration.
type GraphProbe struct {
	Mode         string        `yaml:"mode"`
	HotInterval  time.Duration `yaml:"hot_interval"`
	ColdInterval time.Duration `yaml:"cold_interval"`
}

// ProbeEnabled reports whether the integration runs the change probe.
func (g *Graph) ProbeEnabled() bool {
	return graphconf.ProbeEnabled(g.Probe.Mode, g.Delegated(), g.Scopes)
}

func (g *Graph) checkProbe(c *IntegrationCheck) {
	p := &g.Probe
	switch p.Mode {
	case "":
		p.Mode = graphconf.ProbeAuto
	case graphconf.ProbeAuto, graphconf.ProbeOn, graphconf.ProbeOff:
	default:
		c.Errorf("probe", "probe: mode %q is not auto, on or off", p.Mode)
		return
	}
	if p.HotInterval == 0 {
		p.HotInterval = graphconf.DefaultProbeHotInterval
	}
	if p.ColdInterval == 0 {
		p.ColdInterval = graphconf.DefaultProbeColdInterval
	}
	switch {
	case p.HotInterval < graphconf.MinProbeHotInterval || p.HotInterval > graphconf.MaxProbeColdInterval:
		c.Errorf("probe", "probe: hot_interval %s is outside %s–%s", p.HotInterval, graphconf.MinProbeHotInterval, graphconf.MaxProbeColdInterval)
	case p.ColdInterval < p.HotInterval || p.ColdInterval > graphconf.MaxProbeColdInterval:
		c.Errorf("probe", "probe: cold_interval %s is outside hot_interval (%s)–%s", p.ColdInterval, p.HotInterval, graphconf.MaxProbeColdInterval)
	}
	if p.Mode == graphconf.ProbeOn && g.Delegated() && !graphconf.ProbeEnabled(graphconf.ProbeAuto, true, g.Scopes) {
		c.Warnf("probe", "probe: on with delegated scopes that lack Calendars.Read: Graph documents getSchedule for Calendars.Read or Calendars.ReadWrite, and may refuse it (the rooms are polled as usual then)")
	}
}

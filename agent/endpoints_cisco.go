package agent

import (
	"context"
	"fmt"
	"io"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/device/cisco"
)

// The Cisco endpoint type: codecs the agent pushes bookings to over the xAPI WebSocket
// (device/cisco), one part for every codec of the site.
func init() {
	registerEndpointType(config.EndpointCisco, endpointType{
		label: "Cisco",
		part:  "cisco",
		pins:  true,
		key: func(cfg *config.Config, eps []config.Endpoint) string {
			return keyOf(ciscoEndpoints(eps), cfg.Cisco)
		},
		build: func(a *Agent, cfg *config.Config, eps []config.Endpoint) (device.Driver, error) {
			mgr, err := cisco.New(cisco.Options{
				Endpoints: ciscoEndpoints(eps), Store: a.store, Logger: a.log.With("part", "cisco"), Clock: a.clock, Health: a.health,
				WindowPast: *cfg.Cisco.WindowPast, WindowDays: *cfg.Cisco.WindowDays, SafetyInterval: *cfg.Cisco.SafetyInterval,
				Connection: cisco.ConnectionModel(cfg.Cisco.Connection), CheckEvery: *cfg.Cisco.CheckInterval,
			})
			if err != nil {
				return nil, err
			}
			return mgr, nil
		},
		check: func(ctx context.Context, cfg *config.Config, w io.Writer) int { return checkCisco(ctx, cfg, w) },
		stats: func(d device.Driver) any {
			if m, ok := d.(*cisco.Manager); ok {
				return m.Stats()
			}
			panic(fmt.Sprintf("agent: the cisco driver is a %T", d))
		},
	})
}

// ciscoEndpoints are the codecs as package cisco takes them.
func ciscoEndpoints(eps []config.Endpoint) []cisco.Endpoint {
	out := make([]cisco.Endpoint, len(eps))
	for i, e := range eps {
		out[i] = ciscoEndpoint(e)
	}
	return out
}

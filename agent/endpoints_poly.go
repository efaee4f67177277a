package agent

import (
	"context"
	"io"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/device/poly"
)

// The Poly endpoint type: endpoints that fetch their calendar from the agent's
// Exchange-compatible calendar service (device/poly, part "ews"), and whose REST API the
// agent reads for health. Nothing is pushed to them.
func init() {
	registerEndpointType(config.EndpointPoly, endpointType{
		label:  "Poly",
		part:   "ews",
		pulled: true,
		pins:   true, // the REST health checks pin the endpoint's certificate
		key: func(cfg *config.Config, eps []config.Endpoint) string {
			return keyOf(cfg.EWS, cfg.StateDir, eps)
		},
		build: func(a *Agent, cfg *config.Config, _ []config.Endpoint) (device.Driver, error) {
			opts := polyOptions(cfg)
			opts.Store, opts.Logger, opts.Clock, opts.Health = a.store, a.log.With("part", "ews"), a.clock, a.health
			svc, err := poly.NewService(opts)
			if err != nil {
				a.health.Fail("ews", err.Error())
				return nil, err
			}
			return svc, nil
		},
		check: func(ctx context.Context, cfg *config.Config, w io.Writer) int { return checkPoly(ctx, cfg, w) },
	})
}

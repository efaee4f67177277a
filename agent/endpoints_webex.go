package agent

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/device/webex"
)

// The Webex endpoint type: Cisco devices registered to Webex, pushed through Webex's cloud
// xAPI (device/webex) with the connections of the top-level webex: list; one part for all.
// The booking window is the cisco: section's (the same bookings as a LAN codec's). The
// driver's own advice (offline in Webex, scopes, re-authorisation) replaces the page's LAN
// advice for its endpoints.
func init() {
	web.RegisterEndpointAdviser(config.EndpointWebex, web.EndpointAdviser{Cause: webex.Cause, Advice: webex.Advice})
	registerEndpointType(config.EndpointWebex, endpointType{
		label: "Webex",
		part:  "webex",
		key: func(cfg *config.Config, eps []config.Endpoint) string {
			return keyOf(eps, webexConnectionsOf(cfg, eps), cfg.Cisco, cfg.StateDir)
		},
		build: func(a *Agent, cfg *config.Config, eps []config.Endpoint) (device.Driver, error) {
			opts, err := webexOptions(cfg, eps)
			if err != nil {
				return nil, err
			}
			opts.Store, opts.Logger, opts.Clock, opts.Health = a.store, a.log.With("part", "webex"), a.clock, a.health
			return webex.New(opts)
		},
		check: func(ctx context.Context, cfg *config.Config, w io.Writer) int {
			eps := endpointsOf(cfg, config.EndpointWebex)
			opts, err := webexOptions(cfg, eps)
			if err != nil {
				fmt.Fprintf(w, "FAIL  webex: %s\n", err)
				return len(eps)
			}
			failed := 0
			for _, l := range webex.Check(ctx, opts) {
				fmt.Fprintf(w, "%-4s  %s: %s\n", l.Level, l.Endpoint, l.Text)
				if l.Level == "FAIL" {
					failed++
				}
			}
			return failed
		},
		stats: func(d device.Driver) any {
			if m, ok := d.(*webex.Manager); ok {
				return m.Stats()
			}
			panic(fmt.Sprintf("agent: the webex driver is a %T", d))
		},
	})
}

// webexConnectionsOf are the connections eps use.
func webexConnectionsOf(cfg *config.Config, eps []config.Endpoint) []config.WebexConnection {
	var out []config.WebexConnection
	seen := map[string]bool{}
	for _, e := range eps {
		if c := cfg.WebexConnection(e.Webex); c != nil && !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, *c)
		}
	}
	return out
}

// webexOptions translates the config (reading the connections' CA files; no network).
func webexOptions(cfg *config.Config, eps []config.Endpoint) (webex.Options, error) {
	opts := webex.Options{
		Vault:      tokenvault.New(cfg.StateDir),
		WindowPast: *cfg.Cisco.WindowPast, WindowDays: *cfg.Cisco.WindowDays, SafetyInterval: *cfg.Cisco.SafetyInterval,
	}
	for _, c := range webexConnectionsOf(cfg, eps) {
		wc := webex.Connection{Name: c.Name, APIURL: c.APIURL, TokenURL: c.TokenURL, ClientID: c.ClientID,
			ClientSecret: c.ClientSecret.Value(), RefreshToken: c.RefreshToken.Value()}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return opts, fmt.Errorf("webex %q: ca_file: %w", c.Name, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return opts, fmt.Errorf("webex %q: ca_file %s holds no PEM certificate", c.Name, c.CAFile)
			}
			wc.RootCAs = pool
		}
		opts.Connections = append(opts.Connections, wc)
	}
	for _, e := range eps {
		opts.Endpoints = append(opts.Endpoints, webex.Endpoint{Name: e.Name, Room: e.Room, Connection: e.Webex,
			DeviceID: e.DeviceID, Workspace: e.Workspace, DeviceName: e.DeviceName})
	}
	return opts, nil
}

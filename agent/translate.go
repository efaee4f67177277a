package agent

import (
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/device/poly"
)

// The agent is the only layer that reads the config: each source and driver owns plain
// Options, and these functions translate the config into them (layering_test.go keeps sync/*
// and device/* from importing agent/config). A calendar source's translation sits in its row of
// the source table (agent/sources_*.go).

// polyOptions builds the calendar service's Options from cfg (the caller adds Store, Logger,
// Clock and Health).
func polyOptions(cfg *config.Config) poly.Options {
	o := poly.Options{
		Listen:           cfg.EWS.Listen,
		CertFile:         cfg.EWS.CertFile,
		KeyFile:          cfg.EWS.KeyFile,
		StateDir:         cfg.StateDir,
		BodyTemplate:     cfg.EWS.BodyTemplate,
		Capture:          cfg.EWS.Capture,
		NotPollingFactor: cfg.EWS.NotPollingFactor,
	}
	for _, e := range cfg.Endpoints {
		if e.Type != config.EndpointPoly {
			continue
		}
		o.Endpoints = append(o.Endpoints, poly.Account{
			Name: e.Name, Room: e.Room, Username: e.CalendarUsername, Password: e.CalendarPassword,
			Address: e.Address, AdminUsername: e.Username, AdminPassword: e.Password,
			CAFile: e.CAFile, Fingerprint: e.Fingerprint,
		})
	}
	return o
}

// ciscoEndpoint is a Cisco endpoint as package cisco takes it.
func ciscoEndpoint(e config.Endpoint) cisco.Endpoint {
	return cisco.Endpoint{Name: e.Name, Room: e.Room, Address: e.Address, Username: e.Username,
		Password: e.Password.Value(), Fingerprint: e.Fingerprint, CAFile: e.CAFile}
}

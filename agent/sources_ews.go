package agent

import (
	"context"
	"fmt"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/ews"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The EWS row of the source table (type: ews): Exchange Server on premises through Exchange
// Web Services with a service account, package sync/ews. Its keys and their validation are
// agent/config/ews.go.

func init() {
	registerSource(config.IntegrationEWS, sourceType{
		exchange: true,
		build:    buildEWS,
		check: func(ctx context.Context, in *config.Integration, rooms []source.Room) source.CheckResult {
			e := in.EWS()
			if e == nil {
				return source.CheckResult{Lines: []string{fmt.Sprintf("%s: FAILED: the integration has no EWS settings",
					source.Component(in.Type, in.Name))}, Failed: 1}
			}
			mailboxes := make([]string, len(rooms))
			for i, r := range rooms {
				mailboxes[i] = r.Mailbox
			}
			return ews.Check(ctx, ewsIntegration(in.Name, e), mailboxes, nil)
		},
		// Everything the source is built from is in the settings (the CA file is read when
		// the source starts): nothing more to follow.
		key: nil,
		// The Exchange server's own clock is the one Kerberos and NTLM care about; without a
		// URL (autodiscover) there is no address to ask before discovery.
		clockURL: func(in *config.Integration) (string, string) {
			if e := in.EWS(); e != nil {
				return e.URL, e.CAFile
			}
			return "", ""
		},
	})
}

func buildEWS(in *config.Integration, rooms []source.Room, d source.Deps) (source.Source, error) {
	e := in.EWS()
	if e == nil {
		return nil, fmt.Errorf("integration %q: type %s has no EWS settings", in.Name, in.Type)
	}
	s, err := ews.New(ews.Options{Integration: ewsIntegration(in.Name, e), Rooms: rooms,
		Store: d.Store, Logger: d.Logger, Clock: d.Clock, Health: d.Health})
	if err != nil {
		return nil, fmt.Errorf("integration %q: %w", in.Name, err) // not a typed nil in the interface
	}
	return s, nil
}

// ewsIntegration is an EWS integration's settings as package ews takes them (the loader has
// filled the defaults: ntlm, impersonation, streaming, quota, server version).
func ewsIntegration(name string, e *config.EWSIntegration) ews.Integration {
	auth := ews.AuthNTLM
	if e.Auth == "basic" {
		auth = ews.AuthBasic
	}
	access := ews.AccessImpersonation
	if e.Access == "delegate" {
		access = ews.AccessDelegate
	}
	return ews.Integration{
		Name: name, URL: e.URL, AutodiscoverURL: e.AutodiscoverURL, AutodiscoverEmail: e.AutodiscoverEmail,
		Username: e.Username, Password: e.Password, Auth: auth, Access: access,
		CAFile: e.CAFile, PinSHA256: e.PinSHA256,
		MaxRequestsPerDay: e.MaxRequestsPerDay, MaxInFlight: e.MaxInFlight,
		Streaming: e.StreamingOn(), RequestServerVersion: e.RequestServerVersion,
	}
}

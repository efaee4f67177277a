package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/graph"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The Graph row of the source table (type: graph): app-only Microsoft Graph, package
// sync/graph. Its keys and their validation are agent/config/graph.go.

func init() {
	registerSource(config.IntegrationGraph, sourceType{
		exchange: true,
		build:    buildGraph,
		check: func(ctx context.Context, in *config.Integration, rooms []source.Room) source.CheckResult {
			g := in.Graph()
			if g == nil {
				return notGraph(in)
			}
			mailboxes := make([]string, len(rooms))
			for i, r := range rooms {
				mailboxes[i] = r.Mailbox
			}
			return graph.Check(ctx, graphIntegration(in.Name, g), mailboxes, nil).Result()
		},
		// The certificate is read from its file: a new one in the same file restarts the sync.
		key: func(in *config.Integration) any {
			if g := in.Graph(); g != nil {
				return g.CertificateThumbprint()
			}
			return nil
		},
		requests: func(ctx context.Context, st *store.Store, in *config.Integration, day time.Time) (int64, int64, error) {
			n, err := graph.RequestsOn(ctx, st, in.Name, day)
			if g := in.Graph(); g != nil {
				return n, int64(g.MaxRequestsPerDay), err
			}
			return n, 0, err
		},
		// The Places API (Place.Read.All): sync/graph/discover.go.
		discover: func(ctx context.Context, in *config.Integration) (source.Discovery, error) {
			if g := in.Graph(); g != nil {
				return graph.Discover(ctx, graphIntegration(in.Name, g), nil)
			}
			return source.Discovery{}, fmt.Errorf("integration %q: type %s has no Graph settings", in.Name, in.Type)
		},
		// Microsoft's token endpoints keep good time, and every Graph site reaches them.
		clockURL: func(in *config.Integration) (string, string) {
			if g := in.Graph(); g != nil {
				return g.TokenURL, g.CAFile
			}
			return "", ""
		},
	})
}

func buildGraph(in *config.Integration, rooms []source.Room, d source.Deps) (source.Source, error) {
	g := in.Graph()
	if g == nil {
		return nil, fmt.Errorf("integration %q: type %s has no Graph settings", in.Name, in.Type)
	}
	s, err := graph.New(graph.Options{Integration: graphIntegration(in.Name, g), Rooms: rooms,
		Store: d.Store, Logger: d.Logger, Clock: d.Clock, Health: d.Health})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

func notGraph(in *config.Integration) source.CheckResult {
	return source.CheckResult{Lines: []string{fmt.Sprintf("%s: FAILED: the integration has no Graph settings",
		source.Component(in.Type, in.Name))}, Failed: 1}
}

// graphIntegration is a Graph integration's settings as package graph takes them (the loader
// has parsed token_url and read client_certificate_file with graphconf).
func graphIntegration(name string, g *config.Graph) graph.Integration {
	in := graph.Integration{
		Name: name, ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		ClientCertificateFile: g.ClientCertificateFile, ClientCertificates: g.ClientCertificates, ClientKey: g.ClientKey,
		TokenURL: g.TokenURL, Tenant: g.Tenant, AuthorityHost: g.AuthorityHost, GraphURL: g.GraphURL,
		MaxRequestsPerDay: g.MaxRequestsPerDay, MaxInFlight: g.MaxInFlight, CAFile: g.CAFile,
		NotificationURL: g.NotificationsURL, NotificationListen: g.NotificationsListen,
		Probe: graph.ProbeSettings{Mode: g.Probe.Mode, HotInterval: g.Probe.HotInterval, ColdInterval: g.Probe.ColdInterval},
	}
	if g.Delegated() {
		// The signed-in account's refresh token, sealed in the state directory apart from
		// the database (agent/tokenvault; otj-edge auth login).
		in.Auth, in.Scopes, in.Tokens = graph.AuthDelegated, g.Scopes, tokenvault.New(g.StateDir)
	}
	return in
}

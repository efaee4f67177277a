package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/google"
	"github.com/otj-edge/otj-edge/sync/source"
)

// The Google row of the source table (type: google): Google Workspace resource calendars
// through the Calendar API with a service account, package sync/google. Its keys and their
// validation are agent/config/google.go.

func init() {
	registerSource(config.IntegrationGoogle, sourceType{
		build: buildGoogle,
		check: func(ctx context.Context, in *config.Integration, rooms []source.Room) source.CheckResult {
			g := in.Google()
			if g == nil {
				return source.CheckResult{Lines: []string{fmt.Sprintf("%s: FAILED: the integration has no Google settings",
					source.Component(in.Type, in.Name))}, Failed: 1}
			}
			ids := make([]string, len(rooms))
			for i, r := range rooms {
				ids[i] = r.Mailbox
			}
			return google.Check(ctx, googleIntegration(in.Name, g), ids, nil)
		},
		// The Admin SDK Directory's resources.calendars.list: sync/google/discover.go.
		discover: func(ctx context.Context, in *config.Integration) (source.Discovery, error) {
			if g := in.Google(); g != nil {
				return google.Discover(ctx, googleIntegration(in.Name, g), nil)
			}
			return source.Discovery{}, fmt.Errorf("integration %q: type %s has no Google settings", in.Name, in.Type)
		},
		// The key is read from its file: a new key in the same file restarts the sync.
		key: func(in *config.Integration) any {
			if g := in.Google(); g != nil {
				return g.KeyFingerprint
			}
			return nil
		},
		requests: func(ctx context.Context, st *store.Store, in *config.Integration, day time.Time) (int64, int64, error) {
			n, err := google.RequestsOn(ctx, st, in.Name, day)
			if g := in.Google(); g != nil {
				return n, g.MaxRequestsPerDay, err
			}
			return n, 0, err
		},
		// Google's token endpoint (the key file's token_uri) keeps good time, and a JWT grant
		// fails when the clock is off by more than a few minutes.
		clockURL: func(in *config.Integration) (string, string) {
			if g := in.Google(); g != nil {
				return g.TokenURI, g.CAFile
			}
			return "", ""
		},
	})
}

func buildGoogle(in *config.Integration, rooms []source.Room, d source.Deps) (source.Source, error) {
	g := in.Google()
	if g == nil {
		return nil, fmt.Errorf("integration %q: type %s has no Google settings", in.Name, in.Type)
	}
	s, err := google.New(google.Options{Integration: googleIntegration(in.Name, g), Rooms: rooms,
		Store: d.Store, Logger: d.Logger, Clock: d.Clock, Health: d.Health})
	if err != nil {
		return nil, fmt.Errorf("integration %q: %w", in.Name, err) // not a typed nil in the interface
	}
	return s, nil
}

// googleIntegration is a Google integration's settings as package google takes them (the
// loader has read the key file and filled the defaults).
func googleIntegration(name string, g *config.GoogleIntegration) google.Integration {
	return google.Integration{
		Name: name, ServiceAccountKey: []byte(g.ServiceAccountKey.Value()), Subject: g.Subject, Scopes: g.Scopes,
		MaxRequestsPerDay: g.MaxRequestsPerDay, Endpoint: g.Endpoint, CAFile: g.CAFile, NotificationsURL: g.NotificationsURL,
	}
}

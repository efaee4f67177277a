package sim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/otj-edge/otj-edge/simulators/googlesim"
)

// GoogleIntegration names the Google integration of the generated agent config.
const GoogleIntegration = "workspace"

// GoogleMeetShare is the share of meetings without a link that otj-sim's Google calendars
// give Meet conferenceData only (no link in the description), as meetings created in Google
// Calendar have.
const GoogleMeetShare = 0.25

// GoogleMaxRequestsPerDay is the daily request budget of the generated integration (Pexip's
// default for its Google deployment).
const GoogleMaxRequestsPerDay = 900_000

func init() {
	Register(Part{Name: "google", Order: 12, Start: startGoogle})
}

// GoogleInfo tells where googlesim is and how to sign in to it (sim.json "google").
type GoogleInfo struct {
	API      string   `json:"api"`       // Calendar endpoint, https://127.0.0.1:P/calendar/v3/
	TokenURI string   `json:"token_uri"` // https://127.0.0.1:P/token (also in the key file)
	KeyFile  string   `json:"key_file"`  // the service account key (JSON, mode 0600)
	Subject  string   `json:"subject"`   // the admin user delegation impersonates
	Rooms    []string `json:"rooms"`     // resource calendar ids, in the order of graph.rooms
	Admin    string   `json:"admin"`     // http://127.0.0.1:Q (graphsim's admin API plus /google/...)
	CAFile   string   `json:"ca_file"`
}

// startGoogle (with --source google) serves graphsim's rooms as Google resource calendars and
// points the agent's profiles at a google integration; graphsim keeps running (sim.json "graph").
func startGoogle(_ context.Context, env *Env) error {
	if env.Opts.Source != SourceGoogle {
		return nil
	}
	if env.Calendar == nil {
		return errors.New("googlesim needs graphsim's calendars: the graph part did not start")
	}
	srv, err := googlesim.New(googlesim.Options{Calendar: env.Calendar, CA: env.CA, Latency: env.Opts.Latency,
		MeetShare: GoogleMeetShare, Logger: env.Log})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	env.OnClose(srv.Close)
	key, err := srv.KeyFile("")
	if err != nil {
		return err
	}
	keyFile := filepath.Join(env.Opts.Dir, "google-service-account.json")
	if err := writeFileAtomic(keyFile, key); err != nil { // 0600: it is a private key
		return fmt.Errorf("write the service account key: %w", err)
	}
	caFile := filepath.Join(env.Opts.Dir, "ca.pem")
	rooms := make([]string, 0, len(env.Rooms))
	for _, r := range env.Rooms {
		rooms = append(rooms, googlesim.ResourceEmail(r))
	}
	env.File.Google = &GoogleInfo{API: srv.CalendarEndpoint(), TokenURI: srv.TokenURL(), KeyFile: keyFile, Subject: srv.AdminUser(),
		Rooms: rooms, Admin: srv.AdminURL(), CAFile: caFile}
	env.Log.Info("googlesim ready", "api", srv.CalendarEndpoint(), "admin", srv.AdminURL())
	kept := env.Agent.Integrations[:0]
	for _, in := range env.Agent.Integrations {
		if in.Name != GraphIntegration {
			kept = append(kept, in)
		}
	}
	env.Agent.Integrations = append(kept, AgentIntegration{Name: GoogleIntegration, Type: "google", ServiceAccountKeyFile: keyFile,
		Subject: srv.AdminUser(), Endpoint: srv.CalendarEndpoint(), MaxRequestsPerDay: GoogleMaxRequestsPerDay, CAFile: caFile})
	for i := range env.Agent.Profiles {
		if env.Agent.Profiles[i].Integration == GraphIntegration || env.Agent.Profiles[i].Integration == "" {
			env.Agent.Profiles[i].Integration = GoogleIntegration
		}
	}
	return nil
}

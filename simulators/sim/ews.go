package sim

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/otj-edge/otj-edge/simulators/ewssim"
)

// EWSIntegration names the EWS integration of the generated agent config.
const EWSIntegration = "exchange"

func init() {
	Register(Part{Name: "ews", Order: 11, Start: startEWS})
}

// EWSInfo tells where ewssim is and how to sign in to it (sim.json "ews").
type EWSInfo struct {
	URL             string   `json:"url"`              // https://127.0.0.1:P/EWS/Exchange.asmx
	AutodiscoverURL string   `json:"autodiscover_url"` // https://127.0.0.1:P/autodiscover/autodiscover.svc
	Username        string   `json:"username"`         // CONTOSO\svc-otj
	Password        string   `json:"password"`
	CAFile          string   `json:"ca_file"`
	Admin           string   `json:"admin"` // http://127.0.0.1:Q (graphsim's admin API plus /ews/...)
	Rooms           []string `json:"rooms"`
}

// startEWS (with --source ews) serves graphsim's rooms over EWS and points the agent's profiles
// at an ews integration instead of the Graph one; graphsim keeps running (sim.json "graph").
func startEWS(_ context.Context, env *Env) error {
	if env.Opts.Source != SourceEWS {
		return nil
	}
	if env.Calendar == nil {
		return errors.New("ewssim needs graphsim's calendars: the graph part did not start")
	}
	srv, err := ewssim.New(ewssim.Options{Calendar: env.Calendar, CA: env.CA, Latency: env.Opts.Latency, Logger: env.Log})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	env.OnClose(srv.Close)
	caFile := filepath.Join(env.Opts.Dir, "ca.pem")
	user := ewssim.DefaultDomain + `\` + ewssim.DefaultUser
	env.File.EWS = &EWSInfo{URL: srv.EWSURL(), AutodiscoverURL: srv.AutodiscoverURL(), Username: user, Password: ewssim.DefaultPassword,
		CAFile: caFile, Admin: srv.AdminURL(), Rooms: append([]string(nil), env.Rooms...)}
	env.Log.Info("ewssim ready", "ews", srv.EWSURL(), "admin", srv.AdminURL())
	streaming := true
	kept := env.Agent.Integrations[:0]
	for _, in := range env.Agent.Integrations {
		if in.Name != GraphIntegration {
			kept = append(kept, in)
		}
	}
	env.Agent.Integrations = append(kept, AgentIntegration{Name: EWSIntegration, Type: "ews", URL: srv.EWSURL(),
		Username: user, Password: ewssim.DefaultPassword, Auth: "ntlm", Access: "impersonation", CAFile: caFile,
		Streaming: &streaming, RequestServerVersion: "Exchange2013_SP1"})
	for i := range env.Agent.Profiles {
		if env.Agent.Profiles[i].Integration == GraphIntegration || env.Agent.Profiles[i].Integration == "" {
			env.Agent.Profiles[i].Integration = EWSIntegration
		}
	}
	return nil
}

package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/otj-edge/otj-edge/simulators/webexsim"
)

// WebexConnection names the Webex connection of the generated agent config.
const WebexConnection = "webex"

func init() {
	Register(Part{Name: "webex", Order: 25, Start: startWebex})
}

// WebexInfo tells where webexsim is and how to sign in to it (sim.json "webex").
type WebexInfo struct {
	APIURL       string            `json:"api_url"`   // https://127.0.0.1:P/v1
	TokenURL     string            `json:"token_url"` // https://127.0.0.1:P/v1/access_token
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret"`
	RefreshToken string            `json:"refresh_token"` // the integration's first refresh token
	Devices      []WebexDeviceInfo `json:"devices"`
	Admin        string            `json:"admin"` // http://127.0.0.1:Q
	CAFile       string            `json:"ca_file"`
}

// WebexDeviceInfo is one cloud-registered device.
type WebexDeviceInfo struct {
	ID          string `json:"id"`
	Room        string `json:"room"`
	DisplayName string `json:"display_name"`
	Workspace   string `json:"workspace"`
}

// WebexRoom is the room of Webex device i: the rooms after the codecs' and Poly endpoints'.
func WebexRoom(env *Env, i int) string {
	return env.Rooms[(env.Opts.Cisco+env.Opts.Poly+i)%len(env.Rooms)]
}

// startWebex (with --webex N) runs webexsim with N devices, each in a workspace named after its
// room (calendar address = the room mailbox), and adds a Webex connection and `type: webex`
// endpoints (by device id) to the agent config.
func startWebex(_ context.Context, env *Env) error {
	if env.Opts.Webex == 0 {
		return nil
	}
	srv, err := webexsim.New(webexsim.Options{CA: env.CA, Now: env.Opts.Now, Latency: env.Opts.Latency, Logger: env.Log.With("sim", "webex")})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	env.OnClose(srv.Close)
	caFile := filepath.Join(env.Opts.Dir, "ca.pem")
	info := &WebexInfo{APIURL: srv.APIURL(), TokenURL: srv.TokenURL(), ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		RefreshToken: srv.InitialRefreshToken(), Devices: []WebexDeviceInfo{}, Admin: srv.AdminURL(), CAFile: caFile}
	for i := range env.Opts.Webex {
		room := WebexRoom(env, i)
		local, _, _ := strings.Cut(room, "@")
		name := local + "-webex"
		if n := (env.Opts.Cisco + env.Opts.Poly + i) / len(env.Rooms); n > 0 {
			name = fmt.Sprintf("%s-webex-%d", local, n+1)
		}
		id, err := srv.AddDevice(webexsim.DeviceConfig{DisplayName: name, Workspace: local, Email: room})
		if err != nil {
			return fmt.Errorf("webex device %s: %w", name, err)
		}
		info.Devices = append(info.Devices, WebexDeviceInfo{ID: id, Room: room, DisplayName: name, Workspace: local})
		env.Agent.Endpoints = append(env.Agent.Endpoints, AgentEndpoint{Name: name, Type: "webex", Room: room, Profile: DemoProfile,
			Webex: WebexConnection, DeviceID: id})
	}
	env.File.Webex = info
	if env.Agent.Extra == nil {
		env.Agent.Extra = map[string]any{}
	}
	// Top-level `webex:` connections (keys of device/webex's config, notes/webex.md).
	env.Agent.Extra["webex"] = []map[string]string{{
		"name": WebexConnection, "api_url": srv.APIURL(), "token_url": srv.TokenURL(), "client_id": srv.ClientID(),
		"client_secret": srv.ClientSecret(), "refresh_token": srv.InitialRefreshToken(), "ca_file": caFile,
	}}
	env.Log.Info("webexsim ready", "api", srv.APIURL(), "admin", srv.AdminURL(), "devices", env.Opts.Webex)
	return nil
}

package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

func init() {
	Register(Part{Name: "cisco", Order: 20, Start: startCisco})
}

// CiscoUsername is the Admin user every simulated codec has.
const CiscoUsername = "otj-admin"

// startCisco runs the codec fleet: codec i sits in CiscoRoom(env, i), named
// EndpointName(env, "codec", i), on its own loopback port with its own self-signed
// certificate, running RoomOS 11 with one Admin user. The admin API listens on loopback too.
func startCisco(_ context.Context, env *Env) error {
	if env.Opts.Cisco == 0 {
		return nil
	}
	fleet := ciscosim.NewFleet(ciscosim.Options{Logger: env.Log.With("sim", "cisco"), Now: env.Opts.Now})
	env.OnClose(fleet.Close)
	for i := range env.Opts.Cisco {
		name := EndpointName(env, "codec", i)
		room := CiscoRoom(env, i)
		password, err := randomPassword()
		if err != nil {
			return err
		}
		c, err := fleet.Add(ciscosim.CodecConfig{
			Name:       name,
			SystemName: name,
			Users:      []ciscosim.User{{Username: CiscoUsername, Password: password, Roles: []string{ciscosim.RoleAdmin}}},
		})
		if err != nil {
			return fmt.Errorf("codec %s: %w", name, err)
		}
		env.File.Cisco = append(env.File.Cisco, CiscoInfo{Name: name, Room: room, URL: c.URL(), Username: CiscoUsername, Password: password})
		env.Agent.Endpoints = append(env.Agent.Endpoints, AgentEndpoint{
			Name: name, Type: "cisco", Room: room, Profile: DemoProfile,
			Address: c.URL(), Username: CiscoUsername, Password: password,
		})
	}
	admin, err := fleet.ServeAdmin("127.0.0.1:0")
	if err != nil {
		return err
	}
	env.File.CiscoAdmin = admin
	return nil
}

func randomPassword() (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("codec password: %w", err)
	}
	return "sim-" + hex.EncodeToString(b), nil
}

package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/otj-edge/otj-edge/simulators/polysim"
)

func init() {
	Register(Part{Name: "poly", Order: 30, Start: startPoly})
}

// PolyPollInterval is how often simulated Poly endpoints poll the agent (real endpoints' interval
// is not documented; a short one keeps the demo lively).
const PolyPollInterval = 30 * time.Second

// startPoly runs env.Opts.Poly simulated Poly endpoints. Endpoint j sits in PolyRoom(env, j) and
// polls the agent's EWS service (which may not run yet: it keeps retrying quietly), trusting the
// sim CA that signed the EWS certificate in the generated config. Each has its own REST address,
// which the agent config names for REST health checks.
func startPoly(ctx context.Context, env *Env) error {
	if env.Opts.Poly == 0 {
		return nil
	}
	ewsURL := "https://" + env.AgentEWSAddr + "/EWS/Exchange.asmx"
	var eps []polysim.EndpointOptions
	for j := range env.Opts.Poly {
		name := EndpointName(env, "poly", j)
		eps = append(eps, polysim.EndpointOptions{
			Name:         name,
			Room:         PolyRoom(env, j),
			EWSURL:       ewsURL,
			Username:     name,
			Password:     polySecret(),
			RootCAs:      env.CA.Pool(),
			PollInterval: PolyPollInterval,
			RESTUser:     "admin",
			RESTPassword: polySecret(),
		})
	}
	fleet, err := polysim.Start(ctx, polysim.Options{Endpoints: eps, Logger: env.Log, Now: env.Opts.Now})
	if err != nil {
		return err
	}
	env.OnClose(fleet.Close)
	env.File.PolyAdmin = fleet.AdminURL()
	for _, eo := range eps {
		env.File.Poly = append(env.File.Poly, PolyInfo{Name: eo.Name, Room: eo.Room, Username: eo.Username, Password: eo.Password})
		env.Agent.Endpoints = append(env.Agent.Endpoints, AgentEndpoint{
			Name:             eo.Name,
			Type:             "poly",
			Room:             eo.Room,
			Profile:          DemoProfile,
			Address:          fleet.Endpoint(eo.Name).RESTURL(),
			Username:         eo.RESTUser,
			Password:         eo.RESTPassword,
			CalendarUsername: eo.Username,
			CalendarPassword: eo.Password,
		})
	}
	env.Log.Info("poly endpoints started", "endpoints", len(eps), "admin", env.File.PolyAdmin, "polling", ewsURL)
	return nil
}

// polySecret is a fresh password for a simulated credential.
func polySecret() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

package agent

import (
	"context"
	"fmt"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/sync/graph"
)

// The delegated sign-in of an integration (otj-edge auth login/status/logout): the command
// line reaches the Graph source's device-code flow and token vault through these.

// DeviceCode is what the person signing in needs (graph.DeviceCode).
type DeviceCode = graph.DeviceCode

// AuthAccount is an integration's signed-in account, never its token (graph.AccountInfo).
type AuthAccount = graph.AccountInfo

// Login errors a caller may tell apart.
var (
	ErrLoginDeclined = graph.ErrLoginDeclined
	ErrLoginExpired  = graph.ErrLoginExpired
)

// delegatedIntegration finds integration name and checks that it signs in.
func delegatedIntegration(cfg *config.Config, name string) (graph.Integration, error) {
	for i := range cfg.Integrations {
		in := &cfg.Integrations[i]
		if in.Name != name {
			continue
		}
		g := in.Graph()
		if g == nil || !g.Delegated() {
			return graph.Integration{}, fmt.Errorf("integration %q does not sign in (it needs type: graph and auth: delegated)", name)
		}
		return graphIntegration(in.Name, g), nil
	}
	return graph.Integration{}, fmt.Errorf("there is no integration %q in the configuration", name)
}

// AuthLogin runs the device-code sign-in of integration name: prompt shows the code, then it
// waits for the person to sign in and stores the refresh token, sealed.
// clk paces the polls (nil: the real clock).
func AuthLogin(ctx context.Context, cfg *config.Config, name string, clk clock.Clock, prompt func(DeviceCode) error) (AuthAccount, error) {
	in, err := delegatedIntegration(cfg, name)
	if err != nil {
		return AuthAccount{}, err
	}
	return graph.Login(ctx, graph.LoginOptions{Integration: in, Clock: clk, Prompt: prompt})
}

// AuthStatus is integration name's signed-in account.
func AuthStatus(cfg *config.Config, name string) (AuthAccount, error) {
	in, err := delegatedIntegration(cfg, name)
	if err != nil {
		return AuthAccount{}, err
	}
	return graph.Status(in)
}

// AuthLogout deletes integration name's stored sign-in; it reports whether there was one.
func AuthLogout(cfg *config.Config, name string) (bool, error) {
	in, err := delegatedIntegration(cfg, name)
	if err != nil {
		return false, err
	}
	return graph.Logout(in)
}

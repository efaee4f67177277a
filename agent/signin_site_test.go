package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/simulators/sim"
	"github.com/otj-edge/otj-edge/store"
)

// svcAccount is the service account that signs in in these tests.
const svcAccount = "svc-otj@contoso.example"

// delegatedSite is the e2e site (otj-sim's simulators, a real Mosquitto, the agent in-process)
// with its Graph integration turned to auth: delegated (a public client, no secret), and the
// service account given delegate access to every room in graphsim.
type delegatedSite struct {
	*e2e
	graph *graphsim.Server
}

func newDelegatedSite(t *testing.T) *delegatedSite {
	t.Helper()
	b := mosquitto.ForTest(t, mosquitto.Options{})
	dir := t.TempDir()
	run, err := sim.Start(t.Context(), sim.Options{Dir: dir, Rooms: 2, Meetings: -1, Cisco: 2, MQTT: b.Addr(), Clean: true})
	require.NoError(t, err)
	t.Cleanup(run.Close)
	e := &e2e{t: t, logs: &syncBuffer{}}
	raw, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &e.f))

	// The generated config, turned to delegated.
	raw, err = os.ReadFile(e.f.Agent.Config)
	require.NoError(t, err)
	var ac sim.AgentConfig
	require.NoError(t, yaml.Unmarshal(raw, &ac))
	for i := range ac.Integrations {
		if ac.Integrations[i].Type == sim.SourceGraph {
			ac.Integrations[i].Auth, ac.Integrations[i].ClientSecret = "delegated", ""
		}
	}
	require.NoError(t, os.WriteFile(e.f.Agent.Config, ac.YAML(), 0o600))
	e.cfg, err = config.Load(e.f.Agent.Config)
	require.NoError(t, err)
	e.mqtt = recordMQTT(t, e.f.MQTT.URL)

	g := run.Env.Calendar
	for _, room := range e.f.Graph.Rooms {
		require.NoError(t, g.GrantDelegate(room, svcAccount, true))
	}
	return &delegatedSite{e2e: e, graph: g}
}

// waitRooms waits until every room satisfies cond, woken by the agent's store.
func (d *delegatedSite) waitRooms(what string, cond func(store.RoomState) bool) {
	d.t.Helper()
	st := d.agent.store
	sub := st.Subscribe(store.TopicRooms)
	defer sub.Close()
	deadline := time.NewTimer(60 * time.Second) // a failure guard, not a wait
	defer deadline.Stop()
	for {
		all := true
		for _, m := range d.rooms() {
			r, ok, err := st.Room(context.Background(), m)
			require.NoError(d.t, err)
			if !ok || !cond(r) {
				all = false
				break
			}
		}
		if all {
			return
		}
		select {
		case <-sub.C:
		case <-deadline.C:
			r, _, _ := st.Room(context.Background(), d.rooms()[0])
			d.t.Fatalf("timed out waiting for %s (first room: %s %q)\n%s", what, r.Status, r.StatusDetail, d.logs)
		}
	}
}

func roomOK(r store.RoomState) bool { return r.Status == store.RoomOK && !r.LastSuccess.IsZero() }

func roomSignedOut(r store.RoomState) bool {
	return r.Status == store.RoomAuthFailed && strings.HasPrefix(r.StatusDetail, "signed out: run otj-edge auth login m365")
}

// account is the stored sign-in, read through the vault with its key.
func (d *delegatedSite) account() (refreshToken string) {
	d.t.Helper()
	b, _, err := tokenvault.New(d.cfg.StateDir).Get("graph-m365")
	require.NoError(d.t, err)
	var a struct {
		RefreshToken string `json:"refresh_token"`
	}
	require.NoError(d.t, json.Unmarshal(b, &a))
	require.NotEmpty(d.t, a.RefreshToken)
	return a.RefreshToken
}

// get fetches a page or API answer from the running agent's status listener.
func (d *delegatedSite) get(path string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(d.t.Context(), http.MethodGet, strings.TrimSuffix(d.f.Agent.StatusURL, "/")+path, nil)
	require.NoError(d.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(d.t, err)
	return resp.StatusCode, string(b)
}

// rooms are the configured rooms' mailboxes (the agent's, not every graphsim mailbox).
func (d *delegatedSite) rooms() []string {
	var out []string
	for _, r := range d.cfg.Rooms() {
		out = append(out, r.Mailbox)
	}
	return out
}

package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/poly"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
)

// TestPolyPart: otj-sim's Poly endpoints are in sim.json and the generated agent config, keep
// retrying while no agent listens, and poll the agent's EWS service (certificate signed by the
// sim CA) with the credentials the config gives it once it runs.
func TestPolyPart(t *testing.T) {
	dir := t.TempDir()
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 3, Cisco: 2, Poly: 2, MQTT: "off"})
	require.NoError(t, err)
	defer run.Close()
	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.Len(t, f.Poly, 2)
	assert.Equal(t, PolyInfo{Name: "room-03-poly", Room: "room-03@contoso.example", Username: "room-03-poly", Password: f.Poly[0].Password}, f.Poly[0])
	assert.Equal(t, "room-01-poly-2", f.Poly[1].Name, "wraps around to the first room")
	assert.NotEmpty(t, f.Poly[0].Password)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, f.PolyAdmin)

	yml, err := os.ReadFile(f.Agent.Config)
	require.NoError(t, err)
	for _, s := range []string{"type: poly", "calendar_username: room-03-poly", "calendar_password: " + f.Poly[0].Password, "profile: default", "address: https://127.0.0.1:"} {
		assert.Contains(t, string(yml), s)
	}

	// No agent yet: the endpoint is offline, quietly.
	var st polysim.Status
	adminPoll(t, f.PolyAdmin, "room-03-poly", &st)
	assert.Equal(t, polysim.StateOffline, st.State)

	// The agent's calendar service, configured as the generated config says.
	db, err := store.Open(t.Context(), dir+"/state/otj-edge.db", store.Options{})
	require.NoError(t, err)
	defer db.Close()
	opts := poly.Options{Listen: run.Env.AgentEWSAddr, CertFile: run.Env.Agent.EWS.CertFile, KeyFile: run.Env.Agent.EWS.KeyFile,
		StateDir: dir + "/state", Store: db}
	var rooms []store.RoomRef
	var refs []store.EndpointRef
	for _, e := range run.Env.Agent.Endpoints {
		if e.Type != "poly" {
			continue
		}
		rooms = append(rooms, store.RoomRef{Mailbox: e.Room})
		refs = append(refs, store.EndpointRef{Name: e.Name, Type: e.Type, Room: e.Room})
		opts.Endpoints = append(opts.Endpoints, poly.Account{Name: e.Name, Room: e.Room, Username: e.CalendarUsername,
			Password: config.NewSecret(e.CalendarPassword), Address: e.Address, AdminUsername: e.Username, AdminPassword: config.NewSecret(e.Password)})
	}
	require.NoError(t, db.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms(rooms); err != nil {
			return err
		}
		for _, r := range rooms { // synced once: the calendar service serves only such rooms
			if err := tx.PutRoom(store.RoomState{Mailbox: r.Mailbox, Status: store.RoomOK, LastSuccess: time.Now()}); err != nil {
				return err
			}
			if err := tx.MarkResolved(r.Mailbox, time.Now()); err != nil {
				return err
			}
		}
		return tx.SyncEndpoints(refs)
	}))
	svc, err := poly.NewService(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-svc.Ready()

	for _, p := range f.Poly {
		adminPoll(t, f.PolyAdmin, p.Name, &st)
		assert.Equal(t, polysim.StateOnline, st.State, "%s: %s", p.Name, st.LastError)
	}
	// The REST address and credentials in the config reach the endpoint's REST surface.
	sub := db.Subscribe(store.TopicEndpoints)
	defer sub.Close()
	deadline := time.After(20 * time.Second)
	for {
		row, _, err := db.Endpoint(t.Context(), "room-03-poly")
		require.NoError(t, err)
		if row.Product != "" {
			assert.Equal(t, "StudioX50", row.Product)
			assert.NotContains(t, string(row.Data), "error")
			break
		}
		select {
		case <-sub.C:
		case <-deadline:
			t.Fatal("no REST health result")
		}
	}
}

func adminPoll(t *testing.T, admin, name string, out *polysim.Status) {
	t.Helper()
	resp, err := http.Post(admin+"/endpoints/"+name+"/poll", "application/json", strings.NewReader(""))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
}

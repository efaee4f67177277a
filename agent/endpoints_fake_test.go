package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// The proof that the endpoint-driver seam is real: a test-only endpoint type, "fake",
// registered in the same tables the real types use (the loader's and the agent's), with no
// change anywhere else. An agent configured with a `type: fake` endpoint runs its driver,
// and pushes to it through `otj-edge push`, MQTT and `otj-edge endpoints retry`.

func init() {
	config.RegisterEndpointType("fake", config.EndpointType{Label: "Fake"})
	registerEndpointType("fake", endpointType{
		label: "Fake",
		key:   func(_ *config.Config, eps []config.Endpoint) string { return keyOf(eps) },
		build: func(a *Agent, _ *config.Config, eps []config.Endpoint) (device.Driver, error) {
			return &fakeDriver{st: a.store, now: a.clock.Now, eps: eps}, nil
		},
	})
}

// fakePushes records what the fake driver pushed, by endpoint: the subjects of the room's
// meetings at each push.
var fakePushes = struct {
	sync.Mutex
	m map[string][][]string
}{m: map[string][][]string{}}

// fakeDriver "pushes" a room's meetings from the store by recording them, and keeps its
// endpoints' rows as a real driver does.
type fakeDriver struct {
	st  *store.Store
	now func() time.Time
	eps []config.Endpoint
}

func (d *fakeDriver) Run(ctx context.Context) error {
	for _, e := range d.eps {
		if err := d.st.UpdateEndpoint(ctx, e.Name, func(s *store.EndpointState) error {
			s.State, s.Detail, s.Product = store.EndpointUp, "fake endpoint ready", "Fake 1"
			return nil
		}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (d *fakeDriver) Push(ctx context.Context, name string) ([]device.Result, error) {
	var out []device.Result
	for _, e := range d.eps {
		if name != "" && e.Name != name {
			continue
		}
		now := d.now()
		ms, err := stored.Meetings(ctx, d.st, e.Room, now.Add(-time.Hour), now.Add(48*time.Hour))
		if err != nil {
			return nil, err
		}
		var subjects []string
		for _, m := range ms {
			subjects = append(subjects, m.Subject)
		}
		fakePushes.Lock()
		fakePushes.m[e.Name] = append(fakePushes.m[e.Name], subjects)
		fakePushes.Unlock()
		if err := d.st.UpdateEndpoint(ctx, e.Name, func(s *store.EndpointState) error { s.LastPush = now; return nil }); err != nil {
			return nil, err
		}
		out = append(out, device.Result{Endpoint: e.Name, Outcome: device.OutcomePushed, Bookings: len(ms),
			State: store.EndpointUp, Detail: fmt.Sprintf("%d bookings pushed", len(ms)), Connected: true})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no fake endpoint named %q", name)
	}
	return out, nil
}

func (d *fakeDriver) Retry(ctx context.Context, name string) (device.Result, error) {
	rs, err := d.Push(ctx, name)
	if err != nil {
		return device.Result{}, err
	}
	rs[0].Attempts = 1
	return rs[0], nil
}

// TestAFakeEndpointTypePlugsIn: an agent with a Cisco codec nobody answers for and a fake
// endpoint in another room. The fake driver runs as its own part, receives the room's meeting
// on `otj-edge push` of it and of every endpoint (beside the codec's failure), over MQTT, and
// on `otj-edge endpoints retry`; `otj-edge endpoints` lists it with the state its driver set.
func TestAFakeEndpointTypePlugsIn(t *testing.T) {
	room := "room-2@example.com"
	fakePushes.Lock()
	delete(fakePushes.m, "fake-1") // an earlier run's (go test -count=N)
	fakePushes.Unlock()
	yaml := testSiteHead(freePort(t), "https://127.0.0.1:1/contoso/oauth2/v2.0/token", "") + "  - name: default\n" + testCodec1 +
		"  - name: fake-1\n    type: fake\n    room: " + room + "\n"
	cfg, err := loadConfig(writeTestConfig(t, "", yaml), IO{Env: os.LookupEnv})
	require.NoError(t, err)
	storeSyncedRoom(t, cfg, room)
	a, logs := runTestAgent(t, cfg)

	// The processor turns the stored event into the room's meeting; the fake driver marks its
	// endpoint up.
	meetings, endpoints := a.store.Subscribe(store.TopicMeetings), a.store.Subscribe(store.TopicEndpoints)
	defer meetings.Close()
	defer endpoints.Close()
	deadline := time.After(20 * time.Second)
	for {
		ms, err := stored.Meetings(t.Context(), a.store, room, time.Now().Add(-time.Hour), time.Time{})
		require.NoError(t, err)
		row, _, err := a.store.Endpoint(t.Context(), "fake-1")
		require.NoError(t, err)
		if len(ms) == 1 && row.State == store.EndpointUp {
			break
		}
		select {
		case <-meetings.C:
			meetings.Take()
		case <-endpoints.C:
			endpoints.Take()
		case <-deadline:
			t.Fatalf("no meeting or fake endpoint up\n%s", logs)
		}
	}

	code, out, errOut := runCLI(t, nil, "push", "fake-1", "--config", cfg.File, "--json")
	require.Equal(t, ExitOK, code, out+errOut)
	var res web.ActionResult
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.True(t, res.OK)
	assert.Equal(t, "push to fake-1: 1 bookings pushed", res.Message)
	assert.Equal(t, []web.EndpointResult{{Endpoint: "fake-1", Outcome: web.PushPushed, Bookings: 1, State: store.EndpointUp,
		Detail: "1 bookings pushed", Connected: true}}, res.Endpoints)

	// Every endpoint: the codec's failure and the fake's push, side by side.
	code, out, errOut = runCLI(t, nil, "push", "--config", cfg.File)
	assert.Equal(t, ExitFailure, code, "the codec does not answer")
	assert.Regexp(t, `codec-1\s+(failed|pending)\s`, out)
	assert.Regexp(t, `fake-1\s+pushed\s+1 bookings pushed`, out)
	assert.Contains(t, errOut, "push failed for 1 of 2 endpoints: codec-1")

	got, err := mqttCommands{a}.Push(t.Context(), "fake-1")
	require.NoError(t, err)
	b, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, `{"summary": "1 pushed", "endpoints": [{"endpoint": "fake-1", "outcome": "pushed", "bookings": 1,
		"state": "up", "detail": "1 bookings pushed", "connected": true, "attempts": 0}]}`, string(b))

	code, out, errOut = runCLI(t, nil, "endpoints", "retry", "fake-1", "--config", cfg.File)
	require.Equal(t, ExitOK, code, out+errOut)
	assert.Contains(t, out, "retry of fake-1: connected; 1 bookings pushed")

	fakePushes.Lock()
	pushes := fakePushes.m["fake-1"]
	fakePushes.Unlock()
	assert.Equal(t, [][]string{{"Vendor VMR"}, {"Vendor VMR"}, {"Vendor VMR"}, {"Vendor VMR"}}, pushes)

	code, out, errOut = runCLI(t, nil, "endpoints", "--config", cfg.File)
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `fake-1\s+fake\s+room-2@example\.com\s+up\s+-\s+push \d{4}-`, out)

	// The type's capabilities answer for it where no driver is asked: nothing to trust.
	code, _, errOut = runCLI(t, nil, "endpoints", "trust", "fake-1", "--config", cfg.File)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "endpoint fake-1 is a fake endpoint: otj-edge pins no certificate for it")
}

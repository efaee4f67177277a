package sim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartWritesContractFiles checks the parts of the otj-sim contract that do not depend on
// a particular simulator: sim.json with the agent's addresses and a working embedded broker,
// the CA file and the generated agent config.
func TestStartWritesContractFiles(t *testing.T) {
	dir := t.TempDir()
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 3, MQTT: "embedded"})
	require.NoError(t, err)
	defer run.Close()

	assert.Equal(t, filepath.Join(dir, "sim.json"), run.SimJSON)
	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	assert.Equal(t, filepath.Join(dir, "otj-edge.yaml"), f.Agent.Config)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, f.Agent.StatusURL)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/EWS/Exchange\.asmx$`, f.Agent.EWSURL)
	require.NotNil(t, f.MQTT)
	assert.Regexp(t, `^tcp://127\.0\.0\.1:\d+$`, f.MQTT.URL)
	assert.FileExists(t, filepath.Join(dir, "ca.pem"))
	assert.FileExists(t, f.Agent.Config)

	// The embedded broker keeps retained messages for late subscribers.
	opts := paho.NewClientOptions().AddBroker(f.MQTT.URL).SetClientID("sim-test-pub")
	pub := paho.NewClient(opts)
	tok := pub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer pub.Disconnect(0)
	tok = pub.Publish("otj/v1/sim/status", 1, true, `{"state":"online"}`)
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	got := make(chan string, 1)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(f.MQTT.URL).SetClientID("sim-test-sub"))
	tok = sub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	defer sub.Disconnect(0)
	sub.Subscribe("otj/v1/sim/status", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	select {
	case p := <-got:
		assert.Equal(t, `{"state":"online"}`, p)
	case <-time.After(5 * time.Second):
		t.Fatal("no retained status")
	}
}

func TestRoomAndEndpointNaming(t *testing.T) {
	assert.Equal(t, "room-01@contoso.example", RoomAddress(0, 20))
	assert.Equal(t, "room-0042@contoso.example", RoomAddress(41, 1000))
	env := &Env{Opts: Options{Cisco: 3, Poly: 2}, Rooms: []string{RoomAddress(0, 4), RoomAddress(1, 4), RoomAddress(2, 4), RoomAddress(3, 4)}}
	assert.Equal(t, "room-01-codec", EndpointName(env, "codec", 0))
	assert.Equal(t, "room-04-poly", EndpointName(env, "poly", 0))
	assert.Equal(t, "room-01-poly-2", EndpointName(env, "poly", 1), "wraps around with a suffix")
}

package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
)

// TestFleetServeCountsSitesRoomsAndEvents: `fleet --serve` keeps running and serves the central
// view over HTTP: a real site's status (online, then offline when it stops), retained room
// states (a cleared one leaves the count), and events counted once per id even when QoS 1 hands
// one over twice.
func TestFleetServeCountsSitesRoomsAndEvents(t *testing.T) {
	b := mosquitto.ForTest(t, mosquitto.Options{})
	oslo := runSite(t, "oslo-hq", "2.0.0", config.MQTT{Broker: b.URL()}, [2]int{3, 3})
	awaitStatus(t, b.URL(), "oslo-hq", func(st telemetry.Status) bool { return st.State == telemetry.StateOnline })
	for _, room := range []string{"a@example.com", "b@example.com", "c+1@example.com"} {
		publishRetained(t, b.URL(), telemetry.RoomTopic("oslo-hq", room), `{"room":"`+room+`","sync":{"status":"ok"},"endpoints":[],"diagnosis":[]}`)
	}
	publishRetained(t, b.URL(), telemetry.RoomTopic("oslo-hq", "b@example.com"), `{"room":"b@example.com","sync":{"status":"throttled"},"endpoints":[],"diagnosis":[]}`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"fleet", "--broker", b.URL(), "--serve", "127.0.0.1:0"}, IO{Stdout: &out, Stderr: &errb})
	}()
	rx := regexp.MustCompile(`serving the fleet view on (http://\S+/fleet)`)
	require.Eventually(t, func() bool { return rx.MatchString(out.String()) }, fleetWait, 10*time.Millisecond, "%s%s", out.String(), errb.String())
	url := rx.FindStringSubmatch(out.String())[1]
	get := func(query string) FleetSummary {
		t.Helper()
		resp, err := http.Get(url + query)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var s FleetSummary
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
		return s
	}
	require.Eventually(t, func() bool { s := get(""); return s.Online == 1 && s.Rooms == 3 }, fleetWait, 20*time.Millisecond)
	s := get("")
	assert.Equal(t, 1, s.Sites)
	assert.Equal(t, 3, s.RoomsReported, "the status's own room count")
	assert.Equal(t, map[string]int{"ok": 2, "throttled": 1}, s.RoomsBySync)
	require.Len(t, s.List, 1)
	assert.Equal(t, 1, s.List[0].RoomsNotOK)
	assert.NotNil(t, s.List[0].StatusSeenAt)

	// Events: a duplicate id (QoS 1 redelivery) counts once.
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("ev-" + randomHex(4)))
	require.True(t, c.Connect().WaitTimeout(fleetWait))
	defer c.Disconnect(50)
	for _, p := range []string{
		`{"id":"e1","time":"2026-11-23T07:12:40Z","kind":"endpoint.down","level":"error","message":"x"}`,
		`{"id":"e1","time":"2026-11-23T07:12:40Z","kind":"endpoint.down","level":"error","message":"x"}`,
		`{"id":"e2","time":"2026-11-23T07:13:40Z","kind":"endpoint.up","level":"info","message":"y"}`,
	} {
		tok := c.Publish(telemetry.SiteTopic("oslo-hq", telemetry.TopicEvents), 1, false, p)
		require.True(t, tok.WaitTimeout(fleetWait))
	}
	publishRetained(t, b.URL(), telemetry.RoomTopic("oslo-hq", "c+1@example.com"), "")
	require.Eventually(t, func() bool { s := get(""); return s.Events == 2 && s.Rooms == 2 }, fleetWait, 20*time.Millisecond)
	s = get("?site=oslo-hq")
	assert.Equal(t, int64(1), s.EventsDuplicate)
	assert.Equal(t, int64(1), s.EventsError)
	require.Len(t, s.List, 1)
	assert.Equal(t, "endpoint.up", s.List[0].LastEvent.Kind)
	assert.Empty(t, get("?site=bergen").List, "a site filter lists only that site; the counts stay the fleet's")

	oslo.stop()
	require.Eventually(t, func() bool { s := get(""); return s.Offline == 1 && s.Online == 0 }, fleetWait, 20*time.Millisecond)
	assert.Equal(t, "shutdown", get("").List[0].Reason)
	assert.Equal(t, 2, get("").Rooms, "an offline site's retained rooms stay in the view")

	cancel()
	select {
	case c := <-code:
		assert.Equal(t, ExitOK, c, errb.String())
	case <-time.After(fleetWait):
		t.Fatal("fleet --serve did not end when interrupted")
	}
}

func TestFleetServeUsage(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "fleet", "--broker", "tcp://127.0.0.1:1", "--serve", "127.0.0.1:0", "--watch")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "--serve keeps running on its own")
}

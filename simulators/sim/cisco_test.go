package sim

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestCiscoFleetInSimJSONAndAgentConfig(t *testing.T) {
	dir := t.TempDir()
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 2, Cisco: 3, MQTT: "off"})
	require.NoError(t, err)
	defer run.Close()

	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.Len(t, f.Cisco, 3)
	assert.Equal(t, []string{"room-01-codec", "room-02-codec", "room-01-codec-2"}, []string{f.Cisco[0].Name, f.Cisco[1].Name, f.Cisco[2].Name})
	assert.Equal(t, "room-01@contoso.example", f.Cisco[2].Room, "more codecs than rooms wrap around")
	urls := map[string]bool{}
	for _, c := range f.Cisco {
		assert.Regexp(t, `^wss://127\.0\.0\.1:\d+/ws$`, c.URL)
		assert.Equal(t, CiscoUsername, c.Username)
		assert.NotEmpty(t, c.Password)
		urls[c.URL] = true
	}
	assert.Len(t, urls, 3, "each codec has its own address")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, f.CiscoAdmin)

	// The credentials in sim.json log in.
	c := f.Cisco[1]
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a self-signed simulator
	ws, _, err := d.Dial(c.URL, http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))}})
	require.NoError(t, err)
	ws.Close()

	// The admin API answers for every codec.
	resp, err := http.Get(f.CiscoAdmin + "/codecs/" + c.Name + "/bookings")
	require.NoError(t, err)
	var doc map[string][]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, doc, "Bookings")

	// The generated agent config lists the codecs as Cisco endpoints.
	y, err := os.ReadFile(f.Agent.Config)
	require.NoError(t, err)
	var cfg struct {
		Endpoints []map[string]string `yaml:"endpoints"`
	}
	require.NoError(t, yaml.Unmarshal(y, &cfg))
	require.Len(t, cfg.Endpoints, 3)
	e := cfg.Endpoints[1]
	assert.Equal(t, map[string]string{"name": c.Name, "type": "cisco", "room": c.Room, "profile": DemoProfile,
		"address": c.URL, "username": c.Username, "password": c.Password}, e)
}

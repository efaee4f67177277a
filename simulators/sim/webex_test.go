package sim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestWebexPart: --webex N puts N cloud devices in the rooms after the codecs and Poly
// endpoints, each in a workspace whose calendar is the room; sim.json's webex block and the
// generated config's webex connection are enough for a plain HTTP client to refresh a token,
// find the devices and push bookings that the admin API then shows.
func TestWebexPart(t *testing.T) {
	dir := t.TempDir()
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 4, Cisco: 1, Poly: 1, Webex: 2, Meetings: -1, MQTT: "off"})
	require.NoError(t, err)
	defer run.Close()
	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotNil(t, f.Webex)
	w := f.Webex
	require.Len(t, w.Devices, 2)
	assert.Equal(t, "room-03@contoso.example", w.Devices[0].Room)
	assert.Equal(t, "room-03-webex", w.Devices[0].DisplayName)
	assert.Equal(t, "room-04@contoso.example", w.Devices[1].Room)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/v1$`, w.APIURL)
	assert.Equal(t, w.APIURL+"/access_token", w.TokenURL)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, w.Admin)

	// The generated agent config: one webex connection, endpoints type webex by device id.
	yml, err := os.ReadFile(f.Agent.Config)
	require.NoError(t, err)
	var cfg struct {
		Webex     []map[string]string `yaml:"webex"`
		Endpoints []map[string]any    `yaml:"endpoints"`
	}
	require.NoError(t, yaml.Unmarshal(yml, &cfg))
	require.Len(t, cfg.Webex, 1)
	assert.Equal(t, map[string]string{"name": "webex", "api_url": w.APIURL, "token_url": w.TokenURL, "client_id": w.ClientID,
		"client_secret": w.ClientSecret, "refresh_token": w.RefreshToken, "ca_file": w.CAFile}, cfg.Webex[0])
	var webexEndpoints []map[string]any
	for _, e := range cfg.Endpoints {
		if e["type"] == "webex" {
			webexEndpoints = append(webexEndpoints, e)
		}
	}
	require.Len(t, webexEndpoints, 2)
	assert.Equal(t, map[string]any{"name": "room-03-webex", "type": "webex", "room": "room-03@contoso.example", "profile": "default",
		"webex": "webex", "device_id": w.Devices[0].ID}, webexEndpoints[0])

	// A plain client: trust ca_file, refresh, list the devices, push, read the admin API.
	pem, err := os.ReadFile(w.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {w.ClientID}, "client_secret": {w.ClientSecret}, "refresh_token": {w.RefreshToken}}
	res, err := hc.PostForm(w.TokenURL, form)
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	res.Body.Close()
	require.NotEmpty(t, tok.AccessToken)
	call := func(method, u, body string) string {
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		require.Equal(t, 200, res.StatusCode, string(b))
		return string(b)
	}
	ws := call("GET", w.APIURL+"/workspaces?displayName=room-04", "")
	assert.Contains(t, ws, `"emailAddress":"room-04@contoso.example"`)
	devs := call("GET", w.APIURL+"/devices?displayName=room-04-webex", "")
	assert.Contains(t, devs, w.Devices[1].ID)
	call("POST", w.APIURL+"/xapi/command/Bookings.Put", `{"deviceId":"`+w.Devices[1].ID+`","arguments":{},"body":{"Bookings":[{"Id":"m1","Title":"Sync","Organizer":{"Name":"Ada"},"Time":{"StartTime":"2030-01-01T10:00:00Z","Duration":30},"Number":"x@example.com","Protocol":"SIP"}]}}`)
	ares, err := http.Get(w.Admin + "/devices/" + w.Devices[1].ID + "/bookings")
	require.NoError(t, err)
	defer ares.Body.Close()
	ab, _ := io.ReadAll(ares.Body)
	assert.Contains(t, string(ab), `"Id": "m1"`)
}

// Without --webex nothing changes: no webex block, no webex key in the agent config.
func TestWebexPartOffByDefault(t *testing.T) {
	dir := t.TempDir()
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 2, Cisco: 1, Meetings: -1, MQTT: "off"})
	require.NoError(t, err)
	defer run.Close()
	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"webex"`)
	yml, err := os.ReadFile(run.Env.File.Agent.Config)
	require.NoError(t, err)
	assert.NotContains(t, string(yml), "webex:\n")
}

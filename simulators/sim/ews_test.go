package sim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestEWSPart: with --source ews, sim.json gains a complete "ews" block (the graph block
// stays), the generated agent config's profiles use an ews integration with the agent's keys,
// and the EWS URL answers an NTLM-signed SyncFolderItems for a room with the sim's CA.
func TestEWSPart(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 3, Meetings: 6, MQTT: "off", Cisco: 1, Source: SourceEWS,
		Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer run.Close()

	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotNil(t, f.Graph, "graphsim still runs and keeps its block")
	require.NotNil(t, f.EWS)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/EWS/Exchange\.asmx$`, f.EWS.URL)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/autodiscover/autodiscover\.svc$`, f.EWS.AutodiscoverURL)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, f.EWS.Admin)
	assert.Equal(t, `CONTOSO\svc-otj`, f.EWS.Username)
	assert.NotEmpty(t, f.EWS.Password)
	assert.Equal(t, f.Graph.CAFile, f.EWS.CAFile)
	assert.Equal(t, run.Env.Rooms, f.EWS.Rooms)

	raw, err := os.ReadFile(f.Agent.Config)
	require.NoError(t, err)
	var cfg struct {
		Integrations []map[string]any `yaml:"integrations"`
		Profiles     []struct {
			Integration string `yaml:"integration"`
		} `yaml:"profiles"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	require.Len(t, cfg.Integrations, 1)
	in := cfg.Integrations[0]
	assert.Equal(t, map[string]any{"name": EWSIntegration, "type": "ews", "url": f.EWS.URL, "username": f.EWS.Username,
		"password": f.EWS.Password, "auth": "ntlm", "access": "impersonation", "ca_file": f.EWS.CAFile, "streaming": true,
		"request_server_version": "Exchange2013_SP1"}, in)
	for _, p := range cfg.Profiles {
		assert.Equal(t, EWSIntegration, p.Integration)
	}

	pem, err := os.ReadFile(f.EWS.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}}
	body := `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" ` +
		`xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>` +
		`<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + f.EWS.Rooms[0] + `</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>` +
		`</soap:Header><soap:Body><m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>` +
		`<t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems></soap:Body></soap:Envelope>`
	req, _ := http.NewRequest(http.MethodPost, f.EWS.URL, strings.NewReader(body))
	req.SetBasicAuth(f.EWS.Username, f.EWS.Password)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(out), "<m:ResponseCode>NoError</m:ResponseCode>")
	assert.Contains(t, string(out), "<t:Create>", "the room's scenario meetings come through EWS")

	st, err := http.Get(f.EWS.Admin + "/ews/stats")
	require.NoError(t, err)
	var stats struct {
		Requests int `json:"requests"`
	}
	require.NoError(t, json.NewDecoder(st.Body).Decode(&stats))
	st.Body.Close()
	assert.Equal(t, 1, stats.Requests)
}

// TestSourceDefaultsToGraph: without --source the generated config has no ews integration.
func TestSourceDefaultsToGraph(t *testing.T) {
	run, err := Start(t.Context(), Options{Dir: t.TempDir(), Rooms: 1, Meetings: -1, MQTT: "off", Cisco: 0, Poly: 0})
	require.NoError(t, err)
	defer run.Close()
	assert.Nil(t, run.Env.File.EWS)
	require.Len(t, run.Env.Agent.Integrations, 1)
	assert.Equal(t, "graph", run.Env.Agent.Integrations[0].Type)
	_, err = Start(t.Context(), Options{Dir: t.TempDir(), Source: "imap"})
	assert.ErrorContains(t, err, `source "imap"`)
}

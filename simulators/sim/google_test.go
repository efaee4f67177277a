package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"gopkg.in/yaml.v3"
)

// TestGooglePart: with --source google, sim.json gains a complete "google" block (the graph
// block stays), the key file is private, the generated agent config's profiles use a google
// integration with the agent's keys, and Google's own client reads the rooms' scenario
// meetings with the key file, the subject and the sim's CA.
func TestGooglePart(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	run, err := Start(t.Context(), Options{Dir: dir, Rooms: 3, Meetings: 10, MQTT: "off", Cisco: 1, Source: SourceGoogle,
		Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer run.Close()

	b, err := os.ReadFile(run.SimJSON)
	require.NoError(t, err)
	var f File
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotNil(t, f.Graph, "graphsim still runs and keeps its block")
	require.NotNil(t, f.Google)
	g := f.Google
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/calendar/v3/$`, g.API)
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/token$`, g.TokenURI)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, g.Admin)
	assert.Equal(t, "admin@contoso.example", g.Subject)
	assert.Equal(t, f.Graph.CAFile, g.CAFile)
	require.Len(t, g.Rooms, 3)
	assert.Regexp(t, `^c_[0-9a-f]+@resource\.calendar\.google\.com$`, g.Rooms[0])
	fi, err := os.Stat(g.KeyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

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
	assert.Equal(t, map[string]any{"name": GoogleIntegration, "type": "google", "service_account_key_file": g.KeyFile,
		"subject": g.Subject, "endpoint": g.API, "max_requests_per_day": GoogleMaxRequestsPerDay, "ca_file": g.CAFile}, cfg.Integrations[0])
	for _, p := range cfg.Profiles {
		assert.Equal(t, GoogleIntegration, p.Integration)
	}

	// Google's client, as the agent will build it.
	pem, err := os.ReadFile(g.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, hc)
	key, err := os.ReadFile(g.KeyFile)
	require.NoError(t, err)
	jc, err := google.JWTConfigFromJSON(key, calendar.CalendarReadonlyScope)
	require.NoError(t, err)
	assert.Equal(t, g.TokenURI, jc.TokenURL)
	jc.Subject = g.Subject
	svc, err := calendar.NewService(ctx, option.WithEndpoint(g.API), option.WithHTTPClient(jc.Client(ctx)))
	require.NoError(t, err)
	evs, err := svc.Events.List(g.Rooms[0]).SingleEvents(true).TimeMin(now.Add(-time.Hour).Format(time.RFC3339)).Do()
	require.NoError(t, err)
	assert.NotEmpty(t, evs.Items, "the room's scenario meetings come through the Calendar API")
	assert.NotEmpty(t, evs.NextSyncToken)

	// The demo's problem room (outside graphsim's access policy) is forbidden here too.
	_, err = svc.Events.List(g.Rooms[2]).Do()
	var ge *googleapi.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, http.StatusForbidden, ge.Code)
}

package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProbeKeys: the change probe is on by default for app-only integrations with 7 s and
// 60 s; off turns it off; delegated integrations probe by default only with a scope
// getSchedule documents; bad values and unknown keys fail with their line.
func TestProbeKeys(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(notifyHead), env(nil))
	require.NoError(t, err)
	g := cfg.Integration("m365").Graph()
	assert.True(t, g.ProbeEnabled())
	assert.Equal(t, GraphProbe{Mode: "auto", HotInterval: 7 * time.Second, ColdInterval: time.Minute}, g.Probe)

	cfg, err = Parse("c.yaml", []byte(notifyHead+"    probe: {mode: off}\n"), env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Integration("m365").Graph().ProbeEnabled())

	cfg, err = Parse("c.yaml", []byte(notifyHead+"    probe:\n      hot_interval: 5s\n      cold_interval: 90s\n"), env(nil))
	require.NoError(t, err)
	assert.Equal(t, GraphProbe{Mode: "auto", HotInterval: 5 * time.Second, ColdInterval: 90 * time.Second}, cfg.Integration("m365").Graph().Probe)

	delegated := `site: s1
profiles: [{name: default}]
integrations:
  - name: m365
    type: graph
    auth: delegated
    client_id: abc
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
`
	cfg, err = Parse("c.yaml", []byte(delegated), env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Integration("m365").Graph().ProbeEnabled(), "Calendars.Read.Shared is not a getSchedule permission")
	cfg, err = Parse("c.yaml", []byte(delegated+"    scopes: [Calendars.Read, offline_access]\n"), env(nil))
	require.NoError(t, err)
	assert.True(t, cfg.Integration("m365").Graph().ProbeEnabled())
	cfg, err = Parse("c.yaml", []byte(delegated+"    probe: {mode: on}\n"), env(nil))
	require.NoError(t, err)
	assert.True(t, cfg.Integration("m365").Graph().ProbeEnabled())
	assert.Contains(t, warningsOf(cfg), `c.yaml:9: warning: integration "m365": probe: on with delegated scopes that lack Calendars.Read`)

	for bad, want := range map[string]string{
		"    probe: {mode: sometimes}\n":                       `c.yaml:9: integration "m365": probe: mode "sometimes" is not auto, on or off`,
		"    probe: {hot_interval: 1s}\n":                      `c.yaml:9: integration "m365": probe: hot_interval 1s is outside 3s–30m0s`,
		"    probe: {hot_interval: 30s, cold_interval: 10s}\n": `c.yaml:9: integration "m365": probe: cold_interval 10s is outside hot_interval (30s)–30m0s`,
		"    probe: {hot_interval: fast}\n":                    `c.yaml:9: "fast" is text, expected a duration such as 90s, 5m or 1h`,
		"    probe: {hot_intervall: 5s}\n":                     `c.yaml:9: unknown key "hot_intervall" in probe (did you mean "hot_interval"?)`,
	} {
		_, err := Parse("c.yaml", []byte(notifyHead+bad), env(nil))
		require.Error(t, err, bad)
		assert.Equal(t, want, err.Error(), bad)
	}
}

package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probeSettings are the keys of a type registered by the test alone: a URL, an account, its
// password, and a nested mapping (the loader's strictness must reach into it).
type probeSettings struct {
	URL          string `yaml:"url"`
	Account      string `yaml:"account"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	Quota        int    `yaml:"quota"`
	Auth         struct {
		Method string `yaml:"method"`
	} `yaml:"auth"`
}

func (p *probeSettings) Check(c *IntegrationCheck) {
	if !strings.HasPrefix(p.URL, "https://") {
		c.Errorf("url", "url %q must be an https URL", p.URL)
	}
	if p.Account == "" {
		c.Errorf("account", "account is required")
	}
	c.Secret(&p.Password, p.PasswordFile, "password", true)
	if !c.Has("quota") {
		p.Quota = 1000
	}
}

// withProbeType registers type "probe" for one test.
func withProbeType(t *testing.T) {
	RegisterIntegrationType("probe", func() IntegrationSettings { return &probeSettings{} })
	t.Cleanup(func() { delete(integrationTypes, "probe") })
}

const probeHead = "site: s1\nprofiles:\n  - name: default\n    integration: ews\nintegrations:\n"

// TestAnIntegrationTypeOwnsItsKeys: a type registered from outside the loader gets its keys
// decoded into its own settings and checked by them, with the loader's strictness: unknown
// keys (nested ones too) and type errors with their lines, every problem at once; its secret
// is resolved and found by Secrets under its YAML path, and never prints.
func TestAnIntegrationTypeOwnsItsKeys(t *testing.T) {
	withProbeType(t)
	good := probeHead + `  - name: ews
    type: probe
    url: https://mail.example.com/EWS/Exchange.asmx
    account: svc-otj
    password: ${PROBE_PASSWORD}
    auth:
      method: ntlm
  - name: m365
    type: graph
    client_id: abc
    client_secret: graph-secret-value
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
`
	cfg, err := Parse("c.yaml", []byte(good), env(map[string]string{"PROBE_PASSWORD": "probe-password-value"}))
	require.NoError(t, err)
	p, ok := cfg.Integration("ews").Settings.(*probeSettings)
	require.True(t, ok, "decoded into the type's own settings")
	assert.Equal(t, "svc-otj", p.Account)
	assert.Equal(t, "ntlm", p.Auth.Method)
	assert.Equal(t, 1000, p.Quota, "its Check applied its default")
	assert.Equal(t, "probe-password-value", p.Password.Value())
	assert.Nil(t, cfg.Integration("ews").Graph())
	assert.Equal(t, "abc", cfg.Integration("m365").Graph().ClientID, "graph is one type among others")
	found := map[string]string{}
	for _, f := range cfg.Secrets() {
		found[f.Path] = f.Secret.Value()
	}
	assert.Equal(t, "probe-password-value", found["integrations[0].password"])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(verb, cfg), "probe-password-value", verb)
		assert.NotContains(t, fmt.Sprintf(verb, cfg), "graph-secret-value", verb)
	}

	bad := probeHead + `  - name: ews
    type: probe
    url: http://mail.example.com/EWS/Exchange.asmx
    pasword: x
    quota: lots
    auth:
      methd: ntlm
    client_id: abc
`
	_, err = Parse("c.yaml", []byte(bad), env(nil))
	require.Error(t, err)
	assert.Equal(t, `c.yaml:6: integration "ews": account is required
c.yaml:6: integration "ews": password (or password_file) is required
c.yaml:8: integration "ews": url "http://mail.example.com/EWS/Exchange.asmx" must be an https URL
c.yaml:9: unknown key "pasword" in integrations (did you mean "password"?)
c.yaml:10: "lots" is text, expected a whole number
c.yaml:12: unknown key "methd" in auth (did you mean "method"?)
c.yaml:13: unknown key "client_id" in integrations`, err.Error())
}

// TestAnUnknownIntegrationTypeListsTheKnownOnes: a misspelt or missing type names every
// registered type, and its other keys are not each called unknown (they may well be right
// for the type meant).
func TestAnUnknownIntegrationTypeListsTheKnownOnes(t *testing.T) {
	withProbeType(t)
	_, err := Parse("c.yaml", []byte(probeHead+"  - name: ews\n    type: prob\n    url: https://x\n  - name: other\n    url: https://y\n"), env(nil))
	require.Error(t, err)
	assert.Equal(t, `c.yaml:7: integration "ews": type "prob" is not supported (ews, google, graph, probe)
c.yaml:9: integration "other": type is required (ews, google, graph, probe)`, err.Error())
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ewsTail = "profiles:\n  - name: default\n    integration: onprem\n"

const ewsHead = "site: s1\nendpoints:\n  - name: ep1\n    type: poly\n    room: room-1@example.com\n    calendar_username: ep1\n    calendar_password: calendar-password-1\nintegrations:\n"

// TestEWSIntegrationDecodesWithDefaults: a minimal EWS integration gets NTLM, impersonation,
// streaming, the quota and Exchange2013_SP1; its password comes from ${ENV} and never prints.
func TestEWSIntegrationDecodesWithDefaults(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(ewsHead+`  - name: onprem
    type: ews
    url: https://mail.example.com/EWS/Exchange.asmx
    username: CONTOSO\svc-otj
    password: ${EWS_PASSWORD}
`+ewsTail), env(map[string]string{"EWS_PASSWORD": "ews-password-value"}))
	require.NoError(t, err)
	e := cfg.Integration("onprem").EWS()
	require.NotNil(t, e)
	assert.Equal(t, "ntlm", e.Auth)
	assert.Equal(t, "impersonation", e.Access)
	assert.True(t, e.StreamingOn())
	assert.EqualValues(t, 1_000_000, e.MaxRequestsPerDay)
	assert.Equal(t, 10, e.MaxInFlight)
	assert.Equal(t, "Exchange2013_SP1", e.RequestServerVersion)
	assert.Equal(t, "ews-password-value", e.Password.Value())
	assert.Nil(t, cfg.Integration("onprem").Graph())
	assert.Equal(t, "onprem", cfg.Rooms()[0].Integration)
	found := map[string]string{}
	for _, f := range cfg.Secrets() {
		found[f.Path] = f.Secret.Value()
	}
	assert.Equal(t, "ews-password-value", found["integrations[0].password"], "the scrubber and part keys find it")
}

// TestEWSIntegrationAllKeys: every key is read; a password file, a pin with colons, basic
// auth, delegate access (streaming off, with a warning when it was asked for), autodiscover by
// UPN.
func TestEWSIntegrationAllKeys(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "ews.pw")
	require.NoError(t, os.WriteFile(pw, []byte("password-from-file\n"), 0o600))
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	pin := strings.Repeat("AB:", 31) + "AB"
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), []byte(ewsHead+`  - name: onprem
    type: ews
    autodiscover_url: https://autodiscover.example.com/autodiscover/autodiscover.svc
    autodiscover_email: room-1@example.com
    username: svc-otj@example.com
    password_file: ews.pw
    auth: basic
    access: delegate
    pin_sha256: "`+pin+`"
    max_requests_per_day: 50000
    max_in_flight: 4
    streaming: true
    request_server_version: exchange2016
  - name: second
    type: ews
    url: https://mail2.example.com/EWS/Exchange.asmx
    username: svc@example.com
    password: another-password-value
    ca_file: ca.pem
profiles:
  - name: default
    integration: onprem
`), env(nil))
	require.NoError(t, err)
	e := cfg.Integration("onprem").EWS()
	assert.Equal(t, "password-from-file", e.Password.Value())
	assert.Equal(t, "basic", e.Auth)
	assert.Equal(t, "delegate", e.Access)
	assert.False(t, e.StreamingOn(), "delegates poll")
	assert.Equal(t, strings.Repeat("ab", 32), e.PinSHA256)
	assert.EqualValues(t, 50000, e.MaxRequestsPerDay)
	assert.Equal(t, 4, e.MaxInFlight)
	assert.Equal(t, "Exchange2016", e.RequestServerVersion)
	assert.Equal(t, ca, cfg.Integration("second").EWS().CAFile)
	assert.Contains(t, warningsOf(cfg), `integration "onprem": streaming is off with access: delegate`)
}

// TestEWSIntegrationProblems: each mistake is reported at its line with the fix, all at once.
func TestEWSIntegrationProblems(t *testing.T) {
	_, err := Parse("c.yaml", []byte(ewsHead+`  - name: onprem
    type: ews
    url: http://mail.example.com/EWS/Exchange.asmx
    username: svc-otj
    auth: basic
    access: owner
    pin_sha256: abc
    max_in_flight: 40
    request_server_version: Exchange2019
    streming: false
  - name: noaddr
    type: ews
    username: CONTOSO\svc
    password: some-password-value
    auth: kerberos
`+ewsTail), env(nil))
	require.Error(t, err)
	want := []string{
		`c.yaml:9: integration "onprem": password (or password_file) is required`,
		`c.yaml:11: integration "onprem": url "http://mail.example.com/EWS/Exchange.asmx" is http: basic auth would send the service account's password in clear; use https`,
		`c.yaml:12: integration "onprem": username "svc-otj" must be DOMAIN\user`,
		`c.yaml:14: integration "onprem": access "owner" is not one of impersonation, delegate`,
		`c.yaml:15: integration "onprem": pin_sha256 must be the server certificate's SHA-256`,
		`c.yaml:16: integration "onprem": max_in_flight 40 is outside 1–27`,
		`c.yaml:17: integration "onprem": request_server_version Exchange2019 is refused by Exchange 2019 itself`,
		`c.yaml:18: unknown key "streming" in integrations (did you mean "streaming"?)`,
		`c.yaml:19: integration "noaddr": give url (https://mail.example.com/EWS/Exchange.asmx), or autodiscover_email`,
		`c.yaml:23: integration "noaddr": auth "kerberos" is not supported: use ntlm`,
	}
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	assert.Len(t, strings.Split(err.Error(), "\n"), len(want), err.Error())

	// http is refused with NTLM too, and a user in the URL is refused without echoing it.
	_, err = Parse("c.yaml", []byte(ewsHead+`  - name: onprem
    type: ews
    url: http://mail.example.com/EWS/Exchange.asmx
    autodiscover_url: https://svc:hunter2-secret@autodiscover.example.com/
    username: CONTOSO\svc
    password: some-password-value
`+ewsTail), env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `c.yaml:11: integration "onprem": url "http://mail.example.com/EWS/Exchange.asmx" is http: use https`)
	assert.Contains(t, err.Error(), `c.yaml:12: integration "onprem": autodiscover_url must not carry a user or password`)
	assert.NotContains(t, err.Error(), "hunter2")
}

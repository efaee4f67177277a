package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const googleRoom = "c_18832tc9g2iechmehr7goqp9bsali@resource.calendar.google.com"

const googleHead = "site: s1\nendpoints:\n  - name: ep1\n    type: poly\n    room: " + googleRoom + "\n    calendar_username: ep1\n    calendar_password: calendar-password-1\nintegrations:\n"

const googleTail = "profiles:\n  - name: default\n    integration: workspace\n"

const googleKeyJSON = `{"type": "service_account", "project_id": "otj", "private_key_id": "k1",
 "private_key": "-----BEGIN PRIVATE KEY-----\nMIIB...\n-----END PRIVATE KEY-----\n",
 "client_email": "otj-edge@otj.iam.gserviceaccount.com", "client_id": "104729384756102938475",
 "token_uri": "https://oauth2.googleapis.com/token"}`

func writeKey(t *testing.T, dir string, mode os.FileMode, content string) string {
	t.Helper()
	p := filepath.Join(dir, "sa.json")
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

// TestGoogleIntegrationDecodesWithDefaults: a minimal Google integration reads its key file
// (a secret: the scrubber and the restart keys find it), gets the read-only scope, Pexip's
// budget and Google's endpoint, and owns a resource-calendar room.
func TestGoogleIntegrationDecodesWithDefaults(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, 0o600, googleKeyJSON)
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), []byte(googleHead+`  - name: workspace
    type: google
    service_account_key_file: sa.json
    subject: admin@example.com
`+googleTail), env(nil))
	require.NoError(t, err)
	g := cfg.Integration("workspace").Google()
	require.NotNil(t, g)
	assert.Equal(t, filepath.Join(dir, "sa.json"), g.ServiceAccountKeyFile)
	assert.Equal(t, "admin@example.com", g.Subject)
	assert.Equal(t, []string{GoogleScopeReadOnly}, g.Scopes)
	assert.EqualValues(t, 900_000, g.MaxRequestsPerDay)
	assert.Equal(t, DefaultGoogleEndpoint, g.Endpoint)
	assert.Equal(t, "otj-edge@otj.iam.gserviceaccount.com", g.ServiceAccountEmail)
	assert.Equal(t, "104729384756102938475", g.ClientID)
	assert.Equal(t, "https://oauth2.googleapis.com/token", g.TokenURI)
	assert.Len(t, g.KeyFingerprint, 64)
	assert.Equal(t, googleKeyJSON, g.ServiceAccountKey.Value())
	assert.Empty(t, warningsOf(cfg))
	assert.Equal(t, "workspace", cfg.Rooms()[0].Integration)
	assert.Equal(t, googleRoom, cfg.Rooms()[0].Mailbox)
	found := false
	for _, f := range cfg.Secrets() {
		found = found || f.Secret.Value() == googleKeyJSON
	}
	assert.True(t, found, "the key is a secret the scrubber knows")
}

// TestGoogleIntegrationAllKeys: every key is read; a bare endpoint gets Google's service path;
// a key file readable by others is warned about with the chmod.
func TestGoogleIntegrationAllKeys(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir, 0o644, googleKeyJSON)
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), []byte(googleHead+`  - name: workspace
    type: google
    service_account_key_file: `+key+`
    scopes: [https://www.googleapis.com/auth/calendar.events.readonly]
    max_requests_per_day: 50000
    endpoint: https://127.0.0.1:8443
    ca_file: ca.pem
    notifications_url: https://otj.example.com/notify
`+googleTail), env(nil))
	require.NoError(t, err)
	g := cfg.Integration("workspace").Google()
	assert.Equal(t, "", g.Subject)
	assert.Equal(t, []string{"https://www.googleapis.com/auth/calendar.events.readonly"}, g.Scopes)
	assert.EqualValues(t, 50000, g.MaxRequestsPerDay)
	assert.Equal(t, "https://127.0.0.1:8443/calendar/v3/", g.Endpoint)
	assert.Equal(t, ca, g.CAFile)
	assert.Equal(t, "https://otj.example.com/notify", g.NotificationsURL)
	assert.Equal(t, DefaultGoogleNotificationsListen, g.NotificationsListen, "the push listener's default address")
	assert.Contains(t, warningsOf(cfg), "readable by group or others (mode 0644); run: chmod 600 "+key)
}

// TestGoogleIntegrationProblems: each mistake at its line with the fix, all at once.
func TestGoogleIntegrationProblems(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p12.json"), []byte(`{"type": "authorized_user"}`), 0o600))
	_, err := Parse(filepath.Join(dir, "c.yaml"), []byte(googleHead+`  - name: workspace
    type: google
    service_account_key_file: p12.json
    subject: not an address
    scopes: [https://www.googleapis.com/auth/calendar]
    max_requests_per_day: 5
    endpoint: ftp://x
    notifications_url: http://otj.example.com/notify
    service_account_key: inline
  - name: nokey
    type: google
`+strings.Replace(googleTail, "workspace", "nokey", 1)), env(nil))
	require.Error(t, err)
	want := []string{
		`c.yaml:11: integration "workspace": service_account_key_file ` + filepath.Join(dir, "p12.json") + ` is of type "authorized_user", not a service account key`,
		`c.yaml:12: integration "workspace": subject "not an address" is not a user's address`,
		`c.yaml:13: integration "workspace": scope "https://www.googleapis.com/auth/calendar" is not one the source needs`,
		`c.yaml:14: integration "workspace": max_requests_per_day 5 is outside 10000–10000000`,
		`c.yaml:15: integration "workspace": endpoint "ftp://x" is not a URL`,
		`c.yaml:16: integration "workspace": notifications_url must be https://`,
		`c.yaml:17: unknown key "service_account_key" in integrations`,
		`c.yaml:18: integration "nokey": service_account_key_file is required`,
	}
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	assert.Len(t, strings.Split(err.Error(), "\n"), len(want), err.Error())
}

// TestGoogleNotificationsListenNeedsTheURL: a listen address without notifications_url is an
// error (nothing would ever post to it), and a malformed one is named.
func TestGoogleNotificationsListenNeedsTheURL(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir, 0o600, googleKeyJSON)
	_, err := Parse(filepath.Join(dir, "c.yaml"), []byte(googleHead+`  - name: workspace
    type: google
    service_account_key_file: `+key+`
    notifications_listen: 127.0.0.1:8090
`+googleTail), env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "notifications_listen needs notifications_url")
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), []byte(googleHead+`  - name: workspace
    type: google
    service_account_key_file: `+key+`
    notifications_url: https://otj.example.com/google
    notifications_listen: 127.0.0.1:9001
`+googleTail), env(nil))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9001", cfg.Integration("workspace").Google().NotificationsListen)
}

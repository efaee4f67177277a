package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const warnBase = `site: s1
integrations: [{name: m365, type: graph, client_id: a, client_secret: "${GRAPH}", token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token"}]
profiles: [{name: default}]
`

func warningsOf(cfg *Config) string {
	var lines []string
	for _, w := range cfg.Warnings {
		lines = append(lines, w.String())
	}
	return strings.Join(lines, "\n")
}

func TestShortSecretsWarn(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "codec.pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("pw-f1\n"), 0o600))
	data := warnBase + `status: {listen: "127.0.0.1:9000", username: admin, password: "adm1"}
mqtt: {broker: "ssl://mqtt.example.com:8883", username: s1, password: "mqtt-pass-long-enough"}
endpoints:
  - {name: c1, type: cisco, room: r1@example.com, address: 10.0.0.1, username: admin, password_file: ` + pwFile + `}
`
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), []byte(data), env(map[string]string{"GRAPH": "g-sec"}))
	require.NoError(t, err, "a short secret is a warning, not an error")
	got := warningsOf(cfg)
	assert.Contains(t, got, `c.yaml:2: warning: integration "m365": client_secret is shorter than 8 characters`)
	assert.Contains(t, got, `c.yaml:4: warning: status: password is shorter than 8 characters`)
	assert.Contains(t, got, `c.yaml:7: warning: endpoint "c1": password_file is shorter than 8 characters`)
	assert.Contains(t, got, "would hide ordinary words", "the warning says why")
	assert.NotContains(t, got, "mqtt", "a long secret gets no warning")
	for _, secret := range []string{"g-sec", "adm1", "pw-f1"} {
		assert.NotContains(t, got, secret)
	}
	assert.Len(t, cfg.Warnings, 3)
}

func TestPlainMQTTCredentialsWarn(t *testing.T) {
	for _, tc := range []struct {
		mqtt string
		warn string // "" for none
	}{
		{`{broker: "tcp://mqtt.example.com:1883", username: s1, password: "long-enough-pw"}`,
			`mqtt.broker tcp://mqtt.example.com:1883 is not encrypted (tcp://) and not on this machine: the MQTT user name and password cross the network in clear text`},
		{`{broker: "mqtt://10.1.2.3:1883", username: s1}`, `use ssl://10.1.2.3:8883`},
		{`{broker: "ws://mqtt.example.com:8080/mqtt", username: s1, password: "long-enough-pw"}`, `use wss://mqtt.example.com:8080/mqtt`},
		{`{broker: "tcp://s1:long-enough-pw@mqtt.example.com:1883"}`, `mqtt.broker tcp://s1:[redacted]@mqtt.example.com:1883 is not encrypted`},
		{`{broker: "ssl://mqtt.example.com:8883", username: s1, password: "long-enough-pw"}`, ""},
		{`{broker: "tcp://127.0.0.1:1883", username: s1, password: "long-enough-pw"}`, ""},
		{`{broker: "tcp://localhost:1883", username: s1, password: "long-enough-pw"}`, ""},
		{`{broker: "tcp://[::1]:1883", username: s1, password: "long-enough-pw"}`, ""},
		{`{broker: "tcp://mqtt.example.com:1883"}`, ""}, // no credentials to leak
	} {
		cfg, err := Parse("c.yaml", []byte(warnBase+"mqtt: "+tc.mqtt+"\n"), env(map[string]string{"GRAPH": "long-enough-secret"}))
		require.NoError(t, err, tc.mqtt)
		got := warningsOf(cfg)
		if tc.warn == "" {
			assert.Empty(t, got, tc.mqtt)
			continue
		}
		assert.Contains(t, got, "c.yaml:4: warning: ", tc.mqtt)
		assert.Contains(t, got, tc.warn, tc.mqtt)
		assert.NotContains(t, got, "long-enough-pw", tc.mqtt)
	}
}

func TestMalformedBrokerNeverPrintsPassword(t *testing.T) {
	for _, broker := range []string{
		"tcp://s1:Hunter2-secret@mqtt.example.com",       // no port
		"tcp://s1:Hunter2%zz@mqtt.example.com:1883",      // a bad escape: not a valid URL
		"tcp://s1:Hunter2 secret@mqtt.example.com:1883",  // a space: not a valid URL
		"http://s1:Hunter2-secret@mqtt.example.com:1883", // wrong scheme
		"s1:Hunter2-secret@mqtt.example.com:1883",        // no scheme
	} {
		_, err := Parse("c.yaml", []byte(warnBase+"mqtt: {broker: \""+broker+"\"}\n"), env(map[string]string{"GRAPH": "long-enough-secret"}))
		require.Error(t, err, broker)
		assert.Contains(t, err.Error(), "c.yaml:4: mqtt.broker ", broker)
		assert.Contains(t, err.Error(), Redacted, broker)
		assert.NotContains(t, err.Error(), "Hunter2", broker)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://u:p@h:1883":             "tcp://u:[redacted]@h:1883",
		"tcp://u:p@x@h:1883/path?q=@":  "tcp://u:[redacted]@h:1883/path?q=@",
		"tcp://u@h:1883":               "tcp://u@h:1883", // a user name alone is not a secret
		"ssl://h:8883":                 "ssl://h:8883",
		"u:p@h":                        "[redacted]@h",
		"broker.example.com:1883":      "broker.example.com:1883",
		"wss://u:p%40q@h/mqtt?x=a:b@c": "wss://u:[redacted]@h/mqtt?x=a:b@c",
	} {
		assert.Equal(t, want, RedactURL(in), in)
	}
}

func TestStateDirOpenToOthersWarns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows protects the state directory with ACLs, not modes")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	require.NoError(t, os.Mkdir(state, 0o700))
	require.NoError(t, os.Chmod(state, 0o755)) // as a umask of 022 leaves a hand-made directory
	data := []byte(warnBase + "state_dir: state\n")
	opts := env(map[string]string{"GRAPH": "long-enough-secret"})
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), data, opts)
	require.NoError(t, err)
	assert.Equal(t, "c.yaml:4: warning: state_dir "+state+" is open to group or others (mode 0755); it holds the calendar store "+
		"(meeting subjects, organizers and join links) and the codecs' pinned certificates: run chmod 700 "+state,
		strings.TrimPrefix(warningsOf(cfg), dir+string(filepath.Separator)))

	require.NoError(t, os.Chmod(state, 0o700))
	cfg, err = Parse(filepath.Join(dir, "c.yaml"), data, opts)
	require.NoError(t, err)
	assert.Empty(t, cfg.Warnings)
}

// TestSkipSecretsLoadsWithoutThem: rules test reads a production config on a laptop, where
// none of its ${ENV} variables is set and its secret files are not readable.
func TestSkipSecretsLoadsWithoutThem(t *testing.T) {
	_, err := LoadWith("../../packaging/config.example.yaml", env(nil))
	require.ErrorContains(t, err, "environment variable OTJ_GRAPH_SECRET is not set", "without SkipSecrets they are errors")

	opts := env(nil)
	opts.SkipSecrets = true
	cfg, err := LoadWith("../../packaging/config.example.yaml", opts)
	require.NoError(t, err)
	assert.False(t, cfg.Integrations[0].Graph().ClientSecret.IsSet(), "an unset variable leaves the secret empty")
	assert.Empty(t, cfg.Warnings)

	data := warnBase + `status: {listen: "0.0.0.0:9000", username: admin, password: "${STATUS_PW}"}
mqtt: {broker: "ssl://mqtt.example.com:8883", username: s1, password_file: /nonexistent/otj-edge-test/mqtt.pw}
endpoints:
  - {name: c1, type: cisco, room: r1@example.com, address: 10.0.0.1, username: admin, password: "${CODEC_PW}"}
  - {name: c2, type: cisco, room: r2@example.com, address: 10.0.0.2, username: admin}
`
	_, err = Parse("c.yaml", []byte(data), opts)
	require.Error(t, err, "a secret that is not given at all is still wrong")
	assert.Equal(t, `c.yaml:8: endpoint "c2": password (or password_file) is required`, err.Error(),
		"a network status page with its password in an unset variable is fine, as are unreadable secret files")
}

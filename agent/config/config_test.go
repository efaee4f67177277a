package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/bad")

func env(m map[string]string) Options {
	return Options{LookupEnv: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func TestGoodConfigDecodesWithDefaults(t *testing.T) {
	cfg, err := LoadWith("testdata/good.yaml", env(map[string]string{"TEST_GRAPH_SECRET": "from-env"}))
	require.NoError(t, err)

	assert.Equal(t, "test-site", cfg.Site)
	assert.Equal(t, filepath.Join("testdata", "state"), cfg.StateDir, "relative state_dir is anchored at the config file")
	assert.Equal(t, "127.0.0.1:8787", cfg.Status.Listen)
	assert.Equal(t, "text", cfg.Log.Format)

	in := cfg.Integration("m365").Graph()
	require.NotNil(t, in)
	assert.Equal(t, "from-env", in.ClientSecret.Value())
	assert.Equal(t, "contoso.onmicrosoft.com", in.Tenant)
	assert.Equal(t, "https://login.microsoftonline.com/", in.AuthorityHost)
	assert.Equal(t, "https://graph.microsoft.us/v1.0", in.GraphURL, "a bare FQDN becomes the v1.0 root")
	assert.Equal(t, 1_000_000, in.MaxRequestsPerDay)

	p := cfg.Profile("default")
	require.NotNil(t, p)
	assert.Equal(t, "m365", p.Integration, "the only integration is the default")
	assert.Equal(t, 10*time.Minute, *p.StartBuffer)
	assert.Equal(t, time.Duration(0), *p.EndBuffer)
	assert.Equal(t, 7, *p.UpcomingDays)
	assert.Equal(t, "private", p.ReplaceSubject)
	require.Len(t, p.Rules, 2)
	assert.True(t, p.Rules[0].IsEnabled())

	codec := cfg.Endpoint("codec-1")
	require.NotNil(t, codec)
	assert.Equal(t, "room-1@example.com", codec.Room, "mailboxes are lower-cased")
	assert.Equal(t, "default", codec.Profile)
	assert.Equal(t, "long-pa$word", codec.Password.Value(), "$$ is a literal $")

	rooms := cfg.Rooms()
	require.Len(t, rooms, 2)
	assert.Equal(t, Room{Mailbox: "room-1@example.com", Profile: "default", Integration: "m365", Endpoints: []string{"codec-1"}}, rooms[0])
	assert.True(t, cfg.HasPoly())
	assert.Empty(t, cfg.Warnings)
}

func TestExampleConfigValidates(t *testing.T) {
	cfg, err := LoadWith("../../packaging/config.example.yaml", env(map[string]string{
		"OTJ_GRAPH_SECRET": "g", "OTJ_MQTT_PASSWORD": "m", "OTJ_CODEC_PASSWORD": "c", "OTJ_POLY_FJORDLINE": "p",
	}))
	require.NoError(t, err)
	assert.Equal(t, "oslo-hq", cfg.Site)
	assert.Len(t, cfg.Endpoints, 2)
	assert.Len(t, cfg.Profiles[0].Rules, 6)
	assert.False(t, cfg.Profiles[0].Rules[5].IsEnabled())
}

var problemLine = regexp.MustCompile(`^testdata/bad/[a-z_]+\.yaml:\d+: .+`)

// TestBadConfigs checks that every problem in each broken config is reported at once, each
// as FILE:LINE: message, against the golden files (go test -update rewrites them).
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadWith(f, env(nil))
			require.Error(t, err)
			require.True(t, IsConfigError(err))
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				assert.Regexp(t, problemLine, line)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./agent/config -update to create %s", golden)
			assert.Equal(t, string(want), got)
		})
	}
}

func TestUnknownKeysAreAllReported(t *testing.T) {
	_, err := LoadWith("testdata/bad/unknown_keys.yaml", env(nil))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`unknown_keys.yaml:2: unknown key "sate_dir" (did you mean "state_dir"?)`,
		`unknown_keys.yaml:9: unknown key "tenant" in integrations`,
		`unknown_keys.yaml:12: unknown key "start_bufer" in profiles (did you mean "start_buffer"?)`,
		`unknown_keys.yaml:16: unknown key "priorty" in rules (did you mean "priority"?)`,
		`unknown_keys.yaml:21: unknown key "adress" in endpoints (did you mean "address"?)`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	cfg, err := LoadWith("testdata/good.yaml", env(map[string]string{"TEST_GRAPH_SECRET": "hunter2-graph"}))
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, cfg)
		assert.NotContains(t, out, "hunter2-graph", verb)
		assert.NotContains(t, out, "poly-secret", verb)
	}
	assert.Equal(t, "[redacted]", cfg.Integrations[0].Graph().ClientSecret.String())
}

func TestSecretFromFileAndPermissionWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not apply on Windows")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "graph.secret")
	require.NoError(t, os.WriteFile(secret, []byte("file-secret\n"), 0o644))
	cfgPath := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`site: s1
integrations:
  - name: m365
    type: graph
    client_id: abc
    client_secret_file: graph.secret
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
profiles:
  - name: default
`), 0o600))
	cfg, err := Load(cfgPath)
	require.NoError(t, err)
	assert.Equal(t, "file-secret", cfg.Integrations[0].Graph().ClientSecret.Value(), "trailing newline trimmed, path relative to the config")
	require.Len(t, cfg.Warnings, 1)
	assert.Equal(t, 6, cfg.Warnings[0].Line)
	assert.Contains(t, cfg.Warnings[0].String(), "readable by group or others")
	assert.NotContains(t, cfg.Warnings[0].String(), "file-secret")

	require.NoError(t, os.Chmod(secret, 0o600))
	cfg, err = Load(cfgPath)
	require.NoError(t, err)
	assert.Empty(t, cfg.Warnings)
}

func TestEmptyAndMissingFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err := Load(empty)
	require.ErrorContains(t, err, "the file is empty")

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "cannot read config: no such file")
}

func TestNonLoopbackStatusNeedsCredentials(t *testing.T) {
	base := `site: s1
integrations: [{name: m365, type: graph, client_id: a, client_secret: b, token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token"}]
profiles: [{name: default}]
`
	_, err := Parse("c.yaml", []byte(base+"status: {listen: \"127.0.0.1:9000\"}\n"), env(nil))
	require.NoError(t, err)
	_, err = Parse("c.yaml", []byte(base+"status: {listen: \"[::1]:9000\"}\n"), env(nil))
	require.NoError(t, err)
	_, err = Parse("c.yaml", []byte(base+"status: {listen: \":9000\"}\n"), env(nil))
	require.ErrorContains(t, err, "reachable from the network")
	_, err = Parse("c.yaml", []byte(base+"status: {listen: \"0.0.0.0:9000\", username: u, password: p}\n"), env(nil))
	require.NoError(t, err)
}

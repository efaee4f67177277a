package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/store"
)

// runCLI runs otj-edge with args and returns exit code, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(t.Context(), args, IO{Stdout: &out, Stderr: &errb, Env: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	return code, out.String(), errb.String()
}

// minimalConfig writes a valid config with one Cisco endpoint into a temp dir.
func minimalConfig(t *testing.T, extra string) string {
	t.Helper()
	return writeTestConfig(t, "", testSiteHead("off", "", "")+"  - name: default\n"+testCodec1+extra)
}

func TestCheckOfflineReportsEveryProblemWithFileAndLine(t *testing.T) {
	files, err := filepath.Glob("../config/testdata/bad/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5)
	line := regexp.MustCompile(`^\.\./config/testdata/bad/\w+\.yaml:\d+: \S.*$`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "check", "--offline", "--config", f)
			assert.Equal(t, ExitUsage, code)
			assert.Empty(t, stdout)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			golden, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
			require.NoError(t, err)
			assert.Len(t, lines, strings.Count(string(golden), "\n"), "every problem is reported")
			for _, l := range lines {
				assert.Regexp(t, line, l)
			}
		})
	}
}

func TestCheckOfflineGoodConfig(t *testing.T) {
	path := minimalConfig(t, "")
	code, stdout, stderr := runCLI(t, nil, "check", "--offline", "--config", path)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "config ok: "+path+" (site test: 1 rooms, 1 endpoints, 1 profiles, 1 integrations)")
	assert.NotContains(t, stdout+stderr, "graph-secret-value-123")
	assert.NotContains(t, stdout+stderr, "codec-secret-value-456")
}

func TestEveryCommandHasHelp(t *testing.T) {
	require.NotEmpty(t, commands)
	for name, c := range commands {
		code, stdout, _ := runCLI(t, nil, name, "--help")
		assert.Equal(t, ExitOK, code, name)
		assert.Contains(t, stdout, "usage: otj-edge "+name, name)
		assert.Contains(t, stdout, c.summary, name)
	}
	code, stdout, _ := runCLI(t, nil, "--help")
	assert.Equal(t, ExitOK, code)
	for name := range commands {
		assert.Contains(t, stdout, "  "+name+" ")
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	code, _, stderr := runCLI(t, nil)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "usage: otj-edge <command>")

	code, _, stderr = runCLI(t, nil, "frobnicate")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown command "frobnicate"`)

	code, _, stderr = runCLI(t, nil, "check", "--no-such-flag")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "flag provided but not defined: -no-such-flag")

	code, _, stderr = runCLI(t, nil, "service", "explode")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown action "explode"`)

	// Flags after the action are flags (the Windows install guide writes
	// "service install --config FILE"), and an unknown one is still refused.
	code, _, stderr = runCLI(t, nil, "service", "explode", "--config", "site.yaml")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown action "explode"`)
	code, _, stderr = runCLI(t, nil, "service", "status", "--frobnicate")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "flag provided but not defined: -frobnicate")
	// After "--" everything is an argument.
	code, _, stderr = runCLI(t, nil, "service", "--", "--config")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown action "--config"`)
}

func TestVersionPrintsVersionAndModules(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "version")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `^otj-edge \S+ \(commit \S+\)\ngo1\.\d+`, stdout)
}

// TestRunStartsFromStoreAndStopsOnCancel runs the agent, lets it open its store and apply the
// config, then stops it the way the service manager does.
func TestRunStartsFromStoreAndStopsOnCancel(t *testing.T) {
	path := minimalConfig(t, "")
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	var logs bytes.Buffer
	a := agent.New(cfg, agent.Options{Logger: agent.NewLogger(&logs, "text", "debug", agent.SecretsOf(cfg), nil)})
	p := &program{run: a.Run}
	require.NoError(t, p.Start(nil))

	select {
	case <-a.Ready():
	case <-p.done:
		t.Fatalf("agent stopped: %v", p.err)
	}
	require.NoError(t, p.Stop(nil))
	assert.Contains(t, logs.String(), "otj-edge started")
	require.NoError(t, p.err)

	st, err := store.Open(context.Background(), cfg.DBPath(), store.Options{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	rooms, err := st.Rooms(context.Background())
	require.NoError(t, err)
	require.Len(t, rooms, 1)
	assert.Equal(t, "room-1@example.com", rooms[0].Mailbox)
	eps, err := st.Endpoints(context.Background())
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.NotContains(t, logs.String(), "codec-secret-value-456")
}

func TestRunRefusesCorruptStoreWithAdvice(t *testing.T) {
	path := minimalConfig(t, "")
	stateDir := filepath.Join(filepath.Dir(path), "state")
	require.NoError(t, os.MkdirAll(stateDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(stateDir, "otj-edge.db"), []byte("garbage garbage garbage garbage"), 0o600))
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	err = agent.New(cfg, agent.Options{}).Run(t.Context())
	require.ErrorIs(t, err, store.ErrCorrupt)
	assert.Contains(t, err.Error(), "move it aside")
}

func TestLoggerScrubsSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mirrored []string
	log := agent.NewLogger(&buf, "json", "info", []string{"hunter2-secret"}, func(_ slog.Level, s string) { mirrored = append(mirrored, s) })
	log.With("token", "Bearer hunter2-secret").Warn("login failed with hunter2-secret", "err", errString("401: password hunter2-secret rejected"), "n", 3)
	out := buf.String()
	assert.NotContains(t, out, "hunter2-secret")
	assert.Contains(t, out, "[redacted]")
	assert.Contains(t, out, `"n":3`)
	require.Len(t, mirrored, 1)
	assert.NotContains(t, mirrored[0], "hunter2-secret")
}

type errString string

func (e errString) Error() string { return string(e) }

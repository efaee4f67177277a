package agent

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
)

// The exit codes of the otj-edge command (agent/cli), as the tests here expect them.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// IO is the part of the command line's IO the tests here fill in to load a config.
type IO struct {
	Stdout, Stderr io.Writer
	Env            func(string) (string, bool)
}

// loadConfig reads a config the way the commands do (--config with the command's environment).
func loadConfig(path string, stdio IO) (*config.Config, error) {
	return config.LoadWith(path, config.Options{LookupEnv: stdio.Env})
}

// freePort returns a loopback address nothing listens on (just now).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// cliMain runs the otj-edge command line (agent/cli's Main). Package agent's own tests cannot
// import agent/cli, which imports agent, so cli_external_test.go (package agent_test, in the
// same test binary) sets it through export_test.go before any test runs. The tests here that
// run commands need agent internals too (a fake endpoint type in the table, the e2e harness).
var cliMain func(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int

// runCLI runs otj-edge with args and returns exit code, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	if cliMain == nil {
		t.Fatal("cliMain is not set: cli_external_test.go must set it")
	}
	var out, errb bytes.Buffer
	code := cliMain(t.Context(), args, &out, &errb, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	return code, out.String(), errb.String()
}

// minimalConfig writes a valid config with one Cisco endpoint into a temp dir.
func minimalConfig(t *testing.T, extra string) string {
	t.Helper()
	return writeTestConfig(t, "", testSiteHead("off", "", "")+"  - name: default\n"+testCodec1+extra)
}

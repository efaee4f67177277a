package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// otj-edge auth login / status / logout against graphsim: the code is printed as a plain
// message, the sign-in is stored sealed (no token in the state directory or in any output),
// status names the account, logout deletes it.
func TestAuthLoginStatusLogout(t *testing.T) {
	sim, err := graphsim.New(graphsim.Options{})
	require.NoError(t, err)
	require.NoError(t, sim.Start())
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, sim.CA().WriteFile(caFile))
	cfg := writeTestConfig(t, dir, `site: test
state_dir: state
status:
  listen: "off"
integrations:
  - name: m365
    type: graph
    auth: delegated
    client_id: `+sim.ClientID()+`
    token_url: `+sim.TokenURL()+`
    graph_url: `+sim.GraphURL()+`
    ca_file: `+caFile+`
profiles:
  - name: default
`+testCodec1)

	fake := clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	defer func(c clock.Clock) { loginClock = c }(loginClock)
	loginClock = fake
	created := fake.TimerCreated()
	out := &syncBuffer{}
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(t.Context(), []string{"auth", "--config", cfg, "login", "m365"}, IO{Stdout: out, Stderr: &errb,
			Env: func(string) (string, bool) { return "", false }})
	}()
	select {
	case <-created: // it prompted and waits for its first poll
	case code := <-done:
		t.Fatalf("auth login ended (%d): %s %s", code, out.String(), errb.String())
	}
	m := regexp.MustCompile(`open (\S+) on any device and enter the code ([A-Z0-9]+)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	require.Contains(t, m[1], "/devicelogin")
	require.NoError(t, sim.ApproveCode(m[2], "svc-otj@contoso.example"))
	fake.Advance(graphsim.DeviceCodeInterval)
	select {
	case code := <-done:
		require.Equal(t, 0, code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("auth login did not end")
	}
	require.Contains(t, out.String(), "Signed in as svc-otj@contoso.example")
	require.Contains(t, errb.String(), "The agent is not running")

	code, status, _ := runCLI(t, nil, "auth", "--config", cfg, "status", "m365")
	require.Equal(t, 0, code)
	require.Contains(t, status, "svc-otj@contoso.example")
	require.Contains(t, status, "Calendars.Read.Shared")
	code, js, _ := runCLI(t, nil, "auth", "--config", cfg, "--json", "status", "m365")
	require.Equal(t, 0, code)

	// The refresh token: sealed in the state directory, in no output.
	sealed, err := os.ReadFile(filepath.Join(dir, "state", "tokens", "graph-m365.sealed"))
	require.NoError(t, err)
	require.NotEmpty(t, sealed)
	for _, s := range []string{out.String(), errb.String(), status, js} {
		require.NotRegexp(t, `0\.A[A-Za-z0-9_-]{20,}`, s, "a refresh token in the output")
	}

	code, logout, _ := runCLI(t, nil, "auth", "--config", cfg, "logout", "m365")
	require.Equal(t, 0, code)
	require.Contains(t, logout, "Signed out")
	_, err = os.Stat(filepath.Join(dir, "state", "tokens", "graph-m365.sealed"))
	require.True(t, os.IsNotExist(err))
	code, status, stderr := runCLI(t, nil, "auth", "--config", cfg, "status", "m365")
	require.Equal(t, ExitFailure, code)
	require.Contains(t, status, "signed out")
	require.Contains(t, stderr, "run otj-edge auth login m365")

	code, _, stderr = runCLI(t, nil, "auth", "--config", cfg, "login", "nope")
	require.NotEqual(t, 0, code)
	require.True(t, strings.Contains(stderr, `no integration "nope"`), stderr)
}

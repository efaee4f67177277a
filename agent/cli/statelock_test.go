package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startRunCommand starts `otj-edge run` in the background and returns the agent once it is ready,
// and a function that stops it and returns its exit code.
func startRunCommand(t *testing.T, cfgPath string) (*agent.Agent, func() int) {
	t.Helper()
	agents := make(chan *agent.Agent, 1)
	runHook = func(a *agent.Agent) { agents <- a }
	t.Cleanup(func() { runHook = nil })
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- Main(ctx, []string{"run", "--config", cfgPath}, IO{Stdout: io.Discard, Stderr: logs,
			Env: func(string) (string, bool) { return "", false }})
	}()
	var a *agent.Agent
	select {
	case a = <-agents:
	case code := <-exited:
		cancel()
		t.Fatalf("otj-edge run exited with %d before starting:\n%s", code, logs.String())
	}
	<-a.Ready()
	runHook = nil
	return a, func() int {
		cancel()
		return <-exited
	}
}

// TestOneAgentPerStateDir: a second `otj-edge run` on the same config is refused at once (exit
// 2) naming who holds the state directory; the read-only commands keep working beside the
// running agent; once it stops, a run starts again.
func TestOneAgentPerStateDir(t *testing.T) {
	// Graph's token endpoint and the codec are loopback ports nothing answers on.
	cfgPath := writeTestConfig(t, "", testSiteHead("off", "https://"+freePort(t)+"/t/oauth2/v2.0/token", "")+"  - name: default\n"+testCodec1)
	cfg, err := loadConfig(cfgPath, IO{Env: os.LookupEnv})
	require.NoError(t, err)
	_, stopFirst := startRunCommand(t, cfgPath)

	// Were the second run to start an agent anyway, the hook stops it so the test fails
	// rather than waits.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runHook = func(*agent.Agent) { t.Error("a second agent started on the same state directory"); cancel() }
	var out, errOut syncBuffer
	code := Main(ctx, []string{"run", "--config", cfgPath}, IO{Stdout: &out, Stderr: &errOut, Env: func(string) (string, bool) { return "", false }})
	runHook = nil
	stdout, stderr := out.String(), errOut.String()
	assert.Equal(t, ExitUsage, code)
	assert.Empty(t, stdout)
	host, err := os.Hostname()
	require.NoError(t, err)
	assert.Contains(t, stderr, fmt.Sprintf("otj-edge run: another otj-edge is already running with state directory %s (pid %d on host %s, running since ",
		cfg.StateDir, os.Getpid(), host))
	assert.Contains(t, stderr, "lock file "+filepath.Join(cfg.StateDir, stateLockName)+"). Only one agent may use a state directory")

	// The read-only commands do not need the lock.
	code, stdout, stderr = runCLI(t, nil, "rooms", "--config", cfgPath)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "room-1@example.com")
	code, stdout, stderr = runCLI(t, nil, "endpoints", "--config", cfgPath)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "codec-1")
	code, _, stderr = runCLI(t, nil, "meetings", "--config", cfgPath, "room-1@example.com")
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, _ = runCLI(t, nil, "doctor", "--config", cfgPath)
	assert.NotEqual(t, ExitUsage, code)
	assert.Contains(t, stdout, "room-1@example.com")
	code, _, stderr = runCLI(t, nil, "check", "--offline", "--config", cfgPath)
	require.Equal(t, ExitOK, code, stderr)
	code, _, stderr = runCLI(t, nil, "rules", "test", "--config", cfgPath, "--text", writeFile(t, "invite.txt", "sip:4455@vmr.example.com"))
	require.Equal(t, ExitOK, code, stderr)

	require.Equal(t, ExitOK, stopFirst())
	_, stopSecond := startRunCommand(t, cfgPath)
	require.Equal(t, ExitOK, stopSecond())
}

// lockHolderEnv makes the test binary, started again by TestKilledHolderLeavesNoLock, hold the
// state directory it names until its stdin closes or it is killed.
const lockHolderEnv = "OTJ_EDGE_TEST_HOLD_STATE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHolderEnv); dir != "" {
		os.Exit(holdStateDir(dir))
	}
	os.Exit(m.Run())
}

func holdStateDir(dir string) int {
	lock, err := lockStateDir(dir, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = lock.release()
	return 0
}

// TestKilledHolderLeavesNoLock: another process holds the state directory and is refused to
// us; killed with SIGKILL it cannot clean up, and its lock file (still naming it) does not
// stop the next start.
func TestKilledHolderLeavesNoLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	stdin, err := holder.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	out, err := holder.StdoutPipe()
	require.NoError(t, err)
	holder.Stderr = os.Stderr
	require.NoError(t, holder.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = lockStateDir(dir, time.Now())
	var held *stateLockedError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, holder.Process.Pid, held.holder.pid)
	assert.Contains(t, err.Error(), "(pid "+strconv.Itoa(holder.Process.Pid)+" on host ")

	require.NoError(t, holder.Process.Kill())
	var exit *exec.ExitError
	require.True(t, errors.As(holder.Wait(), &exit), "killed")
	stale, err := os.ReadFile(filepath.Join(dir, stateLockName))
	require.NoError(t, err)
	assert.Contains(t, string(stale), "pid: "+strconv.Itoa(holder.Process.Pid), "the dead holder's lock file is still there")

	lock, err := lockStateDir(dir, time.Now())
	require.NoError(t, err, "a lock file whose process has gone does not block")
	now, err := os.ReadFile(filepath.Join(dir, stateLockName))
	require.NoError(t, err)
	assert.Contains(t, string(now), "pid: "+strconv.Itoa(os.Getpid()))
	require.NoError(t, lock.release())
}

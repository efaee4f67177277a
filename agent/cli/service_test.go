package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/packaging"
)

func TestServiceConfigPerPlatform(t *testing.T) {
	win := serviceConfig(`C:\ProgramData\otj-edge\config.yaml`, "windows")
	assert.Equal(t, "otj-edge", win.Name)
	assert.Equal(t, []string{"run", "--config", `C:\ProgramData\otj-edge\config.yaml`}, win.Arguments)
	assert.Equal(t, "automatic", win.Option["StartType"])
	assert.Equal(t, true, win.Option["DelayedAutoStart"], "starts once the network is up")
	assert.Equal(t, "restart", win.Option["OnFailure"])
	assert.Equal(t, "5s", win.Option["OnFailureDelayDuration"])
	assert.Equal(t, 86400, win.Option["OnFailureResetPeriod"])

	lin := serviceConfig("/etc/otj-edge/config.yaml", "linux")
	assert.Equal(t, []string{"run", "--config", "/etc/otj-edge/config.yaml"}, lin.Arguments)
	assert.Equal(t, "always", lin.Option["Restart"])
	assert.NotContains(t, lin.Option, "DelayedAutoStart")
}

func TestServiceCommandMakesTheConfigPathAbsolute(t *testing.T) {
	// status talks to the service manager, which is not there in a test sandbox, but the
	// action must be told apart from a usage error and the config path must not matter.
	code, _, stderr := runCLI(t, nil, "service", "--config", "relative.yaml", "explode")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown action "explode"`)

	code, _, stderr = runCLI(t, nil, "service", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "install")
	assert.Equal(t, ExitUsage, code, "install validates the config first")
	assert.Contains(t, stderr, "missing.yaml: cannot read config")
}

func TestRecoveryPlanEscalatesAndNeverGivesUp(t *testing.T) {
	require.GreaterOrEqual(t, len(recoveryPlan), 3, "the SCM takes up to three actions and repeats the last")
	assert.LessOrEqual(t, recoveryPlan[0].Delay, 10*time.Second, "a one-off crash is recovered quickly")
	for i := 1; i < len(recoveryPlan); i++ {
		assert.Greater(t, recoveryPlan[i].Delay, recoveryPlan[i-1].Delay, "each failure waits longer")
	}
	last := recoveryPlan[len(recoveryPlan)-1].Delay
	assert.LessOrEqual(t, last, 5*time.Minute, "the last action repeats for ever; a site must not stay down long")
	assert.Equal(t, 24*time.Hour, recoveryReset)
}

// fakeHost is a Linux host rooted in a temp dir, with the otj-edge user present or not.
func fakeHost(t *testing.T, userExists bool) (host, *[]string) {
	t.Helper()
	var chowned []string
	return host{
		root: t.TempDir(),
		lookupUser: func(name string) (int, int, error) {
			if !userExists {
				return 0, 0, fmt.Errorf("user: unknown user %s", name)
			}
			return 990, 990, nil
		},
		chown: func(path string, uid, gid int) error {
			chowned = append(chowned, fmt.Sprintf("%s %d:%d", path, uid, gid))
			return nil
		},
	}, &chowned
}

func TestHandInstallUnitIsThePackagedUnitForThisBinary(t *testing.T) {
	h, chowned := fakeHost(t, true)
	// A path with a space and a % (a systemd specifier) must survive quoting.
	exe := filepath.Join(t.TempDir(), "otj edge 100%", "otj-edge")
	require.NoError(t, os.MkdirAll(filepath.Dir(exe), 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, exe))
	cfg := &config.Config{File: "/etc/otj-edge/site.yaml", StateDir: "/srv/otj-edge"}

	unit, err := handInstallUnit(h, exe, cfg)
	require.NoError(t, err)
	quoted := `"` + strings.ReplaceAll(exe, "%", "%%") + `"`
	assert.Contains(t, unit, "\nExecStart="+quoted+" run --config /etc/otj-edge/site.yaml\n")
	assert.Contains(t, unit, "\nReadWritePaths=/srv/otj-edge\n", "a state_dir outside /var/lib/otj-edge is writable in the sandbox")
	assert.Equal(t, []string{filepath.Join(h.root, "srv/otj-edge") + " 990:990"}, *chowned, "and handed to the service user")
	assert.DirExists(t, filepath.Join(h.root, "srv/otj-edge"))
	for _, line := range []string{"User=otj-edge", "ProtectSystem=strict", "CapabilityBoundingSet=", "SystemCallFilter=@system-service", "RestartSec=5s"} {
		assert.Contains(t, unit, "\n"+line+"\n", "the packaged sandbox and restart policy are kept")
	}
	assert.NotContains(t, unit, "RestartSec=120", "not kardianos' generic unit")

	// systemd itself accepts it and rates it like the packaged one.
	path := filepath.Join(t.TempDir(), "otj-edge.service")
	require.NoError(t, os.WriteFile(path, []byte(unit), 0o644))
	requireSystemdAccepts(t, path)
}

func TestHandInstallUnitRefusals(t *testing.T) {
	cfg := &config.Config{File: "/etc/otj-edge/config.yaml", StateDir: packaging.StateDir}

	h, _ := fakeHost(t, true)
	require.NoError(t, os.MkdirAll(filepath.Join(h.root, "lib/systemd/system"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.root, "lib/systemd/system/otj-edge.service"), []byte(packaging.SystemdUnit), 0o644))
	_, err := handInstallUnit(h, "/usr/local/bin/otj-edge", cfg)
	assert.ErrorIs(t, err, errPackaged, "a package's unit is never shadowed by /etc/systemd/system")
	assert.ErrorContains(t, err, "use systemctl start|stop|status otj-edge")

	h, _ = fakeHost(t, true)
	_, err = handInstallUnit(h, "/home/alice/otj-edge", cfg)
	assert.ErrorContains(t, err, "/home/alice/otj-edge is in a home directory, which the service's sandbox hides")

	h, _ = fakeHost(t, false)
	_, err = handInstallUnit(h, "/usr/local/bin/otj-edge", cfg)
	assert.ErrorContains(t, err, "the service runs as the otj-edge system user, which does not exist")
	assert.ErrorContains(t, err, "sudo useradd --system --user-group --home-dir /var/lib/otj-edge --shell /usr/sbin/nologin otj-edge")

	h, chowned := fakeHost(t, true)
	unit, err := handInstallUnit(h, "/usr/local/bin/otj-edge", cfg)
	require.NoError(t, err)
	assert.NotContains(t, unit, "ReadWritePaths", "the default state_dir is the unit's StateDirectory")
	assert.Empty(t, *chowned)
}

func TestSystemdArg(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/local/bin/otj-edge":   "/usr/local/bin/otj-edge",
		"/opt/otj edge/otj-edge":    `"/opt/otj edge/otj-edge"`,
		"/etc/otj-edge/100%.yaml":   "/etc/otj-edge/100%%.yaml",
		`/etc/a"b\c.yaml`:           `"/etc/a\"b\\c.yaml"`,
		"/etc/otj-edge/$HOME/x.yml": "/etc/otj-edge/$$HOME/x.yml",
	} {
		assert.Equal(t, want, systemdArg(in), in)
	}
}

func TestWindowsDataDirs(t *testing.T) {
	pd := filepath.Join(t.TempDir(), "ProgramData")
	inside := &config.Config{File: filepath.Join(pd, "otj-edge", "config.yaml"), StateDir: filepath.Join(pd, "otj-edge")}
	assert.Equal(t, []string{filepath.Join(pd, "otj-edge")}, windowsDataDirs(inside, pd))

	elsewhere := &config.Config{File: filepath.Join(pd, "otj-edge", "config.yaml"), StateDir: filepath.Join(pd, "..", "D", "otj-state")}
	assert.Equal(t, []string{filepath.Join(pd, "otj-edge"), elsewhere.StateDir}, windowsDataDirs(elsewhere, pd))

	// prepareWindowsDirs creates them (the access lists are Windows-only) and points out a
	// config that the protection does not cover.
	var out bytes.Buffer
	outside := &config.Config{File: filepath.Join(pd, "..", "config.yaml"), StateDir: filepath.Join(pd, "otj-edge")}
	require.NoError(t, prepareWindowsDirs(&out, outside, filepath.Join(pd, "otj-edge", "otj-edge.exe"), pd))
	assert.DirExists(t, filepath.Join(pd, "otj-edge"))
	assert.Contains(t, out.String(), "is outside "+filepath.Join(pd, "otj-edge")+": make sure only Administrators can read it")
	assert.Contains(t, out.String(), `run the service from a folder such as C:\Program Files\otj-edge`)
}

func TestWithin(t *testing.T) {
	assert.True(t, within("/home/alice/x", "/home"))
	assert.True(t, within("/home", "/home"))
	assert.False(t, within("/homer/x", "/home"))
	assert.False(t, within("/usr/bin/otj-edge", "/home", "/root"))
	assert.False(t, within("/..x/y", "/"+"..x/z"))
}

// recordingLogger stands in for the Windows event log, which exists only on Windows.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (r *recordingLogger) add(level, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, level+": "+msg)
	return nil
}

func (r *recordingLogger) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func (r *recordingLogger) Error(v ...any) error   { return r.add("error", fmt.Sprint(v...)) }
func (r *recordingLogger) Warning(v ...any) error { return r.add("warning", fmt.Sprint(v...)) }
func (r *recordingLogger) Info(v ...any) error    { return r.add("info", fmt.Sprint(v...)) }
func (r *recordingLogger) Errorf(f string, a ...any) error {
	return r.add("error", fmt.Sprintf(f, a...))
}
func (r *recordingLogger) Warningf(f string, a ...any) error {
	return r.add("warning", fmt.Sprintf(f, a...))
}
func (r *recordingLogger) Infof(f string, a ...any) error { return r.add("info", fmt.Sprintf(f, a...)) }

// TestWindowsServiceStartsInTheExecutablesDirectory runs the start-up of a Windows service
// (started by the SCM in System32, config given relative to the executable) off Windows.
func TestWindowsServiceStartsInTheExecutablesDirectory(t *testing.T) {
	install := t.TempDir()
	exe := filepath.Join(install, "otj-edge.exe")
	require.NoError(t, os.WriteFile(exe, []byte("MZ"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(install, "conf"), 0o755))
	require.NoError(t, os.Rename(minimalConfig(t, ""), filepath.Join(install, "conf", "config.yaml")))
	t.Chdir(t.TempDir()) // the SCM's working directory, anywhere but the install folder

	events := &recordingLogger{}
	var stderr bytes.Buffer
	mode := runMode{goos: "windows", managed: true, exe: exe, sysLog: events}
	cfg, log, closeLog, err := startRun(IO{Stderr: &stderr, Env: os.LookupEnv}, filepath.Join("conf", "config.yaml"), mode)
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, install, wd, "the service works in the executable's directory")
	assert.Equal(t, filepath.Join(install, "conf", "config.yaml"), cfg.File, "the config path is resolved from there")
	assert.Equal(t, filepath.Join(install, "conf", "state"), cfg.StateDir, "and the config's relative paths from the config file")

	log.Info("otj-edge started", "site", cfg.Site)
	log.Warn("codec unreachable", "endpoint", "codec-1", "password", "codec-secret-value-456")
	closeLog()
	file, err := os.ReadFile(filepath.Join(cfg.StateDir, "logs", "otj-edge.log"))
	require.NoError(t, err)
	assert.Contains(t, string(file), "otj-edge started", "a Windows service logs to state_dir\\logs")
	assert.Contains(t, string(file), "codec unreachable")
	assert.NotContains(t, string(file), "codec-secret-value-456")
	assert.Empty(t, stderr.String(), "nothing goes to the service's stderr, which nobody reads")
	assert.Contains(t, events.all(), "warning: codec unreachable", "warnings reach the event log")
	assert.NotContains(t, events.all(), "otj-edge started", "info stays in the file")
	assert.NotContains(t, events.all(), "codec-secret-value-456")
}

func TestWindowsServiceReportsABadConfigToTheEventLog(t *testing.T) {
	t.Chdir(t.TempDir()) // startRun enters the executable's directory; restore the test's after
	events := &recordingLogger{}
	mode := runMode{goos: "windows", managed: true, exe: filepath.Join(t.TempDir(), "otj-edge.exe"), sysLog: events}
	path := minimalConfig(t, "bogus_key: 1\n")
	_, _, _, err := startRun(IO{Stderr: &bytes.Buffer{}, Env: os.LookupEnv}, path, mode)
	require.True(t, config.IsConfigError(err))
	assert.Regexp(t, `^error: otj-edge cannot start: .*config.yaml:\d+: unknown key "bogus_key"`, events.all())
	assert.NotContains(t, events.all(), "secret-value", "the message names the problem, not the secrets")
}

func TestLinuxServiceLogsToTheJournalOnly(t *testing.T) {
	// Under systemd, stderr is the journal: no log file, no second copy through syslog, and
	// the working directory is the unit's.
	dir := t.TempDir()
	t.Chdir(dir)
	var stderr bytes.Buffer
	cfg, log, closeLog, err := startRun(IO{Stderr: &stderr, Env: os.LookupEnv}, minimalConfig(t, ""), runMode{goos: "linux", managed: true, exe: "/usr/bin/otj-edge"})
	require.NoError(t, err)
	defer closeLog()
	log.Warn("codec unreachable")
	assert.Contains(t, stderr.String(), "codec unreachable")
	assert.NoDirExists(t, filepath.Join(cfg.StateDir, "logs"))
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, dir, wd)
}

// requireSystemdAccepts runs systemd-analyze on a unit file: verify must pass and the
// security exposure must rate "OK" or better (at most 3.0).
func requireSystemdAccepts(t *testing.T, unitPath string) float64 {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-analyze is required in CI (.ci/run installs systemd): %v", err)
		}
		t.Skip("systemd-analyze not installed")
	}
	out, err := exec.Command("systemd-analyze", "verify", unitPath).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has no complaints")
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", unitPath).CombinedOutput()
	require.NoError(t, err, "systemd-analyze security:\n%s", out)
	return requireExposureOK(t, string(out))
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+) (\S+)`)

// requireExposureOK reads systemd-analyze security's verdict and requires "OK" or better.
func requireExposureOK(t *testing.T, out string) float64 {
	t.Helper()
	m := exposureRE.FindStringSubmatch(out)
	require.NotNil(t, m, "no overall exposure in:\n%s", out)
	exposure, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, exposure, 3.0, "exposure %s %s", m[1], m[2])
	assert.Contains(t, []string{"OK", "SAFE"}, m[2])
	return exposure
}

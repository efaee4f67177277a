package packaging_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/packaging"
)

// unitDirectives reads a unit file into section → key → values (a key may repeat).
func unitDirectives(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "not key=value: %q", line)
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestUnitHasTheHardeningAndRestartPolicy(t *testing.T) {
	u := unitDirectives(t, packaging.SystemdUnit)
	for _, tt := range []struct{ section, key, want string }{
		{"Unit", "Wants", "network-online.target time-sync.target"},
		{"Unit", "After", "network-online.target time-sync.target"},
		{"Service", "User", "otj-edge"},
		{"Service", "ExecStart", "/usr/bin/otj-edge run --config /etc/otj-edge/config.yaml"},
		{"Service", "EnvironmentFile", "-/etc/otj-edge/environment"},
		{"Service", "Restart", "always"},
		{"Service", "RestartPreventExitStatus", "2"},
		{"Service", "StateDirectory", "otj-edge"},
		{"Service", "StateDirectoryMode", "0700"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "CapabilityBoundingSet", ""},
		{"Service", "AmbientCapabilities", ""},
		{"Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"},
		{"Service", "SystemCallFilter", "@system-service"},
		{"Service", "SystemCallArchitectures", "native"},
		{"Service", "UMask", "0077"},
		{"Service", "MemoryMax", "512M"},
		{"Service", "Environment", "GOMEMLIMIT=400MiB"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		assert.Contains(t, u[tt.section][tt.key], tt.want, "[%s] %s=%s", tt.section, tt.key, tt.want)
	}
	assert.Equal(t, []string{"0"}, u["Unit"]["StartLimitIntervalSec"], "a site box never gives up restarting")
}

// installedLikeUnit writes the unit into dir with ExecStart pointing at an executable that
// exists (systemd-analyze verify checks it), everything else as shipped.
func installedLikeUnit(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	unit := strings.Replace(packaging.SystemdUnit, "ExecStart="+packaging.UnitExec+" ", "ExecStart="+self+" ", 1)
	require.NotEqual(t, packaging.SystemdUnit, unit)
	path := filepath.Join(dir, "otj-edge.service")
	require.NoError(t, os.WriteFile(path, []byte(unit), 0o644))
	return path
}

func TestSystemdAcceptsAndRatesTheUnit(t *testing.T) {
	path := installedLikeUnit(t, t.TempDir())
	verifyUnit(t, path)
	out := securityReport(t, path)
	exposure := requireExposureOK(t, out)
	t.Logf("systemd-analyze security: exposure %.1f", exposure)
	assert.Contains(t, out, "✓ CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)", "no capabilities by default")
}

func TestPrivilegedPortDropIn(t *testing.T) {
	dir := t.TempDir()
	path := installedLikeUnit(t, dir)
	dropIn, err := os.ReadFile("systemd/privileged-port.conf")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "otj-edge.service.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "otj-edge.service.d", "privileged-port.conf"), dropIn, 0o644))

	verifyUnit(t, path)
	out := securityReport(t, path)
	assert.Contains(t, out, "✗ CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)", "the drop-in applies: the service may bind :443")
	assert.Contains(t, out, "✗ PrivateUsers=", "in the host's user namespace, where the capability counts")
	requireExposureOK(t, out) // the rest of the sandbox stays
	d := unitDirectives(t, string(dropIn))
	assert.Equal(t, []string{"CAP_NET_BIND_SERVICE"}, d["Service"]["CapabilityBoundingSet"], "exactly one capability")
	assert.Equal(t, []string{"CAP_NET_BIND_SERVICE"}, d["Service"]["AmbientCapabilities"])
}

func needSystemdAnalyze(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-analyze is required in CI (.ci/run installs systemd): %v", err)
		}
		t.Skip("systemd-analyze not installed")
	}
}

func verifyUnit(t *testing.T, path string) {
	t.Helper()
	needSystemdAnalyze(t)
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has no complaints")
}

func securityReport(t *testing.T, path string) string {
	t.Helper()
	needSystemdAnalyze(t)
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze security:\n%s", out)
	return string(out)
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+) (\S+)`)

// requireExposureOK reads systemd-analyze security's verdict: "OK" or better, at most 3.0.
func requireExposureOK(t *testing.T, report string) float64 {
	t.Helper()
	m := exposureRE.FindStringSubmatch(report)
	require.NotNil(t, m, "no overall exposure in:\n%s", report)
	exposure, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, exposure, 3.0, "exposure %s %s", m[1], m[2])
	assert.Contains(t, []string{"OK", "SAFE"}, m[2], "systemd's rating")
	return exposure
}

package packaging_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// boot boots the sysroot with systemd as PID 1 (systemd-nspawn) straight into unit, which must
// power the container off when done, and returns nspawn's output. The packages are at /pkgs.
func (r *sysroot) boot(t *testing.T, unit string) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-nspawn is required in CI (.ci/run installs systemd-container): %v", err)
		}
		t.Skip("systemd-nspawn not installed (apt-get install systemd-container)")
	}
	// --keep-unit and --register=no: no D-Bus or systemd needed on this machine's side.
	const enter = `set -eu
mount -t overlay overlay -o lowerdir=/,upperdir="$R/upper",workdir="$R/work" "$R/merged"
exec timeout 300 systemd-nspawn --quiet --keep-unit --register=no --link-journal=no \
	--bind-ro="$PKGS:/pkgs" -D "$R/merged" --boot -- systemd.unit="$UNIT"
`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", enter)
	cmd.Env = []string{"R=" + r.dir, "PKGS=" + r.pkgs, "UNIT=" + unit, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "systemd-nspawn:\n%s", out.String())
	return out.String()
}

// systemdScenario runs inside the booted container as otj-pkgtest.service. It records what it
// sees as "CHECK name=value" lines; the test asserts them. Waits are bounded polls of real
// state (unit properties, the journal), never fixed sleeps.
const systemdScenario = `#!/bin/sh
exec >/root/scenario.log 2>&1
set -x
check() { echo "CHECK $1=$2" >>/root/results; }
prop() { systemctl show -p "$1" --value otj-edge.service; }
wait_for() { n=$(($1 * 5)); shift; while [ $n -gt 0 ]; do "$@" && return 0; n=$((n - 1)); sleep 0.2; done; return 1; }
stopped() { [ "$(prop ActiveState)" = failed ] || [ "$(prop SubState)" = auto-restart ]; }
started() { journalctl -u otj-edge.service --no-pager | grep -q "otj-edge started.*version=$1"; }
restarted() { p=$(prop MainPID); [ "$p" != 0 ] && [ "$p" != "$1" ] && [ "$(prop ActiveState)" = active ]; }

dpkg -i /pkgs/old/@OLD@
check enabled "$(systemctl is-enabled otj-edge.service)"
check active-after-install "$(systemctl is-active otj-edge.service)"

# Started before it is configured: the example config's secrets are unset, a config error
# (exit 2) that restarting cannot fix, so the unit fails once instead of looping.
systemctl start otj-edge.service
wait_for 30 stopped
check unconfigured "$(prop ActiveState)/$(prop SubState) status=$(prop ExecMainStatus) restarts=$(prop NRestarts)"
journalctl -u otj-edge.service --no-pager | grep -q OTJ_GRAPH_SECRET && check unconfigured-journal names-the-variable

cat >/etc/otj-edge/environment <<'EOF'
@ENVIRONMENT@EOF
cat >/etc/otj-edge/config.yaml <<'EOF'
@CONFIG@EOF
systemctl reset-failed otj-edge.service
systemctl start otj-edge.service
wait_for 60 started v1.0.0 && check started yes
pid=$(prop MainPID)
check running "$(prop ActiveState)/$(prop SubState)"
check user "$(stat -c %U /proc/$pid)"
check capabilities "$(awk '/^CapEff|^CapBnd|^CapAmb/ {printf "%s%s ", $1, $2}' /proc/$pid/status)"
check no-new-privs "$(awk '/^NoNewPrivs/ {print $2}' /proc/$pid/status)"
check seccomp "$(awk '/^Seccomp:/ {print $2}' /proc/$pid/status)"
check store "$(stat -c '%U:%G %a' /var/lib/otj-edge/otj-edge.db)"

kill -9 "$pid"
wait_for 60 restarted "$pid" && check restarted-after-kill "restarts=$(prop NRestarts)"

pid=$(prop MainPID)
dpkg -i /pkgs/new/@NEW@
wait_for 60 started v1.1.0 && restarted "$pid" && check upgrade "running v1.1.0"

dpkg -r otj-edge
check after-remove "$(systemctl is-active otj-edge.service) $(pgrep -x otj-edge >/dev/null && echo process-running || echo process-gone)"
dpkg --purge otj-edge
systemctl status otj-edge.service >/dev/null 2>&1
check status-after-purge "$?"
check done yes
systemctl poweroff
`

// TestDebUnderSystemd boots a throwaway copy of this machine with systemd and runs the .deb
// for real: the sandboxed unit starts the agent as otj-edge without capabilities, a config
// error fails the unit once instead of looping, a crash is restarted, an upgrade restarts the
// running agent on the new version, and removal stops it.
func TestDebUnderSystemd(t *testing.T) {
	p := packages(t)
	r := newSysroot(t, p.root)
	if _, code := r.sh(t, "test -x /lib/systemd/systemd"); code != 0 {
		t.Fatal("systemd must be installed on this machine (.ci/run installs it)")
	}
	script := strings.NewReplacer(
		"@OLD@", filepath.Base(p.deb[runtime.GOARCH]),
		"@NEW@", filepath.Base(p.newDeb),
		"@ENVIRONMENT@", testEnvironment,
		"@CONFIG@", siteConfig,
	).Replace(systemdScenario)
	require.NoError(t, os.MkdirAll(r.path("/root"), 0o700))
	require.NoError(t, os.WriteFile(r.path("/root/scenario.sh"), []byte(script), 0o700))
	require.NoError(t, os.MkdirAll(r.path("/etc/systemd/system"), 0o755))
	require.NoError(t, os.WriteFile(r.path("/etc/systemd/system/otj-pkgtest.service"), []byte(`[Unit]
Description=otj-edge package scenario
[Service]
Type=oneshot
ExecStart=/bin/sh /root/scenario.sh
`), 0o644))

	boot := r.boot(t, "otj-pkgtest.service")
	log, _ := os.ReadFile(r.path("/root/scenario.log"))
	results, err := os.ReadFile(r.path("/root/results"))
	require.NoError(t, err, "the scenario recorded nothing:\n%s\n%s", log, boot)
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(results))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "CHECK "), "="); ok {
			got[k] = v
		}
	}
	want := map[string]string{
		"enabled":              "enabled",
		"active-after-install": "inactive",
		"unconfigured":         "failed/failed status=2 restarts=0",
		"unconfigured-journal": "names-the-variable",
		"started":              "yes",
		"running":              "active/running",
		"user":                 "otj-edge",
		"capabilities":         "CapEff:0000000000000000 CapBnd:0000000000000000 CapAmb:0000000000000000 ",
		"no-new-privs":         "1",
		"seccomp":              "2",
		"store":                "otj-edge:otj-edge 600",
		"restarted-after-kill": "restarts=1",
		"upgrade":              "running v1.1.0",
		"after-remove":         "inactive process-gone",
		"status-after-purge":   "4",
		"done":                 "yes",
	}
	for k, w := range want {
		assert.Equal(t, w, got[k], "%s (scenario log:\n%s)", k, log)
	}
}

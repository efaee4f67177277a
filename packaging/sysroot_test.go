package packaging_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sysroot is a throwaway copy of this machine to install packages into: an overlay mount with
// the machine's root file system as its read-only lower layer and a temp dir as the upper
// layer, entered with chroot in a private mount namespace. Real dpkg, adduser, systemctl and
// deb-systemd-helper run against the machine's own package database and users, yet every
// change lands in the upper layer and disappears with the test: nothing is installed on the
// machine, and concurrent test runs do not meet.
//
// Each command gets a fresh namespace and mount (the upper layer keeps the state between
// commands), so commands must not leave processes running.
type sysroot struct {
	dir   string // upper/ work/ merged/
	upper string
	pkgs  string // host directory seen as /pkgs inside
}

// newSysroot needs root and overlayfs. Outside CI a machine without them skips; in CI
// (CI=true, as root on a Debian machine) it is a failure.
func newSysroot(t *testing.T, pkgs string) *sysroot {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatal("package install test: " + msg)
		}
		t.Skip("package install test: " + msg)
	}
	if os.Geteuid() != 0 {
		unavailable("needs root (mount namespaces and overlayfs)")
	}
	for _, tool := range []string{"unshare", "chroot", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("needs %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	r := &sysroot{dir: dir, upper: filepath.Join(dir, "upper"), pkgs: pkgs}
	for _, d := range []string{"upper", "work", "merged"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	if out, code := r.sh(t, "test -x /usr/bin/dpkg && echo ready"); code != 0 || strings.TrimSpace(out) != "ready" {
		unavailable("cannot make an overlay of / here (exit %d):\n%s", code, out)
	}
	return r
}

// sh runs script with /bin/sh -eu inside the sysroot and returns its output (stdout and
// stderr) and exit code.
func (r *sysroot) sh(t *testing.T, script string) (string, int) {
	t.Helper()
	const enter = `set -eu
mount -t overlay overlay -o lowerdir=/,upperdir="$R/upper",workdir="$R/work" "$R/merged"
m="$R/merged"
mount --rbind /dev "$m/dev"
mount --rbind /sys "$m/sys"
mount -t proc proc "$m/proc"
mount -t tmpfs -o mode=0755 tmpfs "$m/run"
mount -t tmpfs -o mode=1777 tmpfs "$m/tmp"
mkdir -p "$m/pkgs"
mount --bind "$PKGS" "$m/pkgs"
exec chroot "$m" /bin/sh -euc "$SCRIPT"
`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", enter)
	cmd.Env = []string{
		"R=" + r.dir, "PKGS=" + r.pkgs, "SCRIPT=" + script,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "HOME=/root", "DEBIAN_FRONTEND=noninteractive",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		}
		t.Fatalf("sysroot: %v\n%s", err, out.String())
	}
	return out.String(), 0
}

// must runs script and fails the test unless it exits 0.
func (r *sysroot) must(t *testing.T, script string) string {
	t.Helper()
	out, code := r.sh(t, script)
	require.Equal(t, 0, code, "in the sysroot: %s\n%s", script, out)
	return out
}

// path is where a file written inside the sysroot lies in the upper layer on this machine.
func (r *sysroot) path(p string) string { return filepath.Join(r.upper, p) }

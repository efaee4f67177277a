package cli

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/packaging"
)

// host is what a Linux hand install looks at and changes; tests point it at a temp dir.
type host struct {
	root       string // "/" on a real system
	lookupUser func(name string) (uid, gid int, err error)
	chown      func(path string, uid, gid int) error
}

func hostSystem() host {
	return host{root: "/", lookupUser: lookupUser, chown: os.Chown}
}

func lookupUser(name string) (int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

// handInstallUnit renders the packages' sandboxed unit for a binary and config installed by
// hand, in place of kardianos' generic unit (which waits 120 s between restarts and runs as
// root without a sandbox). The unit runs as the otj-edge user, which the admin creates; a
// state directory other than /var/lib/otj-edge is created, handed to that user and opened in
// the sandbox with ReadWritePaths.
func handInstallUnit(h host, exe string, cfg *config.Config) (string, error) {
	if packagedUnit(h) {
		return "", errPackaged
	}
	for _, p := range []string{exe, cfg.File, cfg.StateDir} {
		if within(p, "/home", "/root", "/run/user") {
			return "", fmt.Errorf("%s is in a home directory, which the service's sandbox hides (ProtectHome=yes): "+
				"put the binary in /usr/local/bin, the config in /etc/otj-edge and state_dir in /var/lib", p)
		}
	}
	uid, gid, err := h.lookupUser(packaging.User)
	if err != nil {
		return "", fmt.Errorf("the service runs as the %[1]s system user, which does not exist (%[2]v); create it with:\n"+
			"  sudo useradd --system --user-group --home-dir %[3]s --shell /usr/sbin/nologin %[1]s", packaging.User, err, packaging.StateDir)
	}

	unit := packaging.SystemdUnit
	oldExec := "ExecStart=" + packaging.UnitExec + " run --config " + packaging.UnitConfig
	if !strings.Contains(unit, "\n"+oldExec+"\n") {
		return "", errors.New("the embedded unit has no ExecStart line to rewrite (a build mistake)")
	}
	unit = strings.Replace(unit, oldExec, "ExecStart="+systemdArg(exe)+" run --config "+systemdArg(cfg.File), 1)
	if filepath.Clean(cfg.StateDir) != packaging.StateDir {
		dir := filepath.Join(h.root, cfg.StateDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("create state_dir: %w", err)
		}
		if err := h.chown(dir, uid, gid); err != nil {
			return "", fmt.Errorf("hand state_dir %s to %s: %w", cfg.StateDir, packaging.User, err)
		}
		unit = strings.Replace(unit, "\nUMask=", "\n# state_dir of "+cfg.File+"\nReadWritePaths="+systemdArg(cfg.StateDir)+"\nUMask=", 1)
	}
	if strings.Contains(unit, "{{") {
		return "", errors.New("paths must not contain '{{'")
	}
	header := "# Written by `otj-edge service install` for " + exe + ". Remove it with\n" +
		"# `otj-edge service uninstall`; change it with a drop-in (systemctl edit otj-edge).\n"
	return header + unit, nil
}

// packagedUnit reports whether a .deb or .rpm installed otj-edge's unit on h.
func packagedUnit(h host) bool {
	for _, dir := range []string{"lib/systemd/system", "usr/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(h.root, dir, ServiceName+".service")); err == nil {
			return true
		}
	}
	return false
}

// systemdArg quotes one ExecStart argument: systemd splits on spaces, expands %-specifiers and
// $VARIABLES, and reads C-style escapes inside quotes.
func systemdArg(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

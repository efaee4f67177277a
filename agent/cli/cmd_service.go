package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/packaging"
)

// ServiceName is the service's name on Linux (systemd) and Windows (SCM).
const ServiceName = "otj-edge"

type serviceFlags struct {
	config *string
}

func init() {
	register(&command{
		name:    "service",
		args:    "install|uninstall|start|stop|restart|status [--config FILE]",
		summary: "install or control otj-edge as a system service",
		help: `install registers otj-edge with the system's service manager to run
'otj-edge run --config FILE' at boot, from where the executable is now (install it in its final
place first); uninstall stops and removes it (the config and the state directory stay). start,
stop, restart and status control the installed service; status exits 3 when it is not running.

Windows: an automatic (delayed start) service running as LocalSystem, restarted after every
failure (5 s, then 30 s, then every 2 min; the count resets after a day), with an "otj-edge"
event log source. install creates %ProgramData%\otj-edge and the state directory and lets only
SYSTEM and Administrators in. Logs go to <state_dir>\logs\otj-edge.log; warnings and errors
also to the Application event log.

Linux: the .deb and .rpm install their own unit, so this is for hand-installed binaries. It
installs the packages' sandboxed unit (running as the otj-edge system user, which must exist)
pointing at this executable and FILE.`,
		flags: func(fs *flag.FlagSet) any { return &serviceFlags{config: configFlag(fs)} },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			if len(args) != 1 {
				return usagef("give one action: install, uninstall, start, stop, restart or status")
			}
			cfgPath, err := filepath.Abs(*opts.(*serviceFlags).config)
			if err != nil {
				return err
			}
			return serviceAction(stdio, args[0], cfgPath)
		},
	})
}

func serviceAction(stdio IO, action, cfgPath string) error {
	switch action {
	case "install", "uninstall", "start", "stop", "restart", "status":
	default:
		return usagef("unknown action %q (install, uninstall, start, stop, restart, status)", action)
	}
	if runtime.GOOS == "linux" && packagedUnit(hostSystem()) {
		switch action {
		case "install":
			return fmt.Errorf("service install: %w", errPackaged)
		case "uninstall":
			return errors.New("service uninstall: otj-edge was installed from a package: remove it with apt remove otj-edge (or dnf remove otj-edge)")
		}
	}
	c := serviceConfig(cfgPath, runtime.GOOS)
	if action == "install" {
		cfg, err := loadConfig(cfgPath, stdio)
		if err != nil {
			return err
		}
		exe, err := executable()
		if err != nil {
			return fmt.Errorf("service install: %w", err)
		}
		if err := prepareInstall(stdio.Stdout, c, cfg, exe); err != nil {
			return fmt.Errorf("service install: %w", err)
		}
	}
	svc, err := service.New(&program{}, c)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	switch action {
	case "status":
		st, err := svc.Status()
		if err != nil {
			return fmt.Errorf("service status: %w", err)
		}
		fmt.Fprintln(stdio.Stdout, statusText(st))
		if st != service.StatusRunning {
			return exitError{code: 3} // LSB: program is not running
		}
		return nil
	case "uninstall":
		// Neither SCM nor systemd removes a running service cleanly: stop it first.
		if st, err := svc.Status(); err == nil && st == service.StatusRunning {
			if err := svc.Stop(); err != nil {
				return fmt.Errorf("service uninstall: stop: %w", err)
			}
		}
	}
	if err := service.Control(svc, action); err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	if action == "install" {
		if err := afterInstall(ServiceName); err != nil {
			// The service is installed and starts; only the recovery settings are missing.
			fmt.Fprintf(stdio.Stderr, "otj-edge service: warning: %v\n", err)
		}
	}
	fmt.Fprintf(stdio.Stdout, "service %s: %s done\n", ServiceName, action)
	if action == "install" {
		fmt.Fprintln(stdio.Stdout, startHint(runtime.GOOS))
	}
	return nil
}

func startHint(goos string) string {
	if goos == "windows" {
		return "Start it with: otj-edge service start   (Services console: \"otj-edge One-Touch Join agent\")"
	}
	return "Start it with: sudo systemctl start otj-edge   (logs: journalctl -u otj-edge -f)"
}

func statusText(s service.Status) string {
	switch s {
	case service.StatusRunning:
		return "running"
	case service.StatusStopped:
		return "stopped"
	}
	return "unknown"
}

// newService describes the otj-edge service to kardianos/service.
func newService(cfgPath string, p service.Interface) (service.Service, error) {
	if p == nil {
		p = &program{}
	}
	svc, err := service.New(p, serviceConfig(cfgPath, runtime.GOOS))
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return svc, nil
}

// serviceConfig is the service as the service manager of goos registers it. cfgPath must be
// absolute: the service manager starts otj-edge in a directory of its own choosing.
func serviceConfig(cfgPath, goos string) *service.Config {
	return &service.Config{
		Name:        ServiceName,
		DisplayName: "otj-edge One-Touch Join agent",
		Description: "Syncs room calendars from Microsoft 365 and gives Cisco and Poly endpoints a one-touch Join button.",
		Arguments:   []string{"run", "--config", cfgPath},
		Option:      serviceOptions(goos),
	}
}

// serviceOptions are the platform settings for the installed service. Windows: automatic start,
// delayed until the network is up, restart on failure (afterInstall replaces kardianos' single
// recovery action with escalating ones). Linux: prepareInstall supplies the whole unit.
func serviceOptions(goos string) service.KeyValue {
	if goos == "windows" {
		return service.KeyValue{
			"StartType":              "automatic",
			"DelayedAutoStart":       true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": recoveryPlan[0].Delay.String(),
			"OnFailureResetPeriod":   int(recoveryReset.Seconds()),
		}
	}
	return service.KeyValue{
		"Restart":     "always",
		"LimitNOFILE": 65536,
	}
}

// prepareInstall does what must precede registering the service on this system: on Windows,
// the protected data directories; on Linux with systemd, the sandboxed unit for c.
func prepareInstall(w io.Writer, c *service.Config, cfg *config.Config, exe string) error {
	if runtime.GOOS == "windows" {
		return prepareWindowsDirs(w, cfg, exe, programDataDir())
	}
	if service.ChosenSystem() == nil || service.ChosenSystem().String() != "linux-systemd" {
		return nil // sysv, openrc…: kardianos' own script
	}
	unit, err := handInstallUnit(hostSystem(), exe, cfg)
	if err != nil {
		return err
	}
	c.Option["SystemdScript"] = unit
	fmt.Fprintf(w, "note: the service reads %s as the %s user: sudo chgrp %[2]s %[1]s && sudo chmod 640 %[1]s\n", cfg.File, packaging.User)
	return nil
}

// prepareWindowsDirs creates %ProgramData%\otj-edge and the state directory and lets only
// SYSTEM and Administrators in: the config and the store hold secrets and pinned certificates.
func prepareWindowsDirs(w io.Writer, cfg *config.Config, exe, programData string) error {
	dirs := windowsDataDirs(cfg, programData)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := protectDir(d); err != nil {
			return fmt.Errorf("restrict %s to SYSTEM and Administrators: %w", d, err)
		}
	}
	if !within(cfg.File, dirs...) {
		fmt.Fprintf(w, "note: %s is outside %s: make sure only Administrators can read it (it holds secrets)\n", cfg.File, dirs[0])
	}
	if within(exe, dirs...) {
		fmt.Fprintf(w, "note: run the service from a folder such as C:\\Program Files\\otj-edge rather than from its data folder\n")
	}
	return nil
}

// windowsDataDirs lists the directories the Windows install protects: %ProgramData%\otj-edge
// first, then the state directory when the config puts it elsewhere.
func windowsDataDirs(cfg *config.Config, programData string) []string {
	dirs := []string{filepath.Join(programData, "otj-edge")}
	if !within(cfg.StateDir, dirs[0]) {
		dirs = append(dirs, cfg.StateDir)
	}
	return dirs
}

// within reports whether path is one of dirs or inside one of them.
func within(path string, dirs ...string) bool {
	for _, d := range dirs {
		rel, err := filepath.Rel(d, path)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return true
		}
	}
	return false
}

func programDataDir() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}

// executable is the running binary's real path (symlinks resolved), which the service runs.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe, nil
}

var errPackaged = errors.New("otj-edge was installed from a package, which installed and enabled its own unit: use systemctl start|stop|status otj-edge")

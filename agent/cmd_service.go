package agent

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/kardianos/service"
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
		help: `install registers otj-edge with the system's service manager (systemd, Windows SCM) to run
'otj-edge run --config FILE' at boot; uninstall removes it. start, stop, restart and status
control the installed service. The .deb and .rpm packages install their own hardened systemd
unit instead, so on Linux this is for hand-installed binaries.`,
		flags: func(fs *flag.FlagSet) any { return &serviceFlags{config: configFlag(fs)} },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			if len(args) != 1 {
				return usagef("give one action: install, uninstall, start, stop, restart or status")
			}
			action := args[0]
			cfgPath, err := filepath.Abs(*opts.(*serviceFlags).config)
			if err != nil {
				return err
			}
			svc, err := newService(cfgPath, &program{})
			if err != nil {
				return err
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
			case "install":
				if _, err := loadConfig(cfgPath, stdio); err != nil {
					return err
				}
				fallthrough
			case "uninstall", "start", "stop", "restart":
				if err := service.Control(svc, action); err != nil {
					return fmt.Errorf("service %s: %w", action, err)
				}
				fmt.Fprintf(stdio.Stdout, "service %s: %s done\n", ServiceName, action)
				return nil
			}
			return usagef("unknown action %q (install, uninstall, start, stop, restart, status)", action)
		},
	})
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
	cfg := &service.Config{
		Name:        ServiceName,
		DisplayName: "otj-edge One-Touch Join agent",
		Description: "Syncs room calendars from Microsoft 365 and gives Cisco and Poly endpoints a one-touch Join button.",
		Arguments:   []string{"run", "--config", cfgPath},
		Option:      serviceOptions(),
	}
	svc, err := service.New(p, cfg)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return svc, nil
}

// serviceOptions are the platform settings for the installed service: restart on failure,
// delayed automatic start on Windows (the network is up by then).
func serviceOptions() service.KeyValue {
	return service.KeyValue{
		"Restart":                "always",
		"DelayedAutoStart":       true,
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "5s",
		"OnFailureResetPeriod":   86400,
		"LimitNOFILE":            65536,
	}
}
